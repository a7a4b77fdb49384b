"""One emulator for the whole session, on a loopback port it picks itself, killed by PID at the end.

Tests share it, so each test that needs a clean slate works in a region of its own, and one that
moves the emulator's clock does it through the `clock` fixture, which puts it back afterwards.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Iterator

import boto3
import pytest

from helpers import client_with, start_emulator
from hooks import Clock


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    process, url = start_emulator()
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def client(endpoint: str) -> Callable[..., Any]:
    """client("ec2", "eu-west-1") with dummy credentials against the emulator."""

    def make(service: str, region: str = "us-east-1") -> Any:
        return boto3.client(
            service, region_name=region, endpoint_url=endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    return make


@pytest.fixture(scope="session")
def credentials_as(client: Callable[..., Any]) -> Callable[[str], dict[str, Any]]:
    """credentials_as("222233334444"): STS AssumeRole credentials of that account's role gio-tests
    (moto maps them to the role's account, as AWS does). AssumeRole needs the role to exist and
    trust the caller (patches/sts_trust.py), so each account gets it first, trusting the tests' own
    account, as that account's administrator would make it. No AWS API makes a role in an account
    one cannot act in yet: this one step acts as the account through moto's x-moto-account-id
    header (a moto control, like /moto-api/)."""
    caller = client("sts").get_caller_identity()["Account"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{caller}:root"}, "Action": "sts:AssumeRole"}]})

    @functools.cache
    def role(account_id: str) -> str:
        iam = client("iam")
        iam.meta.events.register("before-sign.iam.*",
                                 lambda request, **_: request.headers.add_header("x-moto-account-id", account_id))
        return iam.create_role(RoleName="gio-tests", AssumeRolePolicyDocument=trust)["Role"]["Arn"]

    def assume(account_id: str) -> dict[str, Any]:
        return client("sts").assume_role(RoleArn=role(account_id), RoleSessionName="gio-tests")["Credentials"]

    return assume


@pytest.fixture(scope="session")
def client_as(credentials_as: Callable[[str], dict[str, Any]], endpoint: str) -> Callable[..., Any]:
    """client_as("222233334444", "ec2", "eu-west-1"): a client acting as that account (credentials_as)."""

    def make(account_id: str, service: str, region: str = "us-east-1") -> Any:
        return client_with(endpoint, credentials_as(account_id), service, region)

    return make


@pytest.fixture(scope="session")
def ec2(client: Callable[..., Any]) -> Any:
    return client("ec2")


@pytest.fixture
def clock(endpoint: str) -> Iterator[Clock]:
    """clock.set(timedelta(hours=-48)), clock.advance(timedelta(days=1)), clock.now(); the offset is
    put back as the test found it, since the clock is one for the whole emulator."""
    moved = Clock(endpoint)
    found = moved.offset()
    yield moved
    moved.set(found)
