"""The EC2 side of the Recycle Bin: a deregistered AMI or a deleted snapshot that a retention rule
(rbin.py) matches is kept in the bin instead of destroyed, listed by ListImagesInRecycleBin /
ListSnapshotsInRecycleBin and brought back by RestoreImageFromRecycleBin /
RestoreSnapshotFromRecycleBin until its retention period has passed (moto 5.2.5 has none of this).

As documented:
- "If a deregistered EBS-backed AMI matches a Recycle Bin retention rule, it moves to the Recycle Bin
  for the specified retention period ... If the deregistered AMI doesn't match a retention rule, it is
  permanently deleted immediately" (DeregisterImage); snapshots likewise (recycle-bin-factors:
  "Deleted resources are moved to the Recycle Bin only if they match an existing retention rule").
  The rule with the longest retention wins (rbin.retaining_rule); its period is fixed when the resource
  enters the bin: RecycleBinExitTime = RecycleBinEnterTime + the period, later rule changes aside.
- "While a resource is in the Recycle Bin, you can only view it, restore it, or modify its tags": it is
  no longer in DescribeImages / DescribeSnapshots, cannot be launched, copied or read, and an AMI in the
  bin no longer holds its snapshots in use (they can be deleted, and go to the bin by their own rules).
- "When a resource is sent to the Recycle Bin, the following system-generate tag is assigned ...
  aws:recycle-bin:resource-in-bin = true ... When the resource is restored from the Recycle Bin, the tag
  is automatically removed."
- Restored, a resource is as it was: "If you restore the AMI, all of the previous sharing permissions
  are automatically restored" (the same for snapshots), mappings, attributes and tags kept; "the AMI is
  immediately available for use".
- "Before you can restore an AMI from the Recycle Bin, you must first restore all of its associated
  snapshots from the Recycle Bin"; "If the snapshots that are associated with the AMI are deleted from
  the Recycle Bin, the AMI is no longer recoverable." Refused with IncorrectState (the code is not
  documented; EC2's "The resource is in an incorrect state for the request" chosen).
- "You can't manually delete a resource from the Recycle Bin. The resource will be automatically
  deleted when its retention period expires": on the emulator's clock (clock.py), checked whenever
  the bin is read; a test advances the clock past RecycleBinExitTime to see it gone. Deleted is
  final: setting the clock back afterwards (a test restoring the offset) does not bring it back,
  and an entry still held keeps the exit time its enter time gave it.
- A restore of an id that is not in the bin: InvalidAMIID.NotFound / InvalidSnapshot.NotFound (chosen,
  the codes DescribeImages / DescribeSnapshots give for an unknown id).
- ListImagesInRecycleBin: "You can specify up to 20 IDs", MaxResults 1-1000; ListSnapshotsInRecycleBin:
  MaxResults 5-1000 (API model).
- A restored snapshot is not usable at once (patch 46): RestoreSnapshotFromRecycleBin's State includes
  `recovering` (API reference, its response's State: pending | completed | error | recoverable |
  recovering), and an AMI is restored only once its snapshots are back ("you must first restore all of its
  associated snapshots", recycle-bin-factors). The restored snapshot answers `recovering` (there, in
  DescribeSnapshots and DescribeSnapshotTierStatus) for RECOVERY_TIME of the emulator's clock, then
  `completed`; RestoreImageFromRecycleBin refuses an AMI while one of its snapshots is recovering
  (IncorrectState, as for one still in the bin). How long recovering lasts is undocumented: 3 s is chosen,
  long enough for a client that does not wait to be refused, short enough for one that polls in real time.
- An expired entry's listing (patch 49): whether an entry past its RecycleBinExitTime can still be listed
  for a while is undocumented; by default it is not. A test sets a lag through the test hook
  (`POST /moto-api/gio/recycle-bin {"expired_listed_seconds": N}`, hooks.py): an entry is then still
  listed for N seconds past its exit time, while its restore answers NotFound as for any entry gone.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ListImagesInRecycleBin.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ListSnapshotsInRecycleBin.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RestoreImageFromRecycleBin.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RestoreSnapshotFromRecycleBin.html
https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin-factors.html
https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin-working-with-amis.html
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.elastic_block_store import Snapshot
from moto.ec2.responses import EC2Response

from . import clock, rbin, replaces
from .common import Paging, aws_error, mapped_snapshot_ids

IN_BIN_TAG = "aws:recycle-bin:resource-in-bin"
IMAGES, SNAPSHOTS = "EC2_IMAGE", "EBS_SNAPSHOT"
RECOVERY_TIME = timedelta(seconds=3)  # undocumented: see above
_expired_listed = timedelta(0)  # how long an expired entry is still listed: a test's choice (hooks.py)


def list_expired_for(lag: timedelta) -> None:
    """Lists each entry this long past its exit time (zero: not at all, the default)."""
    global _expired_listed
    if lag < timedelta(0):
        raise ValueError("an expired entry is listed for zero seconds or more")
    _expired_listed = lag


@dataclass
class Binned:
    resource: Any  # the Ami or Snapshot, kept as it was deleted
    entered: datetime
    exits: datetime
    gone: bool = False  # settled: the clock saw it expire (it may still be listed a while)

    def restorable(self) -> bool:
        return not self.gone and clock.now() < self.exits

    @property
    def id(self) -> str:
        return self.resource.id


def contents(backend: EC2Backend, resource_type: str, at: datetime | None = None) -> dict[str, Binned]:
    """What this region's bin lists of a resource type at a time (now by the clock), once what has
    outlived its retention (and the listing lag a test asked for) is gone; `Binned.restorable` says
    whether an entry listed can still come back."""
    held: dict[str, Binned] = backend.__dict__.setdefault(f"_gio_recycle_bin_{resource_type}", {})
    at = clock.now() if at is None else at
    for resource_id in [i for i, entry in held.items() if entry.exits + _expired_listed <= at]:
        del held[resource_id]
    return held


def _restorable(backend: EC2Backend, resource_type: str, resource_id: str) -> Binned | None:
    entry = contents(backend, resource_type).get(resource_id)
    return entry if entry is not None and entry.restorable() else None


@clock.settles
def _delete_expired(at: datetime) -> None:
    """Before the clock is set back: what the clock saw outlive its retention stays deleted, whether
    or not the bin was read in time (the bin is emptied lazily, when read)."""
    for account in list(dict.values(ec2_backends)):  # dict's own methods: only backends that exist
        for backend in list(dict.values(account)):
            for resource_type in (IMAGES, SNAPSHOTS):
                for entry in contents(backend, resource_type, at).values():
                    entry.gone = entry.gone or entry.exits <= at


def retain(backend: EC2Backend, resource_type: str, resource: Any) -> bool:
    """Keeps a resource being deleted in the bin when a rule retains it (the caller deletes it from
    the region all the same). False when no rule matches: it is gone for good."""
    tags = dict(backend.tags.get(resource.id, {}))
    rule = rbin.retaining_rule(backend.account_id, backend.region_name, resource_type, tags)
    if rule is None:
        return False
    entered = clock.now()
    contents(backend, resource_type)[resource.id] = Binned(resource, entered, entered + timedelta(days=rule.retention_days))
    backend.tags[resource.id][IN_BIN_TAG] = "true"
    return True


def _take_out(backend: EC2Backend, resource_type: str, resource_id: str) -> Any:
    entry = contents(backend, resource_type).pop(resource_id)
    backend.tags.get(resource_id, {}).pop(IN_BIN_TAG, None)
    return entry.resource


def _listed(response: EC2Response, resource_type: str, ids_param: str, low: int, high: int,
            describe: Any, result_key: str) -> ActionResult:
    response.error_on_dryrun()
    paging = Paging.within(response, low, high)
    ids = set(response._get_param(ids_param, []))
    if resource_type == IMAGES and len(ids) > 20:
        raise aws_error("InvalidParameterValue", "You can specify up to 20 image IDs in a single request.")
    held = [e for e in contents(response.ec2_backend, resource_type).values() if not ids or e.id in ids]
    page, token = paging.cut(held, {})
    return ActionResult({result_key: [describe(entry) for entry in page], "NextToken": token})


@replaces(EC2Response, "list_images_in_recycle_bin", new=True)
def list_images_in_recycle_bin(self: EC2Response) -> ActionResult:
    return _listed(self, IMAGES, "ImageIds", 1, 1000, lambda e: {
        "ImageId": e.id, "Name": e.resource.name, "Description": e.resource.description,
        "RecycleBinEnterTime": e.entered, "RecycleBinExitTime": e.exits,
    }, "Images")


@replaces(EC2Response, "list_snapshots_in_recycle_bin", new=True)
def list_snapshots_in_recycle_bin(self: EC2Response) -> ActionResult:
    return _listed(self, SNAPSHOTS, "SnapshotIds", 5, 1000, lambda e: {
        "SnapshotId": e.id, "Description": e.resource.description, "VolumeId": e.resource.volume_id,
        "RecycleBinEnterTime": e.entered, "RecycleBinExitTime": e.exits,
    }, "Snapshots")


@replaces(EC2Response, "restore_image_from_recycle_bin", new=True)
def restore_image_from_recycle_bin(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    backend, image_id = self.ec2_backend, self._get_param("ImageId")
    entry = _restorable(backend, IMAGES, image_id)
    if entry is None:
        raise aws_error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' is not in the Recycle Bin.")
    mapped = mapped_snapshot_ids(entry.resource)
    missing = [s for s in mapped if s not in backend.snapshots]
    if missing:
        binned = set(contents(backend, SNAPSHOTS))
        raise aws_error("IncorrectState", f"The AMI {image_id} cannot be restored: its snapshots "
                        + ", ".join(f"{s} ({'in the Recycle Bin' if s in binned else 'deleted'})" for s in missing)
                        + " must be restored first.")
    recovering = [s for s in mapped if backend.snapshots[s].status == "recovering"]
    if recovering:
        raise aws_error("IncorrectState", f"The AMI {image_id} cannot be restored: its snapshots "
                        f"{', '.join(recovering)} are still recovering from the Recycle Bin.")
    ami = _take_out(backend, IMAGES, image_id)
    backend.amis[image_id] = ami
    if image_id in backend.deleted_amis:
        backend.deleted_amis.remove(image_id)
    return ActionResult({"Return": True})


@replaces(EC2Response, "restore_snapshot_from_recycle_bin", new=True)
def restore_snapshot_from_recycle_bin(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    backend, snapshot_id = self.ec2_backend, self._get_param("SnapshotId")
    if _restorable(backend, SNAPSHOTS, snapshot_id) is None:
        raise aws_error("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' is not in the Recycle Bin.")
    snapshot = _take_out(backend, SNAPSHOTS, snapshot_id)
    snapshot.gio_recovering_until = clock.now() + RECOVERY_TIME
    backend.snapshots[snapshot_id] = snapshot
    return ActionResult({
        "SnapshotId": snapshot.id, "Description": snapshot.description, "Encrypted": snapshot.encrypted,
        "OwnerId": snapshot.owner_id, "Progress": snapshot.progress, "StartTime": snapshot.start_time,
        "State": snapshot.status, "VolumeId": snapshot.volume_id, "VolumeSize": snapshot.volume_size,
    })


def recovering(snapshot: Snapshot) -> bool:
    """Whether the snapshot is `recovering` still, after its restore from the bin (its State: snapshots.py)."""
    until = snapshot.__dict__.get("gio_recovering_until")
    return until is not None and clock.now() < until
