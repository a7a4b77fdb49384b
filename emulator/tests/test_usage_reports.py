"""AMI usage reports (patches/usage_reports.py): instances and launch templates that use an AMI, counted in
every account of the emulator.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/your-ec2-ami-usage.html): reports show "Which
AWS accounts are using your AMIs in EC2 instances or launch templates" and "A count of the resources
referencing the AMI by resource type per account. Note that for launch templates, if an AMI is referenced
in multiple versions of a launch template, the count is only 1"; launch templates: "defaults to the 20
most recent versions"; "The initial value of the State field is pending. To be able to view the report
entries, the state must be available"; "Amazon EC2 automatically deletes a report 30 days after
creation"; "In-progress (pending) AMI usage reports per AMI: 1"; "Instance activity from the past 24 hours
and launch template activity from the past few days might not appear in the report". The emulator's report is
pending for 5 minutes of its clock, and leaves out instances younger than 24 hours and launch templates
changed in the last 3 days.
"""

from datetime import timedelta

import botocore.exceptions
import pytest

from helpers import error_code, register_root_image
from hooks import Clock

REGION = "ap-northeast-3"
OWNER, USER, TEMPLATES_ONLY, STRANGER = "330000000001", "330000000002", "330000000003", "330000000004"
INSTANCES = {"ResourceType": "ec2:Instance"}
TEMPLATES = {"ResourceType": "ec2:LaunchTemplate"}
PENDING = timedelta(minutes=5)  # how long the emulator's reports stay pending


def ec2_of(client_as, account):
    return client_as(account, "ec2", REGION)


def launch(ec2, image_id, count=1):
    return [i["InstanceId"] for i in ec2.run_instances(ImageId=image_id, MinCount=count, MaxCount=count)["Instances"]]


def refused(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**kwargs)
    return error_code(excinfo)


@pytest.fixture
def fresh(client_as, request):
    """An AMI of OWNER of this test's own, so that no report of another test is pending for it."""
    return register_root_image(ec2_of(client_as, OWNER), f"gio-usage-{request.node.name}"[:128], zone=f"{REGION}a")


@pytest.fixture(scope="module")
def used(client_as, endpoint):
    """An AMI of OWNER shared with USER and TEMPLATES_ONLY, and what each of the three does with it, 4 days
    ago: older than the reports' lag."""
    clock = Clock(endpoint)
    found = clock.offset()
    clock.set(found - timedelta(days=4))
    try:
        return _use(client_as)
    finally:
        clock.set(found)


def _use(client_as):
    owner, user, templates = (ec2_of(client_as, a) for a in (OWNER, USER, TEMPLATES_ONLY))
    image_id = register_root_image(owner, "gio-usage-reported", zone=f"{REGION}a")
    other = register_root_image(owner, "gio-usage-other", zone=f"{REGION}a")
    for account in (USER, TEMPLATES_ONLY):
        owner.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": account}]})
    owner.modify_image_attribute(ImageId=other, LaunchPermission={"Add": [{"UserId": USER}]})
    launch(owner, image_id)
    running = launch(user, image_id, 3)
    user.stop_instances(InstanceIds=running[:1])
    user.terminate_instances(InstanceIds=launch(user, image_id))  # terminated: not counted
    launch(user, other)
    deep = user.create_launch_template(LaunchTemplateName="gio-usage-deep",
                                       LaunchTemplateData={"ImageId": image_id})["LaunchTemplate"]["LaunchTemplateId"]
    for _ in range(20):  # the AMI is now the 21st most recent version: past the default depth of 20
        user.create_launch_template_version(LaunchTemplateId=deep, LaunchTemplateData={"ImageId": other})
    twice = user.create_launch_template(LaunchTemplateName="gio-usage-twice",
                                        LaunchTemplateData={"ImageId": image_id})["LaunchTemplate"]["LaunchTemplateId"]
    user.create_launch_template_version(LaunchTemplateId=twice, LaunchTemplateData={"ImageId": image_id})
    templates.create_launch_template(LaunchTemplateName="gio-usage-only", LaunchTemplateData={"ImageId": image_id})
    return image_id


def report(ec2, report_id):
    return ec2.describe_image_usage_reports(ReportIds=[report_id])["ImageUsageReports"][0]


def entries(ec2, **kwargs):
    answer = ec2.describe_image_usage_report_entries(**kwargs)["ImageUsageReportEntries"]
    return sorted((e["AccountId"], e["ResourceType"], e["UsageCount"]) for e in answer)


