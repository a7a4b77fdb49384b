"""EBS Snapshots Archive: ModifySnapshotTier, RestoreSnapshotTier, DescribeSnapshotTierStatus and
DescribeSnapshots' StorageTier / RestoreExpiryTime, with the transitional states AWS reports (moto 5.2.5
archives and restores at once, never refuses, and keeps no restore period).

As documented:
- "You can archive snapshots that are in the completed state only"; "only snapshots that you own";
  "You can't archive snapshots that are associated with an Amazon EBS-backed AMI"; "You must specify
  archive".
- "You can continue to use the snapshot while the archive is in process. As soon as the snapshot
  tiering status reaches the archival-complete state, you can no longer use the snapshot": StorageTier
  stays `standard` during archival-in-progress, then `archive`.
- "It can take up to 72 hours to restore an archived snapshot"; "You can't copy an archived snapshot";
  an archived snapshot "must be restored before it can be used" (no volumes from it).
- Restores: permanent, or temporary for TemporaryRestoreDays ("The allowed range is 1 - 180. If you do
  not specify a value, it defaults to 1 day"), after which the snapshot "is automatically removed from
  the standard tier"; a temporary restore's period can be changed ("the new restore period is effective
  from the current date") or made permanent ("the snapshot copy is deleted from the archive tier").
  RestoreExpiryTime "is returned only for snapshots that are temporarily restored".
- LastTieringOperationStatus: archival-in-progress | archival-completed | temporary-restore-* |
  permanent-restore-* (the API enum; the user guide's "archival-complete" spelling is not the API's).
- Quotas (patch 48): 25 snapshot archives and 5 restores from the archive in progress at once per account
  (DESIGN §11; "Quotas for EBS snapshot archive" in the archive considerations). ModifySnapshotTier past the
  first, RestoreSnapshotTier of an archived snapshot past the second, are refused until one in progress
  completes. Counted per account and Region (EC2's quotas are per Region; the page says "per account");
  the code is undocumented: ResourceLimitExceeded ("You have exceeded an Amazon EC2 resource limit. For
  example, you might have too many snapshot copies in progress", EC2 errors) is chosen. Changing a
  temporary restore's period or type starts no restore and is not counted.
Chosen where AWS gives no figure or code: archival takes 6 hours and a restore 72 (the documented
maximum) on the emulator's clock (clock.py); a temporary restore's period counts from when the restore
completes; refusals for the snapshot's state (not completed, already archived or being tiered, not
archived, archived when a volume or copy is asked for) answer IncorrectState, a snapshot an AMI maps
InvalidSnapshot.InUse (as DeleteSnapshot does), another account's snapshot or a wrong parameter
InvalidParameterValue, PermanentRestore with TemporaryRestoreDays InvalidParameterCombination.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySnapshotTier.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RestoreSnapshotTier.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSnapshotTierStatus.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_SnapshotTierStatus.html
https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-archive.html
https://docs.aws.amazon.com/ebs/latest/userguide/working-with-snapshot-archiving.html
https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-archive-considerations.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidSnapshotInUse
from moto.ec2.models.elastic_block_store import Snapshot
from moto.ec2.responses import EC2Response

from . import clock, replaces
from .common import Paging, aws_error, find_snapshot, mapped_snapshot_ids

ARCHIVAL_TIME, RESTORE_TIME = timedelta(hours=6), timedelta(hours=72)
TEMPORARY_RESTORE_DAYS = (1, 180)
ARCHIVAL, TEMPORARY, PERMANENT = "archival", "temporary-restore", "permanent-restore"
ARCHIVES_IN_PROGRESS, RESTORES_IN_PROGRESS = 25, 5  # per account and Region


@dataclass(frozen=True)
class Tiering:
    """The last archive or restore of a snapshot; what it reports follows from the clock."""

    operation: str
    started: datetime
    done: datetime
    archived: datetime | None  # when the snapshot's last archival completes
    restore_expires: datetime | None = None  # temporary restores

    def finished(self) -> bool:
        return clock.now() >= self.done

    def tier(self) -> str:
        if self.operation == ARCHIVAL:
            return "archive" if self.finished() else "standard"
        if not self.finished():
            return "archive"
        if self.operation == TEMPORARY and self.restore_expires and clock.now() >= self.restore_expires:
            return "archive"  # "automatically re-archived"
        return "standard"

    def temporarily_restored(self) -> bool:
        return self.operation == TEMPORARY and self.finished() and self.tier() == "standard"

    def status(self) -> dict[str, Any]:
        now = clock.now()
        total = (self.done - self.started).total_seconds()
        elapsed = max(0.0, (now - self.started).total_seconds())  # the clock may be set before the start
        progress = 100 if self.finished() or not total else int(100 * elapsed / total)
        stage = "completed" if self.finished() else "in-progress"
        answer = {
            "StorageTier": self.tier(),
            "LastTieringStartTime": self.started,
            "LastTieringProgress": progress,
            "LastTieringOperationStatus": f"{self.operation}-{stage}",
            "LastTieringOperationStatusDetail": f"{self.operation.replace('-', ' ').capitalize()} {stage.replace('-', ' ')}",
            "ArchivalCompleteTime": self.archived if self.archived and self.archived <= now else None,
            "RestoreExpiryTime": self.restore_expires if self.restore_expires and now < self.restore_expires else None,
        }
        return {key: value for key, value in answer.items() if value is not None}


def tiering_of(snapshot: Snapshot) -> Tiering | None:
    return snapshot.__dict__.get("gio_tiering")


def _storage_tier(self: Snapshot) -> str:
    """DescribeSnapshots' StorageTier, from the snapshot's last archive or restore."""
    tiering = tiering_of(self)
    return tiering.tier() if tiering else "standard"


def _restore_expiry_time(self: Snapshot) -> datetime | None:
    """DescribeSnapshots' RestoreExpiryTime: only while temporarily restored."""
    tiering = tiering_of(self)
    return tiering.status().get("RestoreExpiryTime") if tiering else None


