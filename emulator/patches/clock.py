"""The emulator's clock, which tests can move instead of sleeping.

AWS behaviours that depend on elapsed time (a deregistration-protection cooldown of 24 hours, a
parameter value written 48 hours ago, a Kubernetes version leaving standard support) cannot be
tested against the wall clock. Every time-dependent patch reads `now()`, and so do the moto models
whose timestamps those behaviours compare with (AMI CreationDate, snapshot StartTime, SSM
LastModifiedDate): their module-level `utcnow` is replaced by this clock's.

The clock is the wall clock plus an offset, zero until a test sets it through the test hook
(`hooks.py`, POST /moto-api/gio/clock); a negative offset writes the past, a positive one lets a
period elapse. The offset is process-wide, like the emulator's state: a test that moves the clock
sets it back to zero when done.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import moto.ec2.models.amis
import moto.ec2.models.elastic_block_store
import moto.ssm.models

from . import replaces

_offset = timedelta(0)


def now() -> datetime:
    """The emulator's current time, aware, in UTC."""
    return datetime.now(timezone.utc) + _offset


def offset() -> timedelta:
    return _offset


def set_offset(value: timedelta) -> None:
    global _offset
    _offset = value


def _utcnow() -> datetime:
    """moto's `utcnow` contract: naive UTC."""
    return now().replace(tzinfo=None)


# Modules are patched like classes: verify() checks that each name is this clock's function.
for _module in (moto.ec2.models.amis, moto.ec2.models.elastic_block_store, moto.ssm.models):
    replaces(_module, "utcnow")(_utcnow)  # type: ignore[arg-type]
