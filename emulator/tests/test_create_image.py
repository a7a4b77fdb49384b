"""Patch 2: CreateImage snapshots every volume of the instance, as AWS does."""

import botocore.exceptions
import pytest

from helpers import error_code, instance_type_for, seed_image

TAGS = [
    {"ResourceType": "image", "Tags": [{"Key": "gio:release", "Value": "r7"}]},
    {"ResourceType": "snapshot", "Tags": [{"Key": "gio:release", "Value": "r7"}]},
]


def launch_with_data_disk(ec2, base):
    return ec2.run_instances(
        ImageId=base["ImageId"], InstanceType=instance_type_for(base), MinCount=1, MaxCount=1,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 50, "VolumeType": "gp3",
                                                                  "DeleteOnTermination": False}}],
    )["Instances"][0]["InstanceId"]


def test_create_image_snapshots_every_volume(ec2):
    base = seed_image(ec2, "amazon-eks-node-al2023-arm64-standard-1.31")
    instance_id = launch_with_data_disk(ec2, base)
    ec2.stop_instances(InstanceIds=[instance_id])
    volumes = {v["Attachments"][0]["Device"]: v["VolumeId"] for v in ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]}

    image_id = ec2.create_image(InstanceId=instance_id, Name="gio-node-created", TagSpecifications=TAGS)["ImageId"]

    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    mappings = {m["DeviceName"]: m["Ebs"] for m in image["BlockDeviceMappings"]}
    assert sorted(mappings) == ["/dev/xvda", "/dev/xvdb"]
    assert {d: (e["VolumeSize"], e["VolumeType"], e["DeleteOnTermination"]) for d, e in mappings.items()} == {
        "/dev/xvda": (20, "gp3", True), "/dev/xvdb": (50, "gp3", False),
    }
    snapshots = ec2.describe_snapshots(SnapshotIds=[e["SnapshotId"] for e in mappings.values()])["Snapshots"]
    assert sorted(s["Description"] for s in snapshots) == sorted(
        f"Created by CreateImage({instance_id}) for {image_id} from {volumes[device]}" for device in mappings
    )
    assert all(s["Tags"] == [{"Key": "gio:release", "Value": "r7"}] and s["OwnerId"] == "123456789012"
               for s in snapshots)
    assert image["Tags"] == [{"Key": "gio:release", "Value": "r7"}]
    inherited = ("Architecture", "VirtualizationType", "RootDeviceName", "EnaSupport", "SriovNetSupport",
                 "BootMode", "ImdsSupport")
    assert {key: image.get(key) for key in inherited} == {key: base.get(key) for key in inherited}
    assert image["SourceInstanceId"] == instance_id


def test_create_image_mappings_override_add_and_suppress(ec2):
    base = seed_image(ec2, "amazon-eks-node-al2023-x86_64-standard-1.30")  # root: 20 GiB gp3
    instance_id = launch_with_data_disk(ec2, base)
    image_id = ec2.create_image(
        InstanceId=instance_id, Name="gio-node-created-overrides",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "VolumeType": "gp2"}},
            {"DeviceName": "/dev/xvdb", "NoDevice": ""},
            {"DeviceName": "/dev/xvdc", "Ebs": {"VolumeSize": 125, "VolumeType": "st1"}},
        ],
    )["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    mappings = {m["DeviceName"]: m["Ebs"] for m in image["BlockDeviceMappings"]}
    assert sorted(mappings) == ["/dev/xvda", "/dev/xvdc"]
    assert (mappings["/dev/xvda"]["VolumeSize"], mappings["/dev/xvda"]["VolumeType"]) == (30, "gp2")
    assert "Iops" not in mappings["/dev/xvda"]  # gp3's IOPS do not carry over to gp2
    assert "SnapshotId" not in mappings["/dev/xvdc"] and mappings["/dev/xvdc"]["VolumeSize"] == 125


def test_create_image_refuses_shrinking_a_volume(ec2):
    instance_id = launch_with_data_disk(ec2, seed_image(ec2, "amazon-eks-node-1.29"))
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.create_image(InstanceId=instance_id, Name="gio-node-shrunk",
                         BlockDeviceMappings=[{"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 10}}])
    assert error_code(excinfo) == "InvalidBlockDeviceMapping"
