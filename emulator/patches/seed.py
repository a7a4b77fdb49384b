"""Seed every region with Amazon's EKS-optimized AMIs and the SSM parameters naming them.

They replace moto's ~1,300 built-in generic AMIs, whose fake snapshots counted as the
caller's own: a fresh emulator has no image and no snapshot of its own.

Amazon publishes a new release of every EKS-optimized AMI every few weeks and moves the
`recommended` (Bottlerocket: `latest`) parameters on to it; the AMIs of earlier releases stay.
The seed holds three releases, each parameter one version per release, written at the release's
date, so GetParameterHistory tells which base is current and which came before. `publish()`
(the test hook POST /moto-api/gio/eks-releases) brings out a newer release, as AWS would.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from moto.core.base_backend import backend_lock
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.amis import Ami
from moto.ec2.models.elastic_block_store import Snapshot, Volume
from moto.ssm.models import Parameter, ParameterDict, ssm_backends

from . import replaces

EKS_ACCOUNT = "602401143452"  # owner of the EKS-optimized AMIs (alias "amazon")
KUBERNETES_VERSIONS = ("1.29", "1.30", "1.31", "1.32")
# The Kubernetes patch release the AMIs ship, the first half of their release_version.
KUBERNETES_PATCHES = {"1.29": "1.29.15", "1.30": "1.30.11", "1.31": "1.31.7", "1.32": "1.32.3"}

_moto_parameter_dict_init = ParameterDict.__init__


@dataclass(frozen=True)
class Release:
    """One release of the EKS-optimized AMIs: AL2 and AL2023 images named `-v<eks>`,
    Bottlerocket images named `-v<bottlerocket>`, registered and recommended at `published`."""

    eks: str  # YYYYMMDD
    bottlerocket: str  # 1.26.0-a1b2c3d4
    published: datetime  # naive UTC, as moto keeps times


# Oldest first; the last one is what the parameters recommend.
RELEASES = [
    Release("20260901", "1.24.0-5d1a7e2b", datetime(2026, 9, 1, 6, 0)),
    Release("20261001", "1.25.0-9c3f0a61", datetime(2026, 10, 1, 6, 0)),
    Release("20261101", "1.26.0-a1b2c3d4", datetime(2026, 11, 1, 6, 0)),
]


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
    ssm_path: str  # .../recommended or .../latest: the parameters under it name this AMI
    release_version: str  # AL2/AL2023: 1.31.7-20261101; Bottlerocket: its image_version

    def parameters(self, region: str) -> dict[str, str]:
        """The public parameters naming this AMI while it is the recommended one.

        EKS: `recommended/image_id`, `image_name`, `release_version`, and `recommended` itself, a
        JSON document of the three ("schema_version":"2"); Bottlerocket: `latest/image_id` and
        `latest/image_version`.
        https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-eks.html
        https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id-bottlerocket.html
        """
        image_id = seed_id("ami", region, self.name)
        if self.ssm_path.endswith("/latest"):
            return {f"{self.ssm_path}/image_id": image_id, f"{self.ssm_path}/image_version": self.release_version}
        fields = {"image_id": image_id, "image_name": self.name, "release_version": self.release_version}
        document = json.dumps({"schema_version": "2", **fields}, separators=(",", ":"))
        return {self.ssm_path: document, **{f"{self.ssm_path}/{leaf}": value for leaf, value in fields.items()}}


def seed_images(release: Release) -> Iterator[SeedImage]:
    """AL2023 (standard, nvidia), AL2 (x86_64, arm64, gpu) and Bottlerocket (+nvidia), both arches."""
    for k8s in KUBERNETES_VERSIONS:
        eks = f"/aws/service/eks/optimized-ami/{k8s}"
        release_version = f"{KUBERNETES_PATCHES[k8s]}-{release.eks}"
        for arch in ("x86_64", "arm64"):
            for variant in ("standard", "nvidia"):
                name = f"amazon-eks-node-al2023-{arch}-{variant}-{k8s}-v{release.eks}"
                path = f"{eks}/amazon-linux-2023/{arch}/{variant}/recommended"
                yield SeedImage(name, arch, FAMILIES["al2023"], path, release_version)
        for prefix, arch, ssm_name in (
            ("amazon-eks-node", "x86_64", "amazon-linux-2"),
            ("amazon-eks-arm64-node", "arm64", "amazon-linux-2-arm64"),
            ("amazon-eks-gpu-node", "x86_64", "amazon-linux-2-gpu"),
        ):
            name = f"{prefix}-{k8s}-v{release.eks}"
            yield SeedImage(name, arch, FAMILIES["al2"], f"{eks}/{ssm_name}/recommended", release_version)
        for flavor in ("", "-nvidia"):
            for arch, name_arch in (("x86_64", "x86_64"), ("arm64", "aarch64")):
                name = f"bottlerocket-aws-k8s-{k8s}{flavor}-{name_arch}-v{release.bottlerocket}"
                path = f"/aws/service/bottlerocket/aws-k8s-{k8s}{flavor}/{arch}/latest"
                yield SeedImage(name, arch, FAMILIES["bottlerocket"], path, release.bottlerocket)


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
    for release in RELEASES:
        _register(self, release)


def _register(backend: EC2Backend, release: Release) -> None:
    region = backend.region_name
    for image in seed_images(release):
        ami = Ami(
            backend,
            seed_id("ami", region, image.name),
            name=image.name,
            description=f"EKS-optimized Kubernetes node image {image.name}",
            owner_id=EKS_ACCOUNT,
            owner_alias="amazon",
            public=True,
            virtualization_type="hvm",
            architecture=image.architecture,
            creation_date=release.published,
        )
        ami.root_device_name, ami.ena_support, ami.sriov_net_support = "/dev/xvda", True, "simple"
        ami.boot_mode = "uefi" if image.architecture == "arm64" else image.family.x86_boot_mode
        ami.imds_support = image.family.imds_support
        for device, size, volume_type in image.family.disks:
            snapshot = Snapshot(
                backend,
                seed_id("snap", region, image.name, device),
                Volume(backend, "vol-ffffffff", size, zone=None, volume_type=volume_type),
                f"Snapshot of {image.name} {device}",
                owner_id=EKS_ACCOUNT,
            )
            snapshot.owner_alias = "amazon"
            snapshot.start_time = release.published
            backend.snapshots[snapshot.id] = snapshot
            ebs = {"DeleteOnTermination": True, "SnapshotId": snapshot.id, "VolumeSize": size,
                   "VolumeType": volume_type, "Encrypted": False}
            if volume_type == "gp3":
                ebs.update(Iops=3000, Throughput=125)
            ami.mappings.append({"DeviceName": device, "Ebs": ebs})
        backend.amis[ami.id] = ami


@replaces(ParameterDict, "__init__")
def parameter_dict_init(self: ParameterDict, account_id: str, region_name: str) -> None:
    """Public parameters /aws/service/eks/optimized-ami/… and /aws/service/bottlerocket/….

    AWS publishes the current EKS-optimized AMI ids there; PutParameter rightly
    refuses names under /aws/, so they are seeded as the region's store is created,
    one version per release (LastModifiedDate: the release's date).
    https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html
    """
    _moto_parameter_dict_init(self, account_id, region_name)
    for release in RELEASES:
        _recommend(self, release)


def _recommend(parameters: ParameterDict, release: Release) -> None:
    for image in seed_images(release):
        for name, value in image.parameters(parameters.region_name).items():
            versions = parameters[name]
            versions.append(
                Parameter(account_id=parameters.account_id, name=name, value=value, parameter_type="String",
                          description=None, allowed_pattern=None, keyid=None,
                          last_modified_date=release.published, version=len(versions) + 1, data_type="text")
            )


def publish(release: Release) -> None:
    """Amazon brings out a newer release: its AMIs appear in every region and the parameters move
    on to them, for the regions already in use and for those a later request creates.

    Raises ValueError unless the release is newer (by name and date) than the current one.
    """
    with backend_lock:  # no region's backend is created half before, half after the release
        latest = RELEASES[-1]
        if not (release.eks > latest.eks and release.bottlerocket != latest.bottlerocket
                and release.published > latest.published):
            raise ValueError(f"release v{release.eks} ({release.bottlerocket}, {release.published:%Y-%m-%dT%H:%M:%SZ}) "
                             f"is not newer than v{latest.eks} ({latest.bottlerocket}, {latest.published:%Y-%m-%dT%H:%M:%SZ})")
        RELEASES.append(release)
        for account in dict.values(ec2_backends):  # dict's own methods: only backends that exist
            for backend in dict.values(account):
                _register(backend, release)
        for account in dict.values(ssm_backends):
            for backend in dict.values(account):
                _recommend(backend._parameters, release)
