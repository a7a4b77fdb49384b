"""AMIs shared with accounts, organizations and OUs, seen and launched from the accounts they are
shared with (moto keeps each account's AMIs to itself, so sharing had no effect anywhere).

AWS, sharing: "When you share an AMI with an organization or an OU, all of the children accounts gain
access to the AMI. [...] All of the OUs and accounts that are nested underneath that top-level OU [...]
also have access to the AMI." "Ownership – To share an AMI, your AWS account must own the AMI."
"Tags – You can't share user-defined tags [...] your user-defined tags are not available to any AWS
account in an organization or OU with which the AMI is shared." "ARN format – [...] You'll get an error
if you specify only the ID, for example, if you specify only o-123example or ou-1234-5example. Correct
ARN formats: Organization ARN: arn:aws:organizations::111122223333:organization/organization-id; OU ARN:
arn:aws:organizations::111122223333:ou/organization-id/ou-id". "You do not need to share the Amazon EBS
snapshots that an AMI references in order to share the AMI. [...] the system automatically provides the
instance with access to the referenced EBS snapshots for the launch."
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/share-amis-with-organizations-and-OUs.html
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/share-amis-org-ou-manage.html
LaunchPermission: Group ("Valid Values: all"), OrganizationArn, OrganizationalUnitArn, UserId ("The AWS
account ID"); ModifyImageAttribute takes them in LaunchPermission.Add / .Remove, or as OperationType with
UserIds, UserGroups, OrganizationArns, OrganizationalUnitArns.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LaunchPermission.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyImageAttribute.html
DescribeImages, ExecutableUsers: "If you specify an AWS account ID that is not your own, only AMIs shared
with that specific AWS account ID are returned. However, AMIs that are shared with the account's
organization or organizational unit (OU) are not returned. If you specify self or your own AWS account ID,
AMIs shared with your account are returned. In addition, AMIs that are shared with the organization or
OU of which you are member are also returned. If you specify all, all public AMIs are returned."
Without Owners, ExecutableUsers or ImageIds it lists every AMI the caller may launch: its own, public
ones, and those shared with it. https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html

What moto 5.2.5 already does, kept: LaunchPermission.Add/Remove entries with OrganizationArn or
OrganizationalUnitArn are stored and DescribeImageAttribute launchPermission lists them back.
What it lacks or gets wrong, patched here:
- ARNs are checked. The shapes are the ones EC2 Image Builder documents for the launch permissions it
  passes on to ModifyImageAttribute (LaunchPermissionConfiguration: `^arn:aws[^:]*:organizations::
  [0-9]{12}:organization/o-[a-z0-9]{10,32}$`, `^arn:aws[^:]*:organizations::[0-9]{12}:ou/o-[a-z0-9]
  {10,32}/ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}`; the EC2 references give none). A bad one is refused with
  InvalidAMIAttributeItemValue ("The value of an item added to, or removed from, an image attribute is
  not valid", errors-overview.html), worded as EC2 answers it in the wild: `Invalid attribute item value
  "arn:aws:organizations::…:account/o-…" for OrganizationArn item type.` (reported against packer).
  Nothing of a request with one bad item is applied.
- OperationType with several OrganizationArns / OrganizationalUnitArns / UserGroups shares with all of
  them (moto took the first of each only).
- Only the owner changes launch permissions (AuthFailure, as DeregisterImage answers a non-owner).
- Other accounts see and launch what is shared with them (patched DescribeImages scoping, used by
  every lookup of an image by id, and RunInstances through `launchable`): an explicit UserId, the
  organization the account belongs to, or an OU above it in the organization's tree, as moto's
  Organizations service holds them (CreateOrganization, CreateAccount, CreateOrganizationalUnit,
  MoveAccount); public AMIs of any account. Accounts are told apart by moto's own rule: STS
  AssumeRole credentials act as the role's account.
- ExecutableUsers follows the reference quoted above (moto returned every public AMI for any value and
  ignored organizations).
- Another account sees the AMI with its own tags, not the owner's (the AMI is served through a view
  whose backend is the viewer's); a launch from it reads the AMI's snapshots in the owner's account.
Not modelled: KMS keys of encrypted snapshots need no sharing; CopyImage still copies only the
caller's own AMIs; DescribeImageAttribute answers only the owner (others: InvalidAMIID.NotFound).
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from moto.core.responses import EmptyResult
from moto.ebs.models import ebs_backends
from moto.ec2.exceptions import InvalidAMIAttributeItemValueError, InvalidAMIIdError, MalformedAMIIdError
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response
from moto.ec2.utils import generic_filter
from moto.organizations.models import FakeRoot, organizations_backends

from . import allowed_images, replaces
from .common import aws_error, mapped_snapshot_ids

ORGANIZATION_ARN = re.compile(r"arn:aws[^:]*:organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}")
OU_ARN = re.compile(r"arn:aws[^:]*:organizations::[0-9]{12}:ou/o-[a-z0-9]{10,32}/ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}")
ACCOUNT_ID = re.compile(r"[0-9]{12}")

# LaunchPermission member -> whether a value is one EC2 takes.
PERMISSION_KINDS = {
    "UserId": ACCOUNT_ID.fullmatch,
    "Group": lambda value: value == "all",
    "OrganizationArn": ORGANIZATION_ARN.fullmatch,
    "OrganizationalUnitArn": OU_ARN.fullmatch,
}
# ModifyImageAttribute's flat form (with OperationType): parameter -> LaunchPermission member.
FLAT_PARAMETERS = {"UserGroups": "Group", "UserIds": "UserId", "OrganizationArns": "OrganizationArn",
                   "OrganizationalUnitArns": "OrganizationalUnitArn"}


@dataclass(frozen=True)
class Membership:
    """Where an account sits in its organization: the organization's ARN, the ARNs of every OU above it."""

    organization_arn: str | None = None
    ou_arns: frozenset[str] = field(default_factory=frozenset)


