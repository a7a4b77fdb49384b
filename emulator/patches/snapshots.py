"""Snapshots: who sees them, paging, deletion guarded by AMIs; what each snapshot holds, wherever it
comes from; the EBS direct APIs over all of them."""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import re
from datetime import timedelta
from typing import Any, Iterable

from moto.core.responses import ActionResult
from moto.ebs.models import Block, EBSSnapshot, ebs_backends
from moto.ebs.models import EBSBackend as EBSDirectBackend
from moto.ebs.responses import EBSResponse
from moto.ec2.exceptions import InvalidSnapshotInUse
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.elastic_block_store import Snapshot, Volume
from moto.ec2.responses import EC2Response

from . import clock, locks, org_sharing, recycle_bin, replaces, tiers
from .common import Paging, ServiceError, default_ebs_key, find_snapshot, mapped_snapshot_ids

EBS_DIRECT_BLOCK_SIZE = 512 * 1024  # bytes; the only block size the EBS direct APIs use
# StartSnapshot's Timeout when the request has none: "If no value is specified, the timeout defaults to 60 minutes".
START_SNAPSHOT_TIMEOUT = timedelta(minutes=60)

_moto_ebs_snapshot_init = EBSSnapshot.__init__
_moto_start_snapshot = EBSDirectBackend.start_snapshot
_moto_complete_snapshot = EBSDirectBackend.complete_snapshot
_moto_create_volume = EC2Backend.create_volume
_moto_create_snapshot = EC2Backend.create_snapshot
_moto_copy_snapshot = EC2Backend.copy_snapshot


@replaces(EC2Backend, "delete_snapshot")
def delete_snapshot(self: EC2Backend, snapshot_id: str) -> Snapshot:
    """DeleteSnapshot refuses any snapshot that a registered AMI of the region maps.

    AWS answers InvalidSnapshot.InUse "The snapshot snap-… is currently in use by
    ami-…" until the AMI is deregistered; moto only guards its own fake snapshots.
    A locked snapshot is refused (locks.py); one a Recycle Bin rule retains goes to the bin
    (recycle_bin.py).
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSnapshot.html
    """
    snapshot = find_snapshot(self, snapshot_id)
    for ami in list(self.amis.values()):  # a copy: other request threads may add AMIs
        if snapshot_id in mapped_snapshot_ids(ami):
            raise InvalidSnapshotInUse(snapshot_id, ami.id)
    locks.check_deletable(snapshot)
    recycle_bin.retain(self, recycle_bin.SNAPSHOTS, snapshot)
    return self.snapshots.pop(snapshot_id)


def timed_out(snapshot: Snapshot) -> bool:
    """Whether a snapshot StartSnapshot began, still pending, has gone its Timeout without a PutSnapshotBlock:
    "The amount of time (in minutes) after which the snapshot is automatically cancelled if: No blocks are written
    to the snapshot. The snapshot is not completed after writing the last block of data." (StartSnapshot, Timeout);
    the user guide's start-snapshot example: with no put or complete request within the timeout, the snapshot
    transitions to the `error` state. Judged on the emulator's clock, when read.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html
    https://docs.aws.amazon.com/ebs/latest/userguide/writesnapshots.html
    """
    idle_since = snapshot.__dict__.get("gio_idle_since")
    return (snapshot.__dict__["gio_status"] == "pending" and idle_since is not None
            and clock.now() - idle_since >= snapshot.__dict__["gio_timeout"])


def _status(self: Snapshot) -> str:
    """A snapshot's State: `recovering` for a while after its restore from the Recycle Bin (recycle_bin.py),
    `error` once StartSnapshot's Timeout cancelled it (`timed_out`), else as moto keeps it."""
    if recycle_bin.recovering(self):
        return "recovering"
    return "error" if timed_out(self) else self.__dict__["gio_status"]


def _set_status(self: Snapshot, value: str) -> None:
    self.__dict__["gio_status"] = value


replaces(Snapshot, "status", new=True)(property(_status, _set_status))


def restorable_by(snapshot: Snapshot, account_id: str) -> bool:
    """Whether the account may create volumes from the snapshot: its own, public or shared."""
    return (
        snapshot.owner_id == account_id
        or "all" in snapshot.create_volume_permission_groups
        or account_id in snapshot.create_volume_permission_userids
    )


