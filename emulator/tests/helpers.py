"""Small helpers the tests share."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

EMULATOR = Path(__file__).resolve().parents[1] / "gio_emulator.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_emulator(port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """Start the launcher and wait for its ready line (the contract the Rust harness uses).

    Port 0 lets the emulator bind a free port itself; the ready line names it."""
    process = subprocess.Popen(
        [sys.executable, str(EMULATOR), "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    match = re.fullmatch(r"gio-emulator ready (http://127\.0\.0\.1:(\d+))", line)
    assert match, f"unexpected start-up output: {line!r}"
    assert port in (0, int(match[2])), f"asked for port {port}: {line!r}"
    return process, match[1]


def seed_image(ec2: Any, name_prefix: str) -> dict[str, Any]:
    """The first seeded EKS AMI whose name starts with the prefix."""
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": [f"{name_prefix}*"]}])
    return sorted(images["Images"], key=lambda image: image["Name"])[0]


# An instance type of each architecture the seeded AMIs have (patch 67 refuses a mismatched pair).
INSTANCE_TYPE_FOR = {"x86_64": "t3.medium", "arm64": "t4g.medium"}


def instance_type_for(image: dict[str, Any]) -> str:
    """An instance type that runs the image's architecture."""
    return INSTANCE_TYPE_FOR[image["Architecture"]]


def make_snapshot(ec2: Any, size: int = 8, zone: str = "us-east-1a") -> str:
    volume = ec2.create_volume(Size=size, AvailabilityZone=zone)
    return ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]


def register_root_image(ec2: Any, name: str, zone: str = "us-east-1a") -> str:
    """An AMI of one root snapshot, for tests about AMIs rather than their disks."""
    snapshot = make_snapshot(ec2, zone=zone)
    return ec2.register_image(
        Name=name, RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]


def client_with(endpoint: str, credentials: dict[str, Any], service: str, region: str = "us-east-1") -> Any:
    """A client with the Credentials an STS AssumeRole answered."""
    return boto3.client(
        service, region_name=region, endpoint_url=endpoint,
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def error_code(excinfo: pytest.ExceptionInfo[Any]) -> str:
    return excinfo.value.response["Error"]["Code"]


ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class Enforcing:
    """An emulator of its own with moto's IAM enforcement on (what fixtures.py enforce-iam does), and an
    administrator (an IAM user allowed everything) made before it was turned on, who makes the other users."""

    def __init__(self) -> None:
        self.process, self.url = start_emulator()
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=self.url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        self.arns: dict[str, str] = {}  # access key id -> the user's ARN
        self._made = 0
        self.admin = self._user(iam, "admin", ALLOW_ALL)
        requests.post(f"{self.url}/moto-api/reset-auth", data=b"0").raise_for_status()

    def _user(self, iam: Any, name: str, policy: dict[str, Any] | None) -> dict[str, str]:
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        if policy is not None:
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.arns[key["AccessKeyId"]] = arn
        return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

    def client(self, keys: dict[str, str], service: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.url, **keys)

    def as_admin(self, service: str, region: str = "us-east-1") -> Any:
        return self.client(self.admin, service, region)

    def user(self, *statements: dict[str, Any]) -> dict[str, str]:
        """Keys of a new IAM user whose one policy holds these statements (none: no policy at all)."""
        self._made += 1
        policy = {"Version": "2012-10-17", "Statement": list(statements)} if statements else None
        return self._user(self.as_admin("iam"), f"user-{self._made}", policy)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
