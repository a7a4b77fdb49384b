"""Mappings: what AWS refuses in an AMI's or a launch's block-device mappings, and in CopyImage.

EbsBlockDevice (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsBlockDevice.html):
- Encrypted: "If you are creating a block device mapping from an existing encrypted or unencrypted snapshot,
  you must omit this parameter. If you include this parameter, the request will fail, regardless of the value
  that you specify."
- KmsKeyId: "This parameter is only supported on BlockDeviceMapping objects called by RunInstances,
  RequestSpotFleet, and RequestSpotInstances."
- VolumeSize: "gp2: 1 - 16,384 GiB gp3: 1 - 65,536 GiB io1: 4 - 16,384 GiB io2: 4 - 65,536 GiB
  st1 and sc1: 125 - 16,384 GiB standard: 1 - 1024 GiB"
- Iops: "gp3: 3,000 - 80,000 IOPS io1: 100 - 64,000 IOPS io2: 100 - 256,000 IOPS ... This parameter is
  required for io1 and io2 volumes."
- Throughput: "This parameter is valid only for gp3 volumes. Valid Range: Minimum value of 125. Maximum value
  of 2,000."
CopyImage, KmsKeyId (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html):
"If you specify a KMS key, you must also set the encrypted state to true."
No error codes are documented for these; the emulator's are InvalidParameterValue, MissingParameter and
InvalidParameterCombination.
"""

import botocore.exceptions
import pytest

from helpers import error_code, make_snapshot, seed_image


@pytest.mark.parametrize("ebs, code", [
    ({"SNAP": True, "Encrypted": False}, "InvalidParameterCombination"),
    ({"SNAP": True, "Encrypted": True}, "InvalidParameterCombination"),
    ({"SNAP": True, "KmsKeyId": "alias/aws/ebs"}, "InvalidParameterCombination"),
    ({"VolumeSize": 124, "VolumeType": "st1"}, "InvalidParameterValue"),
    ({"VolumeSize": 100, "VolumeType": "sc1"}, "InvalidParameterValue"),
    ({"VolumeSize": 65_537, "VolumeType": "gp3"}, "InvalidParameterValue"),
    ({"VolumeSize": 1_025, "VolumeType": "standard"}, "InvalidParameterValue"),
    ({"VolumeSize": 3, "VolumeType": "io2", "Iops": 1000}, "InvalidParameterValue"),
    ({"VolumeSize": 50, "VolumeType": "gp3", "Iops": 2_999}, "InvalidParameterValue"),
    ({"VolumeSize": 50, "VolumeType": "gp3", "Iops": 80_001}, "InvalidParameterValue"),
    ({"VolumeSize": 50, "VolumeType": "io1"}, "MissingParameter"),
    ({"VolumeSize": 50, "VolumeType": "io2"}, "MissingParameter"),
    ({"VolumeSize": 50, "VolumeType": "io1", "Iops": 64_001}, "InvalidParameterValue"),
    ({"VolumeSize": 50, "VolumeType": "gp2", "Throughput": 125}, "InvalidParameterCombination"),
    ({"VolumeSize": 50, "VolumeType": "gp3", "Throughput": 2_001}, "InvalidParameterValue"),
    ({"VolumeSize": 50, "VolumeType": "gp9"}, "InvalidParameterValue"),
], ids=lambda value: value if isinstance(value, str) else "-".join(f"{k}={v}" for k, v in value.items()))
def test_register_image_refuses_mappings_aws_refuses(ec2, ebs, code):
    root = make_snapshot(ec2)
    ebs = {("SnapshotId" if key == "SNAP" else key): (make_snapshot(ec2) if key == "SNAP" else value)
           for key, value in ebs.items()}
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.register_image(Name=f"gio-node-limits-{abs(hash(str(sorted(ebs.items()))))}", RootDeviceName="/dev/xvda",
                           BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}},
                                                {"DeviceName": "/dev/xvdb", "Ebs": ebs}])
    assert error_code(excinfo) == code


def test_limits_hold_at_their_edges_and_on_launch(client):
    ec2 = client("ec2", "eu-north-1")
    root = make_snapshot(ec2, 8, "eu-north-1a")
    edges = [{"VolumeSize": 125, "VolumeType": "st1"}, {"VolumeSize": 16_384, "VolumeType": "sc1"},
             {"VolumeSize": 50, "VolumeType": "gp3", "Iops": 80_000, "Throughput": 2_000},
             {"VolumeSize": 4, "VolumeType": "io2", "Iops": 100}, {"VolumeSize": 1_024, "VolumeType": "standard"},
             {"VolumeSize": 20, "Encrypted": True}]
    image_id = ec2.register_image(
        Name="gio-node-limits-edges", RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}]
        + [{"DeviceName": f"/dev/xvd{chr(ord('b') + n)}", "Ebs": ebs} for n, ebs in enumerate(edges)],
    )["ImageId"]
    # A launch may encrypt a volume from a snapshot with its own key; and its limits are the same.
    ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": "alias/aws/ebs"}}])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                          BlockDeviceMappings=[{"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 124}}])
    assert error_code(excinfo) == "InvalidParameterValue"


def test_create_image_refuses_a_mapping_outside_its_limits(ec2):
    instance_id = ec2.run_instances(ImageId=seed_image(ec2, "amazon-eks-node-1.29")["ImageId"],
                                    MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.create_image(InstanceId=instance_id, Name="gio-node-created-st1-too-small",
                         BlockDeviceMappings=[{"DeviceName": "/dev/xvdc", "Ebs": {"VolumeSize": 100, "VolumeType": "st1"}}])
    assert error_code(excinfo) == "InvalidParameterValue"


def test_copy_image_with_a_kms_key_needs_encrypted(client):
    ec2 = client("ec2", "eu-south-2")
    base = seed_image(ec2, "amazon-eks-node-1.32")["ImageId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.copy_image(SourceImageId=base, SourceRegion="eu-south-2", Name="gio-node-kms-only", KmsKeyId="alias/gio")
    assert error_code(excinfo) == "InvalidParameterCombination"
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    ec2.copy_image(SourceImageId=base, SourceRegion="eu-south-2", Name="gio-node-kms", KmsKeyId="alias/gio", Encrypted=True)
