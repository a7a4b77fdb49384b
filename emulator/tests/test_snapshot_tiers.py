"""EBS Snapshots Archive (patches/tiers.py): ModifySnapshotTier, RestoreSnapshotTier,
DescribeSnapshotTierStatus and DescribeSnapshots' StorageTier / RestoreExpiryTime.

AWS (https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-archive.html): "You can archive snapshots
that are in the completed state only"; "You can't archive snapshots that are associated with an Amazon
EBS-backed AMI"; "It can take up to 72 hours to restore an archived snapshot"; "You can't copy an archived
snapshot". Working with archiving: "You can continue to use the snapshot while the archive is in process";
temporary restores last TemporaryRestoreDays (1-180, default 1), a new period "is effective from the
current date", and RestoreExpiryTime "is returned only for snapshots that are temporarily restored".
"""

from datetime import timedelta

import botocore.exceptions
import pytest

from helpers import error_code, make_snapshot

REGION = "me-central-1"


@pytest.fixture
def ec2(client):
    return client("ec2", REGION)


def tier(ec2, snapshot_id):
    described = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    [status] = [s for s in ec2.describe_snapshot_tier_status(
        Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])["SnapshotTierStatuses"]]
    assert status["StorageTier"] == described["StorageTier"]
    return described["StorageTier"], status.get("LastTieringOperationStatus"), described.get("RestoreExpiryTime")


def refused(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**kwargs)
    return error_code(excinfo)


def test_archive_then_restore_temporarily_then_permanently(ec2, clock):
    snapshot_id = make_snapshot(ec2, zone=f"{REGION}a")
    assert tier(ec2, snapshot_id) == ("standard", None, None)

    started = ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")["TieringStartTime"]
    assert tier(ec2, snapshot_id) == ("standard", "archival-in-progress", None), "usable while archiving"
    assert refused(ec2.modify_snapshot_tier, SnapshotId=snapshot_id, StorageTier="archive") == "IncorrectState"
    clock.advance(timedelta(hours=6))
    assert tier(ec2, snapshot_id) == ("archive", "archival-completed", None)
    status = ec2.describe_snapshot_tier_status(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])["SnapshotTierStatuses"][0]
    assert status["LastTieringStartTime"] == started and status["ArchivalCompleteTime"] - started == timedelta(hours=6)
    assert refused(ec2.create_volume, SnapshotId=snapshot_id, AvailabilityZone=f"{REGION}a") == "IncorrectState"
    assert refused(ec2.copy_snapshot, SourceSnapshotId=snapshot_id, SourceRegion=REGION) == "IncorrectState"

    restore = ec2.restore_snapshot_tier(SnapshotId=snapshot_id, TemporaryRestoreDays=5)
    assert (restore["IsPermanentRestore"], restore["RestoreDuration"]) == (False, 5)
    state, operation, expiry = tier(ec2, snapshot_id)
    assert (state, operation) == ("archive", "temporary-restore-in-progress")
    clock.advance(timedelta(hours=72))
    state, operation, expiry = tier(ec2, snapshot_id)
    assert (state, operation) == ("standard", "temporary-restore-completed")
    assert expiry - restore["RestoreStartTime"] == timedelta(hours=72, days=5)
    ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=f"{REGION}a")

    ec2.restore_snapshot_tier(SnapshotId=snapshot_id, TemporaryRestoreDays=1)  # ends early, from now
    clock.advance(timedelta(days=1))
    assert tier(ec2, snapshot_id)[0] == "archive", "re-archived once the restore period is over"

    ec2.restore_snapshot_tier(SnapshotId=snapshot_id, PermanentRestore=True)
    assert tier(ec2, snapshot_id) == ("archive", "permanent-restore-in-progress", None)
    assert refused(ec2.restore_snapshot_tier, SnapshotId=snapshot_id, PermanentRestore=True) == "IncorrectState"
    clock.advance(timedelta(hours=72))
    assert tier(ec2, snapshot_id) == ("standard", "permanent-restore-completed", None)
    assert refused(ec2.restore_snapshot_tier, SnapshotId=snapshot_id, PermanentRestore=True) == "IncorrectState"


