"""EnableImageDeprecation / DisableImageDeprecation and DeprecationTime in DescribeImages."""

import botocore.exceptions
import pytest

from helpers import error_code, make_snapshot


def test_deprecation_is_shown_rounded_to_the_minute_and_can_be_removed(ec2):
    snapshot = make_snapshot(ec2)
    image_id = ec2.register_image(
        Name="gio-node-deprecated", RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[image_id])["Images"][0]

    assert ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt="2030-01-02T03:04:59Z")["Return"] is True
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["DeprecationTime"] == "2030-01-02T03:04:00.000Z"

    assert ec2.disable_image_deprecation(ImageId=image_id)["Return"] is True
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[image_id])["Images"][0]


def test_an_unknown_ami_is_refused(ec2):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.enable_image_deprecation(ImageId="ami-12345678", DeprecateAt="2030-01-02T03:04:00Z")
    assert error_code(excinfo) == "InvalidAMIID.NotFound"
