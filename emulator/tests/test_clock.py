"""The emulator's clock (patches/clock.py): a test hook moves it; AMI and snapshot times follow it."""

import urllib.error
from datetime import datetime, timedelta, timezone

import pytest

from helpers import make_snapshot
from hooks import clock, hook  # noqa: F401  (fixture)


def test_the_clock_runs_at_the_offset_set_and_back(endpoint, clock):
    before = datetime.now(timezone.utc)
    moved = clock(timedelta(hours=-48))
    assert moved["offset_seconds"] == -172800
    now = datetime.strptime(moved["now"], "%Y-%m-%dT%H:%M:%S%z")
    assert timedelta(hours=-48, seconds=-2) < now - before < timedelta(hours=-48, seconds=2)
    assert hook(endpoint, "clock")["offset_seconds"] == -172800, "GET reads it"
    assert clock(timedelta(0))["offset_seconds"] == 0


def test_images_and_snapshots_made_while_the_clock_is_moved_carry_its_time(client, clock):
    ec2 = client("ec2", "us-gov-west-1")
    clock(timedelta(days=-3))
    snapshot = make_snapshot(ec2, zone="us-gov-west-1a")
    image = ec2.register_image(Name="gio-node-three-days-old", RootDeviceName="/dev/xvda",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}])
    clock(timedelta(0))
    created = ec2.describe_images(ImageIds=[image["ImageId"]])["Images"][0]["CreationDate"]
    age = datetime.now(timezone.utc) - datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert timedelta(days=3) - timedelta(seconds=5) < age < timedelta(days=3, seconds=5)
    started = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["StartTime"]
    assert timedelta(days=3) - timedelta(seconds=5) < datetime.now(timezone.utc) - started < timedelta(days=3, seconds=5)


def test_a_malformed_request_is_refused(endpoint):
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        hook(endpoint, "clock", {"offset": 5})
    assert excinfo.value.code == 400
