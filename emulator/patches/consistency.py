"""Patches 50–52: EC2's eventual consistency, as a lag of some seconds of the emulator's clock.

"The Amazon EC2 API follows an eventual consistency model ... the result of an API command you run
that affects your Amazon EC2 resources might not be immediately visible to all subsequent commands
you run ... if you run a command to modify or describe the resource that you just created, its ID
might not have propagated throughout the system, and you will get an error responding that the
resource does not exist."
https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html

moto is consistent at once, so a client that only works against a consistent EC2 passes every test
and fails its first run on AWS. With a lag (`gio_emulator.py --consistency-lag SECONDS`, the
GIO_EMULATOR_LAG environment variable, or the test hook POST /moto-api/gio/consistency), for that
long after each change:

- 50, a new AMI (RegisterImage, CreateImage, CopyImage) has not propagated: DescribeImages does
  not list it and answers InvalidAMIID.NotFound when asked for it by id, as do the calls that act
  on one AMI by id (DescribeImageAttribute, ModifyImageAttribute, CreateTags, deprecation,
  protection, DisableImage/EnableImage, DeregisterImage, CopyImage of it).
- 51, the snapshots of a just-deregistered AMI are still held by it: DeleteSnapshot and
  ModifySnapshotTier answer InvalidSnapshot.InUse naming the AMI, as AWS does for a while after
  DeregisterImage (boto/boto#3019: "The snapshot snap-6c6e383d is currently in use by
  ami-f74260c7", 1 run in 5; Packer retries it: hashicorp/packer#8598).
- 52, tags written by CreateTags or removed by DeleteTags show late: Describe* answers (and their
  tag filters) show each resource's tags as they were before the change (patch 13's
  `tags.get_tags` asks `visible_tags`).

Lag 0 (the default) changes nothing; setting a lag settles every earlier change (so a test arranges
its scene consistently, then switches the lag on for the client run it tests). How long AWS takes is not documented ("eventually"): the lag
is the test's choice. Time is the emulator's clock (clock.py), so pytest moves past a lag instead
of sleeping, and a client's real-time retries see it pass at the wall clock's pace.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from datetime import datetime, timedelta
from typing import Any, Callable

from moto.core.utils import camelcase_to_underscores
from moto.ec2.exceptions import InvalidAMIIdError, InvalidSnapshotInUse
from moto.ec2.responses import EC2Response

from . import clock, replaces
from .common import mapped_snapshot_ids

_lock = threading.Lock()
_lag = timedelta(0)
_born: dict[str, datetime] = {}  # AMI id -> when it was made
_held: dict[str, tuple[str, datetime]] = {}  # snapshot id -> (the AMI deregistered, when)
# resource id -> tag key -> (when it changed, the value before it; None: there was none)
_retagged: dict[str, dict[str, tuple[datetime, str | None]]] = {}
_describing = contextvars.ContextVar("describing", default=False)


def set_lag(seconds: float) -> None:
    """Runs EC2 this many seconds behind every change from now on (0: consistent at once). What
    changed before has settled: a test that switches the lag on for each client run it tests
    sees each run meet its own changes late, never the previous run's."""
    global _lag
    if seconds < 0:
        raise ValueError(f"a lag is never negative, not {seconds}")
    with _lock:
        _lag = timedelta(seconds=seconds)
        _born.clear()
        _held.clear()
        _retagged.clear()


def lag() -> timedelta:
    return _lag


def _lagging(since: datetime) -> bool:
    """Within the lag of a change made at `since` (a clock set before it sees it made: no lag)."""
    return timedelta(0) <= clock.now() - since < _lag


def propagated(ami_id: str) -> bool:
    """Whether a new AMI is visible yet (patch 50)."""
    born = _born.get(ami_id)
    return born is None or not _lagging(born)


def visible_tags(resource_id: str, tags: dict[str, str]) -> dict[str, str]:
    """The tags a Describe* answer shows for the resource: those changed within the lag as they
    were before (patch 52). Outside a Describe*, the tags as they are."""
    changes = _retagged.get(resource_id)
    if not changes or not _describing.get():
        return tags
    shown = dict(tags)
    for key, (when, before) in changes.items():
        if not _lagging(when):
            continue
        if before is None:
            shown.pop(key, None)
        else:
            shown[key] = before
    return shown