@replaces(EC2Response, "describe_snapshots")
def describe_snapshots_response(self: EC2Response) -> ActionResult:
    """DescribeSnapshots lists only snapshots the caller can use, scoped by OwnerIds, paged.

    moto ignores OwnerIds and RestorableByUserIds and lists every snapshot in the
    region. AWS lists the caller's own, public and shared snapshots; OwnerIds (self,
    an account id, amazon) and RestorableByUserIds narrow that; MaxResults is 5-1000
    (more is served as 1000) and cannot be combined with SnapshotIds.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSnapshots.html
    """
    self.error_on_dryrun()
    paging = Paging.read(self, ids_param="SnapshotIds", min_results=5, clamp_to_max=True)
    account, backend = self.current_account, self.ec2_backend
    ids = self._get_param("SnapshotIds", [])
    snapshots = [find_snapshot(backend, snapshot_id) for snapshot_id in ids] or list(backend.snapshots.values())
    snapshots = [s for s in snapshots if restorable_by(s, account)]
    if owners := self._get_param("OwnerIds"):
        owners = {account if owner == "self" else owner for owner in owners}
        snapshots = [s for s in snapshots if s.owner_id in owners or getattr(s, "owner_alias", None) in owners]
    if users := self._get_param("RestorableByUserIds"):
        users = [account if user == "self" else user for user in users]
        snapshots = [s for s in snapshots if any(restorable_by(s, user) for user in users)]
    page, token = paging.cut(snapshots, self._filters_from_querystring())
    return ActionResult({"Snapshots": page, "NextToken": token})


# What snapshots and volumes hold. The EBS direct APIs read any snapshot of the account, those EC2
# makes included, so every snapshot and volume holds blocks: moto's Block objects, each kept once
# and shared by whatever holds it (a child of its parent, a volume of its snapshot, a copy of its
# source). "The same block" is therefore identity, and a block written anew is a new object, even
# with the same bytes. Each also belongs to a lineage, the snapshots ListChangedBlocks compares.


def holdings(ec2: EC2Backend, snapshot_id: str) -> tuple[dict[int, Block], str]:
    """The blocks a snapshot of this region holds, and its lineage. A snapshot the emulator has no
    data for (the seeded Amazon images') holds none and is a lineage of its own."""
    view = ebs_backends[ec2.account_id][ec2.region_name].snapshots.get(snapshot_id)
    return (dict(view.blocks), view.lineage) if view is not None else ({}, snapshot_id)


def hold(ec2: EC2Backend, snapshot: Snapshot, blocks: dict[int, Block], lineage: str) -> None:
    """Makes a snapshot EC2 took readable through the EBS direct APIs, holding these blocks."""
    view = EBSSnapshot(ec2.account_id, snapshot)
    view.status, view.blocks, view.lineage = "completed", dict(blocks), lineage
    ebs_backends[ec2.account_id][ec2.region_name].snapshots[snapshot.id] = view


