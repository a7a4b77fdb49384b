"""Patch 13: each resource's tags come from its own entry, and only its own."""

import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def test_listing_does_not_scan_the_region_tags_per_resource(monkeypatch):
    import patches
    from moto import mock_aws
    from moto.ec2.models.tags import TagBackend

    patches.apply()
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        volume = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1)["VolumeId"]
        made = {
            ec2.create_snapshot(
                VolumeId=volume,
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "n", "Value": str(n)}]}],
            )["SnapshotId"]: str(n)
            for n in range(3)
        }

        def scan(*args, **kwargs):
            raise AssertionError("a resource's tags were found by scanning every tag of the region")

        monkeypatch.setattr(TagBackend, "describe_tags", scan)
        listed = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert {s["SnapshotId"]: tags(s)["n"] for s in listed} == made


def test_every_listing_shows_exactly_each_resource_tags(client):
    ec2 = client("ec2", "ap-south-1")
    volume = ec2.create_volume(
        AvailabilityZone="ap-south-1a", Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "scratch"}]}],
    )["VolumeId"]
    first = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    second = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.create_tags(Resources=[first], Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    ec2.create_tags(Resources=[second], Tags=[{"Key": "a", "Value": "other"}])
    ec2.delete_tags(Resources=[first], Tags=[{"Key": "b"}])

    snapshots = {s["SnapshotId"]: tags(s) for s in ec2.describe_snapshots(SnapshotIds=[first, second])["Snapshots"]}
    assert snapshots == {first: {"a": "1"}, second: {"a": "other"}}
    assert tags(ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]) == {"Name": "scratch"}
    untagged = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    assert tags(ec2.describe_snapshots(SnapshotIds=[untagged])["Snapshots"][0]) == {}
