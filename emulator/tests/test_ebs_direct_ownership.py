"""Patch 64: the EBS direct APIs read only the account's own snapshots that are not public; patch 65: CopyImage of
another account's public or shared AMI, and CopySnapshot of another account's snapshot shared with the account, give
the account copies holding the source's blocks.

"Amazon EBS direct APIs does not support public snapshots" (https://docs.aws.amazon.com/ebs/latest/APIReference/Welcome.html);
FAQ: "Are public snapshots supported? Public snapshots are not supported."
(https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html). Refused with AccessDeniedException (HTTP 403),
Reason UNAUTHORIZED_ACCOUNT, one of AccessDeniedExceptionReason's values (UNAUTHORIZED_ACCOUNT |
DEPENDENCY_ACCESS_DENIED, https://docs.aws.amazon.com/ebs/latest/APIReference/API_AccessDeniedException.html).
"""

import os

import botocore.exceptions
import pytest

from helpers import seed_image
from test_ebs_direct import BLOCK, changed, image_snapshots, read, register, tokens, upload

OTHER = "210987654321"


def denied(call, **request):
    """The Reason of the AccessDeniedException a call answers, checked to be one and a 403."""
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**request)
    error = excinfo.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    assert error["Reason"] in {"UNAUTHORIZED_ACCOUNT", "DEPENDENCY_ACCESS_DENIED"}
    return error["Reason"]


def every_read(ebs, snapshot, own):
    """The Reasons of ListSnapshotBlocks, ListChangedBlocks (either side), GetSnapshotBlock and StartSnapshot
    with the snapshot as parent, against `own`, a readable snapshot of the caller."""
    return {
        denied(ebs.list_snapshot_blocks, SnapshotId=snapshot),
        denied(ebs.list_changed_blocks, FirstSnapshotId=snapshot, SecondSnapshotId=own),
        denied(ebs.list_changed_blocks, FirstSnapshotId=own, SecondSnapshotId=snapshot),
        denied(ebs.get_snapshot_block, SnapshotId=snapshot, BlockIndex=0,
               BlockToken=tokens(ebs, own)[0]),
        denied(ebs.start_snapshot, VolumeSize=1, ParentSnapshotId=snapshot),
    }


def test_the_seeded_amazon_images_snapshots_are_refused(client):
    """The EKS-optimized AMIs are Amazon's (602401143452) and public: their snapshots are another account's."""
    region = "ap-south-1"
    ebs, ec2 = client("ebs", region), client("ec2", region)
    root = image_snapshots(ec2, seed_image(ec2, "amazon-eks-node-al2023-x86_64-standard-1.31")["ImageId"])["/dev/xvda"]
    own = upload(ebs, {0: os.urandom(BLOCK)})
    assert every_read(ebs, root, own) == {"UNAUTHORIZED_ACCOUNT"}


def test_a_public_snapshot_is_refused_even_to_its_owner(client):
    """Public snapshots are not supported, whoever owns them; private again, the snapshot reads as before."""
    region = "ap-southeast-6"
    ebs, ec2 = client("ebs", region), client("ec2", region)
    data = os.urandom(BLOCK)
    public, own = upload(ebs, {0: data}), upload(ebs, {0: data})
    ec2.modify_snapshot_attribute(SnapshotId=public, Attribute="createVolumePermission", OperationType="add",
                                  GroupNames=["all"])
    assert every_read(ebs, public, own) == {"UNAUTHORIZED_ACCOUNT"}

    ec2.modify_snapshot_attribute(SnapshotId=public, Attribute="createVolumePermission", OperationType="remove",
                                  GroupNames=["all"])
    assert read(ebs, public, 0) == data