def _set_by_moto(self: Snapshot, value: Any) -> None:
    """moto's constructor assigns "standard" and None; both follow from the tiering, so nothing is stored."""


replaces(Snapshot, "storage_tier", new=True)(property(_storage_tier, _set_by_moto))
replaces(Snapshot, "restore_expiry_time", new=True)(property(_restore_expiry_time, _set_by_moto))


def check_usable(snapshot: Snapshot, use: str) -> None:
    """An archived snapshot must be restored before a volume or a copy is made from it."""
    if snapshot.storage_tier == "archive":
        raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is archived: restore it before {use}.")


def _tiering_idle(snapshot: Snapshot) -> Tiering | None:
    tiering = tiering_of(snapshot)
    if tiering is not None and not tiering.finished():
        raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is being tiered "
                                          f"({tiering.status()['LastTieringOperationStatus']}).")
    return tiering


def _within_quota(self: EC2Response, operations: tuple[str, ...], quota: int, what: str) -> None:
    """Refuses one more tiering of these operations while `quota` of them are in progress in the account."""
    in_progress = sum(1 for s in list(self.ec2_backend.snapshots.values())
                      if s.owner_id == self.current_account and (t := tiering_of(s)) is not None
                      and t.operation in operations and not t.finished())
    if in_progress >= quota:
        raise aws_error("ResourceLimitExceeded", f"You have {in_progress} snapshot {what} in progress, the most "
                                                 f"this account may have at once ({quota}); retry once one completes.")


def _own(self: EC2Response) -> Snapshot:
    snapshot = find_snapshot(self.ec2_backend, self._get_param("SnapshotId"))
    if snapshot.owner_id != self.current_account:
        raise aws_error("InvalidParameterValue", f"You can archive and restore only snapshots that you own; "
                                                 f"{snapshot.id} is {snapshot.owner_id}'s.")
    return snapshot


