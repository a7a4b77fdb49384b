"""RunInstances: the AMI's block-device mappings become real volumes, merged with overrides;
DescribeInstances pages as EC2 does."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidAMIIdError, MissingParameterError
from moto.ec2.models import EC2Backend
from moto.ec2.models.elastic_block_store import VolumeAttachment
from moto.ec2.models.instances import Reservation
from moto.ec2.responses import EC2Response
from moto.ec2.utils import filter_reservations

from . import allowed_images, architecture, clock, org_sharing, replaces
from .common import Paging, aws_error, ebs_settings, overlay_ebs

_moto_run_instances = EC2Backend.run_instances


def merge_mappings(layers: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Overlay mapping lists, later layers winning per device and per Ebs field.

    NoDevice ("" in EC2, true in Auto Scaling) removes a device.
    """
    devices: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for mapping in layer:
            device = mapping["DeviceName"]
            if mapping.get("NoDevice") in ("", True):
                devices.pop(device, None)
            elif mapping.get("VirtualName"):
                devices[device] = {"DeviceName": device, "VirtualName": mapping["VirtualName"]}
            else:
                base = devices.get(device, {}).get("Ebs", {})
                devices[device] = {"DeviceName": device, "Ebs": overlay_ebs(base, mapping.get("Ebs"))}
    return devices


@replaces(EC2Backend, "run_instances")
def run_instances(
    self: EC2Backend, image_id: str | None, count: int, user_data: Any, security_group_names: list[str], **kwargs: Any
) -> Reservation:
    """Launch with the AMI's mappings, overridden by the launch template's, then the request's.

    AWS attaches every EBS mapping of the AMI as a volume created from its snapshot
    (root included), lets a launch template / launch configuration and then the
    request override any field per device or suppress a device with NoDevice, and
    honours DeleteOnTermination, size, type, IOPS, throughput, encryption and
    `volume` TagSpecifications. moto attaches an 8 GiB /dev/sda1, or only the
    requested devices. An unknown AMI is refused (InvalidAMIID.NotFound), and so is a
    disabled one: "You can't launch new instances from a disabled AMI", launch templates
    included ("Subsequent instance launches from a disabled AMI will fail"). The error code
    is not documented; the emulator answers InvalidAMIID.Unavailable. Another account's AMI
    launches when it is public or shared with this account (org_sharing.py), reading its
    snapshots in the owner's account, and only if this account's Allowed AMIs settings allow
    it (allowed_images.py). An instance type whose architectures do not include the AMI's is
    refused (architecture.py).
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-device-mapping-concepts.html
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/disable-an-ami.html
    """
    template = self._get_template_from_args(kwargs["launch_template"]) if kwargs.get("launch_template") else None
    effective_image_id = image_id or (template.image_id if template else None) or ""
    ami = org_sharing.launchable(self, effective_image_id)  # own, public, or shared with this account
    if ami is None:
        raise InvalidAMIIdError(effective_image_id)
    if ami.state == "disabled":
        raise aws_error("InvalidAMIID.Unavailable", f"The image id '[{ami.id}]' is disabled and cannot be used to launch instances.")
    allowed_images.check_launch(self, ami)
    architecture.check_launch(ami, architecture.instance_type(template, kwargs))
    with org_sharing.snapshots_for_launch(self, ami):
        return _launch(self, ami, template, image_id, count, user_data, security_group_names, **kwargs)


def _launch(self: EC2Backend, ami: Any, template: Any, image_id: str | None, count: int, user_data: Any,
            security_group_names: list[str], **kwargs: Any) -> Reservation:
    launch_config = kwargs.get("launch_config")
    devices = merge_mappings([
        ami.mappings,
        (template.data.get("BlockDeviceMappings") if template else None) or [],
        (launch_config.block_device_mapping_dict if launch_config else None) or [],
        kwargs.get("block_device_mappings") or [],
    ])
    volumes = [(device, ebs_settings(self, device, m["Ebs"])) for device, m in devices.items() if "Ebs" in m]
    volume_tags = (kwargs.get("tags") or {}).get("volume", {})

    kwargs["block_device_mappings"] = []  # volumes are attached below, with the settings moto's loop drops
    reservation = _moto_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
    ami.launch_times.append(clock.now())  # what lastLaunchedTime reports, a day later (images.py)
    for instance in reservation.instances:
        for device, ebs in volumes:
            volume = self.create_volume(
                size=ebs["VolumeSize"],
                zone_name=instance.placement.zone,
                snapshot_id=ebs.get("SnapshotId"),
                encrypted=ebs["Encrypted"],
                kms_key_id=ebs.get("KmsKeyId"),
                volume_type=ebs["VolumeType"],
                iops=ebs.get("Iops"),
                throughput=ebs.get("Throughput"),
            )
            volume.add_tags(volume_tags)
            self.attach_volume(volume.id, instance.id, device, ebs["DeleteOnTermination"])
    return reservation


@replaces(EC2Response, "_parse_block_device_mapping")
def parse_block_device_mapping(self: EC2Response) -> list[dict[str, Any]]:
    """Keep RunInstances' BlockDeviceMappings as sent.

    moto demands a size or snapshot in every entry (AWS takes them from the AMI),
    refuses VirtualName entries, defaults DeleteOnTermination to false and drops
    Throughput.
    """
    mappings: list[dict[str, Any]] = self._get_param("BlockDeviceMappings", [])
    for mapping in mappings:
        if not {"Ebs", "NoDevice", "VirtualName"} & mapping.keys():
            raise MissingParameterError("ebs")
    return mappings


@replaces(VolumeAttachment, "delete_on_termination", new=True)
@property
def attachment_delete_on_termination(self: VolumeAttachment) -> bool:
    """DescribeVolumes shows each attachment's DeleteOnTermination (moto omits it)."""
    device = self.instance.block_device_mapping.get(self.device)
    return bool(device and device.delete_on_termination)


@replaces(EC2Response, "describe_instances")
def describe_instances_response(self: EC2Response) -> ActionResult:
    """DescribeInstances pages reservations with MaxResults (5-1000) / NextToken, any filter included.

    "You cannot specify this parameter and the instance IDs parameter in the same request." The
    API versions up to 2016-09-15 also said "or tag filters"; the current reference (2016-11-15)
    dropped that, so tag and tag-key filters go with MaxResults. The range 5-1000 is the one
    those earlier versions give; the current page names none. As for images and snapshots,
    filters apply to each page once it is cut (short or empty pages with a NextToken); without
    MaxResults every reservation is answered at once (moto cut at 100 and filtered first).
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html
    """
    self.error_on_dryrun()
    paging = Paging.read(self, ids_param="InstanceIds", min_results=5, clamp_to_max=False)
    filters, ids = self._filters_from_querystring(), self._get_param("InstanceIds", [])
    if ids:
        return ActionResult({"Reservations": self.ec2_backend.get_reservations_by_instance_ids(ids, filters=filters)})
    page, token = paging.cut(self.ec2_backend.all_reservations(), {})
    return ActionResult({"Reservations": filter_reservations(page, filters), "NextToken": token})
