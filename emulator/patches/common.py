"""Helpers shared by the patches: AWS errors, tag specifications, paging, EBS mappings."""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.model import ServiceModel
from moto.core.exceptions import ServiceException
from moto.core.utils import get_service_model
from moto.ec2.exceptions import EC2ClientError, InvalidTaggableResourceType
from moto.ec2.utils import generic_filter


def as_utc(value: datetime | str) -> datetime:
    """A timestamp as an aware UTC datetime (moto parses timestamp parameters; its own dates are naive UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def aws_error(code: str, message: str) -> EC2ClientError:
    """An EC2 client error (HTTP 400) with AWS's code and message."""
    return EC2ClientError(code, message)


class ServiceError(ServiceException):
    """An error of a JSON-protocol service (SSM, EBS direct), serialized from that service's model:
    the HTTP status and the extra members (EBS's Reason) are the ones AWS sends. Defined outside
    moto's packages, so moto looks its code up in the model of the service that answers."""

    def __init__(self, code: str, message: str, **members: Any) -> None:
        super().__init__(code, message)
        for name, value in members.items():
            setattr(self, name, value)


@functools.lru_cache(maxsize=None)
def service_model(service: str) -> ServiceModel | None:
    """botocore's API model of a service by its signing name (the same for every service the emulator
    answers), or None for a name botocore has no model of. moto's own cached copy, which it serializes
    answers with: one parse per process."""
    try:
        return get_service_model(service)
    except (UnknownServiceError, DataNotFoundError):
        return None


