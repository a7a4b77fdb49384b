"""RunInstances, CopyImage and StartSnapshot with a ClientToken act once, however often they are retried.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Run_Instance_Idempotency.html): "If you retry
an API request with the same client token and the same parameters after it has completed successfully, the
result of the original request is returned. If you retry a request with the same client token, but change
one or more of the API parameters, the IdempotentParameterMismatch error is returned."
EBS direct (https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html, Errors):
"ConflictException: The request uses the same client token as a previous, but non-identical request.
HTTP Status Code: 409"
"""

import botocore.exceptions
import pytest

from helpers import error_code, make_snapshot, seed_image


def test_a_repeated_client_token_returns_the_first_reservation(client):
    ec2 = client("ec2", "eu-north-1")
    image = seed_image(ec2, "bottlerocket-aws-k8s-1.31-x86_64")
    first = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, ClientToken="build-1")
    again = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, ClientToken="build-1")
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == [i["InstanceId"] for i in first["Instances"]]
    reservations = ec2.describe_instances()["Reservations"]
    assert sum(len(r["Instances"]) for r in reservations) == 1

    ec2.terminate_instances(InstanceIds=[first["Instances"][0]["InstanceId"]])
    after = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, ClientToken="build-1")
    assert after["Instances"][0]["InstanceId"] == first["Instances"][0]["InstanceId"], "even once terminated"


def test_without_a_token_or_with_another_each_call_launches(client):
    ec2 = client("ec2", "eu-south-1")
    image = seed_image(ec2, "bottlerocket-aws-k8s-1.31-x86_64")
    ids = {
        ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, **token)["Instances"][0]["InstanceId"]
        for token in ({}, {}, {"ClientToken": "a"}, {"ClientToken": "b"})
    }
    assert len(ids) == 4


def test_a_repeated_copy_token_returns_the_first_copy(client):
    source_ec2, target_ec2 = client("ec2", "ap-northeast-2"), client("ec2", "ap-northeast-3")
    root = make_snapshot(source_ec2, 8, "ap-northeast-2a")
    source = source_ec2.register_image(
        Name="gio-node-copied-once", Architecture="x86_64", VirtualizationType="hvm", RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}],
    )["ImageId"]

    def copy(**token):
        return target_ec2.copy_image(SourceImageId=source, SourceRegion="ap-northeast-2", Name="gio-node-copied-once", **token)["ImageId"]

    first = copy(ClientToken="copy-1")
    assert copy(ClientToken="copy-1") == first
    assert [i["ImageId"] for i in target_ec2.describe_images(Owners=["self"])["Images"]] == [first]
    assert len(target_ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]) == 1, "one copy of the snapshot"
    other = target_ec2.copy_image(SourceImageId=source, SourceRegion="ap-northeast-2", Name="gio-node-copied-twice", ClientToken="copy-2")["ImageId"]
    assert other != first


def test_a_repeated_start_snapshot_token_returns_the_first_snapshot(client):
    ebs, ec2 = client("ebs", "eu-west-3"), client("ec2", "eu-west-3")
    first = ebs.start_snapshot(VolumeSize=1, ClientToken="upload-1")["SnapshotId"]
    assert ebs.start_snapshot(VolumeSize=1, ClientToken="upload-1")["SnapshotId"] == first
    assert [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]] == [first]
    assert ebs.start_snapshot(VolumeSize=1, ClientToken="upload-2")["SnapshotId"] != first


def test_a_token_reused_with_other_parameters_is_refused(client):
    ec2, ebs = client("ec2", "me-central-1"), client("ebs", "me-central-1")
    image = seed_image(ec2, "bottlerocket-aws-k8s-1.31-x86_64")["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", ClientToken="build-9")
    with pytest.raises(botocore.exceptions.ClientError) as launch:
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.large", ClientToken="build-9")
    assert error_code(launch) == "IdempotentParameterMismatch"
    assert sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"]) == 1

    root = make_snapshot(ec2, 8, "me-central-1a")
    source = ec2.register_image(Name="gio-node-mismatch", RootDeviceName="/dev/xvda",
                                BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}])["ImageId"]
    copy = dict(SourceImageId=source, SourceRegion="me-central-1", Name="gio-node-mismatch-copy", ClientToken="copy-9")
    ec2.copy_image(**copy)
    with pytest.raises(botocore.exceptions.ClientError) as copied:
        ec2.copy_image(**copy, Encrypted=True)
    assert error_code(copied) == "IdempotentParameterMismatch"

    ebs.start_snapshot(VolumeSize=1, ClientToken="upload-9")
    with pytest.raises(botocore.exceptions.ClientError) as started:
        ebs.start_snapshot(VolumeSize=2, ClientToken="upload-9")
    assert error_code(started) == "ConflictException"
    assert started.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
