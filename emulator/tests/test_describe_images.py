"""Patch 5: DescribeImages pages and scopes by owner; a fresh region owns nothing."""

import botocore.exceptions
import pytest

from helpers import error_code, make_snapshot


def test_fresh_region_has_no_images_or_snapshots_of_its_own(client):
    ec2 = client("ec2", "ap-southeast-2")
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    assert ec2.describe_snapshots()["Snapshots"] == []
    amazon = ec2.describe_images(Owners=["amazon"])["Images"]
    assert amazon and {image["OwnerId"] for image in amazon} == {"602401143452"}
    assert ec2.describe_images(Owners=["602401143452"])["Images"] == amazon


def test_describe_images_pages_each_image_once(client):
    ec2 = client("ec2", "ap-northeast-1")
    snapshot = make_snapshot(ec2, 1, "ap-northeast-1a")
    created = {
        ec2.register_image(Name=f"gio-node-page-{n:02}",
                           BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snapshot}}])["ImageId"]
        for n in range(12)
    }
    paginator = ec2.get_paginator("describe_images")
    pages = list(paginator.paginate(Owners=["self"], PaginationConfig={"PageSize": 5}))
    assert [len(page["Images"]) for page in pages] == [5, 5, 2]
    assert sorted(i["ImageId"] for page in pages for i in page["Images"]) == sorted(created)

    # Filters apply to each page after it is cut, as in EC2: short pages, same total.
    filtered = list(paginator.paginate(Owners=["self"], PaginationConfig={"PageSize": 5},
                                       Filters=[{"Name": "name", "Values": ["gio-node-page-1*"]}]))
    assert len(filtered) == 3
    assert sorted(i["Name"] for page in filtered for i in page["Images"]) == [f"gio-node-page-{n}" for n in range(10, 12)]


@pytest.mark.parametrize("kwargs, code", [
    ({"MaxResults": 0}, "InvalidParameterValue"),
    ({"MaxResults": 1001}, "InvalidParameterValue"),
    ({"MaxResults": 5, "ImageIds": ["ami-0123456789abcdef0"]}, "InvalidParameterCombination"),
])
def test_describe_images_rejects_bad_paging(ec2, kwargs, code):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_images(**kwargs)
    assert error_code(excinfo) == code


def test_disabled_images_are_hidden_unless_asked_even_by_id(ec2):
    """DescribeImages, IncludeDisabled: "Specifies whether to include disabled AMIs. Default: No disabled
    AMIs are included in the response." (no exception for ImageIds)
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html"""
    snapshot = make_snapshot(ec2)
    image_id = ec2.register_image(Name="gio-node-disabled",
                                  BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snapshot}}])["ImageId"]
    ec2.disable_image(ImageId=image_id)
    assert image_id not in {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert ec2.describe_images(ImageIds=[image_id])["Images"] == []
    assert image_id in {i["ImageId"] for i in ec2.describe_images(Owners=["self"], IncludeDisabled=True)["Images"]}
    assert [i["State"] for i in ec2.describe_images(ImageIds=[image_id], IncludeDisabled=True)["Images"]] == ["disabled"]
