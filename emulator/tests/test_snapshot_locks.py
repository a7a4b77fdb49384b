"""EBS snapshot lock (patches/locks.py): LockSnapshot, UnlockSnapshot, DescribeLockedSnapshots, and
DeleteSnapshot refused while locked.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LockSnapshot.html): "A locked snapshot
can't be deleted"; governance locks can be unlocked and changed at any time; compliance locks "can't be
unlocked by any user ... can't decrease the lock duration or change the lock mode", except during the
optional cooling-off period (state compliance-cooloff); "You must specify either this parameter or
ExpirationDate, but not both". UnlockSnapshot: "You can't unlock a snapshot that is locked in compliance
mode after the cooling-off period has expired." Lock states: compliance-cooloff | governance |
compliance | expired.
"""

from datetime import timedelta

import boto3
import botocore.config
import botocore.exceptions
import pytest

from helpers import error_code, make_snapshot

REGION = "eu-south-2"


@pytest.fixture
def ec2(client):
    return client("ec2", REGION)


def snapshot(ec2):
    return make_snapshot(ec2, zone=f"{REGION}a")


def refused(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**kwargs)
    return error_code(excinfo)


def lock_state(ec2, snapshot_id):
    return ec2.describe_locked_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["LockState"]


def test_a_governance_lock_holds_until_unlocked(ec2, clock):
    snapshot_id = snapshot(ec2)
    locked = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=30)
    assert (locked["LockState"], locked["LockDuration"]) == ("governance", 30)
    assert locked["LockExpiresOn"] - locked["LockCreatedOn"] == timedelta(days=30)
    assert abs((locked["LockCreatedOn"] - clock.now()).total_seconds()) < 60
    assert refused(ec2.delete_snapshot, SnapshotId=snapshot_id) == "IncorrectState"

    shorter = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=1)
    assert shorter["LockCreatedOn"] == locked["LockCreatedOn"], "a change keeps when it was locked"
    assert ec2.unlock_snapshot(SnapshotId=snapshot_id)["SnapshotId"] == snapshot_id
    assert ec2.describe_locked_snapshots(SnapshotIds=[snapshot_id])["Snapshots"] == []
    ec2.delete_snapshot(SnapshotId=snapshot_id)


def test_a_compliance_lock_can_be_undone_only_while_cooling_off(ec2, clock):
    snapshot_id = snapshot(ec2)
    locked = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=10, CoolOffPeriod=2)
    assert locked["LockState"] == "compliance-cooloff" and locked["CoolOffPeriod"] == 2
    assert locked["CoolOffPeriodExpiresOn"] - locked["LockCreatedOn"] == timedelta(hours=2)
    assert refused(ec2.delete_snapshot, SnapshotId=snapshot_id) == "IncorrectState"
    ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=5, CoolOffPeriod=2)  # decreased

    clock.advance(timedelta(hours=2, seconds=1))
    assert lock_state(ec2, snapshot_id) == "compliance"
    assert refused(ec2.unlock_snapshot, SnapshotId=snapshot_id) == "IncorrectState"
    assert refused(ec2.lock_snapshot, SnapshotId=snapshot_id, LockMode="compliance", LockDuration=4) == "IncorrectState"
    assert refused(ec2.lock_snapshot, SnapshotId=snapshot_id, LockMode="governance", LockDuration=9) == "IncorrectState"
    assert refused(ec2.lock_snapshot, SnapshotId=snapshot_id, LockMode="compliance", LockDuration=6,
                   CoolOffPeriod=1) == "IncorrectState"
    extended = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=6)
    assert extended["LockState"] == "compliance"
    assert refused(ec2.delete_snapshot, SnapshotId=snapshot_id) == "IncorrectState"

    clock.advance(timedelta(days=6))
    assert lock_state(ec2, snapshot_id) == "expired"
    ec2.delete_snapshot(SnapshotId=snapshot_id)


def test_a_lock_until_a_date_and_the_lock_state_filter(ec2, clock):
    governed, compliant = snapshot(ec2), snapshot(ec2)
    until = clock.now() + timedelta(days=3)
    expires = ec2.lock_snapshot(SnapshotId=governed, LockMode="governance", ExpirationDate=until)["LockExpiresOn"]
    assert abs((expires - until).total_seconds()) < 1  # boto3 sends the date to the second
    ec2.lock_snapshot(SnapshotId=compliant, LockMode="compliance", LockDuration=1)
    by_state = ec2.describe_locked_snapshots(SnapshotIds=[governed, compliant],
                                             Filters=[{"Name": "lock-state", "Values": ["compliance"]}])["Snapshots"]
    assert [s["SnapshotId"] for s in by_state] == [compliant]
    assert "LockDuration" not in ec2.describe_locked_snapshots(SnapshotIds=[governed])["Snapshots"][0]


@pytest.mark.parametrize("kwargs, code", [
    ({"LockMode": "governance"}, "MissingParameter"),
    ({"LockMode": "governance", "LockDuration": 1, "ExpirationDate": "2099-01-01T00:00:00Z"}, "InvalidParameterCombination"),
    ({"LockMode": "governance", "LockDuration": 1, "CoolOffPeriod": 1}, "InvalidParameterCombination"),
    ({"LockMode": "compliance", "LockDuration": 1, "CoolOffPeriod": 73}, "InvalidParameterValue"),
    ({"LockMode": "compliance", "LockDuration": 36501}, "InvalidParameterValue"),
    ({"LockMode": "governance", "ExpirationDate": "2001-01-01T00:00:00Z"}, "InvalidParameterValue"),
], ids=["no-duration", "duration-and-date", "cool-off-in-governance", "cool-off-73h", "over-36500-days", "date-past"])
def test_invalid_locks_are_refused(endpoint, kwargs, code):
    unchecked = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="a",
                             aws_secret_access_key="b", config=botocore.config.Config(parameter_validation=False))
    assert refused(unchecked.lock_snapshot, SnapshotId=snapshot(unchecked), **kwargs) == code


def test_a_locked_snapshot_survives_deregister_with_delete_associated_snapshots(ec2):
    snapshot_id = snapshot(ec2)
    image_id = ec2.register_image(Name="gio-locked-root", RootDeviceName="/dev/xvda",
                                  BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot_id}}])["ImageId"]
    ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=1)
    result = ec2.deregister_image(ImageId=image_id, DeleteAssociatedSnapshots=True)
    assert result["DeleteSnapshotResults"] == [{"SnapshotId": snapshot_id, "ReturnCode": "client-error"}]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
