"""Patch 14: SSM DescribeInstanceInformation, which moto 5.2.5 does not have.

AWS lists the managed nodes whose SSM Agent has registered: an EC2 instance appears once it
runs an AMI with the agent (every EKS-optimized AMI has it) and an instance profile that lets
the agent reach Systems Manager. Its PingStatus is Online while it runs and ConnectionLost once
it stops; terminated instances drop out. Tools that provision through Run Command must wait for
Online before SendCommand, or it fails with InvalidInstanceId.
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstanceInformation.html

The emulator runs no agent, so every instance launched with an instance profile counts as
registered, and the InstanceIds filter (either filter syntax) narrows the list.
"""

from __future__ import annotations

import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.ssm.responses import SimpleSystemManagerResponse

from . import replaces

AGENT_VERSION = "3.3.1142.0"


@replaces(SimpleSystemManagerResponse, "describe_instance_information", new=True)
def describe_instance_information(self: SimpleSystemManagerResponse) -> ActionResult:
    wanted = _instance_ids(self._get_param("InstanceInformationFilterList") or [], "key", "valueSet")
    wanted |= _instance_ids(self._get_param("Filters") or [], "Key", "Values")
    ec2 = ec2_backends[self.current_account][self.region]
    nodes = []
    for instance_id in ec2.iam_instance_profile_associations:
        instance = ec2.get_instance_by_id(instance_id)
        if instance is None or instance.state == "terminated" or (wanted and instance_id not in wanted):
            continue
        nodes.append({
            "InstanceId": instance_id,
            "PingStatus": "Online" if instance.state == "running" else "ConnectionLost",
            "LastPingDateTime": datetime.datetime.now(datetime.timezone.utc),
            "AgentVersion": AGENT_VERSION,
            "IsLatestVersion": True,
            "PlatformType": "Linux",
            "PlatformName": "Amazon Linux",
            "ResourceType": "EC2Instance",
            "IPAddress": instance.private_ip,
            "ComputerName": instance.private_dns_name,
        })
    return ActionResult({"InstanceInformationList": nodes})


def _instance_ids(filters: list[dict[str, Any]], key: str, values: str) -> set[str]:
    return {value for f in filters if f.get(key) == "InstanceIds" for value in f.get(values, [])}