def membership(account_id: str) -> Membership:
    """The account's place in the organization moto's Organizations service holds (none: not a member)."""
    master = organizations_backends.master_accounts.get(account_id)
    master_id = master[0] if master else account_id
    partitions = dict.get(organizations_backends, master_id)  # dict's own get: no backend is created
    for backend in list(dict.values(partitions or {})):
        if backend.org is None:
            continue
        member = next((account for account in backend.accounts if account.id == account_id), None)
        if member is None:
            continue
        units = {unit.id: unit for unit in backend.ou if not isinstance(unit, FakeRoot)}
        above, parent = [], member.parent_id
        while parent in units and len(above) <= len(units):
            above.append(units[parent].arn)
            parent = units[parent].parent_id
        return Membership(backend.org.arn, frozenset(above))
    return Membership()


def shared_with(ami: Ami, account_id: str, member: Membership) -> bool:
    """Explicit launch permission: the account itself, its organization, or an OU it is under."""
    for permission in list(ami.launch_permissions):
        if permission.get("UserId") == account_id:
            return True
        if member.organization_arn and permission.get("OrganizationArn") == member.organization_arn:
            return True
        if permission.get("OrganizationalUnitArn") in member.ou_arns:
            return True
    return False


def can_launch(ami: Ami, account_id: str, member: Membership) -> bool:
    return ami.owner_id == account_id or ami.is_public or shared_with(ami, account_id, member)


def seen_from(ami: Ami, viewer: EC2Backend) -> Ami:
    """The AMI as another account sees it: the same image (mappings, permissions, launches are the
    owner's objects), read through the viewer's backend, so its tags are the viewer's. Built without
    moto's instance tracking, since a view lives for one request."""
    view = object.__new__(Ami)
    view.__dict__.update(ami.__dict__)
    view.ec2_backend = viewer
    view._gio_home = ami.ec2_backend
    return view


def foreign_images(backend: EC2Backend) -> Iterator[Ami]:
    """AMIs of this region owned by other accounts of the emulator, as this account sees them (each
    account's backend also holds a copy of the seeded Amazon AMIs: those are not another's)."""
    for account_backends in list(dict.values(ec2_backends)):  # dict's own methods: only existing backends
        other = dict.get(account_backends, backend.region_name)
        if other is None or other.account_id == backend.account_id:
            continue
        for ami in list(other.amis.values()):
            if ami.owner_id == other.account_id:
                yield seen_from(ami, backend)


def visible_images(backend: EC2Backend) -> list[Ami]:
    """Every AMI the account may launch in this region: its own, public ones, those shared with it,
    less what its Allowed AMIs settings hide (allowed_images.py)."""
    account, member = backend.account_id, membership(backend.account_id)
    images = list(backend.amis.values()) + [
        ami for ami in foreign_images(backend) if can_launch(ami, account, member)]
    return [ami for ami in images if allowed_images.discoverable(backend, ami)]


def _executable_by(ami: Ami, users: list[str], account_id: str, member: Membership) -> bool:
    for user in users:
        if user == "all" and ami.is_public:
            return True
        if user in ("self", account_id) and shared_with(ami, account_id, member):
            return True
        if user not in ("all", "self", account_id) and {"UserId": user} in ami.launch_permissions:
            return True
    return False


