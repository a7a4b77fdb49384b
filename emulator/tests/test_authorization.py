"""Patch 62 (authorization.py): with IAM enforced, every service gio-ami calls refuses an IAM user without the
action, in its own error and naming the action, and serves one allowed it; EC2 image, snapshot and instance
actions, SSM parameter actions and the EBS direct APIs are authorized against the resources they touch, with
the resources' tags as condition keys. Patch 63: the permissions AWS checks that are no API call of their own
(iam:PassRole for a launch with an instance profile, ec2:DescribeImages for an aws:ec2:image parameter).
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from helpers import Enforcing, seed_image, start_emulator
from hooks import Clock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures.py"
REGION = "us-east-1"
BLOCK = 512 * 1024
RELEASE = {"Key": "gio-ami:release", "Value": "1.31-20261101"}
_names = itertools.count()
# patches/ssm_image_parameters.VALIDATION: how long an aws:ec2:image value takes to validate on the clock.
VALIDATION = timedelta(seconds=1)


@pytest.fixture(scope="module")
def enforcing() -> Iterator[Enforcing]:
    emulator = Enforcing()
    yield emulator
    emulator.stop()


class Admin:
    """What each call needs made first, made by the administrator."""

    def __init__(self, enforcing: Enforcing) -> None:
        self.client = enforcing.as_admin

    def snapshot(self, tags: tuple[dict[str, str], ...] = ()) -> str:
        ec2 = self.client("ec2")
        volume = ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a")["VolumeId"]
        specs = [{"ResourceType": "snapshot", "Tags": list(tags)}] if tags else []
        return ec2.create_snapshot(VolumeId=volume, TagSpecifications=specs)["SnapshotId"]

    def image(self, tags: tuple[dict[str, str], ...] = ()) -> str:
        specs = [{"ResourceType": "image", "Tags": list(tags)}] if tags else []
        return self.client("ec2").register_image(
            Name=f"authz-{next(_names)}", RootDeviceName="/dev/xvda", TagSpecifications=specs,
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": self.snapshot()}}])["ImageId"]

    def base(self) -> str:
        return seed_image(self.client("ec2"), "amazon-eks-node-al2023-x86_64-standard-1.31")["ImageId"]

    def instance(self) -> str:
        return self.client("ec2").run_instances(ImageId=self.base(), MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]

    def parameter(self) -> str:
        name = f"/gio-ami/authz/{next(_names)}"
        self.client("ssm").put_parameter(Name=name, Value="v", Type="String")
        return name

    def direct_snapshot(self) -> str:
        """A completed EBS direct snapshot of one block; its block token."""
        ebs = self.client("ebs")
        snapshot = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
        data = b"\x02" * BLOCK
        ebs.put_snapshot_block(SnapshotId=snapshot, BlockIndex=0, BlockData=data, DataLength=BLOCK,
                               Checksum=base64.b64encode(hashlib.sha256(data).digest()).decode(),
                               ChecksumAlgorithm="SHA256")
        ebs.complete_snapshot(SnapshotId=snapshot, ChangedBlocksCount=1)
        return snapshot

    def rule(self) -> str:
        return self.client("rbin").create_rule(
            ResourceType="EBS_SNAPSHOT", RetentionPeriod={"RetentionPeriodValue": 1, "RetentionPeriodUnit": "DAYS"},
            ResourceTags=[{"ResourceTagKey": "authz", "ResourceTagValue": "x"}])["Identifier"]

    def role(self) -> str:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
        name = f"authz-{next(_names)}"
        return self.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

    def instance_profile(self) -> tuple[dict[str, str], str]:
        """An instance profile holding a new role: the profile's name and ARN, and the role's ARN."""
        iam, role = self.client("iam"), self.role()
        profile = iam.create_instance_profile(InstanceProfileName=f"gio-authz-{next(_names)}")["InstanceProfile"]
        iam.add_role_to_instance_profile(InstanceProfileName=profile["InstanceProfileName"],
                                         RoleName=role.rsplit("/", 1)[1])
        return {"Name": profile["InstanceProfileName"], "Arn": profile["Arn"]}, role


def put_block(c: Any, snapshot: str) -> Any:
    data = b"\x03" * BLOCK
    return c.put_snapshot_block(SnapshotId=snapshot, BlockIndex=0, BlockData=data, DataLength=BLOCK,
                                Checksum=base64.b64encode(hashlib.sha256(data).digest()).decode(),
                                ChecksumAlgorithm="SHA256")


def get_block(c: Any, admin: Admin) -> Any:
    snapshot = admin.direct_snapshot()
    token = admin.client("ebs").list_snapshot_blocks(SnapshotId=snapshot)["Blocks"][0]["BlockToken"]
    return c.get_snapshot_block(SnapshotId=snapshot, BlockIndex=0, BlockToken=token)


Call = Callable[[Any, Admin], Any]

# (service, the IAM action, a call of it that succeeds once allowed)
OPERATIONS: list[tuple[str, str, Call]] = [
    ("ec2", "ec2:DescribeImages", lambda c, a: c.describe_images(Owners=["self"])),
    ("ec2", "ec2:DescribeSnapshots", lambda c, a: c.describe_snapshots(OwnerIds=["self"])),
    ("ec2", "ec2:DescribeInstances", lambda c, a: c.describe_instances()),
    ("ec2", "ec2:RegisterImage", lambda c, a: c.register_image(
        Name=f"authz-{next(_names)}", RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": a.snapshot()}}])),
    ("ec2", "ec2:CopyImage", lambda c, a: c.copy_image(Name=f"authz-{next(_names)}", SourceImageId=a.image(),
                                                       SourceRegion=REGION)),
    ("ec2", "ec2:RunInstances", lambda c, a: c.run_instances(ImageId=a.base(), MinCount=1, MaxCount=1)),
    ("ec2", "ec2:TerminateInstances", lambda c, a: c.terminate_instances(InstanceIds=[a.instance()])),
    ("ec2", "ec2:DeregisterImage", lambda c, a: c.deregister_image(ImageId=a.image())),
    ("ec2", "ec2:DisableImage", lambda c, a: c.disable_image(ImageId=a.image())),
    ("ec2", "ec2:EnableImage", lambda c, a: c.enable_image(ImageId=a.image())),
    ("ec2", "ec2:ModifyImageAttribute", lambda c, a: c.modify_image_attribute(
        ImageId=a.image(), LaunchPermission={"Add": [{"UserId": "111122223333"}]})),
    ("ec2", "ec2:DescribeImageAttribute", lambda c, a: c.describe_image_attribute(ImageId=a.image(),
                                                                                  Attribute="launchPermission")),
    ("ec2", "ec2:EnableImageDeregistrationProtection",
     lambda c, a: c.enable_image_deregistration_protection(ImageId=a.image())),
    ("ec2", "ec2:DisableImageDeregistrationProtection",
     lambda c, a: c.disable_image_deregistration_protection(ImageId=a.image())),
    ("ec2", "ec2:EnableImageDeprecation", lambda c, a: c.enable_image_deprecation(
        ImageId=a.image(), DeprecateAt="2030-01-01T00:00:00Z")),
    ("ec2", "ec2:DescribeImageReferences", lambda c, a: c.describe_image_references(
        ImageIds=[a.image()], IncludeAllResourceTypes=True)),
    ("ec2", "ec2:CreateImageUsageReport", lambda c, a: c.create_image_usage_report(
        ImageId=a.image(), ResourceTypes=[{"ResourceType": "ec2:Instance"}])),
    ("ec2", "ec2:DescribeImageUsageReports", lambda c, a: c.describe_image_usage_reports()),
    ("ec2", "ec2:GetAllowedImagesSettings", lambda c, a: c.get_allowed_images_settings()),
    ("ec2", "ec2:DeleteSnapshot", lambda c, a: c.delete_snapshot(SnapshotId=a.snapshot())),
    ("ec2", "ec2:ModifySnapshotTier", lambda c, a: c.modify_snapshot_tier(SnapshotId=a.snapshot(), StorageTier="archive")),
    ("ec2", "ec2:ModifySnapshotAttribute", lambda c, a: c.modify_snapshot_attribute(
        SnapshotId=a.snapshot(), Attribute="createVolumePermission", OperationType="add", UserIds=["111122223333"])),
    ("ec2", "ec2:LockSnapshot", lambda c, a: c.lock_snapshot(SnapshotId=a.snapshot(), LockMode="governance",
                                                             LockDuration=1)),
    ("ec2", "ec2:DescribeLockedSnapshots", lambda c, a: c.describe_locked_snapshots()),
    ("ec2", "ec2:ListImagesInRecycleBin", lambda c, a: c.list_images_in_recycle_bin()),
    ("ec2", "ec2:ListSnapshotsInRecycleBin", lambda c, a: c.list_snapshots_in_recycle_bin()),
    ("ec2", "ec2:CreateTags", lambda c, a: c.create_tags(Resources=[a.image()], Tags=[RELEASE])),
    ("ec2", "ec2:DeleteTags", lambda c, a: c.delete_tags(Resources=[a.image((RELEASE,))], Tags=[RELEASE])),
    ("ec2", "ec2:DescribeLaunchTemplateVersions", lambda c, a: c.describe_launch_template_versions(
        LaunchTemplateId=a.client("ec2").create_launch_template(
            LaunchTemplateName=f"authz-{next(_names)}", LaunchTemplateData={"ImageId": a.base()}
        )["LaunchTemplate"]["LaunchTemplateId"])),
    ("ssm", "ssm:PutParameter", lambda c, a: c.put_parameter(Name=f"/gio-ami/new/{next(_names)}", Value="v",
                                                             Type="String")),
    ("ssm", "ssm:GetParameter", lambda c, a: c.get_parameter(Name=a.parameter())),
    ("ssm", "ssm:GetParameters", lambda c, a: c.get_parameters(Names=[a.parameter(), a.parameter()])),
    ("ssm", "ssm:GetParameterHistory", lambda c, a: c.get_parameter_history(Name=a.parameter())),
    ("ssm", "ssm:DeleteParameter", lambda c, a: c.delete_parameter(Name=a.parameter())),
    ("ssm", "ssm:LabelParameterVersion", lambda c, a: c.label_parameter_version(Name=a.parameter(), Labels=["x"])),
    ("ssm", "ssm:AddTagsToResource", lambda c, a: c.add_tags_to_resource(
        ResourceType="Parameter", ResourceId=a.parameter(), Tags=[RELEASE])),
    ("ssm", "ssm:DescribeInstanceInformation", lambda c, a: c.describe_instance_information()),
    ("ssm", "ssm:SendCommand", lambda c, a: c.send_command(InstanceIds=[a.instance()], DocumentName="AWS-RunShellScript",
                                                           Parameters={"commands": ["true"]})),
    ("ebs", "ebs:StartSnapshot", lambda c, a: c.start_snapshot(VolumeSize=1)),
    ("ebs", "ebs:PutSnapshotBlock", lambda c, a: put_block(
        c, a.client("ebs").start_snapshot(VolumeSize=1)["SnapshotId"])),
    ("ebs", "ebs:CompleteSnapshot", lambda c, a: c.complete_snapshot(
        SnapshotId=a.client("ebs").start_snapshot(VolumeSize=1)["SnapshotId"], ChangedBlocksCount=0)),
    ("ebs", "ebs:ListSnapshotBlocks", lambda c, a: c.list_snapshot_blocks(SnapshotId=a.direct_snapshot())),
    ("ebs", "ebs:GetSnapshotBlock", get_block),
    ("eks", "eks:ListClusters", lambda c, a: c.list_clusters()),
    ("eks", "eks:DescribeCluster", lambda c, a: c.describe_cluster(name=a.client("eks").create_cluster(
        name=f"authz-{next(_names)}", roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]})["cluster"]["name"])),
    ("eks", "eks:DescribeClusterVersions", lambda c, a: c.describe_cluster_versions()),
    ("autoscaling", "autoscaling:DescribeAutoScalingGroups", lambda c, a: c.describe_auto_scaling_groups()),
    ("sts", "sts:AssumeRole", lambda c, a: c.assume_role(RoleArn=a.role(), RoleSessionName="authz")),
    ("rbin", "rbin:ListRules", lambda c, a: c.list_rules(ResourceType="EBS_SNAPSHOT")),
    ("rbin", "rbin:CreateRule", lambda c, a: c.create_rule(
        ResourceType="EC2_IMAGE", RetentionPeriod={"RetentionPeriodValue": 1, "RetentionPeriodUnit": "DAYS"})),
    ("rbin", "rbin:GetRule", lambda c, a: c.get_rule(Identifier=a.rule())),
    ("imagebuilder", "imagebuilder:ListImageRecipes", lambda c, a: c.list_image_recipes()),
    ("imagebuilder", "imagebuilder:CreateImageRecipe", lambda c, a: c.create_image_recipe(
        name=f"authz-{next(_names)}", semanticVersion="1.0.0", parentImage=a.base(),
        components=[{"componentArn": f"arn:aws:imagebuilder:{REGION}:aws:component/update-linux/x.x.x"}])),
]

# What each service answers a caller refused access (HTTP 403), as its API reference's Common Errors name it.
DENIED = {"ec2": "UnauthorizedOperation", "autoscaling": "AccessDenied", "sts": "AccessDenied"}


def scoped(enforcing: Enforcing, service: str, action: str, resource: str) -> Any:
    """A client of a user allowed ACTION on RESOURCE only."""
    return enforcing.client(enforcing.user({"Effect": "Allow", "Action": action, "Resource": resource}), service)


def refusal(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response


@pytest.mark.parametrize("service, action, call", OPERATIONS, ids=[action for _, action, _ in OPERATIONS])
def test_each_operation_is_refused_without_its_action_and_served_with_it(enforcing, service, action, call):
    admin = Admin(enforcing)
    others = enforcing.user({"Effect": "Allow", "Action": "ec2:DescribeRegions", "Resource": "*"})
    response = refusal(lambda: call(enforcing.client(others, service), admin))
    user_arn = enforcing.arns[others["aws_access_key_id"]]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == DENIED.get(service, "AccessDeniedException")
    assert f"User: {user_arn} is not authorized to perform: {action}" in response["Error"]["Message"]

    allowed = enforcing.user({"Effect": "Allow", "Action": action, "Resource": "*"})
    call(enforcing.client(allowed, service), admin)


def test_sts_get_caller_identity_needs_no_permission(enforcing):
    keys = enforcing.user({"Effect": "Deny", "Action": "*", "Resource": "*"})
    assert enforcing.client(keys, "sts").get_caller_identity()["Arn"] == enforcing.arns[keys["aws_access_key_id"]]


def released_only(action: str, operator: str = "Null") -> dict[str, Any]:
    condition = ({"Null": {"aws:ResourceTag/gio-ami:release": "false"}} if operator == "Null"
                 else {operator: {"ec2:ResourceTag/gio-ami:release": "1.31-*"}})
    return {"Effect": "Allow", "Action": action, "Resource": ["arn:aws:ec2:*::image/*", "arn:aws:ec2:*::snapshot/*"],
            "Condition": condition}


def test_a_tag_condition_lets_a_user_deregister_released_amis_only(enforcing):
    admin = Admin(enforcing)
    ec2 = enforcing.client(enforcing.user(released_only("ec2:DeregisterImage")), "ec2")
    tagged, untagged = admin.image((RELEASE,)), admin.image()
    ec2.deregister_image(ImageId=tagged)
    response = refusal(lambda: ec2.deregister_image(ImageId=untagged))
    assert response["Error"]["Code"] == "UnauthorizedOperation"
    assert response["Error"]["Message"].startswith("You are not authorized to perform this operation. User: ")
    assert (f"is not authorized to perform: ec2:DeregisterImage on resource: arn:aws:ec2:{REGION}::image/{untagged} "
            "because no identity-based policy allows the ec2:DeregisterImage action") in response["Error"]["Message"]
    assert admin.client("ec2").describe_images(ImageIds=[untagged])["Images"], "the refused request changed nothing"


@pytest.mark.parametrize("operator", ["StringLike", "StringEqualsIfExists"])
def test_string_conditions_on_snapshot_tags(enforcing, operator):
    admin = Admin(enforcing)
    ec2 = enforcing.client(enforcing.user(released_only("ec2:DeleteSnapshot", operator)), "ec2")
    released, other = admin.snapshot((RELEASE,)), admin.snapshot(({"Key": "gio-ami:release", "Value": "2.0"},))
    if operator == "StringLike":
        ec2.delete_snapshot(SnapshotId=released)
    else:  # an exact value: the policy's "1.31-*" is no wildcard here
        assert refusal(lambda: ec2.delete_snapshot(SnapshotId=released))["Error"]["Code"] == "UnauthorizedOperation"
    assert refusal(lambda: ec2.delete_snapshot(SnapshotId=other))["Error"]["Code"] == "UnauthorizedOperation"


def test_an_unmet_allow_does_not_apply_and_another_statement_may_allow(enforcing):
    """moto answered a statement whose condition failed with a Deny, whatever the other statements said."""
    admin = Admin(enforcing)
    keys = enforcing.user(released_only("ec2:DeleteSnapshot"),
                          {"Effect": "Allow", "Action": "ec2:DeleteSnapshot", "Resource": "*"})
    enforcing.client(keys, "ec2").delete_snapshot(SnapshotId=admin.snapshot())


def test_an_explicit_deny_wins(enforcing):
    admin = Admin(enforcing)
    keys = enforcing.user({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
                          {"Effect": "Deny", "Action": "ec2:DeregisterImage", "Resource": "*",
                           "Condition": {"StringEquals": {"aws:ResourceTag/protected": "yes"}}})
    ec2 = enforcing.client(keys, "ec2")
    protected = admin.image(({"Key": "protected", "Value": "yes"},))
    message = refusal(lambda: ec2.deregister_image(ImageId=protected))["Error"]["Message"]
    assert message.endswith("with an explicit deny in an identity-based policy")
    ec2.deregister_image(ImageId=admin.image())


def test_tagging_several_resources_needs_each_of_them(enforcing):
    admin = Admin(enforcing)
    ec2 = enforcing.client(enforcing.user(released_only("ec2:CreateTags")), "ec2")
    released, other = admin.image((RELEASE,)), admin.snapshot()
    ec2.create_tags(Resources=[released, admin.snapshot((RELEASE,))], Tags=[{"Key": "k", "Value": "v"}])
    message = refusal(lambda: ec2.create_tags(Resources=[released, other], Tags=[{"Key": "k", "Value": "v"}]))
    assert f"on resource: arn:aws:ec2:{REGION}::snapshot/{other} " in message["Error"]["Message"]
    assert "k" not in {t["Key"] for t in admin.client("ec2").describe_tags(
        Filters=[{"Name": "resource-id", "Values": [other]}])["Tags"]}


def test_terminate_instances_is_authorized_on_the_instance_arn(enforcing):
    admin = Admin(enforcing)
    instance, other = admin.instance(), admin.instance()
    ec2 = scoped(enforcing, "ec2", "ec2:TerminateInstances", f"arn:aws:ec2:{REGION}:123456789012:instance/{instance}")
    ec2.terminate_instances(InstanceIds=[instance])
    assert refusal(lambda: ec2.terminate_instances(InstanceIds=[other]))["Error"]["Code"] == "UnauthorizedOperation"


def test_ssm_parameters_are_authorized_by_their_arn(enforcing):
    admin = Admin(enforcing)
    mine, other = admin.parameter(), admin.parameter()
    arn = f"arn:aws:ssm:{REGION}:123456789012:parameter{mine}"
    keys = enforcing.user({"Effect": "Allow", "Action": ["ssm:PutParameter", "ssm:GetParameters"], "Resource": arn},
                          {"Effect": "Allow", "Action": "ssm:GetParameter",
                           "Resource": f"arn:aws:ssm:{REGION}::parameter/aws/service/eks/*"})
    ssm = enforcing.client(keys, "ssm")
    ssm.put_parameter(Name=mine, Value="w", Type="String", Overwrite=True)
    message = refusal(lambda: ssm.put_parameter(Name=other, Value="w", Type="String", Overwrite=True))["Error"]
    assert message["Code"] == "AccessDeniedException"
    assert f"ssm:PutParameter on resource: arn:aws:ssm:{REGION}:123456789012:parameter{other} " in message["Message"]
    assert ssm.get_parameters(Names=[mine])["Parameters"][0]["Value"] == "w"
    assert refusal(lambda: ssm.get_parameters(Names=[mine, other]))["Error"]["Code"] == "AccessDeniedException"
    public = "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id"
    assert ssm.get_parameter(Name=public)["Parameter"]["Value"].startswith("ami-")
    assert refusal(lambda: ssm.get_parameter(Name=mine))["Error"]["Code"] == "AccessDeniedException"


def test_a_statement_naming_an_arn_allows_nothing_for_an_action_on_every_resource(enforcing):
    """DescribeImages supports only "*": a statement scoped to image ARNs does not allow it."""
    ec2 = scoped(enforcing, "ec2", "ec2:DescribeImages", "arn:aws:ec2:*::image/*")
    response = refusal(lambda: ec2.describe_images(Owners=["self"]))
    assert response["Error"]["Code"] == "UnauthorizedOperation"
    assert "perform: ec2:DescribeImages because no identity-based policy allows" in response["Error"]["Message"]


def test_ebs_direct_reads_are_authorized_on_the_snapshot(enforcing):
    admin = Admin(enforcing)
    tagged = admin.direct_snapshot()
    admin.client("ec2").create_tags(Resources=[tagged], Tags=[RELEASE])
    keys = enforcing.user({"Effect": "Allow", "Action": "ebs:ListSnapshotBlocks", "Resource": "arn:aws:ec2:*::snapshot/*",
                           "Condition": {"Null": {"aws:ResourceTag/gio-ami:release": "false"}}})
    ebs = enforcing.client(keys, "ebs")
    assert ebs.list_snapshot_blocks(SnapshotId=tagged)["Blocks"]
    other = admin.direct_snapshot()
    assert refusal(lambda: ebs.list_snapshot_blocks(SnapshotId=other))["Error"]["Code"] == "AccessDeniedException"


def run_fixture(endpoint: str, *args: str) -> str:
    """emulator/fixtures.py ARGS with the dummy credentials, as the Rust tests arrange a scene: its output."""
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}
    env.pop("AWS_SESSION_TOKEN", None)
    done = subprocess.run([sys.executable, str(FIXTURES), *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_iam_user_role_policy_and_enforce_iam_fixtures(tmp_path):
    process, url = start_emulator()
    try:
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"}]}))
        run_fixture(url, "iam-user", "--name", "reader", "--policy", str(policy))
        policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:DescribeSnapshots", "Resource": "*"}]}))
        made = json.loads(run_fixture(url, "iam-user", "--name", "reader", "--policy", str(policy)))
        assert made["arn"] == "arn:aws:iam::123456789012:user/reader" and made["access_key_id"] != "testing"
        iam = boto3.client("iam", region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        iam.create_role(RoleName="member-reader", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}))
        run_fixture(url, "role-policy", "--name", "member-reader", "--policy", str(policy))
        document = iam.get_role_policy(RoleName="member-reader", PolicyName="gio-ami")["PolicyDocument"]
        assert document["Statement"][0]["Action"] == "ec2:DescribeSnapshots"
        assert run_fixture(url, "enforce-iam") == ""

        def ec2(key_id: str, secret: str) -> Any:
            return boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id=key_id,
                                aws_secret_access_key=secret)

        reader = ec2(made["access_key_id"], made["secret_access_key"])
        assert reader.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
        assert refusal(lambda: reader.describe_images(Owners=["self"]))["Error"]["Code"] == "UnauthorizedOperation", \
            "the policy was replaced"
        assert refusal(lambda: ec2("testing", "testing").describe_snapshots())["Error"]["Code"] == "AuthFailure"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_changed_blocks_need_both_snapshots(enforcing):
    admin = Admin(enforcing)
    first, second = admin.direct_snapshot(), admin.direct_snapshot()
    ebs = scoped(enforcing, "ebs", "ebs:ListChangedBlocks", f"arn:aws:ec2:{REGION}::snapshot/{second}")
    message = refusal(lambda: ebs.list_changed_blocks(FirstSnapshotId=first, SecondSnapshotId=second))["Error"]["Message"]
    assert f"on resource: arn:aws:ec2:{REGION}::snapshot/{first} " in message


# (action, whether it acts on an image or a snapshot, a call of it on that resource)
ON_RESOURCE: list[tuple[str, str, Callable[[Any, str], Any]]] = [
    ("ec2:DeregisterImage", "image", lambda c, i: c.deregister_image(ImageId=i)),
    ("ec2:DisableImage", "image", lambda c, i: c.disable_image(ImageId=i)),
    ("ec2:EnableImage", "image", lambda c, i: c.enable_image(ImageId=i)),
    ("ec2:ModifyImageAttribute", "image", lambda c, i: c.modify_image_attribute(
        ImageId=i, LaunchPermission={"Add": [{"UserId": "111122223333"}]})),
    ("ec2:EnableImageDeregistrationProtection", "image", lambda c, i: c.enable_image_deregistration_protection(ImageId=i)),
    ("ec2:DisableImageDeregistrationProtection", "image",
     lambda c, i: c.disable_image_deregistration_protection(ImageId=i)),
    ("ec2:CreateTags", "image", lambda c, i: c.create_tags(Resources=[i], Tags=[{"Key": "k", "Value": "v"}])),
    ("ec2:DeleteTags", "image", lambda c, i: c.delete_tags(Resources=[i], Tags=[{"Key": "k"}])),
    ("ec2:DeleteSnapshot", "snapshot", lambda c, s: c.delete_snapshot(SnapshotId=s)),
    ("ec2:ModifySnapshotTier", "snapshot", lambda c, s: c.modify_snapshot_tier(SnapshotId=s, StorageTier="archive")),
    ("ec2:ModifySnapshotAttribute", "snapshot", lambda c, s: c.modify_snapshot_attribute(
        SnapshotId=s, Attribute="createVolumePermission", OperationType="add", UserIds=["111122223333"])),
    ("ec2:LockSnapshot", "snapshot", lambda c, s: c.lock_snapshot(SnapshotId=s, LockMode="governance", LockDuration=1)),
    ("ec2:UnlockSnapshot", "snapshot", lambda c, s: c.unlock_snapshot(SnapshotId=s)),
    ("ec2:CreateTags", "snapshot", lambda c, s: c.create_tags(Resources=[s], Tags=[{"Key": "k", "Value": "v"}])),
    ("ec2:DeleteTags", "snapshot", lambda c, s: c.delete_tags(Resources=[s], Tags=[{"Key": "k"}])),
]


@pytest.mark.parametrize("action, kind, call", ON_RESOURCE, ids=[f"{a}-{k}" for a, k, _ in ON_RESOURCE])
def test_each_destructive_action_honours_the_release_tag(enforcing, action, kind, call):
    """Allowed on `arn:aws:ec2:*::image/*` / `snapshot/*` only where the resource carries gio-ami:release."""
    admin = Admin(enforcing)
    make = admin.image if kind == "image" else admin.snapshot
    released, other = make((RELEASE,)), make()
    if action == "ec2:UnlockSnapshot":
        for snapshot in (released, other):
            admin.client("ec2").lock_snapshot(SnapshotId=snapshot, LockMode="governance", LockDuration=1)
    ec2 = enforcing.client(enforcing.user(released_only(action)), "ec2")
    call(ec2, released)
    response = refusal(lambda: call(ec2, other))
    assert response["Error"]["Code"] == "UnauthorizedOperation"
    assert f"perform: {action} on resource: arn:aws:ec2:{REGION}::{kind}/{other} because" in response["Error"]["Message"]


SSM_ON_PARAMETER: list[tuple[str, Callable[[Any, str], Any]]] = [
    ("ssm:PutParameter", lambda c, n: c.put_parameter(Name=n, Value="w", Type="String", Overwrite=True)),
    ("ssm:GetParameter", lambda c, n: c.get_parameter(Name=n)),
    ("ssm:GetParameters", lambda c, n: c.get_parameters(Names=[n])),
    ("ssm:GetParameterHistory", lambda c, n: c.get_parameter_history(Name=n)),
    ("ssm:LabelParameterVersion", lambda c, n: c.label_parameter_version(Name=n, Labels=["x"])),
    ("ssm:AddTagsToResource", lambda c, n: c.add_tags_to_resource(ResourceType="Parameter", ResourceId=n,
                                                                  Tags=[{"Key": "k", "Value": "v"}])),
    ("ssm:DeleteParameter", lambda c, n: c.delete_parameter(Name=n)),
]


@pytest.mark.parametrize("action, call", SSM_ON_PARAMETER, ids=[a for a, _ in SSM_ON_PARAMETER])
def test_each_parameter_action_is_authorized_on_the_parameter_arn(enforcing, action, call):
    admin = Admin(enforcing)
    mine, other = admin.parameter(), admin.parameter()
    ssm = scoped(enforcing, "ssm", action, f"arn:aws:ssm:{REGION}:123456789012:parameter{mine}")
    call(ssm, mine)
    response = refusal(lambda: call(ssm, other))
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert f"perform: {action} on resource: arn:aws:ssm:{REGION}:123456789012:parameter{other} because" in \
        response["Error"]["Message"]


def test_tagging_on_creation_needs_create_tags_for_that_action(enforcing):
    """"If tags are specified in the resource-creating action, Amazon performs additional authorization on the
    ec2:CreateTags action" (supported-iam-actions-tagging); ec2:CreateAction names the creating action."""
    admin = Admin(enforcing)
    register = {"Effect": "Allow", "Action": ["ec2:RegisterImage", "ebs:StartSnapshot"], "Resource": "*"}

    def registered(ec2: Any, **tagging: Any) -> str:
        return ec2.register_image(Name=f"authz-{next(_names)}", RootDeviceName="/dev/xvda", **tagging,
                                  BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                                                        "Ebs": {"SnapshotId": admin.snapshot()}}])["ImageId"]

    tagged = {"TagSpecifications": [{"ResourceType": "image", "Tags": [RELEASE]}]}
    ec2 = enforcing.client(enforcing.user(register), "ec2")
    assert registered(ec2).startswith("ami-"), "no tags asked for: no ec2:CreateTags needed"
    message = refusal(lambda: registered(ec2, **tagged))["Error"]["Message"]
    assert f"perform: ec2:CreateTags on resource: arn:aws:ec2:{REGION}::image/* because" in message
    ebs = enforcing.client(enforcing.user(register), "ebs")
    assert refusal(lambda: ebs.start_snapshot(VolumeSize=1, Tags=[RELEASE]))["Error"]["Code"] == "AccessDeniedException"

    on_creation = {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*", "Condition": {
        "StringEquals": {"ec2:CreateAction": ["RegisterImage", "StartSnapshot"]},
        "Null": {"aws:RequestTag/gio-ami:release": "false"}}}
    keys = enforcing.user(register, on_creation)
    image = registered(enforcing.client(keys, "ec2"), **tagged)
    assert enforcing.client(keys, "ebs").start_snapshot(VolumeSize=1, Tags=[RELEASE])["Status"] == "pending"
    assert refusal(lambda: registered(enforcing.client(keys, "ec2"), TagSpecifications=[
        {"ResourceType": "image", "Tags": [{"Key": "other", "Value": "x"}]}]))["Error"]["Code"] == "UnauthorizedOperation"
    response = refusal(lambda: enforcing.client(keys, "ec2").create_tags(Resources=[image], Tags=[RELEASE]))
    assert response["Error"]["Code"] == "UnauthorizedOperation", "ec2:CreateAction is absent from a CreateTags call"


