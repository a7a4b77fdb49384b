"""AMIs: RegisterImage, CreateImage and CopyImage keep what AWS keeps; DescribeImages shows it."""

from __future__ import annotations

import copy
import functools
import re
import threading
import time
from datetime import datetime, timedelta
from typing import Any, Callable

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError, InvalidSnapshotInUse
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response
from moto.ec2.utils import random_ami_id

from . import allowed_images, clock, consistency, org_sharing, recycle_bin, replaces
from .common import Paging, aws_error, default_ebs_key, ebs_settings, mapped_snapshot_ids, overlay_ebs, tags_by_type
from .idempotency import ec2_mismatch, once
from .protection import check_deregistrable

# RegisterImage parameter -> Ami attribute, for every attribute an AMI carries
# besides its mappings (also what CreateImage and CopyImage inherit).
IMAGE_ATTRIBUTES = {
    "Architecture": "architecture",
    "VirtualizationType": "virtualization_type",
    "RootDeviceName": "root_device_name",
    "EnaSupport": "ena_support",
    "SriovNetSupport": "sriov_net_support",
    "BootMode": "boot_mode",
    "TpmSupport": "tpm_support",
    "ImdsSupport": "imds_support",
    "KernelId": "kernel_id",
    "RamdiskId": "ramdisk_id",
}
# RegisterImage's documented defaults for an EBS-backed AMI.
REGISTER_DEFAULTS = {"Architecture": "i386", "VirtualizationType": "paravirtual", "RootDeviceName": "/dev/sda1"}
# Allowed AMI names: 3-128 letters, digits and ( ) [ ] space . / - ' @ _
AMI_NAME = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}")

_moto_ami_init = Ami.__init__
_moto_ami_filter_value = Ami.get_filter_value
_moto_deregister_image = EC2Backend.deregister_image


@replaces(Ami, "__init__")
def ami_init(self: Ami, ec2_backend: Any, ami_id: str, *args: Any, **kwargs: Any) -> None:
    """An AMI's mappings name snapshots that exist on their own; AWS invents none.

    moto's constructor always fabricates a 15 GiB "Auto-created snapshot" (owned by
    the caller) and reports it as the only mapping: drop it right away. Attributes
    nobody set stay absent, as in AWS, instead of moto's "uefi" / "simple".
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html
    """
    _moto_ami_init(self, ec2_backend, ami_id, *args, **kwargs)
    ec2_backend.snapshots.pop(self.ebs_snapshot.id)
    del self.ebs_snapshot
    self.mappings: list[dict[str, Any]] = []
    self.root_device_type = "ebs"
    self.hypervisor = self.hypervisor or "xen"
    self.platform_details, self.usage_operation = "Linux/UNIX", "RunInstances"
    for attribute in ("ena_support", "sriov_net_support", "boot_mode", "tpm_support", "imds_support",
                      "ramdisk_id", "source_image_id", "source_image_region"):
        setattr(self, attribute, None)
    self.launch_times: list[datetime] = []  # RunInstances from this AMI, on the emulator's clock


# "When the AMI is used to launch an instance, there is a 24-hour delay before that usage is reported."
LAUNCH_REPORTING_DELAY = timedelta(hours=24)


@replaces(Ami, "last_launched_time", new=True)
@property
def last_launched_time(self: Ami) -> str | None:
    """DescribeImages' LastLaunchedTime and DescribeImageAttribute lastLaunchedTime: "The date and time,
    in ISO 8601 date-time format, when the AMI was last used to launch an EC2 instance. When the AMI is
    used to launch an instance, there is a 24-hour delay before that usage is reported." So a launch
    shows a day after it happened (on the emulator's clock), as the time of the launch; an AMI never
    launched from, or only within the last day, has none (moto never records it).
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImageAttribute.html
    """
    reported = [t for t in self.launch_times if t + LAUNCH_REPORTING_DELAY <= clock.now()]
    return max(reported).strftime("%Y-%m-%dT%H:%M:%SZ") if reported else None


@replaces(Ami, "block_device_mappings")
@property
def block_device_mappings(self: Ami) -> list[dict[str, Any]]:
    """DescribeImages shows the stored mappings: Ebs (all fields), NoDevice, VirtualName."""
    return self.mappings


