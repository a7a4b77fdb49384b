"""The emulator's clock, which tests move instead of sleeping.

Every time-based behaviour the patches model reads `now()`: Recycle Bin retention and rule unlock
delays, snapshot lock durations and cooling-off periods, archive and restore durations,
lastLaunchedTime's reporting delay, the deregistration-protection cooldown, a Kubernetes version's
support status, "in the past" for EnableImageDeprecation. So do the moto models whose timestamps those
behaviours compare with (AMI CreationDate, snapshot StartTime, SSM LastModifiedDate, instance LaunchTime,
launch template version CreateTime): their
module-level `utcnow` is replaced by this clock's.

The clock is the wall clock plus an offset, zero until a test moves it through the test hook
(hooks.py, /moto-api/gio/clock): setting the offset negative writes the past (a parameter written
"48 hours ago": set -48 h, PutParameter, set 0), advancing it lets a period elapse (a retention, a
cooldown). Time-based states are computed when read from the times recorded when they began, never
by a background timer, so setting the clock back shows a lock, a tiering, a cooldown as it was at
that earlier time. What is final is not undone, though: before the clock goes back, what has ended
for good by the time it leaves (a Recycle Bin entry past its retention, deleted) is settled
(`settles`), so a test that let days pass and puts the clock back leaves the state it saw. The
offset is process-wide, like the emulator's state: a test that moves the clock puts it back as it
found it.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

import moto.ec2.models.amis
import moto.ec2.models.elastic_block_store
import moto.ec2.models.instances
import moto.ec2.models.launch_templates
import moto.ssm.models

from . import replaces

_lock = threading.RLock()  # held while settling, so no request reads the clock half moved
_offset = timedelta(0)
_settlers: list[Callable[[datetime], None]] = []


def now() -> datetime:
    """The emulator's current time, aware, in UTC."""
    with _lock:
        return datetime.now(timezone.utc) + _offset


def offset() -> timedelta:
    with _lock:
        return _offset


def settles(settle: Callable[[datetime], None]) -> Callable[[datetime], None]:
    """Registers what ends for good by a time: called with the time the clock leaves for an earlier one."""
    _settlers.append(settle)
    return settle


def set_offset(value: timedelta) -> None:
    """Runs the clock this far from the wall clock, either way (zero: the wall clock again)."""
    global _offset
    with _lock:
        value = _runnable(value)
        if value < _offset:
            leaving = now()
            for settle in _settlers:
                settle(leaving)
        _offset = value


def advance(by: timedelta) -> None:
    """Lets time pass; to go back, set the offset."""
    global _offset
    if by < timedelta(0):
        raise ValueError("advancing runs the clock forward only; set the offset to go back")
    with _lock:
        _offset = _runnable(_offset + by)


def _runnable(value: timedelta) -> timedelta:
    """An offset the clock can run at: OverflowError for one past the year 9999, before any time is read."""
    datetime.now(timezone.utc) + value
    return value


def iso(moment: datetime) -> str:
    """A timestamp as EC2 and the guides print it, UTC with milliseconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _utcnow() -> datetime:
    """moto's `utcnow` contract: naive UTC."""
    return now().replace(tzinfo=None)


# Modules are patched like classes: verify() checks that each name is this clock's function.
# Instances' LaunchTime and launch template versions' CreateTime too: AMI usage reports leave out
# what is younger than their lag (usage_reports.py).
for _module in (moto.ec2.models.amis, moto.ec2.models.elastic_block_store, moto.ec2.models.instances,
                moto.ec2.models.launch_templates, moto.ssm.models):
    replaces(_module, "utcnow")(_utcnow)  # type: ignore[arg-type]
