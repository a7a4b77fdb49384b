"""Patches 50–52: with a lag, EC2 shows each change late, as its eventual consistency does
(https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). The lag runs on the
emulator's clock, so these tests move the clock past it instead of sleeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError

from helpers import error_code, make_snapshot, register_root_image
from hooks import hook

LAG = timedelta(seconds=30)
REGION = "il-central-1"  # no other test lists EC2 resources here
ZONE = f"{REGION}a"


@pytest.fixture
def lag(endpoint: str) -> Iterator[None]:
    """EC2 runs LAG behind for the test, consistent again afterwards (one emulator for all)."""
    assert hook(endpoint, "consistency", {"lag_seconds": LAG.total_seconds()}) == {"lag_seconds": 30.0}
    yield
    hook(endpoint, "consistency", {"lag_seconds": 0})


@pytest.fixture
def ec2(client: Any) -> Any:
    return client("ec2", REGION)


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def test_a_new_ami_is_not_found_by_id_until_the_lag_passes(ec2, clock, lag):
    ami = register_root_image(ec2, "lag-new", zone=ZONE)
    for call in (
        lambda: ec2.describe_images(ImageIds=[ami]),
        lambda: ec2.describe_image_attribute(ImageId=ami, Attribute="description"),
        lambda: ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": "111122223333"}]}),
        lambda: ec2.create_tags(Resources=[ami], Tags=[{"Key": "k", "Value": "v"}]),
        lambda: ec2.copy_image(SourceImageId=ami, SourceRegion=REGION, Name="lag-copy"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert error_code(refused) == "InvalidAMIID.NotFound"
    listed = ec2.describe_images(Owners=["self"], Filters=[{"Name": "image-id", "Values": [ami]}])["Images"]
    assert listed == [], "not listed either: it has not propagated"

    clock.advance(LAG)
    assert [i["ImageId"] for i in ec2.describe_images(ImageIds=[ami])["Images"]] == [ami]
    copy = ec2.copy_image(SourceImageId=ami, SourceRegion=REGION, Name="lag-copy")["ImageId"]
    with pytest.raises(ClientError) as refused:
        ec2.describe_images(ImageIds=[copy])
    assert error_code(refused) == "InvalidAMIID.NotFound", "a copy is a new AMI too"


def test_snapshots_of_a_just_deregistered_ami_stay_in_use_until_the_lag_passes(ec2, clock, lag):
    ami = register_root_image(ec2, "lag-deregistered", zone=ZONE)
    other = register_root_image(ec2, "lag-other", zone=ZONE)
    clock.advance(LAG)
    [snapshot] = [m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"]]
    ec2.deregister_image(ImageId=ami)
    for call in (lambda: ec2.delete_snapshot(SnapshotId=snapshot),
                 lambda: ec2.modify_snapshot_tier(SnapshotId=snapshot, StorageTier="archive")):
        with pytest.raises(ClientError) as refused:
            call()
        assert error_code(refused) == "InvalidSnapshot.InUse"
        assert refused.value.response["Error"]["Message"] == f"The snapshot {snapshot} is currently in use by {ami}"
    loose = make_snapshot(ec2, zone=ZONE)
    ec2.delete_snapshot(SnapshotId=loose)  # only a deregistered AMI's snapshots lag

    clock.advance(LAG)
    ec2.delete_snapshot(SnapshotId=snapshot)
    assert ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snapshot]}])["Snapshots"] == []
    assert ec2.describe_images(ImageIds=[other])["Images"], "what was not changed is not lagged"


def test_tags_show_late_in_describe_answers_and_their_filters(ec2, clock, lag):
    snapshot = make_snapshot(ec2, zone=ZONE)
    ec2.create_tags(Resources=[snapshot], Tags=[{"Key": "gone", "Value": "1"}, {"Key": "kept", "Value": "old"}])
    clock.advance(LAG)
    ec2.create_tags(Resources=[snapshot], Tags=[{"Key": "kept", "Value": "new"}, {"Key": "added", "Value": "1"}])
    ec2.delete_tags(Resources=[snapshot], Tags=[{"Key": "gone"}])

    def described() -> dict[str, str]:
        return tags(ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0])

    def found_by(key: str, value: str) -> bool:
        answer = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": f"tag:{key}", "Values": [value]}])
        return snapshot in [s["SnapshotId"] for s in answer["Snapshots"]]

    assert described() == {"gone": "1", "kept": "old"}, "as they were before the changes"
    assert not found_by("added", "1") and found_by("kept", "old")
    clock.advance(LAG)
    assert described() == {"kept": "new", "added": "1"}
    assert found_by("added", "1") and not found_by("kept", "old")


def test_without_a_lag_every_change_shows_at_once(ec2, endpoint):
    assert hook(endpoint, "consistency") == {"lag_seconds": 0.0}
    ami = register_root_image(ec2, "lag-none", zone=ZONE)
    ec2.create_tags(Resources=[ami], Tags=[{"Key": "k", "Value": "v"}])
    assert tags(ec2.describe_images(ImageIds=[ami])["Images"][0]) == {"k": "v"}
    ec2.deregister_image(ImageId=ami)


def test_a_negative_lag_is_refused(endpoint):
    with pytest.raises(Exception, match="400"):
        hook(endpoint, "consistency", {"lag_seconds": -1})
