"""DisableImage removes every launch permission, and EnableImage does not give them back
(patches/disabling.py).

AWS (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImage.html): DisableImage "Sets
the AMI state to `disabled` and removes all launch permissions from the AMI. [...] A disabled AMI can't
be shared. If an AMI was public or previously shared, it is made private." Re-enabled
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/disable-an-ami.html): "AWS accounts, organizations,
and Organizational Units that lost access to the AMI when it was disabled do not regain access
automatically, but the AMI can be shared with them again."
"""

import botocore.exceptions
import pytest

from helpers import error_code, register_root_image

REGION = "eu-south-1"
MANAGEMENT, OWNER, FRIEND = "530000000001", "530000000002", "530000000003"


def permissions(ec2, image_id):
    answer = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    return sorted(tuple(p.items())[0] for p in answer)


def sees(ec2, image_id):
    try:
        return bool(ec2.describe_images(ImageIds=[image_id])["Images"])
    except botocore.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "InvalidAMIID.NotFound"
        return False


def test_disabling_takes_every_launch_permission_and_enabling_gives_none_back(client_as):
    orgs = client_as(MANAGEMENT, "organizations")
    organization = orgs.create_organization(FeatureSet="ALL")["Organization"]["Arn"]
    root = orgs.list_roots()["Roots"][0]["Id"]
    unit = orgs.create_organizational_unit(ParentId=root, Name="nodes")["OrganizationalUnit"]["Arn"]
    owner, friend = client_as(OWNER, "ec2", REGION), client_as(FRIEND, "ec2", REGION)
    image_id = register_root_image(owner, "gio-disabled-shared", zone=f"{REGION}a")
    granted = [{"UserId": FRIEND}, {"OrganizationArn": organization}, {"OrganizationalUnitArn": unit},
               {"Group": "all"}]
    owner.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": granted})
    assert len(permissions(owner, image_id)) == 4 and sees(friend, image_id)

    owner.disable_image(ImageId=image_id)
    assert permissions(owner, image_id) == [], "accounts, organization, OU and public: all gone"
    assert not sees(friend, image_id)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        owner.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": FRIEND}]})
    assert error_code(refused) == "IncorrectState", "a disabled AMI can't be shared"

    owner.enable_image(ImageId=image_id)
    state = owner.describe_images(ImageIds=[image_id])["Images"][0]
    assert (state["State"], state["Public"]) == ("available", False)
    assert permissions(owner, image_id) == [], "nobody regains access automatically"
    assert not sees(friend, image_id)
    owner.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": FRIEND}]})
    assert sees(friend, image_id), "but it can be shared with them again"


def test_only_the_owner_disables(client_as):
    owner, friend = client_as(OWNER, "ec2", REGION), client_as(FRIEND, "ec2", REGION)
    image_id = register_root_image(owner, "gio-disabled-by-owner", zone=f"{REGION}a")
    owner.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": FRIEND}]})
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        friend.disable_image(ImageId=image_id)
    assert error_code(refused) == "InvalidAMIID.NotFound"
    assert permissions(owner, image_id) == [("UserId", FRIEND)]