def tags_by_type(specs: list[dict[str, Any]], allowed: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """TagSpecifications -> {resource type: {key: value}}; other types are refused as AWS does."""
    tags: dict[str, dict[str, str]] = {kind: {} for kind in allowed}
    for spec in specs:
        kind = spec.get("ResourceType")
        if kind not in allowed:
            raise InvalidTaggableResourceType(str(kind))
        tags[kind].update({t["Key"]: t.get("Value", "") for t in spec.get("Tags", [])})
    return tags


@dataclass(frozen=True)
class Paging:
    """A Describe* call's MaxResults / NextToken, validated as EC2 does."""

    max_results: int | None
    after: str | None  # id of the last item of the previous page

    @classmethod
    def read(cls, response: Any, *, ids_param: str, min_results: int, clamp_to_max: bool) -> Paging:
        """Check paging parameters before anything else, like EC2.

        MaxResults may not come with explicit ids, must be at least `min_results`,
        and above 1000 is either served as 1000 (`clamp_to_max`) or refused.
        https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html#api-pagination
        """
        max_results, token = response._get_param("MaxResults"), response._get_param("NextToken")
        if max_results is not None:
            if response._get_param(ids_param):
                raise aws_error(
                    "InvalidParameterCombination",
                    f"The parameter {ids_param} cannot be used with the parameter maxResults",
                )
            if max_results < min_results or (max_results > 1000 and not clamp_to_max):
                raise aws_error(
                    "InvalidParameterValue",
                    f"Value ( {max_results} ) for parameter maxResults is invalid. "
                    f"Parameter must be between {min_results} and 1000.",
                )
        return cls(None if max_results is None else min(max_results, 1000), cls._after(token))

    @classmethod
    def within(cls, response: Any, low: int, high: int) -> Paging:
        """MaxResults (checked to be low-high) and NextToken of an operation whose API reference
        names no other paging rule (the newer EC2 listings)."""
        max_results = response._get_param("MaxResults")
        if max_results is not None and not low <= max_results <= high:
            raise aws_error("InvalidParameterValue", f"Value ( {max_results} ) for parameter maxResults is invalid. "
                                                     f"Parameter must be between {low} and {high}.")
        return cls(max_results, cls._after(response._get_param("NextToken")))

    @staticmethod
    def _after(token: str | None) -> str | None:
        try:
            return base64.urlsafe_b64decode(token.encode()).decode() if token else None
        except (binascii.Error, UnicodeDecodeError):
            raise aws_error("InvalidNextToken", f"The token '{token}' is invalid") from None

    def cut(self, items: list[Any], filters: dict[str, Any]) -> tuple[list[Any], str | None]:
        """This page of `items` and the token for the next one.

        Order is stable (by id) and the token names the last id served, so pages
        never repeat or skip an item that still exists. As in EC2, filters apply to
        the page after it is cut: a filtered page may hold fewer than MaxResults
        items, even none, and still carry a NextToken. Clients page until no token.
        """
        items = sorted((item for item in items if self.after is None or item.id > self.after), key=lambda i: i.id)
        size = len(items) if self.max_results is None else self.max_results
        page, rest = items[:size], items[size:]
        token = base64.urlsafe_b64encode(page[-1].id.encode()).decode() if rest else None
        return generic_filter(filters, page), token


def mapped_snapshot_ids(ami: Any) -> list[str]:
    """Snapshot ids of an AMI's EBS mappings, in mapping order."""
    return [m["Ebs"]["SnapshotId"] for m in ami.mappings if "SnapshotId" in m.get("Ebs", {})]


def find_snapshot(backend: Any, snapshot_id: str) -> Any:
    """A snapshot of this region by id, refused with AWS's codes when malformed or unknown."""
    if not snapshot_id.startswith("snap-"):
        raise aws_error("InvalidSnapshotID.Malformed", f'Invalid id: "{snapshot_id}" (expecting "snap-...")')
    snapshot = backend.snapshots.get(snapshot_id)
    if snapshot is None:
        raise aws_error("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")
    return snapshot


def default_ebs_key(backend: Any) -> str:
    """ARN of the account's default KMS key for EBS encryption in this region: the key set with
    ModifyEbsDefaultKmsKeyId, else the AWS managed key alias/aws/ebs (made on first use, as AWS does).
    moto's own helper always answers the managed key and overwrites a default set before.
    https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyEbsDefaultKmsKeyId.html
    """
    return backend.default_kms_key_id or backend._create_default_encryption_key()


def overlay_ebs(base: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """Ebs fields given (not None) over a base; a new VolumeType drops the old type's Iops/Throughput."""
    given = {key: value for key, value in (given or {}).items() if value is not None}
    if "VolumeType" in given:
        base = {key: value for key, value in base.items() if key not in ("Iops", "Throughput")}
    return {**base, **given}


def ebs_settings(backend: Any, device: str, ebs: dict[str, Any]) -> dict[str, Any]:
    """One Ebs mapping as AWS stores it, with AWS's defaults filled in.

    VolumeSize defaults to the snapshot's size and may not be smaller; VolumeType
    defaults to gp2 (the account default unless changed), DeleteOnTermination to
    true; gp3 gets its baseline 3000 IOPS / 125 MiB/s; a volume from an encrypted
    snapshot stays encrypted.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsBlockDevice.html
    """
    ebs = {key: value for key, value in ebs.items() if value is not None}
    snapshot = find_snapshot(backend, ebs["SnapshotId"]) if "SnapshotId" in ebs else None
    size = ebs.get("VolumeSize", snapshot.volume_size if snapshot else None)
    if size is None:
        raise aws_error("InvalidBlockDeviceMapping", f"The device '{device}' needs a snapshot or a volume size")
    if snapshot and size < snapshot.volume_size:
        raise aws_error(
            "InvalidBlockDeviceMapping",
            f"Volume of size {size}GB is smaller than snapshot '{snapshot.id}', "
            f"expect size >= {snapshot.volume_size}GB",
        )
    settings = {
        "DeleteOnTermination": ebs.get("DeleteOnTermination", True),
        "VolumeSize": size,
        "VolumeType": ebs.get("VolumeType", "gp2"),
        "Encrypted": bool(snapshot and snapshot.encrypted) or ebs.get("Encrypted", False),
    }
    if snapshot:
        settings["SnapshotId"] = snapshot.id
    if settings["VolumeType"] == "gp3":
        settings.update(Iops=3000, Throughput=125)
    settings.update({key: ebs[key] for key in ("Iops", "Throughput", "KmsKeyId") if key in ebs})
    check_volume_limits(device, settings, ebs)
    return settings


# Per volume type: (min, max) size in GiB and provisioned IOPS, from EbsBlockDevice / CreateVolume.
VOLUME_SIZES = {"gp2": (1, 16_384), "gp3": (1, 65_536), "io1": (4, 16_384), "io2": (4, 65_536),
                "st1": (125, 16_384), "sc1": (125, 16_384), "standard": (1, 1_024)}
VOLUME_IOPS = {"gp3": (3_000, 80_000), "io1": (100, 64_000), "io2": (100, 256_000)}
GP3_THROUGHPUT = (125, 2_000)  # MiB/s


def check_volume_limits(device: str, settings: dict[str, Any], given: dict[str, Any]) -> None:
    """A volume within its type's documented limits.

    Sizes: "gp2: 1 - 16,384 GiB gp3: 1 - 65,536 GiB io1: 4 - 16,384 GiB io2: 4 - 65,536 GiB
    st1 and sc1: 125 - 16,384 GiB standard: 1 - 1024 GiB"; IOPS: "gp3: 3,000 - 80,000 IOPS io1:
    100 - 64,000 IOPS io2: 100 - 256,000 IOPS ... This parameter is required for io1 and io2
    volumes"; Throughput: "This parameter is valid only for gp3 volumes. Valid Range: Minimum
    value of 125. Maximum value of 2,000." No error code is documented for these: the emulator
    answers InvalidParameterValue, MissingParameter (io1/io2 without Iops) and
    InvalidParameterCombination (Throughput on another type).
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsBlockDevice.html
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html
    """
    kind, size = settings["VolumeType"], settings["VolumeSize"]
    if kind not in VOLUME_SIZES:
        raise aws_error("InvalidParameterValue", f"Value ({kind}) for parameter volumeType is invalid ({device}).")
    low, high = VOLUME_SIZES[kind]
    if not low <= size <= high:
        raise aws_error("InvalidParameterValue",
                        f"Volume size {size} GiB at {device} is outside {low}-{high} GiB, the range of {kind} volumes.")
    if kind in ("io1", "io2") and "Iops" not in given:
        raise aws_error("MissingParameter", f"The parameter iops must be specified for {kind} volumes ({device}).")
    if kind in VOLUME_IOPS and "Iops" in given:
        low, high = VOLUME_IOPS[kind]
        if not low <= given["Iops"] <= high:
            raise aws_error("InvalidParameterValue",
                            f"{given['Iops']} IOPS at {device} is outside {low}-{high}, the range of {kind} volumes.")
    if "Throughput" in given:
        if kind != "gp3":
            raise aws_error("InvalidParameterCombination",
                            f"Throughput is valid only for gp3 volumes; {device} is {kind}.")
        low, high = GP3_THROUGHPUT
        if not low <= given["Throughput"] <= high:
            raise aws_error("InvalidParameterValue",
                            f"Throughput {given['Throughput']} MiB/s at {device} is outside {low}-{high} MiB/s.")
