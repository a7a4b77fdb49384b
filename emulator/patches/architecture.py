"""RunInstances refuses an instance type whose architectures do not include the AMI's."""

from __future__ import annotations

from typing import Any

from moto.ec2.models.amis import Ami
from moto.ec2.models.instance_types import INSTANCE_TYPES

from .common import aws_error


def instance_type(template: Any, kwargs: dict[str, Any]) -> str:
    """The type RunInstances launches: the request's, else the launch template's, else moto's default.

    moto's EC2Response passes `instance_type` (m1.small when the request names none, the default
    the RunInstances reference long documented: "Default: m1.small") and `is_instance_type_default`;
    a launch template's InstanceType stands in only for a request without one, as moto's own
    run_instances resolves it (later, once this check has passed).
    """
    if kwargs.get("is_instance_type_default") and template and template.data.get("InstanceType"):
        return str(template.data["InstanceType"])
    return str(kwargs["instance_type"])


def check_launch(ami: Ami, type_name: str) -> None:
    """Refuse an AMI whose architecture the instance type does not support, as EC2 does.

    What the type supports is what DescribeInstanceTypes answers for it
    (ProcessorInfo.SupportedArchitectures, moto's instance-type data): an x86_64 type that also
    lists i386 (m1.small, t2.micro) takes an i386 AMI, t3.medium does not; arm64 types (t4g, m7g,
    c7g, g5g) take only arm64 AMIs. A type moto does not know is let through: whether it exists is
    another check (moto's, off unless MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION).

    AWS documents no error for the mismatch; the code and wording are EC2's own answer, as reported
    from RunInstances by its users: InvalidParameterValue, "The architecture 'x86_64' of the
    specified instance type does not match the architecture 'arm64' of the specified AMI. Specify an
    instance type and an AMI that have matching architectures, and try again. You can use
    'describe-instance-types' or 'describe-images' to discover the architecture of the instance type
    or AMI." (https://github.com/hashicorp/packer/issues/11429,
    https://github.com/aws/eks-anywhere-build-tooling/pull/2158; the reverse pair, an arm64 type
    and an x86_64 AMI: https://github.com/skypilot-org/skypilot/issues/6315). Which architecture
    the message names for a type that lists two (i386 and x86_64) is not reported: x86_64, chosen.
    Launch templates are refused the same way at RunInstances. Auto Scaling wraps the same text in its own ValidationError ("You must use a valid
    fully-formed launch template. The architecture ..."); moto's groups launch through this
    run_instances, so a group that launches answers InvalidParameterValue instead (approximated).
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstanceTypes.html
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ProcessorInfo.html
    """
    known = INSTANCE_TYPES.get(type_name)
    if known is None:
        return
    supported = known["ProcessorInfo"]["SupportedArchitectures"]
    if ami.architecture in supported:
        return
    named = "x86_64" if "x86_64" in supported else supported[0]
    raise aws_error(
        "InvalidParameterValue",
        f"The architecture '{named}' of the specified instance type does not match the architecture "
        f"'{ami.architecture}' of the specified AMI. Specify an instance type and an AMI that have matching "
        "architectures, and try again. You can use 'describe-instance-types' or 'describe-images' to "
        "discover the architecture of the instance type or AMI.",
    )