def disk_blocks(path: str) -> tuple[dict[int, Block], int]:
    """The blocks a snapshot of a raw disk image holds, and the image's size in bytes: each non-zero
    512 KiB block by its index (the last one padded with zeros), checksummed as PutSnapshotBlock
    takes them (base64 SHA256). Blocks of zeros are left out, as a snapshot holds only the blocks
    written to it ("It only returns the block indexes and tokens that have data written", FAQ); the
    holes of a sparse file are skipped without reading them.
    https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html
    """
    blocks, zeros, offset = {}, bytes(EBS_DIRECT_BLOCK_SIZE), 0
    with open(path, "rb") as disk:
        size = os.fstat(disk.fileno()).st_size
        while offset < size:
            try:
                offset = os.lseek(disk.fileno(), offset, os.SEEK_DATA) // EBS_DIRECT_BLOCK_SIZE * EBS_DIRECT_BLOCK_SIZE
            except OSError as error:
                if error.errno != errno.ENXIO:
                    raise
                break  # nothing but a hole from here on
            disk.seek(offset)
            data = disk.read(EBS_DIRECT_BLOCK_SIZE).ljust(EBS_DIRECT_BLOCK_SIZE, b"\0")
            if data != zeros:
                checksum = base64.b64encode(_sha256(data)).decode()
                blocks[offset // EBS_DIRECT_BLOCK_SIZE] = Block(data, checksum, "SHA256", EBS_DIRECT_BLOCK_SIZE)
            offset += EBS_DIRECT_BLOCK_SIZE
    return blocks, size


@replaces(EC2Backend, "create_volume")
def create_volume(self: EC2Backend, size: int, zone_name: str, snapshot_id: str | None = None,
                  encrypted: bool = False, kms_key_id: str | None = None, **settings: Any) -> Volume:
    """A volume made from a snapshot holds the snapshot's blocks, an empty one none: nothing in the
    emulator writes to a volume, so it keeps them. From an encrypted snapshot it keeps the
    snapshot's KMS key unless given another ("When the CreateVolume action operates on an encrypted
    snapshot, you have the option of re-encrypting it with a different KMS key"); moto gives it the
    account's default key instead.
    Snapshots of it continue the source snapshot's lineage ("Snap B is an incremental snapshot of
    Snap A, even though it was created from a different volume"), unless the volume is encrypted
    otherwise than the snapshot or the snapshot is another account's: then "Snap B would be a full
    snapshot", the start of a lineage.
    https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html
    https://docs.aws.amazon.com/ebs/latest/userguide/encryption-examples.html
    """
    source = self.snapshots.get(snapshot_id) if snapshot_id else None
    if source is not None:
        tiers.check_usable(source, "creating a volume from it")
    if source is not None and source.encrypted and not kms_key_id:
        encrypted, kms_key_id = True, source.kms_key_id
    volume = _moto_create_volume(self, size, zone_name, snapshot_id, encrypted, kms_key_id, **settings)
    volume.blocks, volume.lineage = holdings(self, snapshot_id) if snapshot_id else ({}, volume.id)
    if source is not None and (source.owner_id != self.account_id
                               or (source.encrypted, source.kms_key_id) != (volume.encrypted, volume.kms_key_id)):
        volume.lineage = volume.id
    return volume


@replaces(EC2Backend, "create_snapshot")
def create_snapshot(self: EC2Backend, volume_id: str, description: str, owner_id: str | None = None,
                    from_ami: str | None = None) -> Snapshot:
    """A snapshot of a volume (CreateSnapshot, CreateSnapshots, CreateImage) holds the volume's
    blocks, continues its lineage and names its KMS key (moto reports Encrypted without the key).
    Its VolumeId is that volume: "The ID of the volume that was used to create the snapshot".
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html
    https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html
    """
    snapshot = _moto_create_snapshot(self, volume_id, description, owner_id, from_ami)
    volume = snapshot.volume
    snapshot.kms_key_id = volume.kms_key_id
    hold(self, snapshot, volume.blocks, volume.lineage)
    return snapshot


@replaces(EC2Backend, "copy_snapshot")
def copy_snapshot(self: EC2Backend, source_snapshot_id: str, source_region: str, description: str,
                  kms_key_id: str | None) -> Snapshot:
    """A copy (CopySnapshot, CopyImage) holds its source's blocks, reports the arbitrary VolumeId
    vol-ffffffff ("Snapshots created by a copy snapshot operation have an arbitrary volume ID") and
    its own size rather than the source volume's; an encrypted copy without KmsKeyId uses the
    account's default key ("If this parameter is not specified, your KMS key for Amazon EBS is
    used"). Copies into a region form a lineage of their own: ListChangedBlocks compares "two
    snapshot copies of the same source snapshot", not a copy with its source. The source may be
    another account's snapshot the account may use, public or shared with it ("To copy an
    encrypted snapshot that has been shared from another account, you must have permissions for
    the KMS key"; moto looks in the caller's own only), read in the owner's account for the copy,
    which is the caller's with the source's blocks.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopySnapshot.html
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListChangedBlocks.html
    """
    home = ec2_backends[self.account_id][source_region]
    foreign = None if source_snapshot_id in home.snapshots else foreign_snapshot(home, source_snapshot_id)
    with org_sharing.lent(home, foreign.ec2_backend, [source_snapshot_id]) if foreign else contextlib.nullcontext():
        return _copy_snapshot(self, source_snapshot_id, source_region, description, kms_key_id)


def _copy_snapshot(self: EC2Backend, source_snapshot_id: str, source_region: str, description: str,
                   kms_key_id: str | None) -> Snapshot:
    source = ec2_backends[self.account_id][source_region].snapshots.get(source_snapshot_id)
    if source is not None:
        tiers.check_usable(source, "copying it")  # "You can't copy an archived snapshot"
    snapshot = _moto_copy_snapshot(self, source_snapshot_id, source_region, description, kms_key_id)
    snapshot.volume = Volume(self, "vol-ffffffff", snapshot.volume_size, zone=None)
    if snapshot.encrypted and snapshot.kms_key_id is None:
        snapshot.kms_key_id = default_ebs_key(self)
    blocks, lineage = holdings(ec2_backends[self.account_id][source_region], source_snapshot_id)
    hold(self, snapshot, blocks, f"{lineage} copied to {self.region_name}")
    return snapshot


@replaces(EBSSnapshot, "__init__")
def ebs_snapshot_init(self: EBSSnapshot, account_id: str, snapshot: Snapshot) -> None:
    """The EBS direct APIs report BlockSize 524288 (512 KiB); moto says 512 bytes.

    Clients that trust it (coldsnap) would send 1,024 times more PutSnapshotBlock calls. A snapshot
    starts with nothing inherited, as a lineage of its own.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html
    """
    _moto_ebs_snapshot_init(self, account_id, snapshot)
    self.block_size = EBS_DIRECT_BLOCK_SIZE
    self.inherited: set[int] = set()  # indexes of the blocks a child holds from its parent, unwritten
    self.lineage = self.snapshot_id


@replaces(EBSDirectBackend, "start_snapshot")
def start_snapshot(self: EBSDirectBackend, volume_size: int, tags: list[dict[str, str]] | None,
                   description: str) -> EBSSnapshot:
    """StartSnapshot makes a "pending" snapshot of no volume (VolumeId vol-ffffffff).

    moto reports it "completed" at once and leaves the scratch volume it made behind,
    where DescribeVolumes shows it as an orphan.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html
    """
    started = _moto_start_snapshot(self, volume_size, tags, description)
    snapshot = self.ec2_backend.snapshots[started.snapshot_id]
    self.ec2_backend.delete_volume(snapshot.volume.id)
    snapshot.volume.id, snapshot.status = "vol-ffffffff", "pending"
    return started


@replaces(EBSDirectBackend, "complete_snapshot")
def complete_snapshot(self: EBSDirectBackend, snapshot_id: str) -> str:
    """CompleteSnapshot is what turns the EC2 snapshot "completed"."""
    self.ec2_backend.snapshots[snapshot_id].status = "completed"
    return _moto_complete_snapshot(self, snapshot_id)


def foreign_snapshot(ec2: EC2Backend, snapshot_id: str) -> Snapshot | None:
    """Another account's snapshot of this region that the account may use (public or shared with
    it), which moto keeps in the owner's backend only."""
    for account_backends in list(dict.values(ec2_backends)):  # dict's own methods: only existing backends
        other = dict.get(account_backends, ec2.region_name)
        if other is None or other.account_id == ec2.account_id:
            continue
        snapshot = other.snapshots.get(snapshot_id)
        if snapshot is not None and restorable_by(snapshot, ec2.account_id):
            return snapshot
    return None


def check_own_private(ec2: EC2Backend, snapshot_id: str | None) -> None:
    """The EBS direct APIs serve only the account's own snapshots, and none that is public.

    "Amazon EBS direct APIs does not support public snapshots" (API reference, Welcome; the user
    guide's concepts: "EBS direct APIs does not support public snapshots"; the FAQ: "Are public
    snapshots supported? Public snapshots are not supported"): a public snapshot is refused, the
    account's own made public included, and with it every public AMI's snapshot (the seeded
    EKS-optimized AMIs'). Another account's snapshot is refused too: one not shared with the account
    gives it no access at all; for one shared with it privately no AWS document says whether it is
    read, so the emulator refuses it, the stricter answer (what works here then works on AWS
    either way; the documented way to own the data is CopySnapshot / CopyImage). The answer is
    AccessDeniedException (HTTP 403) with Reason UNAUTHORIZED_ACCOUNT, the documented
    AccessDeniedExceptionReason that names the account; which one AWS sends is not documented.
    https://docs.aws.amazon.com/ebs/latest/APIReference/Welcome.html
    https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-elements.html
    https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_AccessDeniedException.html
    """
    snapshot = ec2.snapshots.get(snapshot_id or "") or foreign_snapshot(ec2, snapshot_id or "")
    if snapshot is None:
        return
    if snapshot.owner_id != ec2.account_id:
        raise ServiceError("AccessDeniedException", f"The snapshot '{snapshot_id}' is owned by another account "
                                                    f"({snapshot.owner_id}): the EBS direct APIs only read the "
                                                    "account's own snapshots; copy it into the account first.",
                           Reason="UNAUTHORIZED_ACCOUNT")
    if "all" in snapshot.create_volume_permission_groups:
        raise ServiceError("AccessDeniedException", f"The snapshot '{snapshot_id}' is public: the EBS direct APIs "
                                                    "do not support public snapshots.",
                           Reason="UNAUTHORIZED_ACCOUNT")


def ebs_view(ebs: EBSDirectBackend, snapshot_id: str | None) -> EBSSnapshot:
    """A snapshot of this account and region as the EBS direct APIs see it. The EC2 snapshot is the
    truth: one deleted (DeleteSnapshot, DeregisterImage with DeleteAssociatedSnapshots) is gone;
    another account's or a public one is refused (`check_own_private`)."""
    check_own_private(ebs.ec2_backend, snapshot_id)
    view = ebs.snapshots.get(snapshot_id or "")
    if view is None or snapshot_id not in ebs.ec2_backend.snapshots:
        raise ServiceError("ResourceNotFoundException", f"The snapshot '{snapshot_id}' does not exist.",
                           Reason="SNAPSHOT_NOT_FOUND")
    return view


def readable(ebs: EBSDirectBackend, snapshot_id: str | None) -> EBSSnapshot:
    """A snapshot the read APIs (ListSnapshotBlocks, ListChangedBlocks, GetSnapshotBlock) serve.

    "Can a snapshot be accessed using the EBS direct APIs if it has a pending status? No. The
    snapshot can be accessed only if it has a completed status"; "You can't use EBS direct APIs with
    archived snapshots". The error is undocumented: ValidationException INVALID_SNAPSHOT_ID chosen.
    https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html
    https://docs.aws.amazon.com/ebs/latest/userguide/readsnapshots.html
    """
    view = ebs_view(ebs, snapshot_id)
    if view.status != "completed":
        raise invalid("INVALID_SNAPSHOT_ID", f"The snapshot '{snapshot_id}' is {view.status}: only completed "
                                             "snapshots can be read.")
    if ebs.ec2_backend.snapshots[view.snapshot_id].storage_tier == "archive":
        raise invalid("INVALID_SNAPSHOT_ID", f"The snapshot '{snapshot_id}' is archived and cannot be read.")
    return view


# StartSnapshot's KmsKeyArn, as the API constrains it: a key's ARN; a key id, an alias or its ARN is refused.
KMS_KEY_ARN = re.compile(r"arn:aws[a-z\-]*:kms:.*:[0-9]{12}:key/.*")


def start_encryption(self: EBSResponse, parent: EBSSnapshot | None) -> str | None:
    """The KMS key that encrypts the snapshot StartSnapshot makes (None: unencrypted), from the
    encryption outcomes AWS tabulates for Encrypted, KmsKeyArn, ParentSnapshotId and encryption by
    default:
    - no parent: unencrypted only without Encrypted (or false) and KmsKeyArn while encryption by
      default is off; else KmsKeyArn's key, or the account's default EBS key. Encrypted false with
      KmsKeyArn, or while encryption by default is on, fails (ValidationException);
    - a parent: the child takes the parent's encryption. Encrypted (true or false) fails ("You
      can't specify ParentSnapshotId and Encrypted in the same request"), KmsKeyArn fails with an
      encrypted parent, and an unencrypted parent fails while encryption by default is on ("you
      cannot start a new snapshot using an unencrypted parent snapshot").
    The table is unclear for KmsKeyArn with an unencrypted parent and encryption by default off
    (a merged cell reads "The snapshot is unencrypted"): refused here like the encrypted-parent
    case rather than dropping a key the caller asked for. Every refusal is a ValidationException
    with Reason INVALID_PARAMETER_VALUE (the reason is undocumented). Whether the key exists is
    not checked (KMS is not modelled).
    https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-encryption.html
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html
    """
    encrypted, key = self._get_param("Encrypted"), self._get_param("KmsKeyArn")
    if key is not None and not (len(key) <= 2048 and KMS_KEY_ARN.fullmatch(key)):
        raise invalid("INVALID_PARAMETER_VALUE", f"1 validation error detected: Value at 'kmsKeyArn' failed to satisfy "
                                                 f"constraint: Member must satisfy regular expression pattern: "
                                                 f"{KMS_KEY_ARN.pattern}")
    ec2 = self.ebs_backend.ec2_backend
    by_default = ec2.ebs_encryption_by_default
    if parent is not None:
        source = ec2.snapshots[parent.snapshot_id]
        if encrypted is not None or key is not None:
            raise invalid("INVALID_PARAMETER_VALUE", "A snapshot started from a parent takes the parent's encryption: "
                                                     "Encrypted and KmsKeyArn cannot be specified with ParentSnapshotId.")
        if not source.encrypted and by_default:
            raise invalid("INVALID_PARAMETER_VALUE", "Encryption by default is enabled: an unencrypted parent snapshot "
                                                     "cannot be used; use an encrypted copy of it (CopySnapshot).")
        return source.kms_key_id if source.encrypted else None
    if encrypted is False:
        if key is not None or by_default:
            raise invalid("INVALID_PARAMETER_VALUE", "An unencrypted snapshot cannot be made with a KmsKeyArn "
                                                     "or while encryption by default is enabled.")
        return None
    if encrypted or key is not None or by_default:
        return key or default_ebs_key(ec2)
    return None


_moto_put_snapshot_block = EBSResponse.put_snapshot_block
_moto_start_snapshot_response = EBSResponse.start_snapshot


def start_snapshot_response(self: EBSResponse) -> ActionResult:
    """StartSnapshot with ParentSnapshotId starts from the parent: the new snapshot holds every
    block of the parent, and only the blocks written to it are its changes (what CompleteSnapshot's
    ChangedBlocksCount and aggregate checksum count); it continues the parent's lineage. Encrypted
    and KmsKeyArn decide its encryption as `start_encryption` says: the EC2 snapshot reports
    Encrypted and KmsKeyId, the answer KmsKeyArn and ParentSnapshotId. moto ignores ParentSnapshotId,
    Encrypted and KmsKeyArn and starts every snapshot empty and unencrypted.
    (Called by the ClientToken wrapper in idempotency.py, which owns StartSnapshot's answer.)
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html
    https://docs.aws.amazon.com/ebs/latest/userguide/writesnapshots.html
    """
    parent_id = self._get_param("ParentSnapshotId")
    parent = ebs_view(self.ebs_backend, parent_id) if parent_id else None
    key = start_encryption(self, parent)
    answer = _moto_start_snapshot_response(self)
    snapshot_id = answer.result["SnapshotId"]
    snapshot = self.ebs_backend.ec2_backend.snapshots[snapshot_id]
    snapshot.encrypted, snapshot.kms_key_id = key is not None, key
    timeout = self._get_param("Timeout")
    snapshot.gio_timeout = timedelta(minutes=int(timeout)) if timeout else START_SNAPSHOT_TIMEOUT
    snapshot.gio_idle_since = clock.now()
    if key is not None:
        answer.result["KmsKeyArn"] = key
    if parent is not None:
        child = self.ebs_backend.snapshots[snapshot_id]
        child.blocks.update(parent.blocks)
        child.inherited, child.lineage = set(parent.blocks), parent.lineage
        answer.result["ParentSnapshotId"] = parent.snapshot_id
    return answer


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def invalid(reason: str, message: str) -> ServiceError:
    """An EBS direct ValidationException with one of the Reasons AWS lists (ValidationExceptionReason:
    INVALID_BLOCK, INVALID_PARAMETER_VALUE, INVALID_PAGE_TOKEN, INVALID_SNAPSHOT_ID, ...). Which
    reason AWS gives for each case is not documented; the emulator picks the one the case names.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_ValidationException.html
    """
    return ServiceError("ValidationException", message, Reason=reason)


@replaces(EBSResponse, "put_snapshot_block")
def put_snapshot_block_response(self: EBSResponse) -> ActionResult:
    """PutSnapshotBlock checks the snapshot and the block: 512 KiB of data whose SHA256 is the Checksum.

    "The target snapshot must be in the pending state" (CompleteSnapshot: "You cannot write new
    blocks to a snapshot after it has been completed"): refused with reason INVALID_SNAPSHOT_ID.
    "Data written to a snapshot must be aligned with 512-KiB sectors" (INVALID_BLOCK); only SHA256
    checksums are supported, and one that does not match the data is refused
    (INVALID_PARAMETER_VALUE) instead of storing a block that arrived damaged; moto takes the
    checksum at face value and writes to completed snapshots.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_CompleteSnapshot.html
    """
    snapshot_id = self._get_param("SnapshotId")
    snapshot = ebs_view(self.ebs_backend, snapshot_id)
    state = self.ebs_backend.ec2_backend.snapshots[snapshot_id].status  # `error` once timed out
    if state != "pending":
        raise invalid("INVALID_SNAPSHOT_ID", f"The snapshot '{snapshot_id}' is {state}, not pending: "
                                             "blocks can no longer be written to it.")
    data = self._get_param("BlockData") or b""
    if len(data) != EBS_DIRECT_BLOCK_SIZE or int(self._get_param("DataLength") or 0) != EBS_DIRECT_BLOCK_SIZE:
        raise invalid("INVALID_BLOCK", f"The block must hold {EBS_DIRECT_BLOCK_SIZE} bytes; it held {len(data)}.")
    if self._get_param("ChecksumAlgorithm") != "SHA256":
        raise invalid("INVALID_PARAMETER_VALUE", "ChecksumAlgorithm must be SHA256.")
    if self._get_param("Checksum") != base64.b64encode(_sha256(data)).decode():
        raise invalid("INVALID_PARAMETER_VALUE", "The checksum of the block data does not match the Checksum given.")
    # A block written over one inherited from the parent is a change of this snapshot.
    snapshot.inherited.discard(int(self._get_param("BlockIndex")))
    self.ebs_backend.ec2_backend.snapshots[snapshot_id].gio_idle_since = clock.now()  # its Timeout starts again
    return _moto_put_snapshot_block(self)


@replaces(EBSResponse, "complete_snapshot")
def complete_snapshot_response(self: EBSResponse) -> ActionResult:
    """CompleteSnapshot checks ChangedBlocksCount and, when given, the LINEAR aggregate checksum
    (SHA256 of the blocks' SHA256 digests in block-index order) of the blocks written to this
    snapshot (not those inherited from a parent); a mismatch turns the snapshot to `error`, as on
    AWS, instead of `completed`. A snapshot its Timeout cancelled (`timed_out`) is refused: how AWS
    answers is undocumented, ValidationException INVALID_SNAPSHOT_ID chosen as for PutSnapshotBlock.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_CompleteSnapshot.html
    https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-checksums.html
    """
    snapshot_id = self._get_param("SnapshotId")
    snapshot = ebs_view(self.ebs_backend, snapshot_id)
    if timed_out(self.ebs_backend.ec2_backend.snapshots[snapshot_id]):
        raise invalid("INVALID_SNAPSHOT_ID", f"The snapshot '{snapshot_id}' was cancelled: nothing was written to it "
                                             "nor was it completed within its Timeout.")
    written = [snapshot.blocks[index].block_data for index in sorted(snapshot.blocks) if index not in snapshot.inherited]
    counted = int(self._get_param("ChangedBlocksCount") or 0) == len(written)
    expected = self._get_param("Checksum")
    aggregate = base64.b64encode(_sha256(b"".join(_sha256(data) for data in written))).decode()
    if not counted or (expected is not None and expected != aggregate):
        snapshot.status = "error"
        self.ebs_backend.ec2_backend.snapshots[snapshot_id].status = "error"
        return ActionResult({"Status": "error"})
    return ActionResult({"Status": self.ebs_backend.complete_snapshot(snapshot_id=snapshot_id)})


# AWS may answer fewer blocks than MaxResults; the emulator always does past this many, so every
# client's paging runs against it (with MaxResults at its floor of 100 it is the same page).
LIST_BLOCKS_PAGE = 100


def block_page(self: EBSResponse, indexes: Iterable[int]) -> tuple[list[int], dict[str, str]]:
    """The block indexes one page of a listing covers, ascending from StartingBlockIndex or from where
    NextToken says (which wins), at most min(MaxResults, LIST_BLOCKS_PAGE) of them, and the NextToken
    member of the answer while indexes remain. MaxResults is 100-10,000: "Valid Range: Minimum value
    of 100. Maximum value of 10000"; "If you specify NextToken, then StartingBlockIndex is ignored".
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListChangedBlocks.html
    """
    max_results = int(self._get_param("MaxResults") or 10_000)
    if not 100 <= max_results <= 10_000:
        raise invalid("INVALID_PARAMETER_VALUE", f"MaxResults must be between 100 and 10000; it was {max_results}.")
    token = self._get_param("NextToken")
    try:
        start = int(base64.urlsafe_b64decode(token.encode())) if token else int(self._get_param("StartingBlockIndex") or 0)
    except ValueError:
        raise invalid("INVALID_PAGE_TOKEN", f"The NextToken '{token}' is invalid.") from None
    ahead = sorted(index for index in indexes if index >= start)
    size = min(max_results, LIST_BLOCKS_PAGE)
    page, rest = ahead[:size], ahead[size:]
    return page, {"NextToken": base64.urlsafe_b64encode(str(rest[0]).encode()).decode()} if rest else {}


def block_token(snapshot: EBSSnapshot, index: int) -> str:
    """The token of the block a snapshot holds at an index, what GetSnapshotBlock asks for. Tokens
    are opaque, base64 ("Pattern: ^[A-Za-z0-9+/=]+$", which moto's UUIDs break) and per snapshot: the
    same block held by two snapshots has a token in each.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_Block.html
    """
    identity = f"{snapshot.snapshot_id}/{index}/{snapshot.blocks[index].block_token}"
    return base64.b64encode(_sha256(identity.encode())).decode()


@replaces(EBSResponse, "list_snapshot_blocks")
def list_snapshot_blocks_response(self: EBSResponse) -> ActionResult:
    """ListSnapshotBlocks pages: blocks in ascending BlockIndex from StartingBlockIndex, at most
    MaxResults (100–10,000) an answer and possibly fewer, with a NextToken while blocks remain
    (`block_page`), of any completed snapshot of the account (`readable`), those EC2 made included.
    moto ignores all three parameters and answers every block at once, unordered.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html
    """
    snapshot = readable(self.ebs_backend, self._get_param("SnapshotId"))
    page, next_token = block_page(self, snapshot.blocks)
    return ActionResult({
        "Blocks": [{"BlockIndex": index, "BlockToken": block_token(snapshot, index)} for index in page],
        "VolumeSize": snapshot.volume_size,
        "BlockSize": snapshot.block_size,
        **next_token,
    })


@replaces(EBSResponse, "list_changed_blocks")
def list_changed_blocks_response(self: EBSResponse) -> ActionResult:
    """ListChangedBlocks lists the blocks that differ between two snapshots of one lineage, in
    ascending BlockIndex, paged like ListSnapshotBlocks.

    A block differs when only one snapshot holds it or the two hold different blocks at its index;
    one the second holds unchanged from the first (inherited through ParentSnapshotId, carried
    through a volume, copied) is not listed. FirstBlockToken "is absent if the first snapshot does
    not have the changed block that is on the second snapshot", and SecondBlockToken when only the
    first has it (the user guide's example). Pages cut the indexes either snapshot holds and then
    keep the changed ones, so "the response may be empty but the API will return a next page token
    value" when changes are scarce, as on AWS. "The FirstSnapshotID parameter must be specified with
    a SecondSnapshotId parameter; otherwise, an error occurs" (ValidationException
    INVALID_PARAMETER_VALUE chosen). The snapshots must be "of the same volume" or "two snapshot
    copies of the same source snapshot": others answer ValidationException UNRELATED_SNAPSHOTS, a
    documented reason. Which snapshot's VolumeSize is answered is not said: the second's (the one
    the request's path names). moto walks the first snapshot's blocks only (blocks written only in
    the second are missed), compares bytes, and ignores paging and order.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListChangedBlocks.html
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_ChangedBlock.html
    https://docs.aws.amazon.com/ebs/latest/userguide/readsnapshots.html
    https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html
    """
    first_id, second_id = self._get_param("FirstSnapshotId"), self._get_param("SecondSnapshotId")
    if not first_id:
        raise invalid("INVALID_PARAMETER_VALUE", "FirstSnapshotId must be specified with SecondSnapshotId.")
    first, second = readable(self.ebs_backend, first_id), readable(self.ebs_backend, second_id)
    if first.lineage != second.lineage:
        raise invalid("UNRELATED_SNAPSHOTS", f"The snapshots '{first_id}' and '{second_id}' are not of the same "
                                             "volume or snapshot lineage.")
    page, next_token = block_page(self, first.blocks.keys() | second.blocks.keys())
    changed = []
    for index in page:
        if first.blocks.get(index) is second.blocks.get(index):
            continue
        tokens = {name: block_token(snapshot, index) for name, snapshot in
                  (("FirstBlockToken", first), ("SecondBlockToken", second)) if index in snapshot.blocks}
        changed.append({"BlockIndex": index, **tokens})
    return ActionResult({
        "ChangedBlocks": changed,
        "VolumeSize": second.volume_size,
        "BlockSize": second.block_size,
        **next_token,
    })


@replaces(EBSResponse, "get_snapshot_block")
def get_snapshot_block_response(self: EBSResponse) -> ActionResult:
    """GetSnapshotBlock answers the 512 KiB a completed snapshot holds at BlockIndex, given the token
    ListSnapshotBlocks or ListChangedBlocks gave for that snapshot and index ("You can obtain the
    BlockToken by running the ListChangedBlocks or ListSnapshotBlocks operations"); any other token,
    or an index holding no block, is refused (ValidationException INVALID_BLOCK_TOKEN, a documented
    reason). DataLength, Checksum (base64 SHA256 of the data) and ChecksumAlgorithm SHA256 describe
    the data itself. moto ignores the token and reads only blocks written to that very snapshot.
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_GetSnapshotBlock.html
    """
    snapshot = readable(self.ebs_backend, self._get_param("SnapshotId"))
    index, token = int(self._get_param("BlockIndex")), self._get_param("BlockToken")
    if index not in snapshot.blocks or token != block_token(snapshot, index):
        raise invalid("INVALID_BLOCK_TOKEN", f"The block token is not valid for block {index} of "
                                             f"'{snapshot.snapshot_id}'.")
    data = snapshot.blocks[index].block_data
    return ActionResult({"DataLength": len(data), "BlockData": data,
                         "Checksum": base64.b64encode(_sha256(data)).decode(), "ChecksumAlgorithm": "SHA256"})
