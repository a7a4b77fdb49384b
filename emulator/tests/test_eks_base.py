"""The test hook POST /moto-api/gio/eks-base (patches/hooks.py, seed.py): Amazon publishes an EKS-optimized AL2023 AMI
whose root snapshot holds a real disk image's blocks, behind the public parameters, and the account reaches its disk the
way AWS allows: not through the EBS direct APIs on Amazon's snapshot ("Amazon EBS direct APIs does not support public
snapshots", https://docs.aws.amazon.com/ebs/latest/APIReference/Welcome.html; another account's snapshot, patch 64),
but through a copy of the AMI in its own account (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html,
patch 65), from which a child snapshot (ParentSnapshotId) changes only what it writes
(https://docs.aws.amazon.com/ebs/latest/userguide/writesnapshots.html,
https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListChangedBlocks.html).
"""

import json
import os
import subprocess
import sys
import urllib.error
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hooks import hook
from test_ebs_direct import BLOCK, changed, image_snapshots, put, read, tokens
from test_ebs_direct_ownership import denied

EKS_ACCOUNT = "602401143452"
OTHER = "310987654321"
RECOMMENDED = "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures.py"


@pytest.fixture
def disk(tmp_path):
    """A raw disk image of 3.1 MiB: data in blocks 0 and 2, zeros written in 1, a hole (sparse) in 3-5, and a last block
    of 100 KiB (6)."""
    data = {0: os.urandom(BLOCK), 2: os.urandom(BLOCK), 6: os.urandom(100 * 1024)}
    path = tmp_path / "disk.raw"
    with open(path, "wb") as raw:
        raw.write(data[0] + bytes(BLOCK) + data[2])
        raw.seek(6 * BLOCK)
        raw.write(data[6])
    return path, {index: block.ljust(BLOCK, b"\0") for index, block in data.items()}


def history(ssm, name):
    return [(p["Version"], p["Value"], p["LastModifiedDate"])
            for p in ssm.get_parameter_history(Name=name)["Parameters"]]


def test_a_published_base_is_recommended_amazons_and_read_through_a_copy(client, client_as, endpoint, disk):
    region = "af-south-1"
    ssm, ec2, ebs = client("ssm", region), client("ec2", region), client("ebs", region)
    path, blocks = disk
    before = history(ssm, f"{RECOMMENDED}/image_id")
    published = hook(endpoint, "eks-base", {"image": str(path), "kubernetes": "1.31", "region": region})
    assert published["blocks"] == 3

    # The parameters move on to it: one version more, written now, the earlier ones kept.
    versions = history(ssm, f"{RECOMMENDED}/image_id")
    assert versions[:-1] == before and versions[-1][:2] == (len(before) + 1, published["ami"])
    assert abs(datetime.now(timezone.utc) - versions[-1][2]) < timedelta(seconds=10)
    today = datetime.now(timezone.utc).strftime("%Y%m%d")
    name = f"amazon-eks-node-al2023-x86_64-standard-1.31-v{today}"
    assert json.loads(ssm.get_parameter(Name=RECOMMENDED)["Parameter"]["Value"]) == {
        "schema_version": "2", "image_id": published["ami"], "image_name": name, "release_version": f"1.31.7-{today}"}
    assert len(history(ssm, RECOMMENDED)) == len(before) + 1

    # Amazon's, public, made as the seeded AL2023 images are, the newest of its line, one root snapshot of 1 GiB.
    image = ec2.describe_images(ImageIds=[published["ami"]])["Images"][0]
    assert (image["Name"], image["OwnerId"], image["ImageOwnerAlias"], image["Public"]) == \
        (name, EKS_ACCOUNT, "amazon", True)
    assert (image["RootDeviceName"], image["VirtualizationType"], image["EnaSupport"], image["BootMode"],
            image["ImdsSupport"], image["Architecture"]) == \
        ("/dev/xvda", "hvm", True, "uefi-preferred", "v2.0", "x86_64")
    assert [(m["DeviceName"], m["Ebs"]["SnapshotId"], m["Ebs"]["VolumeSize"], m["Ebs"]["VolumeType"])
            for m in image["BlockDeviceMappings"]] == [("/dev/xvda", published["snapshot"], 1, "gp3")]
    line = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["amazon-eks-node-al2023-x86_64-standard-1.31-v*"]}])["Images"]
    assert max(line, key=lambda found: found["CreationDate"])["ImageId"] == published["ami"]
    # Its snapshot is Amazon's and private: not listed, and not read through the EBS direct APIs.
    assert published["snapshot"] not in {s["SnapshotId"] for s in ec2.describe_snapshots()["Snapshots"]}
    assert denied(ebs.list_snapshot_blocks, SnapshotId=published["snapshot"]) == "UNAUTHORIZED_ACCOUNT"

    # A copy in the account holds exactly the image's non-zero blocks.
    copied = ec2.copy_image(SourceImageId=published["ami"], SourceRegion=region, Name="gio-base-copy")["ImageId"]
    root = image_snapshots(ec2, copied)["/dev/xvda"]
    assert sorted(tokens(ebs, root)) == [0, 2, 6]
    assert read(ebs, root, 0) == blocks[0] and read(ebs, root, 6) == blocks[6]

    # A child of the copy changes the one block it writes and inherits the others.
    child = ebs.start_snapshot(VolumeSize=1, ParentSnapshotId=root)["SnapshotId"]
    put(ebs, child, 2, os.urandom(BLOCK))
    assert ebs.complete_snapshot(SnapshotId=child, ChangedBlocksCount=1)["Status"] == "completed"
    assert changed(ebs, root, child) == [[(2, True, True)]]
    assert read(ebs, child, 0) == blocks[0] and read(ebs, child, 6) == blocks[6]

    # Every account sees it, one whose region was made after the publication too, its parameters' versions in turn.
    assert [value for _, value, _ in history(client_as(OTHER, "ssm", region), f"{RECOMMENDED}/image_id")] == \
        [value for _, value, _ in versions]
    assert client_as(OTHER, "ec2", region).describe_images(ImageIds=[published["ami"]])["Images"][0]["Public"]


def test_the_fixture_publishes_a_base_and_a_taken_name_is_refused(client, endpoint, disk):
    region = "af-south-1"
    path, _ = disk
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": region,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    done = subprocess.run([sys.executable, str(FIXTURES), "eks-base", "--image", str(path), "--kubernetes", "1.30",
                           "--arch", "arm64", "--variant", "nvidia", "--name", "gio-eks-base-arm64"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    published = json.loads(line)
    assert sorted(published) == ["ami", "blocks", "snapshot"] and published["blocks"] == 3
    parameter = "/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/arm64/nvidia/recommended/image_id"
    assert client("ssm", region).get_parameter(Name=parameter)["Parameter"]["Value"] == published["ami"]
    image = client("ec2", region).describe_images(ImageIds=[published["ami"]])["Images"][0]
    assert (image["Name"], image["Architecture"], image["BootMode"]) == ("gio-eks-base-arm64", "arm64", "uefi")

    for body in ({"image": str(path), "kubernetes": "1.30", "region": region, "name": "gio-eks-base-arm64"},
                 {"image": str(path), "kubernetes": "1.31", "region": region,
                  "name": "amazon-eks-node-al2023-x86_64-standard-1.31-v20261101"},  # a seeded one's
                 {"image": str(path), "kubernetes": "1.19", "region": region},
                 {"image": str(path / "missing"), "kubernetes": "1.31", "region": region},
                 {"kubernetes": "1.31", "region": region}):
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            hook(endpoint, "eks-base", body)
        assert excinfo.value.code == 400, body

