"""AMIs shared with organizations, OUs and accounts (patches/org_sharing.py), seen and launched from the
accounts they are shared with.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/share-amis-with-organizations-and-OUs.html):
"When you share an AMI with an organization or an OU, all of the children accounts gain access to the
AMI"; "The AMI owner can share an AMI with any organization or OU, including organizations and OUs that
they're not a member of"; "You'll get an error if you specify only the ID"; user-defined tags "are not
available to any AWS account in an organization or OU with which the AMI is shared".
DescribeImages ExecutableUsers: "If you specify self or your own AWS account ID, AMIs shared with your
account are returned. In addition, AMIs that are shared with the organization or OU of which you are
member are also returned"; for another account's ID, "AMIs that are shared with the account's
organization or organizational unit (OU) are not returned".
Accounts: STS AssumeRole credentials act as the role's account (conftest.client_as).
"""

from types import SimpleNamespace

import botocore.exceptions
import pytest

from helpers import error_code, register_root_image

REGION = "eu-west-2"
MANAGEMENT, OWNER, OUTSIDER = "310000000001", "310000000002", "310000000099"


@pytest.fixture(scope="module")
def org(client_as):
    """An organization of MANAGEMENT: Root > platform > nodes (account `nodes`), Root (account `root`)."""
    orgs = client_as(MANAGEMENT, "organizations")
    organization = orgs.create_organization(FeatureSet="ALL")["Organization"]
    root = orgs.list_roots()["Roots"][0]["Id"]
    platform = orgs.create_organizational_unit(ParentId=root, Name="platform")["OrganizationalUnit"]
    nodes = orgs.create_organizational_unit(ParentId=platform["Id"], Name="nodes")["OrganizationalUnit"]

    def account(name):
        status = orgs.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        return status["AccountId"]

    in_nodes, in_root = account("nodes"), account("root")
    orgs.move_account(AccountId=in_nodes, SourceParentId=root, DestinationParentId=nodes["Id"])
    return SimpleNamespace(arn=organization["Arn"], platform_arn=platform["Arn"], nodes_arn=nodes["Arn"],
                           in_nodes=in_nodes, in_root=in_root)


def ec2_of(client_as, account):
    return client_as(account, "ec2", REGION)


def image(client_as, name):
    owner = ec2_of(client_as, OWNER)
    image_id = register_root_image(owner, name, zone=f"{REGION}a")
    owner.create_tags(Resources=[image_id], Tags=[{"Key": "team", "Value": "owner-only"}])
    return owner, image_id


def sees(ec2, image_id):
    try:
        found = ec2.describe_images(ImageIds=[image_id])["Images"]
    except botocore.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "InvalidAMIID.NotFound"
        return False
    return bool(found)


def shared_ids(ec2, users=("self",)):
    return {i["ImageId"] for i in ec2.describe_images(ExecutableUsers=list(users))["Images"]}


def launch(ec2, image_id):
    return ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]


def launch_refused(ec2, image_id):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        launch(ec2, image_id)
    return error_code(excinfo)


def permissions(ec2, image_id):
    answer = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    return sorted(tuple(p.items())[0] for p in answer)


def test_an_ou_share_reaches_accounts_in_nested_ous_only(client_as, org):
    owner, image_id = image(client_as, "gio-org-shared-ou")
    nodes, root, outsider = (ec2_of(client_as, a) for a in (org.in_nodes, org.in_root, OUTSIDER))
    assert not sees(nodes, image_id) and launch_refused(nodes, image_id) == "InvalidAMIID.NotFound"

    owner.modify_image_attribute(ImageId=image_id,
                                 LaunchPermission={"Add": [{"OrganizationalUnitArn": org.platform_arn}]})
    assert permissions(owner, image_id) == [("OrganizationalUnitArn", org.platform_arn)]

    # `nodes` is under platform > nodes: a child of the OU the AMI is shared with.
    assert image_id in shared_ids(nodes) and sees(nodes, image_id)
    seen = nodes.describe_images(ImageIds=[image_id])["Images"][0]
    assert seen["OwnerId"] == OWNER and not seen.get("Tags"), "the owner's tags stay the owner's"
    assert owner.describe_images(ImageIds=[image_id])["Images"][0]["Tags"] == [{"Key": "team", "Value": "owner-only"}]
    instance = launch(nodes, image_id)
    assert instance["ImageId"] == image_id
    volumes = nodes.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}])
    assert [v["SnapshotId"] for v in volumes["Volumes"]] == [
        owner.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]]
    assert nodes.describe_snapshots(OwnerIds=[OWNER])["Snapshots"] == [], "the snapshot itself is not shared"

    for other in (root, outsider):  # in the organization but not under the OU; not in it at all
        assert not sees(other, image_id) and image_id not in shared_ids(other)
        assert launch_refused(other, image_id) == "InvalidAMIID.NotFound"


def test_an_organization_share_reaches_every_member_until_removed(client_as, org):
    owner, image_id = image(client_as, "gio-org-shared-org")
    nodes, root, outsider = (ec2_of(client_as, a) for a in (org.in_nodes, org.in_root, OUTSIDER))
    owner.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"OrganizationArn": org.arn}]})
    for member in (nodes, root):
        assert image_id in shared_ids(member) and sees(member, image_id)
    running = launch(root, image_id)["InstanceId"]
    assert not sees(outsider, image_id)
    management = ec2_of(client_as, MANAGEMENT)
    assert sees(management, image_id), "the management account is a member too"

    owner.modify_image_attribute(ImageId=image_id, LaunchPermission={"Remove": [{"OrganizationArn": org.arn}]})
    assert permissions(owner, image_id) == []
    assert not sees(root, image_id) and launch_refused(root, image_id) == "InvalidAMIID.NotFound"
    assert root.describe_instances(InstanceIds=[running])["Reservations"], "what was launched stays"


