"""AMI deprecation, the first stage of an AMI lifecycle (moto 5.2.5 answers HTTP 500).

EnableImageDeprecation sets the date from which an AMI is deprecated, and DescribeImages then
shows it as DeprecationTime; DisableImageDeprecation removes it. AWS: "If you specify a value for
seconds, Amazon EC2 rounds the seconds to the nearest minute. You can't specify a date in the past.
The upper limit for DeprecateAt is 10 years from now, except for public AMIs, where the upper limit
is 2 years from the creation date." The error code for a date out of range is not documented:
the emulator answers InvalidParameterValue. Only the owner changes it (AuthFailure, as for
deregistration protection), since AMIs shared by other accounts are visible (org_sharing.py).
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeprecation.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImageDeprecation.html
"""

from __future__ import annotations

from datetime import timedelta

from moto.core.responses import ActionResult
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response

from . import clock, replaces
from .common import as_utc, aws_error
from .protection import owned_image

# Unset until an EnableImageDeprecation: DescribeImages then leaves DeprecationTime out.
Ami.deprecation_time = None


@replaces(EC2Response, "enable_image_deprecation", new=True)
def enable_image_deprecation(self: EC2Response) -> ActionResult:
    ami = owned_image(self)  # only the owner: a shared AMI is another account's
    at = as_utc(self._get_param("DeprecateAt"))
    now = clock.now()  # the emulator's clock, which tests may move
    if at < now:
        raise aws_error("InvalidParameterValue", f"DeprecateAt {at:%Y-%m-%dT%H:%M:%SZ} is in the past.")
    latest = as_utc(ami.creation_date) + _years(2) if ami.is_public else now + _years(10)
    if at > latest:
        limit = "2 years from the creation date of a public AMI" if ami.is_public else "10 years from now"
        raise aws_error("InvalidParameterValue", f"DeprecateAt {at:%Y-%m-%dT%H:%M:%SZ} is later than {limit}.")
    nearest = (at + timedelta(seconds=30)).replace(second=0, microsecond=0)
    ami.deprecation_time = nearest.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return ActionResult({"Return": True})


def _years(count: int) -> timedelta:
    return timedelta(days=365 * count + count // 4)  # leap days included, to the day


@replaces(EC2Response, "disable_image_deprecation", new=True)
def disable_image_deprecation(self: EC2Response) -> ActionResult:
    ami = owned_image(self)
    ami.deprecation_time = None
    return ActionResult({"Return": True})
