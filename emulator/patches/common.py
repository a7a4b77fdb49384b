"""Helpers shared by the patches: AWS errors, tag specifications, paging, EBS mappings."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import ServiceException
from moto.ec2.exceptions import EC2ClientError, InvalidTaggableResourceType
from moto.ec2.utils import generic_filter


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
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode() if token else None
        except (binascii.Error, UnicodeDecodeError):
            raise aws_error("InvalidNextToken", f"The token '{token}' is invalid") from None
        return cls(None if max_results is None else min(max_results, 1000), after)

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
    return settings
