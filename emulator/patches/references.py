"""DescribeImageReferences, which moto 5.2.5 lacks: the account's resources that reference given AMIs.

As documented:
- Resource types ec2:Instance, ec2:LaunchTemplate, ssm:Parameter, imagebuilder:ImageRecipe,
  imagebuilder:ContainerRecipe; "Either IncludeAllResourceTypes or ResourceTypes must be specified";
  with both, "your specified values override the default values".
- ResourceTypeOptions are "Valid only when ResourceType is ec2:Instance or ec2:LaunchTemplate":
  state-name ("pending | running | shutting-down | terminated | stopping | stopped", "Default: All
  states") and version-depth ("The number of launch template versions to check, starting from the most
  recent version", "Integers between 1 and 10000", "Default: 10").
- ImageId.N: 1-10 items; MaxResults at least 5 (API model); NextToken.
- Each reference is the AMI, the resource type and the resource's ARN, e.g.
  arn:aws:ec2:us-east-1:123456789012:instance/i-… and …:launch-template/lt-… (the guide's example).
What is found: instances whose ImageId is the AMI (in the states asked for; moto keeps terminated
instances, AWS lists them for about an hour); launch templates with the AMI as ImageId in any of the
version-depth most recent versions, once per template; the account's own SSM String parameters whose
current value is the AMI id (AWS's public /aws/... parameters are not the caller's resources; whether
AWS requires the aws:ec2:image data type is not said, so both data types count); the account's Image
Builder image recipes of the Region (imagebuilder.py) whose parentImage is the AMI id, by recipe ARN
(a parent given as ssm:PARAMETER or an Image Builder image ARN is not resolved to an AMI); never
imagebuilder:ContainerRecipe, as the emulator's Image Builder has image recipes only. The codes for
an invalid request are not documented: InvalidParameterValue (MissingParameter without any resource
type, InvalidAMIID.Malformed for an id that is not ami-…) chosen. An AMI id need not exist: references
are looked up by id.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImageReferences.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ResourceTypeOption.html
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-ami-references.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.responses import EC2Response
from moto.ssm.models import ssm_backends

from . import imagebuilder, replaces, ssm_image_parameters
from .common import Paging, aws_error

INSTANCE, LAUNCH_TEMPLATE, SSM_PARAMETER = "ec2:Instance", "ec2:LaunchTemplate", "ssm:Parameter"
IMAGE_RECIPE = "imagebuilder:ImageRecipe"
RESOURCE_TYPES = (INSTANCE, LAUNCH_TEMPLATE, SSM_PARAMETER, IMAGE_RECIPE, "imagebuilder:ContainerRecipe")
INSTANCE_STATES = ("pending", "running", "shutting-down", "terminated", "stopping", "stopped")
DEFAULT_VERSION_DEPTH, MAX_VERSION_DEPTH = 10, 10_000
MAX_IMAGE_IDS = 10


@dataclass(frozen=True)
class Reference:
    image_id: str
    resource_type: str
    arn: str

    @property
    def id(self) -> str:  # the order pages follow
        return f"{self.image_id} {self.resource_type} {self.arn}"

    def answer(self) -> dict[str, str]:
        return {"ImageId": self.image_id, "ResourceType": self.resource_type, "Arn": self.arn}


def _option_values(request: dict[str, Any]) -> dict[str, list[str]]:
    kind, options = request.get("ResourceType"), request.get("ResourceTypeOptions") or []
    allowed = {INSTANCE: "state-name", LAUNCH_TEMPLATE: "version-depth"}.get(kind)
    values: dict[str, list[str]] = {}
    for option in options:
        name = option.get("OptionName")
        if name != allowed:
            raise aws_error("InvalidParameterValue", f"The option {name} is not valid for resource type {kind}.")
        values[name] = option.get("OptionValues") or []
    return values


def scopes(self: EC2Response) -> dict[str, dict[str, list[str]]]:
    """Resource type -> its options, from IncludeAllResourceTypes (defaults) and ResourceTypes (overriding)."""
    requested = self._get_param("ResourceTypes") or []
    chosen: dict[str, dict[str, list[str]]] = {kind: {} for kind in RESOURCE_TYPES} if self._get_param(
        "IncludeAllResourceTypes") else {}
    if not chosen and not requested:
        raise aws_error("MissingParameter", "Either IncludeAllResourceTypes or ResourceTypes must be specified.")
    for request in requested:
        kind = request.get("ResourceType")
        if kind not in RESOURCE_TYPES:
            raise aws_error("InvalidParameterValue", f"Value ({kind}) for parameter ResourceType is invalid.")
        chosen[kind] = _option_values(request)
    return chosen


def _states(options: dict[str, list[str]]) -> set[str]:
    states = set(options.get("state-name") or INSTANCE_STATES)
    if not states <= set(INSTANCE_STATES):
        raise aws_error("InvalidParameterValue", f"Invalid state-name: {sorted(states - set(INSTANCE_STATES))}.")
    return states


def _depth(options: dict[str, list[str]]) -> int:
    values = options.get("version-depth") or [str(DEFAULT_VERSION_DEPTH)]
    if len(values) != 1 or not values[0].isdigit() or not 1 <= int(values[0]) <= MAX_VERSION_DEPTH:
        raise aws_error("InvalidParameterValue",
                        f"version-depth must be one integer between 1 and {MAX_VERSION_DEPTH}; it was {values}.")
    return int(values[0])


@replaces(EC2Response, "describe_image_references", new=True)
def describe_image_references(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    image_ids = self._get_param("ImageIds") or []
    if not 1 <= len(image_ids) <= MAX_IMAGE_IDS:
        raise aws_error("InvalidParameterValue", f"ImageIds must name 1-{MAX_IMAGE_IDS} images; it named {len(image_ids)}.")
    for image_id in image_ids:
        if not image_id.startswith("ami-"):
            raise aws_error("InvalidAMIID.Malformed", f'Invalid id: "{image_id}" (expecting "ami-...")')
    wanted, chosen = set(image_ids), scopes(self)
    paging = Paging.within(self, 5, 1000)
    backend, account, region = self.ec2_backend, self.current_account, self.region
    found: set[Reference] = set()
    if INSTANCE in chosen:
        states = _states(chosen[INSTANCE])
        for reservation in backend.all_reservations():
            for instance in reservation.instances:
                if instance.image_id in wanted and instance.state in states:
                    found.add(Reference(instance.image_id, INSTANCE,
                                        f"arn:aws:ec2:{region}:{account}:instance/{instance.id}"))
    if LAUNCH_TEMPLATE in chosen:
        depth = _depth(chosen[LAUNCH_TEMPLATE])
        for template in list(backend.launch_templates.values()):
            for version in sorted(template.versions, key=lambda v: v.number)[-depth:]:
                if version.image_id in wanted:
                    found.add(Reference(version.image_id, LAUNCH_TEMPLATE,
                                        f"arn:aws:ec2:{region}:{account}:launch-template/{template.id}"))
    if SSM_PARAMETER in chosen:
        ssm_image_parameters.settle(ssm_backends[account][region])
        parameters = ssm_backends[account][region]._parameters
        for name in list(parameters):
            if name.startswith("/aws/") or not parameters[name]:
                continue
            versions = parameters[name]
            current = versions[-1]
            if current.parameter_type == "String" and current.value in wanted:
                found.add(Reference(current.value, SSM_PARAMETER,
                                    f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"))
    if IMAGE_RECIPE in chosen:
        for recipe in imagebuilder.recipes_of(account, region):
            if recipe.parent_image in wanted:
                found.add(Reference(recipe.parent_image, IMAGE_RECIPE, recipe.arn))
    page, token = paging.cut(list(found), {})
    return ActionResult({"ImageReferences": [reference.answer() for reference in page], "NextToken": token})
