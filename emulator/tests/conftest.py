"""One emulator for the whole session, on a loopback port it picks itself, killed by PID at the end.

Tests share it, so each test that needs a clean slate works in a region of its own, and one that
moves the emulator's clock does it through the `clock` fixture, which puts it back afterwards.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import boto3
import pytest

from helpers import start_emulator
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
def client_as(client: Callable[..., Any], endpoint: str) -> Callable[..., Any]:
    """client_as("222233334444", "ec2", "eu-west-1"): a client acting as that account. moto maps the
    credentials STS AssumeRole returns to the role's account, as AWS does."""

    def make(account_id: str, service: str, region: str = "us-east-1") -> Any:
        credentials = client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/gio-tests", RoleSessionName="gio-tests")["Credentials"]
        return boto3.client(
            service, region_name=region, endpoint_url=endpoint,
            aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

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