@replaces(Ami, "public", new=True)
@property
def public(self: Ami) -> bool:
    """DescribeImages always says whether an AMI is public (moto omits `Public`)."""
    return self.is_public


@replaces(Ami, "get_filter_value")
def ami_filter_value(self: Ami, filter_name: str, method_name: str | None = None) -> Any:
    """DescribeImages filters AWS documents that moto lacks (block-device-mapping.*, ...).

    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html
    """
    ebs = [m["Ebs"] for m in self.mappings if "Ebs" in m]
    extra = {
        "block-device-mapping.device-name": lambda: [m["DeviceName"] for m in self.mappings],
        "block-device-mapping.snapshot-id": lambda: mapped_snapshot_ids(self),
        "block-device-mapping.volume-size": lambda: [str(e["VolumeSize"]) for e in ebs],
        "block-device-mapping.volume-type": lambda: [e["VolumeType"] for e in ebs],
        "block-device-mapping.encrypted": lambda: [str(e["Encrypted"]).lower() for e in ebs],
        "block-device-mapping.delete-on-termination": lambda: [str(e["DeleteOnTermination"]).lower() for e in ebs],
        "description": lambda: self.description,
        "ena-support": lambda: self.ena_support,
        "root-device-name": lambda: self.root_device_name,
        "root-device-type": lambda: self.root_device_type,
        "image-allowed": lambda: allowed_images.filter_value(self),
    }
    if filter_name in extra:
        return extra[filter_name]()
    return _moto_ami_filter_value(self, filter_name, method_name)


# The server answers requests on several threads; AWS takes a name atomically, so the check that
# it is free and the AMI that takes it must not interleave with another request's.
_NAMING = threading.RLock()


def one_name_at_a_time(make: Callable[..., Ami]) -> Callable[..., Ami]:
    """RegisterImage, CreateImage and CopyImage take a name atomically: of two racing requests
    for one name, exactly one gets it and the other InvalidAMIName.Duplicate, as on AWS
    ("AMI names must be unique per Region", RegisterImage Name).
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RegisterImage.html
    """

    @functools.wraps(make)
    def serialized(*args: Any, **kwargs: Any) -> Ami:
        with _NAMING:
            return make(*args, **kwargs)

    return serialized


def check_new_name(backend: EC2Backend, name: str | None) -> None:
    """AMI names are 3-128 allowed characters, unique per owner and region."""
    if not AMI_NAME.fullmatch(name or ""):
        raise aws_error(
            "InvalidAMIName.Malformed",
            "AMI names must be between 3 and 128 characters long, and may contain letters, "
            "numbers, '(', ')', '[', ']', ' ', '.', '/', '-', ''', '@' and '_'",
        )
    for ami in list(backend.amis.values()):  # a copy: other request threads may add AMIs
        if ami.name == name and ami.owner_id == backend.account_id:
            raise aws_error("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami.id}")


def stored_mapping(backend: EC2Backend, mapping: dict[str, Any]) -> dict[str, Any]:
    """One requested block-device mapping as the AMI keeps it (RegisterImage, CreateImage)."""
    device = mapping["DeviceName"]
    if "NoDevice" in mapping:
        return {"DeviceName": device, "NoDevice": ""}
    if mapping.get("VirtualName"):
        return {"DeviceName": device, "VirtualName": mapping["VirtualName"]}
    ebs = mapping.get("Ebs") or {}
    check_image_ebs(device, ebs)
    return {"DeviceName": device, "Ebs": ebs_settings(backend, device, ebs)}


def check_image_ebs(device: str, ebs: dict[str, Any]) -> None:
    """What an AMI's own mapping may not say.

    EbsBlockDevice, Encrypted: "If you are creating a block device mapping from an existing
    encrypted or unencrypted snapshot, you must omit this parameter. If you include this
    parameter, the request will fail, regardless of the value that you specify." KmsKeyId:
    "This parameter is only supported on BlockDeviceMapping objects called by RunInstances,
    RequestSpotFleet, and RequestSpotInstances." No error code is documented: the emulator
    answers InvalidParameterCombination.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsBlockDevice.html
    """
    if ebs.get("SnapshotId") and ebs.get("Encrypted") is not None:
        raise aws_error("InvalidParameterCombination",
                        f"Encrypted cannot be specified for {device}, a mapping from snapshot {ebs['SnapshotId']}.")
    if ebs.get("KmsKeyId"):
        raise aws_error("InvalidParameterCombination",
                        f"KmsKeyId is supported only in the mappings of a launch, not of an image ({device}).")


