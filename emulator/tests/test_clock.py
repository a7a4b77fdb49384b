"""The emulator's clock (patches/clock.py): the test hook sets or advances it; AMI and snapshot times follow it.

The tests that POST the hook themselves take the `clock` fixture too, so the clock is put back after them.
"""

import urllib.error
from datetime import datetime, timedelta, timezone

import pytest

from helpers import make_snapshot
from hooks import hook


def when(answer):
    return datetime.fromisoformat(answer["now"].replace("Z", "+00:00"))


def test_the_clock_runs_at_the_offset_set_and_back(endpoint, clock):
    before = datetime.now(timezone.utc)
    moved = hook(endpoint, "clock", {"offset_seconds": -172800})
    assert moved["offset_seconds"] == -172800 and moved["now"].endswith("Z")
    assert timedelta(hours=-48, seconds=-2) < when(moved) - before < timedelta(hours=-48, seconds=2)
    assert hook(endpoint, "clock")["offset_seconds"] == -172800, "GET reads it"
    assert hook(endpoint, "clock", {"offset_seconds": 0})["offset_seconds"] == 0


def test_advancing_adds_to_the_offset_and_only_forward(endpoint, clock):
    clock.set(timedelta(hours=-2))
    moved = hook(endpoint, "clock", {"advance_seconds": 3 * 3600})
    assert moved["offset_seconds"] == 3600
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        hook(endpoint, "clock", {"advance_seconds": -1})
    assert excinfo.value.code == 400
    assert clock.offset() == timedelta(hours=1), "a refused move leaves the clock where it was"


def test_images_and_snapshots_made_while_the_clock_is_moved_carry_its_time(client, clock):
    ec2 = client("ec2", "us-gov-west-1")
    clock.set(timedelta(days=-3))
    snapshot = make_snapshot(ec2, zone="us-gov-west-1a")
    image = ec2.register_image(Name="gio-node-three-days-old", RootDeviceName="/dev/xvda",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}])
    clock.set(timedelta(0))
    created = ec2.describe_images(ImageIds=[image["ImageId"]])["Images"][0]["CreationDate"]
    age = datetime.now(timezone.utc) - datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert timedelta(days=3) - timedelta(seconds=5) < age < timedelta(days=3, seconds=5)
    started = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["StartTime"]
    assert timedelta(days=3) - timedelta(seconds=5) < datetime.now(timezone.utc) - started < timedelta(days=3, seconds=5)


@pytest.mark.parametrize("body", [{"offset": 5}, {"offset_seconds": 5, "advance_seconds": 5}, {"offset_seconds": "soon"},
                                  {"offset_seconds": 1e15}, [5]])
def test_a_malformed_request_is_refused(endpoint, clock, body):
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        hook(endpoint, "clock", body)
    assert excinfo.value.code == 400
    assert clock.offset() == timedelta(0)
