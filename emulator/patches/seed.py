"""Seed every region with Amazon's EKS-optimized AMIs and the SSM parameters naming them.

They replace moto's ~1,300 built-in generic AMIs, whose fake snapshots counted as the
caller's own: a fresh emulator has no image and no snapshot of its own.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Iterator

from moto.ec2.models import EC2Backend
from moto.ec2.models.amis import Ami
from moto.ec2.models.elastic_block_store import Snapshot, Volume
from moto.ssm.models import Parameter, ParameterDict

from . import replaces

EKS_ACCOUNT = "602401143452"  # owner of the EKS-optimized AMIs (alias "amazon")
KUBERNETES_VERSIONS = ("1.29", "1.30", "1.31", "1.32")
EKS_RELEASE = "20261101"
BOTTLEROCKET_RELEASE = "1.26.0-a1b2c3d4"
RELEASED = datetime.datetime(2026, 11, 1, 6, 0)

_moto_parameter_dict_init = ParameterDict.__init__


@dataclass(frozen=True)
class Family:
    disks: tuple[tuple[str, int, str], ...]  # (device, GiB, volume type)
    x86_boot_mode: str | None  # arm64 AMIs always boot UEFI
    imds_support: str | None


FAMILIES = {
    "al2023": Family((("/dev/xvda", 20, "gp3"),), "uefi-preferred", "v2.0"),
    "al2": Family((("/dev/xvda", 20, "gp2"),), None, None),
    "bottlerocket": Family((("/dev/xvda", 2, "gp2"), ("/dev/xvdb", 20, "gp2")), "uefi-preferred", None),
}


@dataclass(frozen=True)
class SeedImage:
    name: str
    architecture: str  # x86_64 | arm64
    family: Family
    ssm_path: str  # the SSM parameters under it name this AMI
    version_parameter: tuple[str, str]  # (leaf, value): image_name / image_version

    def parameters(self, region: str) -> dict[str, str]:
        leaf, value = self.version_parameter
        return {f"{self.ssm_path}/image_id": seed_id("ami", region, self.name), f"{self.ssm_path}/{leaf}": value}


def seed_images() -> Iterator[SeedImage]:
    """AL2023 (standard, nvidia), AL2 (x86_64, arm64, gpu) and Bottlerocket (+nvidia), both arches."""
    for k8s in KUBERNETES_VERSIONS:
        eks = f"/aws/service/eks/optimized-ami/{k8s}"
        for arch in ("x86_64", "arm64"):
            for variant in ("standard", "nvidia"):
                name = f"amazon-eks-node-al2023-{arch}-{variant}-{k8s}-v{EKS_RELEASE}"
                path = f"{eks}/amazon-linux-2023/{arch}/{variant}/recommended"
                yield SeedImage(name, arch, FAMILIES["al2023"], path, ("image_name", name))
        for prefix, arch, ssm_name in (
            ("amazon-eks-node", "x86_64", "amazon-linux-2"),
            ("amazon-eks-arm64-node", "arm64", "amazon-linux-2-arm64"),
            ("amazon-eks-gpu-node", "x86_64", "amazon-linux-2-gpu"),
        ):
            name = f"{prefix}-{k8s}-v{EKS_RELEASE}"
            yield SeedImage(name, arch, FAMILIES["al2"], f"{eks}/{ssm_name}/recommended", ("image_name", name))
        for flavor in ("", "-nvidia"):
            for arch, name_arch in (("x86_64", "x86_64"), ("arm64", "aarch64")):
                name = f"bottlerocket-aws-k8s-{k8s}{flavor}-{name_arch}-v{BOTTLEROCKET_RELEASE}"
                path = f"/aws/service/bottlerocket/aws-k8s-{k8s}{flavor}/{arch}/latest"
                yield SeedImage(name, arch, FAMILIES["bottlerocket"], path, ("image_version", BOTTLEROCKET_RELEASE))


SEED_IMAGES = tuple(seed_images())


def seed_id(prefix: str, region: str, *names: str) -> str:
    """Deterministic id per region and name, shaped like AWS's (17 hex digits)."""
    return f"{prefix}-" + hashlib.sha256("/".join((region, *names)).encode()).hexdigest()[:17]


@replaces(EC2Backend, "_load_amis")
def load_seed_amis(self: EC2Backend) -> None:
    """Public EKS-optimized AMIs owned by Amazon's EKS account, each with real mappings.

    Their snapshots belong to that account and are not shared, so DescribeSnapshots
    does not list them (as in AWS), yet instances launch from them with real volumes.
    https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html
    """
    region = self.region_name
    for image in SEED_IMAGES:
        ami = Ami(
            self,
            seed_id("ami", region, image.name),
            name=image.name,
            description=f"EKS-optimized Kubernetes node image {image.name}",
            owner_id=EKS_ACCOUNT,
            owner_alias="amazon",
            public=True,
            virtualization_type="hvm",
            architecture=image.architecture,
            creation_date=RELEASED,
        )
        ami.root_device_name, ami.ena_support, ami.sriov_net_support = "/dev/xvda", True, "simple"
        ami.boot_mode = "uefi" if image.architecture == "arm64" else image.family.x86_boot_mode
        ami.imds_support = image.family.imds_support
        for device, size, volume_type in image.family.disks:
            snapshot = Snapshot(
                self,
                seed_id("snap", region, image.name, device),
                Volume(self, "vol-ffffffff", size, zone=None, volume_type=volume_type),
                f"Snapshot of {image.name} {device}",
                owner_id=EKS_ACCOUNT,
            )
            snapshot.owner_alias = "amazon"
            self.snapshots[snapshot.id] = snapshot
            ebs = {"DeleteOnTermination": True, "SnapshotId": snapshot.id, "VolumeSize": size,
                   "VolumeType": volume_type, "Encrypted": False}
            if volume_type == "gp3":
                ebs.update(Iops=3000, Throughput=125)
            ami.mappings.append({"DeviceName": device, "Ebs": ebs})
        self.amis[ami.id] = ami


@replaces(ParameterDict, "__init__")
def parameter_dict_init(self: ParameterDict, account_id: str, region_name: str) -> None:
    """Public parameters /aws/service/eks/optimized-ami/… and /aws/service/bottlerocket/….

    AWS publishes the current EKS-optimized AMI ids there; PutParameter rightly
    refuses names under /aws/, so they are seeded as the region's store is created.
    https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html
    """
    _moto_parameter_dict_init(self, account_id, region_name)
    for image in SEED_IMAGES:
        for name, value in image.parameters(region_name).items():
            self[name] = [
                Parameter(account_id=account_id, name=name, value=value, parameter_type="String",
                          description=None, allowed_pattern=None, keyid=None,
                          last_modified_date=RELEASED, version=1, data_type="text")
            ]
