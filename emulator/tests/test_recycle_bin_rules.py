"""Recycle Bin retention rules (patches/rbin.py, served by patches/routes.py), their unlock delay on the test clock.

AWS (https://docs.aws.amazon.com/recyclebin/latest/APIReference/API_CreateRule.html): tag-level rules
retain resources with "at least one of these tag key and value pairs"; Region-level rules retain all,
minus those with exclusion tags; "You can't specify exclusion tags for tag-level retention rules";
snapshots and AMIs are retained "1 - 365 days". LockRule: "A locked retention rule can't be modified or
deleted. You can't lock tag-level retention rules, or Region-level retention rules that have exclusion
tags." UnlockRule: "it can be modified or deleted only after the unlock delay period expires."
"""

from datetime import timedelta

import boto3
import botocore.config
import botocore.exceptions
import pytest

from helpers import error_code

DAYS = "DAYS"


def retention(days):
    return {"RetentionPeriodValue": days, "RetentionPeriodUnit": DAYS}


def test_rules_are_created_read_listed_updated_and_deleted(client):
    rbin = client("rbin", "eu-west-3")
    tagged = rbin.create_rule(ResourceType="EC2_IMAGE", RetentionPeriod=retention(14), Description="releases",
                              ResourceTags=[{"ResourceTagKey": "gio-ami", "ResourceTagValue": "release"}],
                              Tags=[{"Key": "team", "Value": "platform"}])
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert tagged["Status"] in ("pending", "available") and "LockState" not in tagged  # pending: the first
    assert tagged["RuleArn"] == f"arn:aws:rbin:eu-west-3:123456789012:rule/{tagged['Identifier']}"
    assert len(tagged["Identifier"]) == 11 and tagged["Identifier"].isalnum()
    regional = rbin.create_rule(ResourceType="EBS_SNAPSHOT", RetentionPeriod=retention(30),
                                ExcludeResourceTags=[{"ResourceTagKey": "scratch", "ResourceTagValue": "yes"}])

    rule = rbin.get_rule(Identifier=tagged["Identifier"])
    assert (rule["ResourceType"], rule["RetentionPeriod"], rule["Description"]) == ("EC2_IMAGE", retention(14), "releases")
    assert rule["ResourceTags"] == [{"ResourceTagKey": "gio-ami", "ResourceTagValue": "release"}]

    def listed(**kwargs):
        return [r["Identifier"] for r in rbin.list_rules(**kwargs)["Rules"]]

    assert listed(ResourceType="EC2_IMAGE") == [tagged["Identifier"]]
    assert listed(ResourceType="EBS_SNAPSHOT") == [regional["Identifier"]]
    assert listed(ResourceType="EC2_IMAGE",
                  ResourceTags=[{"ResourceTagKey": "gio-ami", "ResourceTagValue": "release"}]) == [tagged["Identifier"]]
    assert listed(ResourceType="EC2_IMAGE", ResourceTags=[{"ResourceTagKey": "other", "ResourceTagValue": "x"}]) == []
    assert listed(ResourceType="EBS_SNAPSHOT",
                  ExcludeResourceTags=[{"ResourceTagKey": "scratch", "ResourceTagValue": "yes"}]) == [regional["Identifier"]]

    updated = rbin.update_rule(Identifier=tagged["Identifier"], RetentionPeriod=retention(60), Description="longer")
    assert (updated["RetentionPeriod"], updated["Description"]) == (retention(60), "longer")
    assert rbin.get_rule(Identifier=tagged["Identifier"])["RetentionPeriod"] == retention(60)

    assert rbin.delete_rule(Identifier=tagged["Identifier"])["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(rbin.exceptions.ResourceNotFoundException) as excinfo:
        rbin.get_rule(Identifier=tagged["Identifier"])
    assert excinfo.value.response["Reason"] == "RULE_NOT_FOUND"


def test_rule_tags(client):
    rbin = client("rbin", "eu-west-3")
    arn = rbin.create_rule(ResourceType="EC2_IMAGE", RetentionPeriod=retention(1),
                           Tags=[{"Key": "a", "Value": "1"}])["RuleArn"]
    rbin.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}])
    rbin.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert rbin.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]


@pytest.mark.parametrize("kwargs", [
    {"ResourceType": "EC2_IMAGE", "RetentionPeriod": retention(366)},
    {"ResourceType": "EBS_SNAPSHOT", "RetentionPeriod": retention(0)},
    {"ResourceType": "EC2_IMAGE", "RetentionPeriod": retention(7),
     "ResourceTags": [{"ResourceTagKey": "a", "ResourceTagValue": "1"}],
     "ExcludeResourceTags": [{"ResourceTagKey": "b", "ResourceTagValue": "2"}]},
    {"ResourceType": "EC2_IMAGE", "RetentionPeriod": retention(7),
     "ResourceTags": [{"ResourceTagKey": "a", "ResourceTagValue": "1"}],
     "LockConfiguration": {"UnlockDelay": {"UnlockDelayValue": 7, "UnlockDelayUnit": DAYS}}},
    {"ResourceType": "EC2_IMAGE", "RetentionPeriod": retention(7),
     "LockConfiguration": {"UnlockDelay": {"UnlockDelayValue": 31, "UnlockDelayUnit": DAYS}}},
], ids=["retention-over-365", "retention-0", "exclusions-on-tag-level", "lock-tag-level", "unlock-delay-31"])
def test_invalid_rules_are_refused(endpoint, kwargs):
    rbin = boto3.client("rbin", region_name="eu-west-3", endpoint_url=endpoint, aws_access_key_id="a",
                        aws_secret_access_key="b", config=botocore.config.Config(parameter_validation=False))
    with pytest.raises(rbin.exceptions.ValidationException) as excinfo:
        rbin.create_rule(**kwargs)
    assert excinfo.value.response["Reason"] == "INVALID_PARAMETER_VALUE"


