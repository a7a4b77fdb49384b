"""Patch 66: a snapshot StartSnapshot began is cancelled (`error`) once its Timeout passes without a block written or
CompleteSnapshot: "The amount of time (in minutes) after which the snapshot is automatically cancelled if: No blocks are
written to the snapshot. The snapshot is not completed after writing the last block of data. If no value is specified,
the timeout defaults to 60 minutes." (https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html); the
user guide's start-snapshot example: the snapshot then "transitions to the error state"
(https://docs.aws.amazon.com/ebs/latest/userguide/writesnapshots.html). Until then it is `pending`, with its tags.
"""

import os
from datetime import timedelta

import botocore.exceptions
import pytest

from test_ebs_direct import BLOCK, put, reason


def state(ec2, tag):
    """(State, Tags) of the one snapshot of the account carrying gio-ami:build-id=tag, found by that tag."""
    [found] = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:gio-ami:build-id", "Values": [tag]}])["Snapshots"]
    return found["State"], {t["Key"]: t["Value"] for t in found["Tags"]}


def test_a_started_snapshot_is_pending_with_its_tags_until_its_timeout_passes_idle(client, clock):
    region = "af-south-1"
    ebs, ec2 = client("ebs", region), client("ec2", region)
    tags = {"gio-ami:build-id": "b-timeout", "gio-ami:release": "nodes-7"}
    started = ebs.start_snapshot(VolumeSize=1, Timeout=10, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    snapshot = started["SnapshotId"]

    clock.advance(timedelta(minutes=9))
    put(ebs, snapshot, 0, os.urandom(BLOCK))  # a block written: the timeout starts again
    clock.advance(timedelta(minutes=9))
    assert state(ec2, "b-timeout") == ("pending", tags), "18 minutes in, 9 since the last block"

    clock.advance(timedelta(minutes=1))
    assert state(ec2, "b-timeout") == ("error", tags), "10 minutes after the last block, not completed"
    assert ec2.describe_snapshots(Filters=[{"Name": "status", "Values": ["error"]}],
                                  SnapshotIds=[snapshot])["Snapshots"]
    with pytest.raises(botocore.exceptions.ClientError) as written:
        put(ebs, snapshot, 1, os.urandom(BLOCK))
    assert reason(written) == "INVALID_SNAPSHOT_ID"
    with pytest.raises(botocore.exceptions.ClientError) as completed:
        ebs.complete_snapshot(SnapshotId=snapshot, ChangedBlocksCount=1)
    assert reason(completed) == "INVALID_SNAPSHOT_ID"


def test_the_timeout_defaults_to_an_hour_and_a_completed_snapshot_stays_completed(client, clock):
    region = "af-south-1"
    ebs, ec2 = client("ebs", region), client("ec2", region)
    tag = [{"Key": "gio-ami:build-id", "Value": "b-hour"}]
    idle = ebs.start_snapshot(VolumeSize=1, Tags=tag)["SnapshotId"]
    done = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    put(ebs, done, 0, os.urandom(BLOCK))
    assert ebs.complete_snapshot(SnapshotId=done, ChangedBlocksCount=1)["Status"] == "completed"

    clock.advance(timedelta(minutes=59))
    assert state(ec2, "b-hour")[0] == "pending"
    clock.advance(timedelta(minutes=1))
    assert state(ec2, "b-hour")[0] == "error"
    states = {s["SnapshotId"]: s["State"] for s in ec2.describe_snapshots(SnapshotIds=[idle, done])["Snapshots"]}
    assert states == {idle: "error", done: "completed"}
