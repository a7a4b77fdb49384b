"""Patch 67: RunInstances refuses an instance type whose architectures do not include the AMI's, as EC2
does (InvalidParameterValue, "The architecture 'x86_64' of the specified instance type does not match
the architecture 'arm64' of the specified AMI. ..."); moto launched any pair."""

import botocore.exceptions
import pytest

from helpers import error_code, register_root_image, seed_image

REGION = "il-central-1"
ARM = "amazon-eks-node-al2023-arm64-standard-1.31"
X86 = "amazon-eks-node-al2023-x86_64-standard-1.31"


def mismatch(type_arch, ami_arch):
    return (f"The architecture '{type_arch}' of the specified instance type does not match the architecture "
            f"'{ami_arch}' of the specified AMI. Specify an instance type and an AMI that have matching "
            "architectures, and try again. You can use 'describe-instance-types' or 'describe-images' to "
            "discover the architecture of the instance type or AMI.")


def launched(ec2, image_id):
    reservations = ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [image_id]}])["Reservations"]
    return [i["InstanceType"] for r in reservations for i in r["Instances"]]


def refused(ec2, **launch):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.run_instances(MinCount=1, MaxCount=1, **launch)
    return error_code(excinfo), excinfo.value.response["Error"]["Message"]


@pytest.mark.parametrize("prefix, instance_type, type_arch, ami_arch", [
    (ARM, "t3.medium", "x86_64", "arm64"),
    (ARM, "m5.large", "x86_64", "arm64"),
    (ARM, "g5.xlarge", "x86_64", "arm64"),
    (X86, "t4g.medium", "arm64", "x86_64"),
    (X86, "m7g.large", "arm64", "x86_64"),
    (X86, "c7g.xlarge", "arm64", "x86_64"),
])
def test_a_type_of_another_architecture_is_refused_and_nothing_launches(client, prefix, instance_type, type_arch,
                                                                        ami_arch):
    ec2 = client("ec2", REGION)
    image = seed_image(ec2, prefix)
    assert image["Architecture"] == ami_arch
    assert refused(ec2, ImageId=image["ImageId"], InstanceType=instance_type) == (
        "InvalidParameterValue", mismatch(type_arch, ami_arch))
    assert instance_type not in launched(ec2, image["ImageId"])


@pytest.mark.parametrize("prefix, instance_type", [
    (ARM, "t4g.medium"), (ARM, "m7g.large"), (ARM, "c7g.xlarge"),
    ("amazon-eks-node-al2023-arm64-nvidia-1.31", "g5g.xlarge"),
    (X86, "t3.medium"), ("amazon-eks-node-al2023-x86_64-nvidia-1.31", "g5.xlarge"),
])
def test_a_type_of_the_ami_architecture_launches(client, prefix, instance_type):
    """The Graviton types and the NVIDIA x86 type resolve as DescribeInstanceTypes describes them."""
    ec2 = client("ec2", REGION)
    image = seed_image(ec2, prefix)
    described = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"][0]
    assert described["ProcessorInfo"]["SupportedArchitectures"] == [image["Architecture"]]
    instance = ec2.run_instances(ImageId=image["ImageId"], InstanceType=instance_type, MinCount=1, MaxCount=1)
    assert instance["Instances"][0]["InstanceType"] == instance_type
    assert instance_type in launched(ec2, image["ImageId"])


def test_without_an_instance_type_the_default_m1_small_takes_i386_and_x86_64_only(client):
    """m1.small (RunInstances' default) supports i386 and x86_64: an i386 AMI (RegisterImage's default
    architecture) launches on it but not on t3.medium (x86_64 only), an arm64 AMI not at all."""
    ec2 = client("ec2", REGION)
    arm = seed_image(ec2, ARM)
    assert refused(ec2, ImageId=arm["ImageId"]) == ("InvalidParameterValue", mismatch("x86_64", "arm64"))
    assert "m1.small" not in launched(ec2, arm["ImageId"])

    i386 = register_root_image(ec2, "gio-arch-i386", zone=f"{REGION}a")
    assert ec2.describe_images(ImageIds=[i386])["Images"][0]["Architecture"] == "i386"
    assert ec2.run_instances(ImageId=i386, MinCount=1, MaxCount=1)["Instances"][0]["InstanceType"] == "m1.small"
    assert refused(ec2, ImageId=i386, InstanceType="t3.medium") == ("InvalidParameterValue", mismatch("x86_64", "i386"))
    assert launched(ec2, i386) == ["m1.small"]


def test_a_launch_template_is_checked_with_the_type_the_launch_uses(client):
    """The template's ImageId and InstanceType, unless the request names its own type."""
    ec2 = client("ec2", REGION)
    image = seed_image(ec2, "amazon-eks-node-al2023-arm64-standard-1.30")
    template = ec2.create_launch_template(LaunchTemplateName="gio-arch-mismatch", LaunchTemplateData={
        "ImageId": image["ImageId"], "InstanceType": "c5.large"})["LaunchTemplate"]
    by_id = {"LaunchTemplateId": template["LaunchTemplateId"]}
    assert refused(ec2, LaunchTemplate=by_id) == ("InvalidParameterValue", mismatch("x86_64", "arm64"))
    assert launched(ec2, image["ImageId"]) == []

    instance = ec2.run_instances(LaunchTemplate=by_id, InstanceType="c7g.xlarge", MinCount=1, MaxCount=1)
    assert instance["Instances"][0]["InstanceType"] == "c7g.xlarge"

    matching = ec2.create_launch_template(LaunchTemplateName="gio-arch-match", LaunchTemplateData={
        "ImageId": image["ImageId"], "InstanceType": "m7g.large"})["LaunchTemplate"]
    ec2.run_instances(LaunchTemplate={"LaunchTemplateName": matching["LaunchTemplateName"]}, MinCount=1, MaxCount=1)
    assert sorted(launched(ec2, image["ImageId"])) == ["c7g.xlarge", "m7g.large"]
    assert refused(ec2, LaunchTemplate={"LaunchTemplateName": matching["LaunchTemplateName"]},
                   InstanceType="t3.medium") == ("InvalidParameterValue", mismatch("x86_64", "arm64"))


def test_a_type_moto_does_not_describe_is_not_refused_here(client):
    """p3.2xlarge is an EC2 type (botocore's InstanceType enum) missing from moto's instance-type data:
    whether a type exists is another check, so this one lets it through."""
    ec2 = client("ec2", REGION)
    image = seed_image(ec2, "amazon-eks-node-al2023-arm64-standard-1.29")
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.describe_instance_types(InstanceTypes=["p3.2xlarge"])
    instance = ec2.run_instances(ImageId=image["ImageId"], InstanceType="p3.2xlarge", MinCount=1, MaxCount=1)
    assert instance["Instances"][0]["InstanceType"] == "p3.2xlarge"