@replaces(EC2Backend, "describe_images")
def describe_images(self: EC2Backend, ami_ids: list[str] | None = None, filters: dict[str, Any] | None = None,
                    exec_users: list[str] | None = None, owners: list[str] | None = None) -> list[Ami]:
    """moto's DescribeImages scoping over every AMI the account may launch, not only its own."""
    images = visible_images(self)
    if ami_ids:
        malformed = [ami_id for ami_id in ami_ids if not ami_id.startswith("ami-")]
        if malformed:
            raise MalformedAMIIdError(malformed)
        images = [ami for ami in images if ami.id in ami_ids]
        if not images and not any(ami_id in self.deleted_amis for ami_id in ami_ids):
            raise InvalidAMIIdError(ami_ids)
        return images
    if exec_users:
        account, member = self.account_id, membership(self.account_id)
        images = [ami for ami in images if _executable_by(ami, exec_users, account, member)]
    if owners:
        owners = [self.account_id if owner == "self" else owner for owner in owners]
        images = [ami for ami in images if ami.owner_id in owners or ami.owner_alias in owners]
    return generic_filter(filters, images) if filters else images


def launchable(backend: EC2Backend, image_id: str) -> Ami | None:
    """The AMI RunInstances launches from: the account's own (or a seeded Amazon one), else another
    account's that is public or shared with it. Allowed AMIs are checked by the caller, to say why."""
    own = backend.amis.get(image_id)
    if own is not None:
        return own
    account, member = backend.account_id, membership(backend.account_id)
    return next((ami for ami in foreign_images(backend) if ami.id == image_id and can_launch(ami, account, member)),
                None)


_LAUNCHES = threading.RLock()


@contextlib.contextmanager
def snapshots_for_launch(backend: EC2Backend, ami: Ami) -> Iterator[None]:
    """For the length of a launch from another account's AMI, the launching account reads the AMI's
    snapshots (EC2 and EBS views) in the owner's account, as AWS gives the instance access to them.
    Nothing is left behind; DescribeSnapshots never lists them meanwhile (they are not the caller's,
    public nor shared: snapshots.restorable_by)."""
    home = getattr(ami, "_gio_home", None)
    if home is None or home is backend:
        yield
        return
    with lent(backend, home, mapped_snapshot_ids(ami)):
        yield


@contextlib.contextmanager
def lent(backend: EC2Backend, home: EC2Backend, snapshot_ids: list[str]) -> Iterator[None]:
    """For the length of a request, the account reads these snapshots of the owner's backend `home`
    (EC2 and EBS views) in its own; nothing is left behind."""
    region = backend.region_name
    mine, theirs = ebs_backends[backend.account_id][region].snapshots, ebs_backends[home.account_id][region].snapshots
    with _LAUNCHES:
        lent = [sid for sid in snapshot_ids if sid in home.snapshots and sid not in backend.snapshots]
        for snapshot_id in lent:
            backend.snapshots[snapshot_id] = home.snapshots[snapshot_id]
            if snapshot_id in theirs:
                mine[snapshot_id] = theirs[snapshot_id]
        try:
            yield
        finally:
            for snapshot_id in lent:
                backend.snapshots.pop(snapshot_id, None)
                mine.pop(snapshot_id, None)


def requested_permissions(self: EC2Response) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(to add, to remove), one {member: value} per launch permission, from either request form."""
    modifications = self._get_param("LaunchPermission") or {}
    add, remove = list(modifications.get("Add") or []), list(modifications.get("Remove") or [])
    operation = self._get_param("OperationType")
    if operation in ("add", "remove"):
        flat = [{member: value} for parameter, member in FLAT_PARAMETERS.items()
                for value in self._get_param(parameter, []) or []]
        (add if operation == "add" else remove).extend(flat)
    return _checked(add), _checked(remove)


def _checked(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    permissions = []
    for entry in entries:
        for member, value in entry.items():
            if member not in PERMISSION_KINDS or value is None:
                continue
            if not isinstance(value, str) or not PERMISSION_KINDS[member](value):
                raise InvalidAMIAttributeItemValueError(member, value)
            permissions.append({member: value})
    return permissions


@replaces(EC2Response, "modify_image_attribute")
def modify_image_attribute(self: EC2Response) -> EmptyResult:
    """Launch permissions added and removed as one change, after every item is checked; only by the owner."""
    self.error_on_dryrun()
    backend, image_id = self.ec2_backend, self._get_param("ImageId")
    add, remove = requested_permissions(self)
    ami = backend.amis.get(image_id)
    if ami is None or ami.owner_id != backend.account_id:
        backend.describe_images(ami_ids=[image_id])  # InvalidAMIID.* when the caller can't see it at all
        raise aws_error("AuthFailure", f"Not authorized for image:{image_id}")
    # "A disabled AMI can't be shared" (DisableImage, disabling.py); the code is the emulator's choice.
    if add and ami.state == "disabled":
        raise aws_error("IncorrectState", f"The image {image_id} is disabled and cannot be shared.")
    for permission in add:
        if permission not in ami.launch_permissions:
            ami.launch_permissions.append(permission)
    for permission in remove:
        if permission in ami.launch_permissions:
            ami.launch_permissions.remove(permission)
    return EmptyResult()

