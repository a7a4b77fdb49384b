"""Patch 3: CopyImage makes new snapshots in the destination region."""

import re

from helpers import make_snapshot


def test_copy_image_to_another_region_copies_snapshots(client):
    source_ec2, target_ec2 = client("ec2", "us-west-2"), client("ec2", "eu-central-1")
    root, data = make_snapshot(source_ec2, 8, "us-west-2a"), make_snapshot(source_ec2, 20, "us-west-2a")
    source_id = source_ec2.register_image(
        Name="gio-node-to-copy", Architecture="x86_64", VirtualizationType="hvm", RootDeviceName="/dev/xvda",
        EnaSupport=True, BootMode="uefi-preferred",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root, "VolumeType": "gp3"}},
            {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": data, "DeleteOnTermination": False}},
            {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"},
        ],
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "gio:release", "Value": "r3"}]}],
    )["ImageId"]

    copy_id = target_ec2.copy_image(
        SourceImageId=source_id, SourceRegion="us-west-2", Name="gio-node-copied", CopyImageTags=True,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "gio:copy", "Value": "yes"}]}],
    )["ImageId"]

    source = source_ec2.describe_images(ImageIds=[source_id])["Images"][0]
    copy = target_ec2.describe_images(ImageIds=[copy_id])["Images"][0]
    new_snapshots = [m["Ebs"]["SnapshotId"] for m in copy["BlockDeviceMappings"] if "Ebs" in m]
    assert len(new_snapshots) == 2 and not {root, data} & set(new_snapshots)
    without_ids = [{**m, "Ebs": {k: v for k, v in m["Ebs"].items() if k != "SnapshotId"}} if "Ebs" in m else m
                   for m in copy["BlockDeviceMappings"]]
    assert without_ids == [{**m, "Ebs": {k: v for k, v in m["Ebs"].items() if k != "SnapshotId"}} if "Ebs" in m else m
                           for m in source["BlockDeviceMappings"]]
    for key in ("Architecture", "VirtualizationType", "RootDeviceName", "EnaSupport", "BootMode"):
        assert copy[key] == source[key]
    assert copy["Tags"] == [{"Key": "gio:release", "Value": "r3"}]
    assert (copy["SourceImageId"], copy["SourceImageRegion"]) == (source_id, "us-west-2")

    snapshots = target_ec2.describe_snapshots(SnapshotIds=new_snapshots)["Snapshots"]
    for snapshot, source_snapshot in zip(sorted(snapshots, key=lambda s: new_snapshots.index(s["SnapshotId"])),
                                         (root, data)):
        assert re.fullmatch(
            rf"Copied for DestinationAmi {copy_id} from SourceAmi {source_id} "
            rf"for SourceSnapshot {source_snapshot}\. Task created on [\d,]+\.",
            snapshot["Description"],
        )
        assert snapshot["Tags"] == [{"Key": "gio:copy", "Value": "yes"}]
        assert snapshot["OwnerId"] == "123456789012"
    # The source region's snapshots are untouched.
    assert len(source_ec2.describe_snapshots(SnapshotIds=[root, data])["Snapshots"]) == 2


def test_copy_seed_ami_within_region(client):
    ec2 = client("ec2", "ca-central-1")
    base = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amazon-eks-node-1.32-*"]}])
    base_id = base["Images"][0]["ImageId"]
    copy_id = ec2.copy_image(SourceImageId=base_id, SourceRegion="ca-central-1", Name="my-eks-node-copy",
                             Encrypted=True)["ImageId"]
    copy = ec2.describe_images(ImageIds=[copy_id])["Images"][0]
    assert copy["OwnerId"] == "123456789012" and copy["Public"] is False
    snapshot_id = copy["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snapshot = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert [(s["SnapshotId"], s["Encrypted"]) for s in snapshot] == [(snapshot_id, True)]
    assert copy["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True


def test_copy_image_encrypted_without_a_key_uses_the_default_key_that_was_set(client):
    """CopyImage Encrypted: "The default KMS key for Amazon EBS is used unless you specify a non-default KMS key
    using KmsKeyId" (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html); the default is the
    key ModifyEbsDefaultKmsKeyId set (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyEbsDefaultKmsKeyId.html),
    not always the AWS managed key."""
    region = "ap-east-1"
    ec2, kms = client("ec2", region), client("kms", region)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    ec2.modify_ebs_default_kms_key_id(KmsKeyId=key)
    source = ec2.register_image(Name="gio-node-plain", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": make_snapshot(ec2, 8, f"{region}a")}}])["ImageId"]
    copy = ec2.copy_image(SourceImageId=source, SourceRegion=region, Name="gio-node-sealed", Encrypted=True)["ImageId"]
    snapshot = ec2.describe_images(ImageIds=[copy])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    described = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]
    assert (described["Encrypted"], described["KmsKeyId"]) == (True, key)