def test_a_temporary_restore_can_be_made_permanent(ec2, clock):
    snapshot_id = make_snapshot(ec2, zone=f"{REGION}a")
    ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    clock.advance(timedelta(hours=6))
    ec2.restore_snapshot_tier(SnapshotId=snapshot_id)  # 1 day by default
    clock.advance(timedelta(hours=72))
    assert ec2.restore_snapshot_tier(SnapshotId=snapshot_id, PermanentRestore=True)["IsPermanentRestore"] is True
    clock.advance(timedelta(days=2))
    assert tier(ec2, snapshot_id) == ("standard", "permanent-restore-completed", None)


def test_an_archival_reads_as_not_begun_when_the_clock_is_set_before_it(ec2, clock):
    snapshot_id = make_snapshot(ec2, zone=f"{REGION}a")
    clock.advance(timedelta(hours=3))
    ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    clock.set(clock.offset() - timedelta(hours=3))
    [status] = ec2.describe_snapshot_tier_status(
        Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])["SnapshotTierStatuses"]
    assert (status["StorageTier"], status["LastTieringOperationStatus"], status["LastTieringProgress"]) == \
        ("standard", "archival-in-progress", 0)


def test_what_cannot_be_archived_or_restored(ec2):
    mapped = make_snapshot(ec2, zone=f"{REGION}a")
    ec2.register_image(Name="gio-tier-mapped", RootDeviceName="/dev/xvda",
                       BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": mapped}}])
    assert refused(ec2.modify_snapshot_tier, SnapshotId=mapped, StorageTier="archive") == "InvalidSnapshot.InUse"
    standard = make_snapshot(ec2, zone=f"{REGION}a")
    assert refused(ec2.restore_snapshot_tier, SnapshotId=standard, PermanentRestore=True) == "IncorrectState"
    assert refused(ec2.restore_snapshot_tier, SnapshotId=standard, PermanentRestore=True,
                   TemporaryRestoreDays=2) == "InvalidParameterCombination"


def test_a_pending_snapshot_cannot_be_archived(client):
    ec2, ebs = client("ec2", REGION), client("ebs", REGION)
    pending = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]  # pending until CompleteSnapshot
    assert refused(ec2.modify_snapshot_tier, SnapshotId=pending, StorageTier="archive") == "IncorrectState"


def test_archives_and_restores_in_progress_are_capped_per_account(client, clock):
    """25 archives and 5 restores in progress at once per account (Quotas for EBS snapshot archive,
    https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-archive-considerations.html); the refusal's
    code is undocumented: ResourceLimitExceeded chosen. A region of its own: nothing else in flight."""
    region = "ap-south-2"
    ec2 = client("ec2", region)
    snapshots = [make_snapshot(ec2, zone=f"{region}a") for _ in range(27)]
    for snapshot_id in snapshots[:25]:
        ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    assert refused(ec2.modify_snapshot_tier, SnapshotId=snapshots[25], StorageTier="archive") == "ResourceLimitExceeded"
    clock.advance(timedelta(hours=6))
    ec2.modify_snapshot_tier(SnapshotId=snapshots[25], StorageTier="archive")  # the 25 completed: room again

    for snapshot_id in snapshots[:5]:
        ec2.restore_snapshot_tier(SnapshotId=snapshot_id, PermanentRestore=True)
    assert refused(ec2.restore_snapshot_tier, SnapshotId=snapshots[5], TemporaryRestoreDays=2) == "ResourceLimitExceeded"
    clock.advance(timedelta(hours=72))
    ec2.restore_snapshot_tier(SnapshotId=snapshots[5], TemporaryRestoreDays=2)