@replaces(EC2Response, "modify_snapshot_tier")
def modify_snapshot_tier(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    if self._get_param("StorageTier") != "archive":
        raise aws_error("InvalidParameterValue", f"Value ({self._get_param('StorageTier')}) for parameter "
                                                 "StorageTier is invalid: you must specify archive.")
    snapshot = _own(self)
    if snapshot.status != "completed":
        raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is {snapshot.status}; only completed "
                                          "snapshots can be archived.")
    for ami in list(self.ec2_backend.amis.values()):
        if snapshot.id in mapped_snapshot_ids(ami):
            raise InvalidSnapshotInUse(snapshot.id, ami.id)
    _tiering_idle(snapshot)
    if snapshot.storage_tier == "archive":
        raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is already archived.")
    _within_quota(self, (ARCHIVAL,), ARCHIVES_IN_PROGRESS, "archives")
    now = clock.now()
    snapshot.gio_tiering = Tiering(ARCHIVAL, now, now + ARCHIVAL_TIME, now + ARCHIVAL_TIME)
    return ActionResult({"SnapshotId": snapshot.id, "TieringStartTime": now})


@replaces(EC2Response, "restore_snapshot_tier")
def restore_snapshot_tier(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    permanent, days = bool(self._get_param("PermanentRestore")), self._get_param("TemporaryRestoreDays")
    if permanent and days is not None:
        raise aws_error("InvalidParameterCombination", "Specify PermanentRestore or TemporaryRestoreDays, not both.")
    days = days if days is not None or permanent else TEMPORARY_RESTORE_DAYS[0]
    if days is not None and not TEMPORARY_RESTORE_DAYS[0] <= days <= TEMPORARY_RESTORE_DAYS[1]:
        raise aws_error("InvalidParameterValue", f"TemporaryRestoreDays must be {TEMPORARY_RESTORE_DAYS[0]}-"
                                                 f"{TEMPORARY_RESTORE_DAYS[1]}; it was {days}.")
    snapshot = _own(self)
    tiering = _tiering_idle(snapshot)
    now = clock.now()
    if tiering is not None and tiering.temporarily_restored():  # a change of period or type, at once
        snapshot.gio_tiering = (replace(tiering, operation=PERMANENT, restore_expires=None) if permanent
                                else replace(tiering, restore_expires=now + timedelta(days=days)))
        started = tiering.started
    elif snapshot.storage_tier == "archive" and tiering is not None:
        _within_quota(self, (TEMPORARY, PERMANENT), RESTORES_IN_PROGRESS, "restores")
        done = now + RESTORE_TIME
        snapshot.gio_tiering = Tiering(PERMANENT if permanent else TEMPORARY, now, done, tiering.archived,
                                       None if permanent else done + timedelta(days=days))
        started = now
    else:
        raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is not archived.")
    answer: dict[str, Any] = {"SnapshotId": snapshot.id, "RestoreStartTime": started, "IsPermanentRestore": permanent}
    if not permanent:
        answer["RestoreDuration"] = days
    return ActionResult(answer)


@replaces(EC2Response, "describe_snapshot_tier_status")
def describe_snapshot_tier_status(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    paging = Paging.within(self, 1, 1000)
    filters = self._filters_from_querystring()
    own = [s for s in list(self.ec2_backend.snapshots.values()) if s.owner_id == self.current_account]
    page, token = paging.cut(own, {})
    statuses = []
    for snapshot in page:
        tiering = tiering_of(snapshot)
        status = {"SnapshotId": snapshot.id, "VolumeId": snapshot.volume_id, "Status": snapshot.status,
                  "OwnerId": snapshot.owner_id, "Tags": [{"Key": t["key"], "Value": t["value"]} for t in snapshot.get_tags()],
                  **(tiering.status() if tiering else {"StorageTier": "standard"})}
        if all(_matches(status, name, values) for name, values in filters.items()):
            statuses.append(status)
    return ActionResult({"SnapshotTierStatuses": statuses, "NextToken": token})


def _matches(status: dict[str, Any], name: str, values: list[str]) -> bool:
    field = {"snapshot-id": "SnapshotId", "volume-id": "VolumeId", "last-tiering-operation": "LastTieringOperationStatus"}
    if name not in field:
        raise aws_error("InvalidParameterValue", f"The filter '{name}' is invalid.")
    return status.get(field[name]) in values