def test_a_locked_rule_cannot_change_until_its_unlock_delay_has_passed(client, clock):
    rbin = client("rbin", "ca-central-1")
    identifier = rbin.create_rule(
        ResourceType="EC2_IMAGE", RetentionPeriod=retention(7),
        LockConfiguration={"UnlockDelay": {"UnlockDelayValue": 7, "UnlockDelayUnit": DAYS}})["Identifier"]
    assert rbin.get_rule(Identifier=identifier)["LockState"] == "locked"
    for change in (lambda: rbin.delete_rule(Identifier=identifier),
                   lambda: rbin.update_rule(Identifier=identifier, RetentionPeriod=retention(1))):
        with pytest.raises(rbin.exceptions.ConflictException) as excinfo:
            change()
        assert excinfo.value.response["Reason"] == "INVALID_RULE_STATE"

    unlocked = rbin.unlock_rule(Identifier=identifier)
    assert unlocked["LockState"] == "pending_unlock"
    assert abs((unlocked["LockEndTime"] - clock.now()).total_seconds() - 7 * 86400) < 60
    with pytest.raises(rbin.exceptions.ConflictException):
        rbin.delete_rule(Identifier=identifier)
    clock.advance(timedelta(days=7, seconds=1))
    assert rbin.get_rule(Identifier=identifier)["LockState"] == "unlocked"
    rbin.lock_rule(Identifier=identifier, LockConfiguration={"UnlockDelay": {"UnlockDelayValue": 10, "UnlockDelayUnit": DAYS}})
    assert rbin.get_rule(Identifier=identifier)["LockState"] == "locked"
    rbin.unlock_rule(Identifier=identifier)
    clock.advance(timedelta(days=10, seconds=1))
    rbin.delete_rule(Identifier=identifier)


def test_other_services_are_still_moto(client):
    ec2 = client("ec2", "eu-west-3")
    assert ec2.describe_images(Owners=["amazon"])["Images"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client("rbin", "eu-west-3").get_rule(Identifier="AAAAAAAAAAA")
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_the_first_rule_is_pending_for_30_minutes_and_retains_nothing_meanwhile(client, clock):
    """"When you create your first retention rule, it can take up to 30 minutes for the rule to become
    active" (https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin-working-with-rules.html); "Only
    retention rules that are in the available state retain resources" (GetRule, Status: pending | available)."""
    region = "il-central-1"
    rbin, ec2 = client("rbin", region), client("ec2", region)
    first = rbin.create_rule(ResourceType="EBS_SNAPSHOT", RetentionPeriod=retention(7))
    assert first["Status"] == "pending"
    second = rbin.create_rule(ResourceType="EC2_IMAGE", RetentionPeriod=retention(7))
    assert rbin.get_rule(Identifier=second["Identifier"])["Status"] == "pending", "the bin is not active yet"
    assert "Status" not in rbin.list_rules(ResourceType="EBS_SNAPSHOT")["Rules"][0], "RuleSummary has none"

    volume = ec2.create_volume(AvailabilityZone=f"{region}a", Size=1)["VolumeId"]
    early, late = (ec2.create_snapshot(VolumeId=volume)["SnapshotId"] for _ in range(2))
    clock.advance(timedelta(minutes=29))
    ec2.delete_snapshot(SnapshotId=early)
    assert ec2.list_snapshots_in_recycle_bin(SnapshotIds=[early])["Snapshots"] == [], "deleted for good"

    clock.advance(timedelta(minutes=1))
    assert [rbin.get_rule(Identifier=r["Identifier"])["Status"] for r in (first, second)] == ["available"] * 2
    ec2.delete_snapshot(SnapshotId=late)
    assert [s["SnapshotId"] for s in ec2.list_snapshots_in_recycle_bin(SnapshotIds=[late])["Snapshots"]] == [late]
    third = rbin.create_rule(ResourceType="EBS_SNAPSHOT", RetentionPeriod=retention(1))
    assert third["Status"] == "available", "only the first rule takes time"

    clock.set(timedelta(0))
    assert rbin.get_rule(Identifier=first["Identifier"])["Status"] == "available", "active stays active"
    for rule in (first, second, third):
        rbin.delete_rule(Identifier=rule["Identifier"])
