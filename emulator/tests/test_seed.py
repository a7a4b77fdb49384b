"""Patch 8: Amazon's EKS-optimized AMIs and the SSM public parameters naming them, in every region."""

import json
import urllib.error
from datetime import datetime, timedelta, timezone

import boto3
import botocore.exceptions
import pytest

from helpers import start_emulator
from hooks import hook

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


RECOMMENDED = "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended"
BOTTLEROCKET = "/aws/service/bottlerocket/aws-k8s-1.31/arm64/latest"


def history(ssm, name):
    return [(p["Version"], p["Value"], p["LastModifiedDate"]) for p in ssm.get_parameter_history(Name=name)["Parameters"]]


def test_three_releases_each_recommended_in_turn_the_newest_last(client):
    """Amazon keeps the AMIs of earlier releases; the parameter's versions name them in turn, each
    written at its release (https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html)."""
    ssm, ec2 = client("ssm", "ca-central-1"), client("ec2", "ca-central-1")
    found = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["amazon-eks-node-al2023-x86_64-standard-1.31-v*"]}])["Images"]
    releases = sorted(found, key=lambda image: image["CreationDate"])
    assert [image["Name"][-9:] for image in releases] == ["v20260901", "v20261001", "v20261101"]

    image_ids = history(ssm, f"{RECOMMENDED}/image_id")
    assert [(version, value) for version, value, _ in image_ids] == \
        [(n + 1, image["ImageId"]) for n, image in enumerate(releases)]
    assert [written.strftime("%Y-%m-%dT%H:%M:%S.000Z") for _, _, written in image_ids] == \
        [image["CreationDate"] for image in releases]
    assert [value for _, value, _ in history(ssm, f"{RECOMMENDED}/release_version")] == \
        ["1.31.7-20260901", "1.31.7-20261001", "1.31.7-20261101"]
    assert [value for _, value, _ in history(ssm, f"{RECOMMENDED}/image_name")] == [i["Name"] for i in releases]

    # The `recommended` parameter is the three in one JSON document, as the SSM guide shows.
    current = json.loads(ssm.get_parameter(Name=RECOMMENDED)["Parameter"]["Value"])
    assert current == {"schema_version": "2", "image_id": releases[-1]["ImageId"],
                       "image_name": releases[-1]["Name"], "release_version": "1.31.7-20261101"}
    assert [value for _, value, _ in history(ssm, f"{BOTTLEROCKET}/image_version")] == \
        ["1.24.0-5d1a7e2b", "1.25.0-9c3f0a61", "1.26.0-a1b2c3d4"]


def test_a_published_release_becomes_the_recommended_one_in_every_region():
    """The test hook plays Amazon bringing out a release. Its own emulator: the session's keeps the seed."""
    process, endpoint = start_emulator()
    try:
        def clients(region):
            return [boto3.client(service, region_name=region, endpoint_url=endpoint,
                                 aws_access_key_id="testing", aws_secret_access_key="testing")
                    for service in ("ssm", "ec2")]

        ssm, ec2 = clients("eu-west-1")
        before = ssm.get_parameter(Name=f"{RECOMMENDED}/image_id")["Parameter"]["Value"]
        published = hook(endpoint, "eks-releases", {"release": "20261201", "bottlerocket": "1.27.0-0f1e2d3c"})
        assert published["release"] == "20261201"

        assert ec2.describe_images(ImageIds=[before])["Images"], "the earlier release stays"
        for ssm, ec2 in (clients("eu-west-1"), clients("ap-northeast-2")):  # in use before, created after
            versions = history(ssm, f"{RECOMMENDED}/image_id")
            assert len(versions) == 4 and versions[2][1] != versions[3][1]
            assert abs(datetime.now(timezone.utc) - versions[3][2]) < timedelta(seconds=10)
            image = ec2.describe_images(ImageIds=[versions[3][1]])["Images"][0]
            assert image["Name"] == "amazon-eks-node-al2023-x86_64-standard-1.31-v20261201"
            assert image["OwnerId"] == "602401143452"
            assert ssm.get_parameter(Name=f"{BOTTLEROCKET}/image_version")["Parameter"]["Value"] == "1.27.0-0f1e2d3c"

        with pytest.raises(urllib.error.HTTPError) as excinfo:  # not newer than the current release
            hook(endpoint, "eks-releases", {"release": "20261115", "bottlerocket": "1.27.1-00000000"})
        assert excinfo.value.code == 400
    finally:
        process.terminate()
        process.wait(timeout=10)
