"""Patch 7: RunInstances attaches the AMI's mappings as real volumes, merged with overrides."""

import botocore.exceptions
import pytest

from helpers import error_code, seed_image


def volumes_by_device(ec2, instance_id):
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    return {volume["Attachments"][0]["Device"]: volume for volume in volumes}


def test_launch_from_seed_ami_attaches_every_mapping(ec2):
    image = seed_image(ec2, "bottlerocket-aws-k8s-1.31-x86_64")
    instance = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1)["Instances"][0]
    volumes = volumes_by_device(ec2, instance["InstanceId"])
    snapshots = {m["DeviceName"]: m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]}
    assert {device: (v["Size"], v["VolumeType"], v["SnapshotId"]) for device, v in volumes.items()} == {
        "/dev/xvda": (2, "gp2", snapshots["/dev/xvda"]),
        "/dev/xvdb": (20, "gp2", snapshots["/dev/xvdb"]),
    }
    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert described["RootDeviceName"] == "/dev/xvda"
    assert sorted(m["DeviceName"] for m in described["BlockDeviceMappings"]) == ["/dev/xvda", "/dev/xvdb"]
    assert all(m["Ebs"]["DeleteOnTermination"] for m in described["BlockDeviceMappings"])


def test_request_mappings_merge_over_the_ami(ec2):
    image = seed_image(ec2, "bottlerocket-aws-k8s-1.30-x86_64")
    instance = ec2.run_instances(
        ImageId=image["ImageId"], MinCount=1, MaxCount=1,
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3", "DeleteOnTermination": False}},
            {"DeviceName": "/dev/xvdb", "NoDevice": ""},
            {"DeviceName": "/dev/xvdc", "Ebs": {"VolumeSize": 10, "VolumeType": "io2", "Iops": 5000}},
        ],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "builder"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "gio:build", "Value": "b1"}]},
        ],
    )["Instances"][0]
    volumes = volumes_by_device(ec2, instance["InstanceId"])
    assert sorted(volumes) == ["/dev/xvda", "/dev/xvdc"]
    root, extra = volumes["/dev/xvda"], volumes["/dev/xvdc"]
    assert (root["Size"], root["VolumeType"], root["Iops"]) == (8, "gp3", 3000)
    assert root["SnapshotId"] == image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert (extra["Size"], extra["VolumeType"], extra["Iops"]) == (10, "io2", 5000)
    assert all({"Key": "gio:build", "Value": "b1"} in v["Tags"] for v in volumes.values())

    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    remaining = ec2.describe_volumes(VolumeIds=[root["VolumeId"]])["Volumes"]
    assert [v["State"] for v in remaining] == ["available"]  # DeleteOnTermination=false kept it
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.describe_volumes(VolumeIds=[extra["VolumeId"]])


def test_launch_template_mappings_sit_between_ami_and_request(ec2):
    image = seed_image(ec2, "amazon-eks-node-al2023-x86_64-standard-1.31")
    template = ec2.create_launch_template(
        LaunchTemplateName="gio-builder",
        LaunchTemplateData={
            "ImageId": image["ImageId"],
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 40}},
                {"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 50, "VolumeType": "gp3"}},
            ],
        },
    )["LaunchTemplate"]
    instance = ec2.run_instances(
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]}, MinCount=1, MaxCount=1,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 60}}],
    )["Instances"][0]
    volumes = volumes_by_device(ec2, instance["InstanceId"])
    assert {d: (v["Size"], v["VolumeType"]) for d, v in volumes.items()} == {
        "/dev/xvda": (40, "gp3"), "/dev/xvdb": (60, "gp3"),
    }


def test_launch_refuses_small_volume_and_unknown_ami(ec2):
    image = seed_image(ec2, "amazon-eks-node-1.31")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1,
                          BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 10}}])
    assert error_code(excinfo) == "InvalidBlockDeviceMapping"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1)
    assert error_code(excinfo) == "InvalidAMIID.NotFound"


def test_stop_instances_works(ec2):
    image = seed_image(ec2, "amazon-eks-node-al2023-arm64-standard-1.32")
    instance_id = ec2.run_instances(ImageId=image["ImageId"], InstanceType="t4g.medium",
                                    MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 0.1})
    assert volumes_by_device(ec2, instance_id).keys() == {"/dev/xvda"}


def test_a_disabled_ami_cannot_launch_directly_or_through_a_launch_template(client):
    """"You can't launch new instances from a disabled AMI." ... "Launch services, such as launch templates
    and Auto Scaling groups, can continue to reference disabled AMIs. Subsequent instance launches from a
    disabled AMI will fail" https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/disable-an-ami.html
    (no error code is documented; the emulator answers InvalidAMIID.Unavailable)"""
    ec2 = client("ec2", "eu-west-2")
    base = seed_image(ec2, "bottlerocket-aws-k8s-1.31-x86_64")
    image_id = ec2.copy_image(SourceImageId=base["ImageId"], SourceRegion="eu-west-2", Name="gio-node-to-disable")["ImageId"]
    template = ec2.create_launch_template(LaunchTemplateName="gio-disabled", LaunchTemplateData={"ImageId": image_id})
    ec2.disable_image(ImageId=image_id)
    for launch in ({"ImageId": image_id},
                   {"LaunchTemplate": {"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"]}}):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            ec2.run_instances(MinCount=1, MaxCount=1, **launch)
        assert error_code(excinfo) == "InvalidAMIID.Unavailable"
    assert ec2.describe_instances()["Reservations"] == []
    ec2.enable_image(ImageId=image_id)
    ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)


def test_describe_instances_pages_with_tag_key_filters(client):
    """DescribeInstances, MaxResults: "You cannot specify this parameter and the instance IDs parameter in the
    same request." (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html; the
    API versions up to 2016-09-15 added "or tag filters", which the current reference no longer says)."""
    ec2 = client("ec2", "ca-west-1")
    image = seed_image(ec2, "bottlerocket-aws-k8s-1.31-x86_64")["ImageId"]
    tagged = set()
    for n in range(12):
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "eks:cluster-name", "Value": "prod"}]}] if n % 3 == 0 else []
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=tags)["Instances"][0]
        if tags:
            tagged.add(instance["InstanceId"])
    pages = list(ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag-key", "Values": ["eks:cluster-name"]}], PaginationConfig={"PageSize": 5}))
    assert len(pages) == 3, "filters apply per page, as for images: pages may be short"
    assert {i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]} == tagged
    everything = ec2.describe_instances()
    assert "NextToken" not in everything and len(everything["Reservations"]) == 12
    for kwargs, code in (({"MaxResults": 4}, "InvalidParameterValue"), ({"MaxResults": 1001}, "InvalidParameterValue"),
                         ({"MaxResults": 5, "InstanceIds": sorted(tagged)[:1]}, "InvalidParameterCombination")):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            ec2.describe_instances(**kwargs)
        assert error_code(excinfo) == code
