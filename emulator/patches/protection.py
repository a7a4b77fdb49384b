"""AMI deregistration protection (moto 5.2.5 has none of it).

AWS: EnableImageDeregistrationProtection: "When deregistration protection is enabled, the AMI can't
be deregistered. To allow the AMI to be deregistered, you must first disable deregistration
protection." WithCooldown: "If true, enforces deregistration protection for 24 hours after
deregistration protection is disabled." DisableImageDeregistrationProtection: "If you chose to include
a 24-hour cooldown period when you enabled deregistration protection for the AMI, then, when you
disable deregistration protection, you won't immediately be able to deregister the AMI."
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeregistrationProtection.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImageDeregistrationProtection.html
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-deregistration-protection.html

DescribeImages shows Image.DeregistrationProtection on every AMI, DescribeImageAttribute the
`deregistrationProtection` attribute, with the same value:
- "disabled": every AMI until protected, as DescribeImages shows any AMI in the wild;
- "enabled-without-cooldown" / "enabled-with-cooldown": what Enable... answers in `return` (the
  AWS CLI's examples of enable- and disable-image-deregistration-protection answer
  "enabled-without-cooldown" and "disabled"), and Disable... the state it leaves;
- "disabled after <time>" while a cooldown runs: the wording tools written against EC2 parse (the
  Image reference only says the field "Indicates whether deregistration protection is enabled");
  the time is ISO 8601 UTC with milliseconds, as EC2 writes its other times.
The cooldown is counted on the emulator's clock (clock.py), so tests move it instead of waiting.

Undocumented, hence the emulator's choices: DeregisterImage of a protected AMI answers
OperationNotPermitted ("The specified operation is not allowed", EC2's code for an operation the
resource's own protection forbids, as termination protection does; errors-overview.html); only the
AMI's owner may change its protection (AuthFailure, as DeregisterImage answers).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response

from . import clock, replaces
from .common import aws_error

COOLDOWN = timedelta(hours=24)
DISABLED, WITH_COOLDOWN, WITHOUT_COOLDOWN = "disabled", "enabled-with-cooldown", "enabled-without-cooldown"

# Unset until an Enable...: every AMI starts unprotected, with no cooldown running.
Ami._gio_protection = DISABLED
Ami._gio_protected_until = None

_moto_describe_image_attribute = EC2Response.describe_image_attribute


@replaces(Ami, "deregistration_protection", new=True)
@property
def deregistration_protection(self: Ami) -> str:
    """Image.DeregistrationProtection, as of the emulator's clock."""
    until: datetime | None = self._gio_protected_until
    if self._gio_protection == DISABLED and until is not None and clock.now() < until:
        return f"disabled after {clock.iso(until)}"
    return self._gio_protection


def check_deregistrable(ami: Ami) -> None:
    """DeregisterImage refuses an AMI whose protection is on, or in its cooldown."""
    if ami.deregistration_protection != DISABLED:
        raise aws_error(
            "OperationNotPermitted",
            f"The image {ami.id} cannot be deregistered: its deregistration protection is "
            f"{ami.deregistration_protection}.",
        )


def owned_image(response: EC2Response) -> Ami:
    """The request's ImageId, which the caller must own (AuthFailure otherwise): another account's AMI
    shared with the caller (org_sharing.py) is seen, not changed."""
    response.error_on_dryrun()
    backend = response.ec2_backend
    ami = backend.describe_images(ami_ids=[response._get_param("ImageId")])[0]  # InvalidAMIID.* if unknown
    if ami.owner_id != backend.account_id:
        raise aws_error("AuthFailure", f"Not authorized for image:{ami.id}")
    return ami


@replaces(EC2Response, "enable_image_deregistration_protection", new=True)
def enable_image_deregistration_protection(self: EC2Response) -> ActionResult:
    ami = owned_image(self)
    ami._gio_protection = WITH_COOLDOWN if self._get_bool_param("WithCooldown", False) else WITHOUT_COOLDOWN
    ami._gio_protected_until = None
    return ActionResult({"Return": ami.deregistration_protection})


@replaces(EC2Response, "disable_image_deregistration_protection", new=True)
def disable_image_deregistration_protection(self: EC2Response) -> ActionResult:
    ami = owned_image(self)
    if ami._gio_protection == WITH_COOLDOWN:
        ami._gio_protected_until = clock.now() + COOLDOWN
    ami._gio_protection = DISABLED
    return ActionResult({"Return": ami.deregistration_protection})


@replaces(EC2Response, "describe_image_attribute")
def describe_image_attribute(self: EC2Response) -> Any:
    """The `deregistrationProtection` attribute (moto refuses it as an invalid request)."""
    if self._get_param("Attribute") != "deregistrationProtection":
        return _moto_describe_image_attribute(self)
    ami_id = self._get_param("ImageId")
    ami = self.ec2_backend.describe_images(ami_ids=[ami_id])[0]
    return ActionResult({"ImageId": ami_id, "DeregistrationProtection": {"Value": ami.deregistration_protection}})
