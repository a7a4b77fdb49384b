"""Patch 14: SSM DescribeInstanceInformation, which moto 5.2.5 does not have.

AWS lists the managed nodes whose SSM Agent has registered: an EC2 instance appears once it
runs an AMI with the agent (every EKS-optimized AMI has it) and an instance profile that lets
the agent reach Systems Manager. "This operation does not return information for nodes that are
either Stopped or Terminated": a stopped node drops out of the list (PingStatus ConnectionLost is
for a running node whose agent stopped answering, which the emulator never has). Tools that
provision through Run Command must wait for Online before SendCommand, or it fails with
InvalidInstanceId.
"Attempting to use InstanceInformationFilterList and Filters leads to an exception error" (the
code is not documented: the emulator answers InvalidInstanceInformationFilterValue, the
operation's documented error for a filter it refuses). MaxResults is 5-50, "The default value is
10 items", and a NextToken leads to the next page.
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstanceInformation.html

The emulator runs no agent, so every running instance launched with an instance profile counts as
registered and Online, and the InstanceIds filter (either filter syntax) narrows the list.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.ssm.responses import SimpleSystemManagerResponse

from . import replaces
from .common import ServiceError

AGENT_VERSION = "3.3.1142.0"
DEFAULT_MAX_RESULTS, MIN_MAX_RESULTS, MAX_MAX_RESULTS = 10, 5, 50


@replaces(SimpleSystemManagerResponse, "describe_instance_information", new=True)
def describe_instance_information(self: SimpleSystemManagerResponse) -> ActionResult:
    legacy, filters = self._get_param("InstanceInformationFilterList"), self._get_param("Filters")
    if legacy and filters:
        raise ServiceError("InvalidInstanceInformationFilterValue",
                               "InstanceInformationFilterList and Filters cannot be used together.")
    max_results = self._get_param("MaxResults")
    if max_results is not None and not MIN_MAX_RESULTS <= max_results <= MAX_MAX_RESULTS:
        raise ServiceError(
            "ValidationException",
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value between {MIN_MAX_RESULTS} and {MAX_MAX_RESULTS}",
        )
    token = self._get_param("NextToken")
    try:
        after = base64.urlsafe_b64decode(token.encode()).decode() if token else ""
    except (binascii.Error, UnicodeDecodeError):
        raise ServiceError("InvalidNextToken", "The specified token isn't valid.") from None
    wanted = _instance_ids(legacy or [], "key", "valueSet") | _instance_ids(filters or [], "Key", "Values")
    ec2 = ec2_backends[self.current_account][self.region]
    nodes = []
    for instance_id in sorted(ec2.iam_instance_profile_associations):
        instance = ec2.get_instance_by_id(instance_id)
        if instance is None or instance.state != "running" or (wanted and instance_id not in wanted):
            continue
        if instance_id <= after:
            continue
        nodes.append({
            "InstanceId": instance_id,
            "PingStatus": "Online",
            "LastPingDateTime": datetime.datetime.now(datetime.timezone.utc),
            "AgentVersion": AGENT_VERSION,
            "IsLatestVersion": True,
            "PlatformType": "Linux",
            "PlatformName": "Amazon Linux",
            "ResourceType": "EC2Instance",
            "IPAddress": instance.private_ip,
            "ComputerName": instance.private_dns_name,
        })
    page, rest = nodes[:max_results or DEFAULT_MAX_RESULTS], nodes[max_results or DEFAULT_MAX_RESULTS:]
    result: dict[str, Any] = {"InstanceInformationList": page}
    if rest:
        result["NextToken"] = base64.urlsafe_b64encode(page[-1]["InstanceId"].encode()).decode()
    return ActionResult(result)


def _instance_ids(filters: list[dict[str, Any]], key: str, values: str) -> set[str]:
    return {value for f in filters if f.get(key) == "InstanceIds" for value in f.get(values, [])}