def test_a_report_counts_instances_and_templates_in_every_account(client_as, used, clock):
    owner = ec2_of(client_as, OWNER)
    report_id = owner.create_image_usage_report(ImageId=used, ResourceTypes=[INSTANCES, TEMPLATES])["ReportId"]
    assert report_id.startswith("amiur-")
    pending = report(owner, report_id)
    assert (pending["ImageId"], pending["State"], pending["ResourceTypes"]) == (used, "pending", [INSTANCES, TEMPLATES])
    assert "AccountIds" not in pending
    assert pending["ExpirationTime"] - pending["CreationTime"] == timedelta(days=30)
    assert entries(owner, ReportIds=[report_id]) == [], "entries wait for the report to be available"

    clock.advance(PENDING)
    assert report(owner, report_id)["State"] == "available"
    assert entries(owner, ReportIds=[report_id]) == sorted([
        (OWNER, "ec2:Instance", 1),
        (USER, "ec2:Instance", 3),  # two running and one stopped; the terminated one is gone
        (USER, "ec2:LaunchTemplate", 1),  # "the count is only 1" for the template using it twice
        (TEMPLATES_ONLY, "ec2:LaunchTemplate", 1),
    ])
    answer = owner.describe_image_usage_report_entries(ReportIds=[report_id])["ImageUsageReportEntries"][0]
    assert (answer["ReportId"], answer["ImageId"], answer["ReportCreationTime"]) == (
        report_id, used, pending["CreationTime"])

    deeper = {"ResourceType": "ec2:LaunchTemplate",
              "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["21"]}]}
    scoped = owner.create_image_usage_report(ImageId=used, AccountIds=[USER, STRANGER],
                                             ResourceTypes=[deeper])["ReportId"]
    clock.advance(PENDING)
    described = report(owner, scoped)
    assert (described["AccountIds"], described["ResourceTypes"]) == ([USER, STRANGER], [deeper])
    assert entries(owner, ReportIds=[scoped]) == [(USER, "ec2:LaunchTemplate", 2)], "21 versions deep: both"
    assert entries(owner, ImageIds=[used], Filters=[{"Name": "account-id", "Values": [USER]},
                                                    {"Name": "resource-type", "Values": ["ec2:LaunchTemplate"]}]) == [
        (USER, "ec2:LaunchTemplate", 1), (USER, "ec2:LaunchTemplate", 2)], "ImageIds: every report of the AMI"
    first_page = owner.describe_image_usage_report_entries(ImageIds=[used], MaxResults=1)
    assert len(first_page["ImageUsageReportEntries"]) == 1 and first_page["NextToken"]


def test_one_pending_report_per_ami_and_client_tokens(client_as, fresh, clock):
    owner = ec2_of(client_as, OWNER)
    first = owner.create_image_usage_report(ImageId=fresh, ResourceTypes=[INSTANCES], ClientToken="gio-usage-1")
    assert owner.create_image_usage_report(ImageId=fresh, ResourceTypes=[INSTANCES],
                                           ClientToken="gio-usage-1")["ReportId"] == first["ReportId"]
    assert refused(owner.create_image_usage_report, ImageId=fresh, ResourceTypes=[INSTANCES],
                   ClientToken="gio-usage-1-other") == "ResourceLimitExceeded"
    assert refused(owner.create_image_usage_report, ImageId=fresh, ResourceTypes=[TEMPLATES],
                   ClientToken="gio-usage-1") == "IdempotentParameterMismatch"
    clock.advance(PENDING)
    assert owner.create_image_usage_report(ImageId=fresh, ResourceTypes=[INSTANCES])["ReportId"] != first["ReportId"]


def test_a_report_misses_a_day_of_instances_and_three_days_of_launch_templates(client_as, fresh, clock):
    owner, user = ec2_of(client_as, OWNER), ec2_of(client_as, USER)
    owner.modify_image_attribute(ImageId=fresh, LaunchPermission={"Add": [{"UserId": USER}]})
    launch(user, fresh)
    user.create_launch_template(LaunchTemplateName=f"gio-usage-lag-{fresh}", LaunchTemplateData={"ImageId": fresh})

    def counted():
        report_id = owner.create_image_usage_report(ImageId=fresh, AccountIds=[USER],
                                                    ResourceTypes=[INSTANCES, TEMPLATES])["ReportId"]
        assert report(owner, report_id)["State"] == "pending"
        clock.advance(PENDING - timedelta(seconds=1))
        assert report(owner, report_id)["State"] == "pending", "minutes, not seconds"
        clock.advance(timedelta(seconds=1))
        return entries(owner, ReportIds=[report_id])

    assert counted() == [], "a new instance and a new launch template: a zero that is not one"
    clock.advance(timedelta(hours=24))
    assert counted() == [(USER, "ec2:Instance", 1)], "the instance after a day, the launch template not yet"
    clock.advance(timedelta(days=2))
    assert counted() == [(USER, "ec2:Instance", 1), (USER, "ec2:LaunchTemplate", 1)]


def test_only_the_owner_reports_on_its_ami(client_as, used):
    assert refused(ec2_of(client_as, USER).create_image_usage_report, ImageId=used,
                   ResourceTypes=[INSTANCES]) == "AuthFailure"
    assert refused(ec2_of(client_as, STRANGER).create_image_usage_report, ImageId=used,
                   ResourceTypes=[INSTANCES]) == "InvalidAMIID.NotFound"


def test_listing_filters_tags_and_deleting(client_as, fresh, clock):
    owner = ec2_of(client_as, OWNER)
    tagged = owner.create_image_usage_report(
        ImageId=fresh, ResourceTypes=[INSTANCES],
        TagSpecifications=[{"ResourceType": "image-usage-report", "Tags": [{"Key": "purpose", "Value": "prune"}]}],
    )["ReportId"]
    described = report(owner, tagged)
    assert described["Tags"] == [{"Key": "purpose", "Value": "prune"}]
    day = described["CreationTime"].strftime("%Y-%m-%dT*")
    by = {
        "tag": [{"Name": "tag:purpose", "Values": ["prune"]}],
        "tag-key": [{"Name": "tag-key", "Values": ["purpose"]}],
        "pending": [{"Name": "state", "Values": ["pending"]}],
        "day": [{"Name": "creation-time", "Values": [day]}],
    }
    for name, filters in by.items():
        found = owner.describe_image_usage_reports(ImageIds=[fresh], Filters=filters)["ImageUsageReports"]
        assert tagged in [r["ReportId"] for r in found], name
    assert owner.describe_image_usage_reports(ReportIds=["amiur-00000000000000000"])["ImageUsageReports"] == []
    assert ec2_of(client_as, USER).describe_image_usage_reports()["ImageUsageReports"] == [], "the owner's own"
    pages = owner.get_paginator("describe_image_usage_reports").paginate(
        ImageIds=[fresh], PaginationConfig={"PageSize": 1})
    ids = [r["ReportId"] for page in pages for r in page["ImageUsageReports"]]
    assert tagged in ids and len(ids) == len(set(ids))

    assert refused(owner.create_image_usage_report, ImageId=fresh, ResourceTypes=[TEMPLATES], TagSpecifications=[
        {"ResourceType": "image", "Tags": [{"Key": "k", "Value": "v"}]}]) == "InvalidParameterValue"
    assert refused(ec2_of(client_as, USER).delete_image_usage_report, ReportId=tagged) == "InvalidParameterValue"
    assert owner.delete_image_usage_report(ReportId=tagged)["Return"] is True
    assert owner.describe_image_usage_reports(ReportIds=[tagged])["ImageUsageReports"] == []
    assert refused(owner.delete_image_usage_report, ReportId=tagged) == "InvalidParameterValue"


def test_reports_are_deleted_30_days_after_creation_for_good(client_as, fresh, clock):
    owner = ec2_of(client_as, OWNER)
    report_id = owner.create_image_usage_report(ImageId=fresh, ResourceTypes=[INSTANCES])["ReportId"]
    clock.advance(timedelta(days=29, hours=23))
    assert report(owner, report_id)["State"] == "available"
    clock.advance(timedelta(hours=2))
    assert owner.describe_image_usage_reports(ReportIds=[report_id])["ImageUsageReports"] == []
    clock.set(timedelta(0))
    assert owner.describe_image_usage_reports(ReportIds=[report_id])["ImageUsageReports"] == [], "gone for good"


@pytest.mark.parametrize("kwargs", [
    {"ResourceTypes": [{"ResourceType": "ec2:Volume"}]},
    {"ResourceTypes": [{"ResourceType": "ec2:Instance",
                        "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["5"]}]}]},
    {"ResourceTypes": [{"ResourceType": "ec2:LaunchTemplate",
                        "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["10001"]}]}]},
    {"ResourceTypes": [{"ResourceType": "ec2:LaunchTemplate",
                        "ResourceTypeOptions": [{"OptionName": "state-name", "OptionValues": ["running"]}]}]},
    {"ResourceTypes": [INSTANCES], "AccountIds": ["3300-0000-0002"]},
], ids=["unknown-type", "option-on-instances", "depth-over-10000", "unknown-option", "bad-account-id"])
def test_invalid_requests_are_refused(client_as, used, kwargs):
    assert refused(ec2_of(client_as, OWNER).create_image_usage_report, ImageId=used, **kwargs) \
        == "InvalidParameterValue"
