"""Seed every region with Amazon's EKS-optimized AMIs and the SSM parameters naming them.

They replace moto's ~1,300 built-in generic AMIs, whose fake snapshots counted as the
caller's own: a fresh emulator has no image and no snapshot of its own.

Amazon publishes a new release of every EKS-optimized AMI every few weeks and moves the
`recommended` (Bottlerocket: `latest`) parameters on to it; the AMIs of earlier releases stay.
The seed holds three releases, each parameter one version per release, written at the release's
date, so GetParameterHistory tells which base is current and which came before. `publish()`
(the test hook POST /moto-api/gio/eks-releases) brings out a newer release, as AWS would;
`publish_base()` (POST /moto-api/gio/eks-base) one AL2023 AMI in one region whose root snapshot
holds the blocks of a real disk image, for what reads the base's disk through a copy of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterator

from moto.core.base_backend import backend_lock
from moto.ebs.models import Block
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.amis import Ami
from moto.ec2.models.elastic_block_store import Snapshot, Volume
from moto.ssm.models import Parameter, ParameterDict, ssm_backends

from . import replaces, snapshots

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


AL2023_ARCHES, AL2023_VARIANTS = ("x86_64", "arm64"), ("standard", "nvidia")


def al2023_image(k8s: str, arch: str, variant: str, eks: str, family: Family = FAMILIES["al2023"],
                 name: str | None = None) -> SeedImage:
    """The AL2023 image of release `eks` (YYYYMMDD), named as Amazon names it unless `name` is given."""
    name = name or f"amazon-eks-node-al2023-{arch}-{variant}-{k8s}-v{eks}"
    path = f"/aws/service/eks/optimized-ami/{k8s}/amazon-linux-2023/{arch}/{variant}/recommended"
    return SeedImage(name, arch, family, path, f"{KUBERNETES_PATCHES[k8s]}-{eks}")


def seed_images(release: Release) -> Iterator[SeedImage]:
    """AL2023 (standard, nvidia), AL2 (x86_64, arm64, gpu) and Bottlerocket (+nvidia), both arches."""
    for k8s in KUBERNETES_VERSIONS:
        eks = f"/aws/service/eks/optimized-ami/{k8s}"
        release_version = f"{KUBERNETES_PATCHES[k8s]}-{release.eks}"
        for arch in AL2023_ARCHES:
            for variant in AL2023_VARIANTS:
                yield al2023_image(k8s, arch, variant, release.eks)
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
    for base in BASES:
        if base.region == self.region_name:
            _register_base(self, base)


def _register(backend: EC2Backend, release: Release) -> None:
    for image in seed_images(release):
        _register_image(backend, image, release.published)


def _register_image(backend: EC2Backend, image: SeedImage, published: datetime) -> None:
    region = backend.region_name
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
        creation_date=published,
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
        snapshot.start_time = published
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
    # Releases and bases in the order they came out, so each parameter's versions do too.
    writes: list[tuple[datetime, Callable[[], None]]] = [
        (release.published, lambda release=release: _recommend(self, release)) for release in RELEASES]
    writes += [(base.published, lambda base=base: _recommend_image(self, base.image, base.published))
               for base in BASES if base.region == region_name]
    for _, write in sorted(writes, key=lambda timed: timed[0]):
        write()


def _recommend(parameters: ParameterDict, release: Release) -> None:
    for image in seed_images(release):
        _recommend_image(parameters, image, release.published)


def _recommend_image(parameters: ParameterDict, image: SeedImage, published: datetime) -> None:
    """One version more of each parameter naming the image, written at `published`."""
    for name, value in image.parameters(parameters.region_name).items():
        versions = parameters[name]
        versions.append(
            Parameter(account_id=parameters.account_id, name=name, value=value, parameter_type="String",
                      description=None, allowed_pattern=None, keyid=None,
                      last_modified_date=published, version=len(versions) + 1, data_type="text")
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


@dataclass(frozen=True)
class Base:
    """An EKS-optimized AL2023 AMI a test publishes in one region (POST /moto-api/gio/eks-base): made
    as the seeded ones are, but its one root snapshot holds `blocks` (the non-zero 512 KiB blocks of a
    real disk image), and its parameters recommend it from `published` on."""

    region: str
    image: SeedImage
    published: datetime  # naive UTC, as moto keeps times
    blocks: dict[int, Block]

    @property
    def image_id(self) -> str:
        return seed_id("ami", self.region, self.image.name)

    @property
    def root_snapshot_id(self) -> str:
        return seed_id("snap", self.region, self.image.name, self.image.family.disks[0][0])


# The bases published so far, oldest first; a region's backends made later register them too.
BASES: list[Base] = []


def al2023_base(region: str, k8s: str, arch: str, variant: str, size_gib: int, published: datetime,
                blocks: dict[int, Block], name: str | None = None) -> Base:
    """A base of `published`'s date, named as Amazon names a release of that day unless `name` is
    given, its root disk `size_gib` (gp3, as the seeded AL2023 images').

    Raises ValueError for a Kubernetes version, architecture or variant the seed does not publish.
    """
    for what, value, known in (("kubernetes", k8s, KUBERNETES_VERSIONS), ("arch", arch, AL2023_ARCHES),
                               ("variant", variant, AL2023_VARIANTS)):
        if value not in known:
            raise ValueError(f"{what} {value!r} is not one of {', '.join(known)}")
    family = dataclasses.replace(FAMILIES["al2023"], disks=(("/dev/xvda", size_gib, "gp3"),))
    image = al2023_image(k8s, arch, variant, f"{published:%Y%m%d}", family, name)
    return Base(region, image, published, blocks)


def _register_base(backend: EC2Backend, base: Base) -> None:
    _register_image(backend, base.image, base.published)
    root = backend.snapshots[base.root_snapshot_id]
    snapshots.hold(backend, root, base.blocks, root.id)


def publish_base(base: Base) -> None:
    """Amazon publishes the base: the AMI appears in its region for every account, and the
    recommended parameters of its Kubernetes version, architecture and variant move on to it (one
    version more, written at `published`), in the stores already in use and those made later.

    Raises ValueError if an AMI of the seed or an earlier base of the region has its name.
    """
    with backend_lock:
        taken = {image.name for release in RELEASES for image in seed_images(release)}
        taken |= {earlier.image.name for earlier in BASES if earlier.region == base.region}
        if base.image.name in taken:
            raise ValueError(f"an EKS-optimized AMI named {base.image.name} exists in {base.region}: give another name")
        BASES.append(base)
        for account in dict.values(ec2_backends):  # dict's own methods: only backends that exist
            if (backend := dict.get(account, base.region)) is not None:
                _register_base(backend, base)
        for account in dict.values(ssm_backends):
            if (store := dict.get(account, base.region)) is not None:
                _recommend_image(store._parameters, base.image, base.published)
