"""Patches 5 and 6: snapshot visibility, paging, and deletion guarded by AMIs."""

import botocore.exceptions
import pytest

from helpers import error_code, make_snapshot, seed_image


def register(ec2, name, *snapshot_ids):
    devices = ("/dev/xvda", "/dev/xvdb", "/dev/xvdc")
    return ec2.register_image(
        Name=name, RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": d, "Ebs": {"SnapshotId": s}} for d, s in zip(devices, snapshot_ids)],
    )["ImageId"]


def test_mapped_snapshot_is_in_use_until_deregistered(ec2):
    root, data = make_snapshot(ec2), make_snapshot(ec2)
    image_id = register(ec2, "gio-node-in-use", root, data)
    for snapshot_id in (root, data):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            ec2.delete_snapshot(SnapshotId=snapshot_id)
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert excinfo.value.response["Error"] == {
            "Code": "InvalidSnapshot.InUse", "Message": f"The snapshot {snapshot_id} is currently in use by {image_id}"
        }

    ec2.deregister_image(ImageId=image_id)
    assert len(ec2.describe_snapshots(SnapshotIds=[root, data])["Snapshots"]) == 2  # AWS keeps them
    ec2.delete_snapshot(SnapshotId=root)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_snapshots(SnapshotIds=[root])
    assert error_code(excinfo) == "InvalidSnapshot.NotFound"


def test_deregister_can_delete_associated_snapshots(ec2):
    shared, own = make_snapshot(ec2), make_snapshot(ec2)
    image_id = register(ec2, "gio-node-delete-snapshots", shared, own)
    register(ec2, "gio-node-shares-a-snapshot", shared)
    result = ec2.deregister_image(ImageId=image_id, DeleteAssociatedSnapshots=True)
    assert result["DeleteSnapshotResults"] == [
        {"SnapshotId": shared, "ReturnCode": "skipped"}, {"SnapshotId": own, "ReturnCode": "success"},
    ]
    assert [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]].count(own) == 0


def test_amazon_amis_and_their_snapshots_are_not_ours(ec2):
    image = seed_image(ec2, "amazon-eks-node-al2023-x86_64-standard-1.30")
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"] == []  # private to Amazon's account
    assert snapshot_id not in {s["SnapshotId"] for s in ec2.describe_snapshots()["Snapshots"]}
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.deregister_image(ImageId=image["ImageId"])
    assert error_code(excinfo) == "AuthFailure"


def test_describe_snapshots_pages_each_snapshot_once(client):
    ec2 = client("ec2", "sa-east-1")
    created = {make_snapshot(ec2, 1, "sa-east-1a") for _ in range(12)}
    seen, token, pages = [], None, 0
    while True:
        page = ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5, **({"NextToken": token} if token else {}))
        assert len(page["Snapshots"]) <= 5
        seen += [s["SnapshotId"] for s in page["Snapshots"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(created)
    paginator = ec2.get_paginator("describe_snapshots")
    assert sum(len(p["Snapshots"]) for p in paginator.paginate(OwnerIds=["self"], PaginationConfig={"PageSize": 5})) == 12
    assert len(ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5000)["Snapshots"]) == 12  # served as 1000


@pytest.mark.parametrize("kwargs, code", [
    ({"MaxResults": 4}, "InvalidParameterValue"),
    ({"MaxResults": 5, "SnapshotIds": ["snap-0123456789abcdef0"]}, "InvalidParameterCombination"),
    ({"NextToken": "not a token!"}, "InvalidNextToken"),
])
def test_describe_snapshots_rejects_bad_paging(ec2, kwargs, code):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_snapshots(**kwargs)
    assert error_code(excinfo) == code
