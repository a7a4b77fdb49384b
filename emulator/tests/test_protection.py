"""AMI deregistration protection: Enable/DisableImageDeregistrationProtection, the 24-hour cooldown.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeregistrationProtection.html):
"When deregistration protection is enabled, the AMI can't be deregistered." WithCooldown: "If true,
enforces deregistration protection for 24 hours after deregistration protection is disabled."
The AWS CLI examples answer "Return": "enabled-without-cooldown" (enable) and "disabled" (disable);
DescribeImages shows "DeregistrationProtection": "disabled" on an AMI never protected.
"""

from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest

from helpers import error_code, register_root_image, seed_image


def register(ec2, name):
    return register_root_image(ec2, name)


def protection(ec2, image_id):
    described = ec2.describe_images(ImageIds=[image_id])["Images"][0]["DeregistrationProtection"]
    attribute = ec2.describe_image_attribute(ImageId=image_id, Attribute="deregistrationProtection")
    assert attribute["DeregistrationProtection"]["Value"] == described, "both reads agree"
    return described


def refused(ec2, image_id):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.deregister_image(ImageId=image_id)
    return error_code(excinfo)


def test_an_ami_starts_unprotected_and_protection_without_cooldown_ends_at_once(ec2):
    image_id = register(ec2, "gio-node-protected")
    assert protection(ec2, image_id) == "disabled"

    assert ec2.enable_image_deregistration_protection(ImageId=image_id)["Return"] == "enabled-without-cooldown"
    assert protection(ec2, image_id) == "enabled-without-cooldown"
    assert refused(ec2, image_id) == "OperationNotPermitted"
    assert ec2.describe_images(ImageIds=[image_id])["Images"], "still registered"

    assert ec2.disable_image_deregistration_protection(ImageId=image_id)["Return"] == "disabled"
    assert protection(ec2, image_id) == "disabled"
    assert ec2.deregister_image(ImageId=image_id)["Return"] is True


def test_with_cooldown_the_ami_stays_protected_24_hours_after_disabling(ec2, clock):
    image_id = register(ec2, "gio-node-protected-cooldown")
    assert ec2.enable_image_deregistration_protection(ImageId=image_id, WithCooldown=True)["Return"] \
        == "enabled-with-cooldown"
    assert protection(ec2, image_id) == "enabled-with-cooldown"

    disabled_at = datetime.now(timezone.utc)
    answer = ec2.disable_image_deregistration_protection(ImageId=image_id)["Return"]
    state = protection(ec2, image_id)
    assert answer == state and state.startswith("disabled after ")
    until = datetime.strptime(state.removeprefix("disabled after "), "%Y-%m-%dT%H:%M:%S.%f%z")
    assert timedelta(hours=24) <= until - disabled_at < timedelta(hours=24, seconds=5)
    assert refused(ec2, image_id) == "OperationNotPermitted"

    clock.set(timedelta(hours=23, minutes=59))
    assert refused(ec2, image_id) == "OperationNotPermitted", "a minute of cooldown left"
    clock.set(timedelta(hours=24, seconds=5))
    assert protection(ec2, image_id) == "disabled"
    assert ec2.deregister_image(ImageId=image_id)["Return"] is True


def test_enabling_again_during_the_cooldown_protects_until_disabled_again(ec2, clock):
    image_id = register(ec2, "gio-node-protected-again")
    ec2.enable_image_deregistration_protection(ImageId=image_id, WithCooldown=True)
    ec2.disable_image_deregistration_protection(ImageId=image_id)
    ec2.enable_image_deregistration_protection(ImageId=image_id)
    assert protection(ec2, image_id) == "enabled-without-cooldown"
    clock.set(timedelta(days=2))
    assert refused(ec2, image_id) == "OperationNotPermitted", "no cooldown runs out an enabled protection"
    assert ec2.disable_image_deregistration_protection(ImageId=image_id)["Return"] == "disabled"
    assert ec2.deregister_image(ImageId=image_id)["Return"] is True


def test_only_the_owner_protects_and_unknown_amis_are_not_found(ec2):
    amazon = seed_image(ec2, "amazon-eks-node-1.31")
    assert amazon["DeregistrationProtection"] == "disabled"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.enable_image_deregistration_protection(ImageId=amazon["ImageId"])
    assert error_code(excinfo) == "AuthFailure"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.disable_image_deregistration_protection(ImageId="ami-12345678901234567")
    assert error_code(excinfo) == "InvalidAMIID.NotFound"


def test_a_copy_starts_unprotected(client):
    ec2 = client("ec2", "us-gov-east-1")
    image_id = register(ec2, "gio-node-protected-source")
    ec2.enable_image_deregistration_protection(ImageId=image_id)
    copy = ec2.copy_image(Name="gio-node-protected-copy", SourceImageId=image_id, SourceRegion="us-gov-east-1")
    assert protection(ec2, copy["ImageId"]) == "disabled"
