"""Patch 59: every request is checked against its operation's input shape in the service's API model
and refused with that service's own validation error; patch 60: every error is answered in the
protocol of the service that answers it (JSON services in JSON, AccessDenied included).

boto3 validates parameters itself, so these tests send what AWS would refuse through botocore with
`parameter_validation=False`, or as raw HTTP (a member no model has cannot be sent otherwise).
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any, Iterator

import boto3
import botocore.exceptions
import botocore.session
import pytest
import requests
from botocore.config import Config

from helpers import start_emulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

UNCHECKED = Config(parameter_validation=False, retries={"max_attempts": 0})
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def unchecked(endpoint: str, service: str, **keys: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint, config=UNCHECKED, **(keys or KEYS))


def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call()
    return excinfo.value.response


def headers(response: dict[str, Any]) -> dict[str, str]:
    return response["ResponseMetadata"]["HTTPHeaders"]


# One request AWS refuses per service: (service, call, status, code, what the message names).
REFUSALS = [
    ("ec2", lambda c: c.describe_images(MaxResults="many"), "InvalidParameterValue", "many"),
    ("ec2", lambda c: c.register_image(RootDeviceName="/dev/xvda"), "MissingParameter", "name"),
    ("ec2", lambda c: c.create_volume(AvailabilityZone="us-east-1a", Size=8, VolumeType="gp9"),
     "InvalidParameterValue", "gp9"),
    ("sts", lambda c: c.assume_role(RoleArn="arn:aws:iam::123456789012:role/x", RoleSessionName="a b"),
     "ValidationError", "roleSessionName"),
    ("iam", lambda c: c.get_role(RoleName="x" * 65), "ValidationError", "length less than or equal to 64"),
    ("autoscaling", lambda c: c.describe_auto_scaling_groups(AutoScalingGroupNames=["x" * 256]),
     "ValidationError", "length less than or equal to 255"),
    ("ssm", lambda c: c.get_parameter(Name=""), "ValidationException", "length greater than or equal to 1"),
    ("ssm", lambda c: c.get_parameter_history(Name="/x", MaxResults=51), "ValidationException",
     "value less than or equal to 50"),
    ("organizations", lambda c: c.list_accounts(MaxResults=0), "InvalidInputException", "greater than or equal to 1"),
    ("ebs", lambda c: c.list_snapshot_blocks(SnapshotId="snapshot-1"), "ValidationException", "pattern"),
    ("ebs", lambda c: c.start_snapshot(VolumeSize=0), "ValidationException", "value greater than or equal to 1"),
    ("eks", lambda c: c.list_nodegroups(clusterName="c", maxResults=101), "InvalidParameterException",
     "value less than or equal to 100"),
    ("rbin", lambda c: c.create_rule(ResourceType="EBS_VOLUMES", RetentionPeriod={
        "RetentionPeriodValue": 1, "RetentionPeriodUnit": "DAYS"}), "ValidationException", "enum"),
    ("imagebuilder", lambda c: c.create_image_recipe(name="a/b", semanticVersion="1.0.0", components=[
        {"componentArn": "arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x"}],
                                                     parentImage="ami-12345678", clientToken="t" * 10),
     "InvalidRequestException", "'name'"),
]


@pytest.mark.parametrize("service, call, code, named", REFUSALS,
                         ids=[f"{service}-{code}-{i}" for i, (service, _, code, _) in enumerate(REFUSALS)])
def test_each_service_refuses_what_its_model_forbids_in_its_own_protocol(endpoint, service, call, code, named):
    response = refused(lambda: call(unchecked(endpoint, service)))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == code
    assert named in response["Error"]["Message"]
    protocol = botocore.session.get_session().get_service_model(service).protocol
    if protocol in ("json", "rest-json"):
        assert headers(response)["x-amzn-errortype"] == code
        assert "json" in headers(response)["content-type"]
    else:
        assert "xml" in headers(response)["content-type"]
    if service == "ebs" or service == "rbin":
        assert response["Reason"] == "INVALID_PARAMETER_VALUE"
    if service == "organizations":
        assert response["Reason"] == "MIN_VALUE_EXCEEDED"


def test_every_enforced_pattern_is_a_model_pattern_python_reads():
    from patches.validation import PATTERNS

    for service, shapes in PATTERNS.items():
        model = botocore.session.get_session().get_service_model(service)
        for name in shapes:
            re.compile(model.shape_for(name).metadata["pattern"])


def test_a_refused_request_changes_nothing(endpoint):
    ec2 = unchecked(endpoint, "ec2")
    before = len(ec2.describe_volumes()["Volumes"])
    refused(lambda: ec2.create_volume(AvailabilityZone="us-east-1a", Size=8, VolumeType="gp9"))
    assert len(ec2.describe_volumes()["Volumes"]) == before


def signed_as(service: str) -> dict[str, str]:
    """The Authorization header's credential scope is what names the service (the emulator checks
    no signature, as moto does not without IAM enforcement)."""
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20261207/us-east-1/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=0"}


def test_ec2_refuses_an_unknown_parameter(endpoint):
    answer = requests.post(endpoint, headers=signed_as("ec2"), data={
        "Action": "DescribeImages", "Version": "2016-11-15", "Owner.1": "self", "Colour": "blue"})
    assert answer.status_code == 400
    root = ElementTree.fromstring(answer.content)
    assert root.tag == "Response"
    assert root.findtext("Errors/Error/Code") == "UnknownParameter"
    assert "Colour" in root.findtext("Errors/Error/Message")


def test_ec2_list_members_travel_under_their_query_names(endpoint):
    """DescribeImages' ImageIds travels as ImageId.N, Owners as Owner.N (queryName / locationName):
    read back so, they are not unknown."""
    answer = requests.post(endpoint, headers=signed_as("ec2"), data={
        "Action": "DescribeImages", "Version": "2016-11-15", "Owner.1": "self", "ImageId.1": "ami-12345678",
        "Filter.1.Name": "name", "Filter.1.Value.1": "x"})
    assert answer.status_code == 400  # the id is unknown, the request itself valid
    assert ElementTree.fromstring(answer.content).findtext("{*}Errors/{*}Error/{*}Code") == "InvalidAMIID.NotFound"


def test_query_services_read_lists_as_member_n(endpoint):
    answer = requests.post(endpoint, headers=signed_as("autoscaling"), data={
        "Action": "DescribeAutoScalingGroups", "Version": "2011-01-01",
        "AutoScalingGroupNames.member.1": "x" * 256})
    assert answer.status_code == 400
    root = ElementTree.fromstring(answer.content)
    namespace = "{http://autoscaling.amazonaws.com/doc/2011-01-01/}"
    assert root.findtext(f"{namespace}Error/{namespace}Code") == "ValidationError"
    assert "autoScalingGroupNames.1.member" in root.findtext(f"{namespace}Error/{namespace}Message")


def test_json_body_of_the_wrong_type_is_a_serialization_error(endpoint):
    answer = requests.post(endpoint, headers={**signed_as("ssm"), "X-Amz-Target": "AmazonSSM.GetParameter",
                                              "Content-Type": "application/x-amz-json-1.1"},
                           data=json.dumps({"Name": 12}))
    assert answer.status_code == 400
    assert answer.headers["x-amzn-ErrorType"] == "SerializationException"
    assert answer.json()["__type"] == "SerializationException"


def test_test_hooks_are_not_validated(endpoint):
    """/moto-api/ is the emulator's and moto's, not AWS: whatever its headers say, no model applies."""
    answer = requests.get(f"{endpoint}/moto-api/gio/clock", headers=signed_as("ec2"))
    assert answer.status_code == 200 and "now" in answer.json()


# Errors the emulator's own patches raise (common.ServiceError), serialized from the service's model.
OWN_ERRORS = [
    ("ssm", lambda c: c.get_parameter_history(Name="/aws/service/eks/optimized-ami/1.32/amazon-linux-2023/x86_64/"
                                                   "standard/recommended/image_id", NextToken="not-ours"),
     "InvalidNextToken"),
    ("ebs", lambda c: c.list_snapshot_blocks(SnapshotId="snap-0123456789abcdef0"), "ResourceNotFoundException"),
    ("rbin", lambda c: c.get_rule(Identifier="abcdefghijk"), "ResourceNotFoundException"),
    ("imagebuilder", lambda c: c.get_image_recipe(
        imageRecipeArn="arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/nodes/1.0.0"),
     "ResourceNotFoundException"),
]


@pytest.mark.parametrize("service, call, code", OWN_ERRORS, ids=[service for service, _, _ in OWN_ERRORS])
def test_the_patches_own_errors_of_json_services_are_json(endpoint, service, call, code):
    response = refused(lambda: call(unchecked(endpoint, service)))
    assert response["Error"]["Code"] == code
    assert headers(response)["x-amzn-errortype"] == code
    assert "json" in headers(response)["content-type"]


@pytest.fixture(scope="module")
def enforcing() -> Iterator[tuple[str, dict[str, str]]]:
    """An emulator of its own that enforces IAM policies (moto's reset-auth control), and the keys of a
    user no policy allows anything."""
    process, url = start_emulator()
    try:
        iam = unchecked(url, "iam")
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        requests.post(f"{url}/moto-api/reset-auth", data=b"0").raise_for_status()
        yield url, {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    finally:
        process.terminate()
        process.wait(timeout=10)


# moto 5.2.5 answered each of these as Query XML (`<ErrorResponse><Errors><Error>`), so the SDKs of
# the JSON services read no error code at all.
DENIED = [
    ("ssm", lambda c: c.get_parameter(Name="/x")),
    ("ebs", lambda c: c.start_snapshot(VolumeSize=8)),
    ("eks", lambda c: c.create_cluster(name="c", roleArn="arn:aws:iam::123456789012:role/r",
                                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})),
    ("rbin", lambda c: c.list_rules(ResourceType="EBS_SNAPSHOT")),
    ("imagebuilder", lambda c: c.list_image_recipes()),
    ("organizations", lambda c: c.describe_organization()),
]


@pytest.mark.parametrize("service, call", DENIED, ids=[service for service, _ in DENIED])
def test_json_services_answer_access_denied_in_json(enforcing, service, call):
    url, keys = enforcing
    response = refused(lambda: call(unchecked(url, service, **keys)))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert "not authorized to perform" in response["Error"]["Message"]
    assert headers(response)["x-amzn-errortype"] == "AccessDeniedException"
    assert "json" in headers(response)["content-type"]


def test_ec2_answers_access_denied_as_unauthorized_operation(enforcing):
    url, keys = enforcing
    response = refused(lambda: unchecked(url, "ec2", **keys).describe_images(Owners=["self"]))
    assert response["Error"]["Code"] == "UnauthorizedOperation"


def test_query_services_answer_errors_under_error_response(enforcing):
    """The SDKs look for ErrorResponse > Error (moto put an Errors level in between)."""
    url, keys = enforcing
    client = unchecked(url, "autoscaling", **keys)
    client.meta.events.register("after-call.autoscaling.*", lambda http_response, **_: seen.append(http_response))
    seen: list[Any] = []
    refused(lambda: client.describe_auto_scaling_groups())
    root = ElementTree.fromstring(seen[0].content)
    namespace = "{http://autoscaling.amazonaws.com/doc/2011-01-01/}"
    assert root.tag == f"{namespace}ErrorResponse"
    assert root.findtext(f"{namespace}Error/{namespace}Code") == "AccessDenied"
