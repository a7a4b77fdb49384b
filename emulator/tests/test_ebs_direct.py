"""Patch 9: the EBS direct APIs: 512 KiB blocks, a pending snapshot until completed, no scratch volume."""


def test_start_snapshot_is_pending_until_completed(client):
    ebs, ec2 = client("ebs", "eu-north-1"), client("ec2", "eu-north-1")
    started = ebs.start_snapshot(VolumeSize=1, Description="upload")
    assert started["BlockSize"] == 524288
    snapshot = ec2.describe_snapshots(SnapshotIds=[started["SnapshotId"]])["Snapshots"][0]
    assert (snapshot["State"], snapshot["VolumeId"], snapshot["VolumeSize"]) == ("pending", "vol-ffffffff", 1)
    assert ec2.describe_volumes()["Volumes"] == []

    ebs.put_snapshot_block(SnapshotId=started["SnapshotId"], BlockIndex=0, BlockData=b"\0" * 524288,
                           DataLength=524288, Checksum="unchecked", ChecksumAlgorithm="SHA256")
    ebs.complete_snapshot(SnapshotId=started["SnapshotId"], ChangedBlocksCount=1)
    snapshot = ec2.describe_snapshots(SnapshotIds=[started["SnapshotId"]])["Snapshots"][0]
    assert snapshot["State"] == "completed"
