"""EBS snapshot lock: LockSnapshot, UnlockSnapshot, DescribeLockedSnapshots, and DeleteSnapshot refused
while a snapshot is locked (moto 5.2.5 has none of it).

As documented (LockSnapshot, LockedSnapshotsInfo, snapshot lock concepts):
- governance: "can't be deleted until ... The lock duration expires [or] The snapshot is unlocked";
  it can be unlocked and its mode and duration changed at any time; "omit CoolOffPeriod".
- compliance: "can't be unlocked by any user. They can be deleted only after the lock duration
  expires. Users can't decrease the lock duration or change the lock mode to governance. However ...
  can increase the lock duration at any time"; an optional CoolOffPeriod (1-72 hours) during which it
  can still be unlocked and its settings changed (lock state compliance-cooloff); "If you are extending
  the lock duration for a snapshot that is locked in compliance mode after the cooling-off period has
  expired, omit this parameter. If you specify a cooling-period in a such a request, the request fails."
- "You must specify either [LockDuration] or ExpirationDate, but not both"; LockDuration 1-36500 days.
- Lock states compliance-cooloff | governance | compliance | expired ("the lock duration has expired.
  The snapshot is not locked and can be deleted"); DescribeLockedSnapshots filters lock-state.
- UnlockSnapshot: "You can't unlock a snapshot that is locked in compliance mode after the
  cooling-off period has expired."
- "You can lock a snapshot that is in the pending or completed state."
States follow the emulator's clock (clock.py). No error code is documented for any refusal: a locked
snapshot's DeleteSnapshot, an unlock or change the lock mode forbids answer IncorrectState ("The
resource is in an incorrect state for the request"); both or neither of LockDuration and ExpirationDate
InvalidParameterCombination / MissingParameter; out-of-range values InvalidParameterValue (chosen).
The lock duration starts when the snapshot is locked, also for a pending snapshot (AWS starts it once
the snapshot completes). A changed lock keeps when it was first locked; a new LockDuration counts from
the lock's start.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LockSnapshot.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_UnlockSnapshot.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLockedSnapshots.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LockedSnapshotsInfo.html
https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-lock-concepts.html
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models.elastic_block_store import Snapshot
from moto.ec2.responses import EC2Response

from . import clock, replaces
from .common import Paging, as_utc, aws_error, find_snapshot

LOCKED_STATES = ("governance", "compliance-cooloff", "compliance")
MAX_LOCK_DAYS, COOL_OFF_HOURS = 36_500, (1, 72)


@dataclass
class SnapshotLock:
    mode: str
    created: datetime
    expires: datetime
    duration_days: int | None  # None when locked until an ExpirationDate
    cool_off_hours: int | None = None

    @property
    def cool_off_expires(self) -> datetime | None:
        return self.created + timedelta(hours=self.cool_off_hours) if self.cool_off_hours else None

    def state(self) -> str:
        now = clock.now()
        if now >= self.expires:
            return "expired"
        if self.mode == "governance":
            return "governance"
        return "compliance-cooloff" if self.cool_off_expires and now < self.cool_off_expires else "compliance"

    def answer(self, snapshot: Snapshot) -> dict[str, Any]:
        result = {"SnapshotId": snapshot.id, "OwnerId": snapshot.owner_id, "LockState": self.state(),
                  "LockCreatedOn": self.created, "LockDurationStartTime": self.created, "LockExpiresOn": self.expires,
                  "LockDuration": self.duration_days}
        if self.cool_off_hours:
            result.update(CoolOffPeriod=self.cool_off_hours, CoolOffPeriodExpiresOn=self.cool_off_expires)
        return {key: value for key, value in result.items() if value is not None}


def lock_of(snapshot: Snapshot) -> SnapshotLock | None:
    return getattr(snapshot, "gio_lock", None)


def check_deletable(snapshot: Snapshot) -> None:
    """DeleteSnapshot: "A locked snapshot can't be deleted" (an expired lock no longer holds it)."""
    lock = lock_of(snapshot)
    if lock is not None and lock.state() in LOCKED_STATES:
        raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is locked ({lock.state()}) until "
                                          f"{clock.iso(lock.expires)} and can't be deleted.")


def _requested(self: EC2Response, current: SnapshotLock | None) -> SnapshotLock:
    mode, days, until = self._get_param("LockMode"), self._get_param("LockDuration"), self._get_param("ExpirationDate")
    cool_off = self._get_param("CoolOffPeriod")
    if mode not in ("governance", "compliance"):
        raise aws_error("InvalidParameterValue", f"Value ({mode}) for parameter LockMode is invalid.")
    if (days is None) == (until is None):
        if days is None:
            raise aws_error("MissingParameter", "Specify either LockDuration or ExpirationDate.")
        raise aws_error("InvalidParameterCombination", "LockDuration and ExpirationDate cannot both be specified.")
    if cool_off is not None and mode == "governance":
        raise aws_error("InvalidParameterCombination", "CoolOffPeriod is only for compliance mode.")
    if cool_off is not None and not COOL_OFF_HOURS[0] <= cool_off <= COOL_OFF_HOURS[1]:
        raise aws_error("InvalidParameterValue", f"CoolOffPeriod must be {COOL_OFF_HOURS[0]}-{COOL_OFF_HOURS[1]} hours.")
    now = clock.now()
    created = current.created if current else now
    if days is not None:
        if not 1 <= days <= MAX_LOCK_DAYS:
            raise aws_error("InvalidParameterValue", f"LockDuration must be 1-{MAX_LOCK_DAYS} days; it was {days}.")
        expires = created + timedelta(days=days)
    else:
        expires = as_utc(until)
    if expires <= now:
        raise aws_error("InvalidParameterValue", f"The lock would expire at {clock.iso(expires)}, in the past.")
    if mode == "governance":
        hours = None
    elif cool_off is not None:
        hours = cool_off
    else:  # a compliance lock keeps a cooling-off period it had; a new one starts without
        hours = current.cool_off_hours if current and current.mode == "compliance" else None
    return SnapshotLock(mode, created, expires, days, hours)


@replaces(EC2Response, "lock_snapshot", new=True)
def lock_snapshot(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    snapshot = find_snapshot(self.ec2_backend, self._get_param("SnapshotId"))
    if snapshot.status not in ("pending", "completed"):
        raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is {snapshot.status}; only pending or "
                                          "completed snapshots can be locked.")
    current = lock_of(snapshot)
    if current is not None and current.state() == "expired":
        current = None
    if current is not None and current.state() == "compliance":
        if self._get_param("CoolOffPeriod") is not None:
            raise aws_error("IncorrectState", f"The cooling-off period of {snapshot.id} has expired; omit CoolOffPeriod.")
        wanted = _requested(self, current)
        if wanted.mode != "compliance" or wanted.expires < current.expires:
            raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is locked in compliance mode: its lock "
                                              "duration can only be increased.")
    else:
        wanted = _requested(self, current)
    snapshot.gio_lock = wanted
    answer = wanted.answer(snapshot)
    answer.pop("OwnerId")
    return ActionResult(answer)


@replaces(EC2Response, "unlock_snapshot", new=True)
def unlock_snapshot(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    snapshot = find_snapshot(self.ec2_backend, self._get_param("SnapshotId"))
    lock = lock_of(snapshot)
    if lock is None:
        raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is not locked.")
    if lock.state() == "compliance":
        raise aws_error("IncorrectState", f"The snapshot {snapshot.id} is locked in compliance mode and its "
                                          "cooling-off period has expired: it can't be unlocked.")
    snapshot.gio_lock = None
    return ActionResult({"SnapshotId": snapshot.id})


@replaces(EC2Response, "describe_locked_snapshots", new=True)
def describe_locked_snapshots(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    paging = Paging.within(self, 5, 1000)
    ids = set(self._get_param("SnapshotIds", []))
    states = set(self._filters_from_querystring().get("lock-state", []))
    locked = [s for s in list(self.ec2_backend.snapshots.values())
              if lock_of(s) is not None and (not ids or s.id in ids) and s.owner_id == self.current_account]
    page, token = paging.cut(locked, {})
    answers = [lock_of(s).answer(s) for s in page]  # type: ignore[union-attr]
    return ActionResult({"Snapshots": [a for a in answers if not states or a["LockState"] in states], "NextToken": token})