def test_another_accounts_snapshot_is_refused_shared_or_not(client, client_as):
    """Another account's snapshot: not shared, no access at all; shared with the caller (createVolumePermission), still
    refused (no AWS document says the EBS direct APIs read it: the emulator takes the stricter answer); one of no
    account is not found."""
    region = "ap-east-1"
    ebs = client("ebs", region)
    caller = client("sts").get_caller_identity()["Account"]
    theirs = upload(client_as(OTHER, "ebs", region), {0: os.urandom(BLOCK)})
    own = upload(ebs, {0: os.urandom(BLOCK)})
    with pytest.raises(botocore.exceptions.ClientError) as unseen:
        ebs.list_snapshot_blocks(SnapshotId=theirs)
    assert unseen.value.response["Error"]["Code"] == "ResourceNotFoundException", "not shared: not the caller's to see"

    client_as(OTHER, "ec2", region).modify_snapshot_attribute(
        SnapshotId=theirs, Attribute="createVolumePermission", OperationType="add", UserIds=[caller])
    assert every_read(ebs, theirs, own) == {"UNAUTHORIZED_ACCOUNT"}


def test_a_copy_of_another_accounts_public_image_holds_its_blocks(client, client_as):
    """CopyImage of a public AMI of another account (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html)
    gives the caller its own snapshot with the source's blocks, readable where the source is refused. The copy starts a
    lineage apart from its source (ListChangedBlocks compares snapshots "of the same volume/snapshot lineage",
    https://docs.aws.amazon.com/ebs/latest/APIReference/API_ChangedBlock.html, and "two snapshot copies of the same
    source snapshot", https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListChangedBlocks.html); a child started
    from the copy (ParentSnapshotId) continues the copy's lineage and changes only what it wrote."""
    region = "us-gov-west-1"
    ebs, ec2 = client("ebs", region), client("ec2", region)
    one, two = os.urandom(BLOCK), os.urandom(BLOCK)
    their_ec2 = client_as(OTHER, "ec2", region)
    source = upload(client_as(OTHER, "ebs", region), {0: one, 3: two})
    image = register(their_ec2, "gio-public-base", source)
    their_ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})

    copied = ec2.copy_image(SourceImageId=image, SourceRegion=region, Name="gio-base-copy")["ImageId"]
    root = image_snapshots(ec2, copied)["/dev/xvda"]
    assert ec2.describe_snapshots(SnapshotIds=[root])["Snapshots"][0]["OwnerId"] == \
        client("sts").get_caller_identity()["Account"]
    assert sorted(tokens(ebs, root)) == [0, 3] and read(ebs, root, 0) == one and read(ebs, root, 3) == two

    child = upload(ebs, {3: one}, ParentSnapshotId=root)
    assert changed(ebs, root, child) == [[(3, True, True)]]
    assert read(ebs, child, 0) == one and read(ebs, child, 3) == one


def test_a_copy_of_a_snapshot_shared_with_the_account_holds_its_blocks(client, client_as):
    """CopySnapshot of another account's snapshot shared with the caller ("To copy an encrypted snapshot that has been
    shared from another account, you must have permissions for the KMS key",
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopySnapshot.html) gives the caller its own snapshot with
    the source's blocks, readable where the source is refused."""
    region = "ap-southeast-4"
    ebs, ec2 = client("ebs", region), client("ec2", region)
    caller = client("sts").get_caller_identity()["Account"]
    data = os.urandom(BLOCK)
    theirs = upload(client_as(OTHER, "ebs", region), {2: data})
    client_as(OTHER, "ec2", region).modify_snapshot_attribute(
        SnapshotId=theirs, Attribute="createVolumePermission", OperationType="add", UserIds=[caller])

    copy = ec2.copy_snapshot(SourceSnapshotId=theirs, SourceRegion=region)["SnapshotId"]
    assert ec2.describe_snapshots(SnapshotIds=[copy])["Snapshots"][0]["OwnerId"] == caller
    assert sorted(tokens(ebs, copy)) == [2] and read(ebs, copy, 2) == data
    assert denied(ebs.list_snapshot_blocks, SnapshotId=theirs) == "UNAUTHORIZED_ACCOUNT"
