"""Patch 61 (signature.py): with IAM enforced, a request's SigV4 signature is checked against what was sent,
so a signed request without a body (EKS ListClusters, DescribeCluster: GET; EBS CompleteSnapshot: a bodyless
POST) passes for the right keys and fails for a wrong secret; EBS direct block transfers (a binary body)
and forms encoded otherwise than moto would pass too. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError

from helpers import Enforcing, error_code

BLOCK = 512 * 1024


@pytest.fixture(scope="module")
def enforcing() -> Iterator[Enforcing]:
    emulator = Enforcing()
    yield emulator
    emulator.stop()


def test_an_administrator_lists_and_describes_eks_clusters(enforcing):
    eks = enforcing.as_admin("eks")
    eks.create_cluster(name="signed", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    assert eks.list_clusters()["clusters"] == ["signed"]
    assert eks.describe_cluster(name="signed")["cluster"]["name"] == "signed"


def test_a_wrong_secret_key_still_does_not_match(enforcing):
    keys = {**enforcing.admin, "aws_secret_access_key": "wrong"}
    for call in (lambda: enforcing.client(keys, "eks").list_clusters(),
                 lambda: enforcing.client(keys, "eks").describe_cluster(name="signed"),
                 lambda: enforcing.client(keys, "ssm").get_parameter(Name="/x")):
        with pytest.raises(ClientError) as refused:
            call()
        assert error_code(refused) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as refused:
        enforcing.client(keys, "ec2").describe_images(Owners=["self"])
    assert error_code(refused) == "AuthFailure"


def test_ebs_direct_blocks_are_written_and_read_by_an_administrator(enforcing):
    ebs = enforcing.as_admin("ebs")
    snapshot = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    data = b"\x01" * BLOCK
    ebs.put_snapshot_block(SnapshotId=snapshot, BlockIndex=0, BlockData=data, DataLength=BLOCK,
                           Checksum=base64.b64encode(hashlib.sha256(data).digest()).decode(), ChecksumAlgorithm="SHA256")
    assert ebs.complete_snapshot(SnapshotId=snapshot, ChangedBlocksCount=1)["Status"] == "completed"
    blocks = ebs.list_snapshot_blocks(SnapshotId=snapshot)["Blocks"]
    read = ebs.get_snapshot_block(SnapshotId=snapshot, BlockIndex=0, BlockToken=blocks[0]["BlockToken"])
    assert read["BlockData"].read() == data


def test_an_unsigned_payload_is_checked_as_signed(enforcing):
    """x-amz-content-sha256: UNSIGNED-PAYLOAD (what the SDKs send for PutSnapshotBlock over HTTPS) is the
    payload hash of the canonical request."""
    ebs = enforcing.as_admin("ebs")
    ebs.meta.events.register("before-sign.ebs.*", lambda request, **_: request.headers.add_header(
        "X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"))
    ebs.meta.events.register("before-sign.ebs.*", lambda request, **_: request.context.update(payload_signing_enabled=False))
    snapshot = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    assert ebs.complete_snapshot(SnapshotId=snapshot, ChangedBlocksCount=0)["Status"] == "completed"


def test_a_form_is_checked_as_it_was_encoded(enforcing):
    """The AWS SDK for Rust encodes a space in a Query/EC2 form as %20, botocore as `+`: moto re-encoded the
    parameters it had parsed, so a form sent the other way failed (AuthFailure for EC2)."""
    ec2 = enforcing.as_admin("ec2")

    def percent_encoded(request: Any, **_: Any) -> None:
        request.data = urllib.parse.urlencode(request.data, quote_via=urllib.parse.quote).encode()

    ec2.meta.events.register("before-sign.ec2.DescribeImages", percent_encoded)
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["a b"]}])["Images"] == []
