"""EnableImageDeprecation / DisableImageDeprecation and DeprecationTime in DescribeImages.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeprecation.html, DeprecateAt):
"If you specify a value for seconds, Amazon EC2 rounds the seconds to the nearest minute.
You can't specify a date in the past. The upper limit for DeprecateAt is 10 years from now, except for
public AMIs, where the upper limit is 2 years from the creation date."
"""

from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest

from helpers import error_code, register_root_image


def register(ec2, name):
    return register_root_image(ec2, name)


def deprecation_time(ec2, image_id):
    return ec2.describe_images(ImageIds=[image_id])["Images"][0].get("DeprecationTime")


def test_deprecation_is_shown_rounded_to_the_nearest_minute_and_can_be_removed(ec2):
    image_id = register(ec2, "gio-node-deprecated")
    assert deprecation_time(ec2, image_id) is None

    assert ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt="2030-01-02T03:04:59Z")["Return"] is True
    assert deprecation_time(ec2, image_id) == "2030-01-02T03:05:00.000Z", "59 s round up"
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt="2030-01-02T03:04:29Z")
    assert deprecation_time(ec2, image_id) == "2030-01-02T03:04:00.000Z", "29 s round down"
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt="2030-01-02T23:59:30Z")
    assert deprecation_time(ec2, image_id) == "2030-01-03T00:00:00.000Z", "30 s round up, across the day"

    assert ec2.disable_image_deprecation(ImageId=image_id)["Return"] is True
    assert deprecation_time(ec2, image_id) is None


@pytest.mark.parametrize("offset", [timedelta(minutes=-5), timedelta(days=365 * 10 + 10)], ids=["past", "past-10-years"])
def test_a_date_in_the_past_or_past_ten_years_is_refused(ec2, offset):
    image_id = register(ec2, f"gio-node-deprecate-out-of-range-{offset.days}")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=datetime.now(timezone.utc) + offset)
    assert error_code(excinfo) == "InvalidParameterValue"
    assert deprecation_time(ec2, image_id) is None


def test_a_public_ami_may_be_deprecated_up_to_two_years_after_its_creation(ec2):
    image_id = register(ec2, "gio-node-deprecate-public")
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    now = datetime.now(timezone.utc)  # also the AMI's creation date, to the second
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=now + timedelta(days=700))
    assert deprecation_time(ec2, image_id) is not None
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=now + timedelta(days=740))
    assert error_code(excinfo) == "InvalidParameterValue"


def test_an_unknown_ami_is_refused(ec2):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.enable_image_deprecation(ImageId="ami-12345678", DeprecateAt="2030-01-02T03:04:00Z")
    assert error_code(excinfo) == "InvalidAMIID.NotFound"