def test_launching_with_an_instance_profile_needs_pass_role_on_its_role(enforcing):
    """"must have specific permissions to launch an Amazon EC2 instance with an IAM role [...] iam:PassRole",
    on the role's ARN (permission-to-pass-iam-roles); iam:PassedToService is ec2.amazonaws.com."""
    admin = Admin(enforcing)
    (profile, role), (_, other_role) = admin.instance_profile(), admin.instance_profile()
    run = {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}

    def launched(keys: dict[str, str], **launch: Any) -> str:
        return enforcing.client(keys, "ec2").run_instances(ImageId=admin.base(), MinCount=1, MaxCount=1,
                                                          **launch)["Instances"][0]["InstanceId"]

    def profile_of(instance: str) -> str | None:
        found = admin.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
        return found.get("IamInstanceProfile", {}).get("Arn")

    def launches() -> int:
        return len(admin.client("ec2").describe_instances()["Reservations"])

    runner = enforcing.user(run)
    assert profile_of(launched(runner)) is None, "no instance profile: no role passed, no iam:PassRole needed"
    before = launches()
    for by in ({"Name": profile["Name"]}, {"Arn": profile["Arn"]}):
        response = refusal(lambda: launched(runner, IamInstanceProfile=by))
        assert response["Error"]["Code"] == "UnauthorizedOperation"
        assert (f"is not authorized to perform: iam:PassRole on resource: {role} because no identity-based policy "
                "allows the iam:PassRole action") in response["Error"]["Message"]
    assert launches() == before, "a refused launch started nothing"

    to_ec2 = {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    passer = enforcing.user(run, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role, "Condition": to_ec2})
    assert profile_of(launched(passer, IamInstanceProfile={"Name": profile["Name"]})) == profile["Arn"]
    assert profile_of(launched(passer, IamInstanceProfile={"Arn": profile["Arn"]})) == profile["Arn"]
    pattern = enforcing.user(run, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/authz-*"})
    assert profile_of(launched(pattern, IamInstanceProfile={"Name": profile["Name"]})) == profile["Arn"]

    elsewhere = enforcing.user(run, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": other_role})
    assert refusal(lambda: launched(elsewhere, IamInstanceProfile=profile))["Error"]["Code"] == "UnauthorizedOperation"
    to_lambda = enforcing.user(run, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role, "Condition": {
        "StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}})
    message = refusal(lambda: launched(to_lambda, IamInstanceProfile=profile))["Error"]["Message"]
    assert f"iam:PassRole on resource: {role} " in message, "passed to EC2, not Lambda"
    denied = enforcing.user({"Effect": "Allow", "Action": ["ec2:RunInstances", "iam:PassRole"], "Resource": "*"},
                            {"Effect": "Deny", "Action": "iam:PassRole", "Resource": role})
    assert refusal(lambda: launched(denied, IamInstanceProfile=profile))["Error"]["Message"].endswith(
        "with an explicit deny in an identity-based policy")


def test_an_image_parameter_is_validated_only_for_a_writer_who_may_describe_images(enforcing):
    """"To create an aws:ec2:image data type parameter, the user must have both ssm:PutParameter and
    ec2:DescribeImages permissions" (parameter-store-ec2-aliases); the validation is asynchronous and a failed one
    leaves the parameter unwritten, PutParameter having answered success (PutParameter, DataType)."""
    admin, clock = Admin(enforcing), Clock(enforcing.url)
    image, put = admin.image(), {"Effect": "Allow", "Action": "ssm:PutParameter", "Resource": "*"}
    without, with_describe = (enforcing.client(enforcing.user(*statements), "ssm") for statements in (
        [put], [put, {"Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"}]))
    names = {"without": f"/gio-ami/authz/image-{next(_names)}", "with": f"/gio-ami/authz/image-{next(_names)}"}
    offset = clock.offset()
    try:
        assert without.put_parameter(Name=names["without"], Value=image, Type="String",
                                     DataType="aws:ec2:image")["Version"] == 1, "answered success all the same"
        with_describe.put_parameter(Name=names["with"], Value=image, Type="String", DataType="aws:ec2:image")
        without.put_parameter(Name=names["without"] + "-text", Value=image, Type="String")
        clock.advance(VALIDATION)
        ssm = admin.client("ssm")
        assert ssm.get_parameter(Name=names["with"])["Parameter"]["Value"] == image
        assert ssm.get_parameter(Name=names["without"] + "-text")["Parameter"]["Value"] == image, "text: no validation"
        assert refusal(lambda: ssm.get_parameter(Name=names["without"]))["Error"]["Code"] == "ParameterNotFound"
        without.put_parameter(Name=names["with"], Value=admin.image(), Overwrite=True)  # keeps its data type
        clock.advance(VALIDATION)
        assert ssm.get_parameter(Name=names["with"])["Parameter"]["Value"] == image, "an overwrite is validated too"
    finally:
        clock.set(offset)


def test_several_iam_users_are_made_and_iam_enforced_in_one_fixture_call(tmp_path):
    process, url = start_emulator()
    try:
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"}]}))
        lines = run_fixture(url, "iam-user", "--name", "runner", "--policy", str(policy),
                            "--name", "admin", "--policy", str(policy), "--enforce").splitlines()
        made = [json.loads(line) for line in lines]
        assert [m["arn"].rsplit("/", 1)[1] for m in made] == ["runner", "admin"]
        testing = boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                               aws_secret_access_key="testing")
        assert refusal(lambda: testing.describe_images(Owners=["self"]))["Error"]["Code"] == "AuthFailure"
        runner = boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id=made[0]["access_key_id"],
                              aws_secret_access_key=made[0]["secret_access_key"])
        assert runner.describe_images(Owners=["self"])["Images"] == []
    finally:
        process.terminate()
        process.wait(timeout=10)
