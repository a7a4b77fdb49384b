"""AMI deprecation, the first stage of an AMI lifecycle (moto 5.2.5 answers HTTP 500).

EnableImageDeprecation sets the date from which an AMI is deprecated, and DescribeImages then
shows it as DeprecationTime; DisableImageDeprecation removes it. AWS rounds DeprecateAt down to
the minute (seconds are dropped).
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeprecation.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImageDeprecation.html
"""

from __future__ import annotations

from datetime import datetime

from moto.core.responses import ActionResult
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response

from . import replaces

# Unset until an EnableImageDeprecation: DescribeImages then leaves DeprecationTime out.
Ami.deprecation_time = None


@replaces(EC2Response, "enable_image_deprecation", new=True)
def enable_image_deprecation(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    ami = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
    at = self._get_param("DeprecateAt")  # moto parses the timestamp; keep a string working too
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    ami.deprecation_time = at.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return ActionResult({"Return": True})


@replaces(EC2Response, "disable_image_deprecation", new=True)
def disable_image_deprecation(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    ami = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
    ami.deprecation_time = None
    return ActionResult({"Return": True})
