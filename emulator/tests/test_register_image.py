"""Patches 1 and 4: RegisterImage keeps everything; DescribeImages shows it back."""

import botocore.exceptions
import pytest

from helpers import error_code, make_snapshot


def test_register_keeps_every_mapping_and_attribute(ec2):
    root, data = make_snapshot(ec2, 8), make_snapshot(ec2, 30)
    self_snapshots = len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"])
    image_id = ec2.register_image(
        Name="gio-node-register-all",
        Description="all fields",
        Architecture="arm64",
        VirtualizationType="hvm",
        RootDeviceName="/dev/xvda",
        EnaSupport=True,
        SriovNetSupport="simple",
        BootMode="uefi",
        TpmSupport="v2.0",
        ImdsSupport="v2.0",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}},
            {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": data, "VolumeSize": 50, "VolumeType": "gp3",
                                                "DeleteOnTermination": False, "Iops": 4000, "Throughput": 250}},
            {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"},
            {"DeviceName": "/dev/sdd", "NoDevice": ""},
        ],
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "gio:release", "Value": "r1"}]}],
    )["ImageId"]

    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["BlockDeviceMappings"] == [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root, "VolumeSize": 8, "VolumeType": "gp2",
                                            "DeleteOnTermination": True, "Encrypted": False}},
        {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": data, "VolumeSize": 50, "VolumeType": "gp3",
                                            "DeleteOnTermination": False, "Encrypted": False,
                                            "Iops": 4000, "Throughput": 250}},
        {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"},
        {"DeviceName": "/dev/sdd", "NoDevice": ""},
    ]
    expected = {
        "Name": "gio-node-register-all", "Description": "all fields", "Architecture": "arm64",
        "VirtualizationType": "hvm", "RootDeviceName": "/dev/xvda", "RootDeviceType": "ebs", "EnaSupport": True,
        "SriovNetSupport": "simple", "BootMode": "uefi", "TpmSupport": "v2.0", "ImdsSupport": "v2.0",
        "OwnerId": "123456789012", "Public": False, "State": "available",
        "Tags": [{"Key": "gio:release", "Value": "r1"}],
    }
    assert {key: image.get(key) for key in expected} == expected
    # No "Auto-created snapshot" appears next to the AMI.
    assert len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]) == self_snapshots


def test_register_defaults_follow_aws(ec2):
    snapshot = make_snapshot(ec2, 12)
    image_id = ec2.register_image(
        Name="gio-node-register-defaults",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["RootDeviceName"] == "/dev/sda1"
    assert image["Architecture"] == "i386" and image["VirtualizationType"] == "paravirtual"
    assert "EnaSupport" not in image and "BootMode" not in image
    assert image["BlockDeviceMappings"][0]["Ebs"] == {
        "SnapshotId": snapshot, "VolumeSize": 12, "VolumeType": "gp2", "DeleteOnTermination": True, "Encrypted": False
    }


@pytest.mark.parametrize(
    "mappings, code",
    [
        ([{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": ""}}], "InvalidSnapshotID.Malformed"),
        ([{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-0123456789abcdef0"}}], "InvalidSnapshot.NotFound"),
        ([{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "SNAP"}}, {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "SNAP"}}],
         "InvalidBlockDeviceMapping"),
        ([{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "SNAP", "VolumeSize": 4}}], "InvalidBlockDeviceMapping"),
    ],
    ids=["empty-snapshot-id", "unknown-snapshot", "duplicate-device", "smaller-than-snapshot"],
)
def test_register_rejects_what_aws_rejects(ec2, mappings, code):
    snapshot = make_snapshot(ec2, 8)
    for mapping in mappings:
        if mapping["Ebs"]["SnapshotId"] == "SNAP":
            mapping["Ebs"]["SnapshotId"] = snapshot
    images_before = ec2.describe_images(Owners=["self"])["Images"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.register_image(Name=f"gio-node-rejected-{code}", RootDeviceName="/dev/xvda", BlockDeviceMappings=mappings)
    assert error_code(excinfo) == code
    assert ec2.describe_images(Owners=["self"])["Images"] == images_before


def test_register_rejects_taken_name_bad_name_and_snapshot_tags(ec2):
    snapshot = make_snapshot(ec2)
    mappings = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}]
    first = ec2.register_image(Name="gio-node-taken", BlockDeviceMappings=mappings)["ImageId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.register_image(Name="gio-node-taken", BlockDeviceMappings=mappings)
    assert error_code(excinfo) == "InvalidAMIName.Duplicate"
    assert first in excinfo.value.response["Error"]["Message"]

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.register_image(Name="gio-node 2026-11-25T10:00:00", BlockDeviceMappings=mappings)
    assert error_code(excinfo) == "InvalidAMIName.Malformed"

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.register_image(
            Name="gio-node-snapshot-tags", BlockDeviceMappings=mappings,
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}],
        )
    assert error_code(excinfo) == "InvalidParameterValue"


def test_describe_images_filters_on_mappings(ec2):
    snapshot = make_snapshot(ec2)
    image_id = ec2.register_image(
        Name="gio-node-filter-by-snapshot", RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]
    found = ec2.describe_images(Filters=[{"Name": "block-device-mapping.snapshot-id", "Values": [snapshot]}])
    assert [image["ImageId"] for image in found["Images"]] == [image_id]


def test_racing_registrations_of_one_name_make_one_ami(ec2):
    """Of sixteen requests racing for one name, one registers it and the others are refused, in
    every one of several rounds (the race is rare on one machine: several rounds make it show)."""
    from concurrent.futures import ThreadPoolExecutor

    root = make_snapshot(ec2, 8)

    def register(name):
        try:
            ec2.register_image(Name=name, RootDeviceName="/dev/xvda",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}])
            return "registered"
        except botocore.exceptions.ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(16) as pool:
        for round in range(6):
            name = f"gio-node-raced-{round}"
            outcomes = sorted(pool.map(register, [name] * 16))
            assert outcomes == ["InvalidAMIName.Duplicate"] * 15 + ["registered"], name
            named = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
            assert len(named) == 1, name
