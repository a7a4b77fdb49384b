"""SSM GetParameterHistory: every version with the time it was written, paged, by name or ARN.

AWS (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameterHistory.html):
Name is "The name or Amazon Resource Name (ARN) of the parameter"; MaxResults 1-50; a NextToken not
issued by an earlier call answers InvalidNextToken. Writing "48 hours ago" moves the emulator's clock.
"""

from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest

from helpers import error_code

NAME = "/gio/eks/staging/node-ami"


def test_each_version_keeps_the_time_it_was_written_and_its_labels(client, clock):
    ssm = client("ssm", "eu-south-1")
    clock.set(timedelta(hours=-48))
    ssm.put_parameter(Name=NAME, Value="ami-0aaaaaaaaaaaaaaaa", Type="String")
    clock.set(timedelta(hours=-2))
    ssm.put_parameter(Name=NAME, Value="ami-0bbbbbbbbbbbbbbbb", Overwrite=True)
    clock.set(timedelta(0))
    ssm.put_parameter(Name=NAME, Value="ami-0cccccccccccccccc", Overwrite=True)
    ssm.label_parameter_version(Name=NAME, ParameterVersion=2, Labels=["soaked"])

    versions = ssm.get_parameter_history(Name=NAME)["Parameters"]
    assert [(v["Version"], v["Value"], v["Labels"]) for v in versions] == [
        (1, "ami-0aaaaaaaaaaaaaaaa", []), (2, "ami-0bbbbbbbbbbbbbbbb", ["soaked"]), (3, "ami-0cccccccccccccccc", []),
    ], "oldest first"
    now = datetime.now(timezone.utc)
    for version, age in zip(versions, (timedelta(hours=48), timedelta(hours=2), timedelta(0))):
        assert abs(now - version["LastModifiedDate"] - age) < timedelta(seconds=5)


def test_history_pages_and_refuses_a_token_it_did_not_issue(client):
    ssm = client("ssm", "eu-south-1")
    name = f"{NAME}-paged"
    for n in range(5):
        ssm.put_parameter(Name=name, Value=f"ami-{n:017x}", Type="String", Overwrite=n > 0)
    pages, token = [], None
    while True:
        page = ssm.get_parameter_history(Name=name, MaxResults=2, **({"NextToken": token} if token else {}))
        pages.append([v["Version"] for v in page["Parameters"]])
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [[1, 2], [3, 4], [5]]
    assert [v["Version"] for p in ssm.get_paginator("get_parameter_history").paginate(Name=name)
            for v in p["Parameters"]] == [1, 2, 3, 4, 5]

    for bad in ("garbage", "0", "5", "-1"):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            ssm.get_parameter_history(Name=name, NextToken=bad)
        assert error_code(excinfo) == "InvalidNextToken", bad
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ssm.get_parameter_history(Name=name, MaxResults=51)
    assert error_code(excinfo) == "ValidationException"


def test_a_parameter_is_named_by_its_arn_too(client):
    ssm = client("ssm", "eu-south-1")
    name = f"{NAME}-by-arn"
    ssm.put_parameter(Name=name, Value="ami-0dddddddddddddddd", Type="String")
    arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
    assert [v["Value"] for v in ssm.get_parameter_history(Name=arn)["Parameters"]] == ["ami-0dddddddddddddddd"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ssm.get_parameter_history(Name=f"{name}-missing")
    assert error_code(excinfo) == "ParameterNotFound"