def test_operation_type_shares_with_every_arn_given(client_as, org):
    owner, image_id = image(client_as, "gio-org-shared-flat")
    owner.modify_image_attribute(ImageId=image_id, Attribute="launchPermission", OperationType="add",
                                 OrganizationalUnitArns=[org.platform_arn, org.nodes_arn],
                                 UserIds=[OUTSIDER, "310000000098"])
    assert permissions(owner, image_id) == sorted([
        ("OrganizationalUnitArn", org.platform_arn), ("OrganizationalUnitArn", org.nodes_arn),
        ("UserId", OUTSIDER), ("UserId", "310000000098")])
    owner.modify_image_attribute(ImageId=image_id, Attribute="launchPermission", OperationType="remove",
                                 OrganizationalUnitArns=[org.platform_arn], UserIds=["310000000098"])
    assert permissions(owner, image_id) == sorted([("OrganizationalUnitArn", org.nodes_arn), ("UserId", OUTSIDER)])


def test_executable_users_scopes_as_documented(client_as, org):
    owner, by_account = image(client_as, "gio-org-shared-user")
    _, by_ou = image(client_as, "gio-org-shared-ou-only")
    _, public = image(client_as, "gio-org-shared-public")
    owner.modify_image_attribute(ImageId=by_account, LaunchPermission={"Add": [{"UserId": org.in_nodes}]})
    owner.modify_image_attribute(ImageId=by_ou, LaunchPermission={"Add": [{"OrganizationalUnitArn": org.nodes_arn}]})
    owner.modify_image_attribute(ImageId=public, LaunchPermission={"Add": [{"Group": "all"}]})
    nodes = ec2_of(client_as, org.in_nodes)

    mine = {by_account, by_ou, public}
    assert shared_ids(nodes) & mine == {by_account, by_ou}, "self: shared with the account or its OU, not public"
    assert shared_ids(nodes, [org.in_nodes]) & mine == {by_account, by_ou}
    assert shared_ids(nodes, ["all"]) & mine == {public}
    assert shared_ids(owner, [org.in_nodes]) & mine == {by_account}, "another account: not its OU's shares"
    listed = {i["ImageId"] for i in nodes.describe_images(Owners=[OWNER])["Images"]}
    assert mine <= listed, "Owners lists what the caller may launch of that owner"
    assert public in {i["ImageId"] for i in ec2_of(client_as, OUTSIDER).describe_images(Owners=[OWNER])["Images"]}
    assert owner.describe_images(ImageIds=[public])["Images"][0]["Public"] is True
    amazon = [i["ImageId"] for i in nodes.describe_images(Owners=["amazon"])["Images"]]
    assert len(amazon) == len(set(amazon)) == len(owner.describe_images(Owners=["amazon"])["Images"]), \
        "every account holds the seeded Amazon AMIs once: none is listed twice"


@pytest.mark.parametrize("permission", [
    {"OrganizationArn": "o-abcdefghij"},
    {"OrganizationArn": "arn:aws:organizations::310000000001:account/o-abcdefghij"},
    {"OrganizationArn": "arn:aws:organizations::31000000:organization/o-abcdefghij"},
    {"OrganizationArn": "arn:aws:organizations::310000000001:ou/o-abcdefghij/ou-ab12-abcdefgh"},
    {"OrganizationalUnitArn": "ou-ab12-abcdefgh"},
    {"OrganizationalUnitArn": "arn:aws:organizations::310000000001:organization/o-abcdefghij"},
    {"OrganizationalUnitArn": "arn:aws:organizations::310000000001:ou/o-abcdefghij/ou-ab12"},
    {"UserId": "3100-0000-0001"},
    {"Group": "everyone"},
], ids=["org-id-only", "account-arn", "short-account", "ou-arn-as-org", "ou-id-only", "org-arn-as-ou",
        "ou-without-suffix", "user-with-hyphens", "group-not-all"])
def test_malformed_permissions_are_refused_and_nothing_is_applied(client_as, org, permission, request):
    owner, image_id = image(client_as, f"gio-org-bad-{request.node.callspec.id}")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        owner.modify_image_attribute(ImageId=image_id, LaunchPermission={
            "Add": [{"OrganizationArn": org.arn}, permission]})
    # Group's values are an enum of the API model (PermissionGroup: all), refused as any invalid value
    # before the operation looks at the items (patch 59).
    assert error_code(excinfo) == ("InvalidParameterValue" if "Group" in permission else "InvalidAMIAttributeItemValue")
    assert list(permission.values())[0] in excinfo.value.response["Error"]["Message"]
    assert permissions(owner, image_id) == [], "no partial change"


def test_only_the_owner_changes_sharing(client_as, org):
    owner, image_id = image(client_as, "gio-org-owner-only")
    owner.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"OrganizationArn": org.arn}]})
    member = ec2_of(client_as, org.in_root)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        member.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    assert error_code(excinfo) == "AuthFailure"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        member.enable_image_deprecation(ImageId=image_id, DeprecateAt="2030-01-01T00:00:00Z")
    assert error_code(excinfo) == "AuthFailure"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2_of(client_as, OUTSIDER).modify_image_attribute(
            ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    assert error_code(excinfo) == "InvalidAMIID.NotFound", "not shared with it: not found"
    assert permissions(owner, image_id) == [("OrganizationArn", org.arn)]