# The calls that name one AMI by id (parameter ImageId), and what each names it by.
_ONE_IMAGE = {"DescribeImageAttribute": "ImageId", "ModifyImageAttribute": "ImageId",
              "EnableImageDeprecation": "ImageId", "DisableImageDeprecation": "ImageId",
              "EnableImageDeregistrationProtection": "ImageId", "DisableImageDeregistrationProtection": "ImageId",
              "DisableImage": "ImageId", "EnableImage": "ImageId", "DeregisterImage": "ImageId",
              "CopyImage": "SourceImageId"}
_NEW_IMAGE = ("RegisterImage", "CreateImage", "CopyImage")
_FREES_SNAPSHOTS = ("DeleteSnapshot", "ModifySnapshotTier")


def _not_propagated(self: EC2Response, action: str) -> None:
    """InvalidAMIID.NotFound for a new AMI the request names by id."""
    if action == "DescribeImages":
        named = list(self._get_param("ImageIds", []))
    elif action == "CreateTags":
        named = [r for r in self._get_param("Resources", []) if r.startswith("ami-")]
    else:
        named = [self._get_param(_ONE_IMAGE[action])] if action in _ONE_IMAGE else []
    unseen = [ami_id for ami_id in named if not propagated(ami_id)]
    if unseen:
        raise InvalidAMIIdError(unseen if len(unseen) > 1 else unseen[0])


def _still_held(self: EC2Response) -> None:
    """InvalidSnapshot.InUse for a snapshot of an AMI deregistered within the lag."""
    snapshot_id = self._get_param("SnapshotId")
    held = _held.get(snapshot_id)
    if held is not None and _lagging(held[1]):
        raise InvalidSnapshotInUse(snapshot_id, held[0])


def _step(self: EC2Response, action: str, method: Callable[[], Any]) -> Any:
    """One EC2 request under the lag: refused as not yet consistent, or carried out and remembered."""
    _not_propagated(self, action)
    if action in _FREES_SNAPSHOTS:
        _still_held(self)
    before: dict[str, dict[str, str]] = {}
    if action in ("CreateTags", "DeleteTags"):
        store = self.ec2_backend.tags
        before = {r: dict(store.get(r, {})) for r in self._get_param("Resources", [])}
    freed: list[str] = []
    if action == "DeregisterImage":
        ami = self.ec2_backend.amis.get(self._get_param("ImageId"))
        freed = mapped_snapshot_ids(ami) if ami is not None else []
    result = method()
    now = clock.now()
    with _lock:
        if action in _NEW_IMAGE:
            _born.setdefault(result.result["ImageId"], now)  # a repeated ClientToken made nothing
        for snapshot_id in freed:
            _held[snapshot_id] = (self._get_param("ImageId"), now)
        for resource_id, tags in before.items():
            changes = _retagged.setdefault(resource_id, {})
            for tag in self._get_param("Tags", []):
                earlier = changes.get(tag["Key"])
                # Within an earlier change's lag, readers still see what was there before it.
                was = earlier[1] if earlier and _lagging(earlier[0]) else tags.get(tag["Key"])
                changes[tag["Key"]] = (now, was)
    return result


@replaces(EC2Response, "call_action")
def call_action(self: EC2Response) -> Any:
    """Every EC2 request goes through `_step` while a lag is set. The request's own handler is
    wrapped on this response object only, inside moto's call_action, so errors are answered
    exactly as moto answers the handler's own (and whatever else wraps call_action still runs)."""
    if not _lag:
        return super(EC2Response, self).call_action()
    action = self._get_action()
    name = camelcase_to_underscores(action)
    method = getattr(self, name, None)
    if method is not None:
        setattr(self, name, functools.partial(_step, self, action, method))
    # An answer's tags are read when it is serialized, after the handler returned.
    token = _describing.set(action.startswith("Describe"))
    try:
        return super(EC2Response, self).call_action()
    finally:
        _describing.reset(token)

