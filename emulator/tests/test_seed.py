"""Patch 8: Amazon's EKS-optimized AMIs and the SSM public parameters naming them, in every region."""

import botocore.exceptions
import pytest

KUBERNETES = ("1.29", "1.30", "1.31", "1.32")


def image_id_parameters(k8s):
    """Every seeded image_id parameter of one Kubernetes version, with the architecture it implies."""
    eks = f"/aws/service/eks/optimized-ami/{k8s}"
    names = {f"{eks}/amazon-linux-2023/{arch}/{variant}/recommended/image_id": arch
             for arch in ("x86_64", "arm64") for variant in ("standard", "nvidia")}
    names.update({f"{eks}/amazon-linux-2/recommended/image_id": "x86_64",
                  f"{eks}/amazon-linux-2-arm64/recommended/image_id": "arm64",
                  f"{eks}/amazon-linux-2-gpu/recommended/image_id": "x86_64"})
    names.update({f"/aws/service/bottlerocket/aws-k8s-{k8s}{flavor}/{arch}/latest/image_id": arch
                  for flavor in ("", "-nvidia") for arch in ("x86_64", "arm64")})
    return names


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_every_parameter_resolves_to_an_amazon_image(client, region):
    ssm, ec2 = client("ssm", region), client("ec2", region)
    expected = {name: arch for k8s in KUBERNETES for name, arch in image_id_parameters(k8s).items()}
    values = {}
    names = list(expected)
    for start in range(0, len(names), 10):  # GetParameters takes at most 10 names
        found = ssm.get_parameters(Names=names[start:start + 10])
        assert found["InvalidParameters"] == []
        values.update({p["Name"]: p["Value"] for p in found["Parameters"]})
    images = {i["ImageId"]: i for i in ec2.describe_images(ImageIds=sorted(set(values.values())))["Images"]}
    assert len(images) == len(expected)  # one AMI per parameter
    for name, arch in expected.items():
        image = images[values[name]]
        assert (image["Architecture"], image["OwnerId"], image["ImageOwnerAlias"]) == (arch, "602401143452", "amazon")
        assert image["Public"] is True and image["RootDeviceName"] == "/dev/xvda"


def test_images_carry_realistic_disks(client):
    ssm, ec2 = client("ssm"), client("ec2")

    def image(name):
        image_id = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        return ec2.describe_images(ImageIds=[image_id])["Images"][0]

    al2023 = image("/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id")
    assert al2023["Name"] == "amazon-eks-node-al2023-x86_64-standard-1.31-v20261101"
    assert [(m["DeviceName"], m["Ebs"]["VolumeSize"], m["Ebs"]["VolumeType"]) for m in al2023["BlockDeviceMappings"]] \
        == [("/dev/xvda", 20, "gp3")]
    al2 = image("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
    assert al2["Name"] == "amazon-eks-node-1.30-v20261101"
    assert [(m["Ebs"]["VolumeSize"], m["Ebs"]["VolumeType"]) for m in al2["BlockDeviceMappings"]] == [(20, "gp2")]
    bottlerocket = image("/aws/service/bottlerocket/aws-k8s-1.32-nvidia/arm64/latest/image_id")
    assert bottlerocket["Name"].startswith("bottlerocket-aws-k8s-1.32-nvidia-aarch64-v")
    assert [(m["DeviceName"], m["Ebs"]["VolumeSize"]) for m in bottlerocket["BlockDeviceMappings"]] \
        == [("/dev/xvda", 2), ("/dev/xvdb", 20)]


def test_parameters_by_path_and_ids_per_region(client):
    ssm = client("ssm", "eu-west-2")
    found = []
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
            Path="/aws/service/eks/optimized-ami/1.31", Recursive=True):
        found += [p["Name"] for p in page["Parameters"]]
    assert set(image_id_parameters("1.31")) - {n for n in found if "bottlerocket" not in n} == {
        n for n in image_id_parameters("1.31") if "bottlerocket" in n
    }
    name = "/aws/service/eks/optimized-ami/1.31/amazon-linux-2/recommended/image_id"
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] != \
        client("ssm", "us-east-1").get_parameter(Name=name)["Parameter"]["Value"]
    with pytest.raises(botocore.exceptions.ClientError):
        ssm.put_parameter(Name="/aws/service/eks/mine", Value="x", Type="String")