def by_device(mappings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Requested mappings keyed by device; a device may appear only once."""
    keyed: dict[str, dict[str, Any]] = {}
    for mapping in mappings:
        device = mapping["DeviceName"]
        if device in keyed:
            raise aws_error(
                "InvalidBlockDeviceMapping", f"The device '{device}' is used in more than one block-device mapping"
            )
        keyed[device] = mapping
    return keyed


def inherit_attributes(ami: Ami, source: Ami | None) -> None:
    """CreateImage and CopyImage carry the source AMI's attributes over."""
    if source is None:  # the instance's AMI was deregistered since its launch
        return
    for attribute in IMAGE_ATTRIBUTES.values():
        setattr(ami, attribute, getattr(source, attribute))


@replaces(EC2Backend, "register_image")
@one_name_at_a_time
def register_image(self: EC2Backend, request: dict[str, Any]) -> Ami:
    """RegisterImage keeps every mapping and attribute it is given, validated like AWS.

    Rejected as AWS does: unknown or malformed snapshots, a device mapped twice, a
    volume smaller than its snapshot, a taken name, a TagSpecification for anything
    but the image.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RegisterImage.html
    """
    check_new_name(self, request.get("Name"))
    tags = tags_by_type(request.get("TagSpecifications") or [], ("image",))
    mappings = [stored_mapping(self, m) for m in by_device(request.get("BlockDeviceMappings") or []).values()]
    ami = Ami(self, random_ami_id(), name=request["Name"], description=request.get("Description"))
    for parameter, attribute in IMAGE_ATTRIBUTES.items():
        setattr(ami, attribute, request.get(parameter, REGISTER_DEFAULTS.get(parameter)))
    ami.mappings = mappings
    ami.add_tags(tags["image"])
    self.amis[ami.id] = ami
    return ami


@replaces(EC2Backend, "create_image")
@one_name_at_a_time
def create_image(self: EC2Backend, request: dict[str, Any]) -> Ami:
    """CreateImage snapshots every EBS volume attached to the instance, not only the root.

    Each snapshot is described "Created by CreateImage(i-…) for ami-… from vol-…";
    mappings keep the instance's devices, sizes, types and DeleteOnTermination, and
    the request's BlockDeviceMappings override, add or suppress (NoDevice) devices.
    TagSpecifications may tag the image and the snapshots. Attributes (architecture,
    ENA, boot mode, root device...) come from the instance's AMI.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html
    """
    instance = self.get_instance(request["InstanceId"])
    if instance.state not in ("running", "stopped"):
        raise aws_error(
            "IncorrectInstanceState", f"The instance '{instance.id}' is not in a state from which it can be imaged."
        )
    check_new_name(self, request.get("Name"))
    tags = tags_by_type(request.get("TagSpecifications") or [], ("image", "snapshot"))
    requested = by_device(request.get("BlockDeviceMappings") or [])
    captured = []  # (device, volume, Ebs settings) for every volume the AMI keeps
    for device, attachment in instance.get_block_device_mapping:
        override = requested.pop(device, {})
        if "NoDevice" in override:
            continue
        volume = self.get_volume(attachment.volume_id)
        current = {"VolumeSize": volume.size, "VolumeType": volume.volume_type, "Iops": volume.iops,
                   "Throughput": volume.throughput, "DeleteOnTermination": attachment.delete_on_termination}
        ebs = overlay_ebs(current, override.get("Ebs"))
        if ebs["VolumeSize"] < volume.size:
            raise aws_error(
                "InvalidBlockDeviceMapping",
                f"Volume of size {ebs['VolumeSize']}GB is smaller than the {volume.size}GB volume at {device}",
            )
        captured.append((device, volume, ebs))
    added = [stored_mapping(self, m) for m in requested.values()]  # devices the instance lacks

    ami = Ami(self, random_ami_id(), instance=instance, name=request["Name"], description=request.get("Description"))
    inherit_attributes(ami, self.amis.get(instance.image_id))
    ami.root_device_name = instance.root_device_name
    for device, volume, ebs in captured:
        snapshot = self.create_snapshot(
            volume.id, f"Created by CreateImage({instance.id}) for {ami.id} from {volume.id}"
        )
        snapshot.add_tags(tags["snapshot"])
        ami.mappings.append({"DeviceName": device, "Ebs": ebs_settings(self, device, {**ebs, "SnapshotId": snapshot.id})})
    ami.mappings += added
    ami.add_tags(tags["image"])
    self.amis[ami.id] = ami
    return ami


@replaces(EC2Backend, "copy_image")
@one_name_at_a_time
def copy_image(self: EC2Backend, request: dict[str, Any]) -> Ami:
    """CopyImage copies each EBS snapshot into the destination region, mappings and attributes kept.

    The source may be another account's AMI the caller may launch (public or shared with it: "You can
    copy an AMI [...] that is shared with you"; moto looked in the caller's own AMIs only): its
    snapshots, read in the owner's account for the copy, give the copies their blocks, so a public
    base (whose snapshots the EBS direct APIs refuse) is read through a copy the account owns.
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html

    Snapshot descriptions read like AWS's "Copied for DestinationAmi ami-… from
    SourceAmi ami-… for SourceSnapshot snap-…. Task created on …". CopyImageTags
    copies the source AMI's user tags; TagSpecifications tag the image and snapshots;
    Encrypted/KmsKeyId encrypt the copies, and KmsKeyId without Encrypted is refused.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html
    """
    source_region, source_id = request["SourceRegion"], request["SourceImageId"]
    home = ec2_backends[self.account_id][source_region]
    source = org_sharing.launchable(home, source_id)
    if source is None:
        raise InvalidAMIIdError(source_id)
    with org_sharing.snapshots_for_launch(home, source):
        return _copy_image(self, request, source)


def _copy_image(self: EC2Backend, request: dict[str, Any], source: Ami) -> Ami:
    source_region = request["SourceRegion"]
    check_new_name(self, request.get("Name"))
    tags = tags_by_type(request.get("TagSpecifications") or [], ("image", "snapshot"))
    if request.get("KmsKeyId") and not request.get("Encrypted"):
        # "If you specify a KMS key, you must also set the encrypted state to true." (no code documented)
        raise aws_error("InvalidParameterCombination", "KmsKeyId requires Encrypted to be true.")
    kms_key_id = request.get("KmsKeyId") or (default_ebs_key(self) if request.get("Encrypted") else None)

    ami = Ami(self, random_ami_id(), source_ami=source, name=request["Name"], description=request.get("Description"))
    inherit_attributes(ami, source)
    ami.source_image_id, ami.source_image_region = source.id, source_region
    task_created = f"{int(time.time() * 1000):,}"
    for mapping in copy.deepcopy(source.mappings):
        ebs = mapping.get("Ebs", {})
        if "SnapshotId" in ebs:
            snapshot = self.copy_snapshot(
                ebs["SnapshotId"],
                source_region,
                f"Copied for DestinationAmi {ami.id} from SourceAmi {source.id} "
                f"for SourceSnapshot {ebs['SnapshotId']}. Task created on {task_created}.",
                kms_key_id,
            )
            snapshot.add_tags(tags["snapshot"])
            ebs.update(SnapshotId=snapshot.id, Encrypted=snapshot.encrypted)
        ami.mappings.append(mapping)
    if request.get("CopyImageTags"):
        ami.add_tags({t["key"]: t["value"] for t in source.get_tags() if not t["key"].startswith("aws:")})
    ami.add_tags(tags["image"])
    self.amis[ami.id] = ami
    return ami


@replaces(EC2Backend, "deregister_image")
def deregister_image(self: EC2Backend, ami_id: str) -> None:
    """Only the owner may deregister an AMI (AuthFailure otherwise; moto lets anyone), and only
    while its deregistration protection is off (protection.py). One a Recycle Bin rule retains
    goes to the bin (recycle_bin.py) on its way out of the region: a protected AMI is refused
    before, so it never reaches the bin."""
    ami = self.amis.get(ami_id)
    if ami is not None and ami.owner_id != self.account_id:
        raise aws_error("AuthFailure", f"Not authorized for image:{ami_id}")
    if ami is not None:
        check_deregistrable(ami)
        recycle_bin.retain(self, recycle_bin.IMAGES, ami)
    _moto_deregister_image(self, ami_id)


@replaces(EC2Response, "register_image")
def register_image_response(self: EC2Response) -> ActionResult:
    """moto's handler reads only Name and Description: pass the whole request on."""
    self.error_on_dryrun()
    return ActionResult({"ImageId": self.ec2_backend.register_image(dict(self.params)).id})


@replaces(EC2Response, "create_image")
def create_image_response(self: EC2Response) -> ActionResult:
    """moto's handler drops BlockDeviceMappings: pass the whole request on."""
    self.error_on_dryrun()
    return ActionResult({"ImageId": self.ec2_backend.create_image(dict(self.params)).id})


@replaces(EC2Response, "copy_image")
def copy_image_response(self: EC2Response) -> ActionResult:
    """moto's handler drops tags and encryption: pass the whole request on (once per token)."""
    self.error_on_dryrun()
    backend, request = self.ec2_backend, dict(self.params)
    image_id = once(backend, "CopyImage", request, lambda: backend.copy_image(request).id, ec2_mismatch)
    return ActionResult({"ImageId": image_id})


@replaces(EC2Response, "deregister_image")
def deregister_image_response(self: EC2Response) -> ActionResult:
    """DeregisterImage keeps the AMI's snapshots, unless DeleteAssociatedSnapshots is set.

    Then each snapshot is deleted ("success"), or kept when another AMI maps it
    ("skipped").
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html
    """
    self.error_on_dryrun()
    backend, ami_id = self.ec2_backend, self._get_param("ImageId")
    snapshot_ids = mapped_snapshot_ids(backend.amis[ami_id]) if ami_id in backend.amis else []
    backend.deregister_image(ami_id)
    result: dict[str, Any] = {"Return": True}
    if self._get_param("DeleteAssociatedSnapshots"):
        result["DeleteSnapshotResults"] = [
            {"SnapshotId": snapshot_id, "ReturnCode": _delete_unless_shared(backend, snapshot_id)}
            for snapshot_id in snapshot_ids
        ]
    return ActionResult(result)


def _delete_unless_shared(backend: EC2Backend, snapshot_id: str) -> str:
    try:
        backend.delete_snapshot(snapshot_id)
    except InvalidSnapshotInUse:
        return "skipped"
    except EC2ClientError:
        return "client-error"
    return "success"


@replaces(EC2Response, "describe_images")
def describe_images_response(self: EC2Response) -> ActionResult:
    """DescribeImages honours MaxResults (1-1000) / NextToken and hides disabled AMIs.

    Owners (self, an account id, amazon) and ExecutableUsers scope the list before
    paging; Filters apply per page, as in EC2. Disabled AMIs appear only with
    IncludeDisabled, asked for by id or not: "Default: No disabled AMIs are included in the
    response."
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html
    """
    self.error_on_dryrun()
    paging = Paging.read(self, ids_param="ImageIds", min_results=1, clamp_to_max=False)
    ids = self._get_param("ImageIds", [])
    images = self.ec2_backend.describe_images(
        ami_ids=ids, exec_users=self._get_param("ExecutableUsers", []), owners=self._get_param("Owners", [])
    )
    images = [image for image in images if consistency.propagated(image.id)]  # patch 50
    if not self._get_param("IncludeDisabled"):  # ImageIds too: the reference makes no exception
        images = [image for image in images if image.state != "disabled"]
    page, token = paging.cut(images, self._filters_from_querystring())
    return ActionResult({"Images": page, "NextToken": token})


# The Ami attribute moto's DescribeImageAttribute handler asks for -> where the value lives.
ATTRIBUTE_ALIASES = {"sriov": "sriov_net_support", "ramdisk": "ramdisk_id", "tmp": "tpm_support",
                     "imds": "imds_support", "uefi": "uefi_data", "lld": "last_launched_time"}


@replaces(EC2Backend, "describe_image_attribute")
def describe_image_attribute(self: EC2Backend, ami_id: str, attribute_name: str) -> Any:
    """DescribeImageAttribute answers every documented attribute (moto: HTTP 500 for several)."""
    ami = self.amis.get(ami_id)
    if ami is None:
        raise InvalidAMIIdError(ami_id)
    return getattr(ami, ATTRIBUTE_ALIASES.get(attribute_name, attribute_name), None)
