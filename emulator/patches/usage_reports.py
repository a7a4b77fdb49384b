"""AMI usage reports (moto 5.2.5 has none): CreateImageUsageReport, DescribeImageUsageReports,
DescribeImageUsageReportEntries, DeleteImageUsageReport, counting real use across the emulator's accounts.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/your-ec2-ami-usage.html): "If you share your
Amazon Machine Images (AMIs) with other AWS accounts [...] you can see how these AMIs are used by creating
AMI usage reports", which give "Which AWS accounts are using your AMIs in EC2 instances or launch templates"
and "A count of the resources referencing the AMI by resource type per account. Note that for launch
templates, if an AMI is referenced in multiple versions of a launch template, the count is only 1."
"For launch templates, the number of versions to check (defaults to the 20 most recent versions)."
"To report on all accounts using the specified AMI, [...] omit the --account-ids parameter."
"The initial value of the State field is pending. To be able to view the report entries, the state must
be available." "Amazon EC2 automatically deletes a report 30 days after creation." Quotas: "In-progress
(pending) AMI usage reports per AWS account 2,000", "per AMI 1".
CreateImageUsageReport: "Creates a report that shows how your image is used across other AWS accounts";
AccountId.N 0-200 items; ResourceType.N required; TagSpecification ResourceType "must be set to
image-usage-report; any other value will cause the report creation to fail".
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImageUsageReport.html
ImageUsageResourceTypeRequest: "Valid values: ec2:Instance | ec2:LaunchTemplate"; ResourceTypeOptions
"Valid only when ResourceType is ec2:LaunchTemplate"; version-depth "Integers between 1 and 10000 Default:
20" (API_ImageUsageResourceTypeRequest, API_ImageUsageResourceTypeOptionRequest). The API model's later
text adds imagebuilder:ImageRecipe and imagebuilder:ContainerRecipe: accepted, and count nothing (moto has
no Image Builder).
DescribeImageUsageReports filters creation-time (ISO 8601 UTC with milliseconds, `*` wildcards), state,
tag:<key>, tag-key; DescribeImageUsageReportEntries filters account-id, creation-time, resource-type;
ImageId.N / ReportId.N 0-200 each. ImageUsageReport: ExpirationTime "30 days after the report was
created"; states available | pending | error.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImageUsageReports.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImageUsageReportEntries.html

The emulator's choices, where the documents say nothing:
- Only the AMI's owner creates a report ("your image"); another account the AMI is shared with gets
  AuthFailure, one that cannot see it InvalidAMIID.NotFound. Reports are the creator's: other accounts
  neither list nor delete them.
- The report counts what exists when it is created (ReportCreationTime, "the report creation was
  initiated"): instances in any state but terminated whose ImageId is the AMI, and launch templates with
  the AMI in one of their version-depth most recent versions (1 per template), in the AMI's Region of each
  account asked for, or of every account of the emulator that uses the AMI, the owner included (the guide
  says "all accounts using the specified AMI"). Accounts using nothing get no entry.
- The guide's lag, at its worst (patch 43): "Instance activity from the past 24 hours and launch template
  activity from the past few days might not appear in the report". An instance launched less than 24 hours
  before the report is not counted, nor a launch template created or given a new version less than 3 days
  before it ("a few days": 3 chosen). Launch and version times follow the emulator's clock (clock.py).
- A report is pending for 5 minutes of the emulator's clock, then available (patch 44). AWS gives no
  duration; its own CLI waiter for it (botocore's ec2 waiters-2.json, ImageUsageReportAvailable) looks 40
  times every 15 s, so a report is expected within 10 minutes: 5 minutes is a wait a client must really
  make, well inside that bound. Tests move the clock instead of sleeping. Entries of a pending report are
  not served ("not available to view"). The error state never occurs.
- Reports past their ExpirationTime are gone for good, even if the clock is set back (clock.settles).
- Error codes are undocumented: ResourceLimitExceeded for the pending quotas (errors-overview.html: "You
  have exceeded an Amazon EC2 resource limit"), MissingParameter / InvalidParameterValue for invalid
  requests and an unknown report id in DeleteImageUsageReport; ReportIds and ImageIds select ("filtered by
  report IDs or image IDs"), so an unknown id is not an error. MaxResults 1-1000 (the model gives a
  minimum of 1 only), NextToken.
"""

from __future__ import annotations

import fnmatch
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.responses import EC2Response

from . import clock, replaces
from .common import Paging, aws_error, tags_by_type
from .idempotency import ec2_mismatch, once

INSTANCE, LAUNCH_TEMPLATE = "ec2:Instance", "ec2:LaunchTemplate"
RESOURCE_TYPES = (INSTANCE, LAUNCH_TEMPLATE, "imagebuilder:ImageRecipe", "imagebuilder:ContainerRecipe")
DEFAULT_VERSION_DEPTH, MAX_VERSION_DEPTH = 20, 10_000
MAX_ACCOUNTS = MAX_IDS = 200
PENDING_FOR = timedelta(minutes=5)
INSTANCE_LAG, LAUNCH_TEMPLATE_LAG = timedelta(hours=24), timedelta(days=3)
RETENTION = timedelta(days=30)
PENDING_PER_IMAGE, PENDING_PER_ACCOUNT = 1, 2_000
REPORT_TAG_TYPE = "image-usage-report"


@dataclass(frozen=True)
class Entry:
    report_id: str
    image_id: str
    account_id: str
    resource_type: str
    usage_count: int
    created: datetime

    @property
    def id(self) -> str:  # the order pages follow
        return f"{self.report_id} {self.account_id} {self.resource_type}"

    def answer(self) -> dict[str, Any]:
        return {"ResourceType": self.resource_type, "ReportId": self.report_id, "UsageCount": self.usage_count,
                "AccountId": self.account_id, "ImageId": self.image_id, "ReportCreationTime": self.created}


@dataclass
class Report:
    id: str
    image_id: str
    resource_types: list[dict[str, Any]]
    account_ids: list[str] | None
    created: datetime
    entries: list[Entry] = field(default_factory=list)

    @property
    def expires(self) -> datetime:
        return self.created + RETENTION

    def state(self, now: datetime) -> str:
        return "available" if now >= self.created + PENDING_FOR else "pending"

    def answer(self, backend: EC2Backend, now: datetime) -> dict[str, Any]:
        tags = backend.tags.get(self.id, {})
        answer: dict[str, Any] = {
            "ImageId": self.image_id, "ReportId": self.id, "ResourceTypes": self.resource_types,
            "State": self.state(now), "CreationTime": self.created, "ExpirationTime": self.expires,
            "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
        }
        if self.account_ids is not None:
            answer["AccountIds"] = self.account_ids
        return answer


def reports(backend: EC2Backend, at: datetime | None = None) -> dict[str, Report]:
    """This account's reports in this Region, less those 30 days old by `at` (now), deleted for good."""
    held: dict[str, Report] = backend.__dict__.setdefault("_gio_image_usage_reports", {})
    at = clock.now() if at is None else at
    for report_id in [i for i, report in held.items() if report.expires <= at]:
        del held[report_id]
        backend.tags.pop(report_id, None)
    return held


@clock.settles
def _delete_expired(at: datetime) -> None:
    """Before the clock is set back: reports the clock saw expire stay deleted."""
    for account in list(dict.values(ec2_backends)):  # dict's own methods: only backends that exist
        for backend in list(dict.values(account)):
            reports(backend, at)


def _resource_types(requested: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """(ResourceTypes as the report answers them, resource type -> launch template version depth)."""
    if not requested:
        raise aws_error("MissingParameter", "The request must contain the parameter ResourceTypes.")
    answered, scopes = [], {}
    for request in requested:
        kind = request.get("ResourceType")
        if kind not in RESOURCE_TYPES:
            raise aws_error("InvalidParameterValue", f"Value ({kind}) for parameter ResourceType is invalid. "
                                                     f"Valid values: {' | '.join(RESOURCE_TYPES)}.")
        options = request.get("ResourceTypeOptions") or []
        depth = DEFAULT_VERSION_DEPTH
        for option in options:
            name, values = option.get("OptionName"), option.get("OptionValues") or []
            if kind != LAUNCH_TEMPLATE or name != "version-depth":
                raise aws_error("InvalidParameterValue",
                                f"The option {name} is not valid for resource type {kind}: ResourceTypeOptions are "
                                "valid only for ec2:LaunchTemplate (version-depth).")
            if len(values) != 1 or not values[0].isdigit() or not 1 <= int(values[0]) <= MAX_VERSION_DEPTH:
                raise aws_error("InvalidParameterValue",
                                f"version-depth must be one integer between 1 and {MAX_VERSION_DEPTH}; it was {values}.")
            depth = int(values[0])
        scopes[kind] = depth
        entry: dict[str, Any] = {"ResourceType": kind}
        if options:
            entry["ResourceTypeOptions"] = [{"OptionName": o["OptionName"], "OptionValues": list(o["OptionValues"])}
                                            for o in options]
        answered.append(entry)
    return answered, scopes


def _aware(moment: datetime) -> datetime:
    """moto's naive UTC timestamps (its `utcnow`, the emulator's clock) as aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _usage(image_id: str, backend: EC2Backend, scopes: dict[str, int], at: datetime) -> dict[str, int]:
    """Resource type -> how many of this account's resources in this Region reference the AMI, as a report
    created `at` sees them: without the instances and launch templates still inside the guide's lag."""
    counts = {}
    if INSTANCE in scopes:
        counts[INSTANCE] = sum(1 for reservation in backend.all_reservations() for instance in reservation.instances
                               if instance.image_id == image_id and instance.state != "terminated"
                               and _aware(instance.launch_time) <= at - INSTANCE_LAG)
    if LAUNCH_TEMPLATE in scopes:
        depth = scopes[LAUNCH_TEMPLATE]
        counts[LAUNCH_TEMPLATE] = sum(
            1 for template in list(backend.launch_templates.values())
            if any(v.image_id == image_id for v in sorted(template.versions, key=lambda v: v.number)[-depth:])
            and max(_aware(v.create_time) for v in template.versions) <= at - LAUNCH_TEMPLATE_LAG)
    return {kind: count for kind, count in counts.items() if count}


def _accounts(region: str, account_ids: list[str] | None) -> list[EC2Backend]:
    """The Region's backend of each account asked for (every account of the emulator without a list)."""
    found = []
    for account_id, account in list(dict.items(ec2_backends)):  # dict's own methods: only existing backends
        backend = dict.get(account, region)
        if backend is not None and (account_ids is None or account_id in account_ids):
            found.append(backend)
    return found


def _owned_image(self: EC2Response, image_id: str | None) -> Any:
    if not image_id:
        raise aws_error("MissingParameter", "The request must contain the parameter ImageId.")
    backend = self.ec2_backend
    ami = backend.amis.get(image_id)
    if ami is None or ami.owner_id != backend.account_id:
        backend.describe_images(ami_ids=[image_id])  # InvalidAMIID.* unless the caller can see it
        raise aws_error("AuthFailure", f"Not authorized for image:{image_id}: only its owner reports on its usage.")
    return ami


def _create(self: EC2Response, request: dict[str, Any]) -> str:
    backend, now = self.ec2_backend, clock.now()
    ami = _owned_image(self, request.get("ImageId"))
    answered, scopes = _resource_types(request.get("ResourceTypes") or [])
    account_ids = request.get("AccountIds")
    if account_ids is not None:
        if len(account_ids) > MAX_ACCOUNTS:
            raise aws_error("InvalidParameterValue", f"AccountIds takes at most {MAX_ACCOUNTS} account IDs.")
        for account_id in account_ids:
            if not (len(account_id) == 12 and account_id.isdigit()):
                raise aws_error("InvalidParameterValue", f"Value ({account_id}) for parameter AccountIds is invalid.")
    tags = tags_by_type(request.get("TagSpecifications") or [], (REPORT_TAG_TYPE,))[REPORT_TAG_TYPE]
    held = reports(backend, now)
    pending = [report for report in held.values() if report.state(now) == "pending"]
    if len(pending) >= PENDING_PER_ACCOUNT or sum(r.image_id == ami.id for r in pending) >= PENDING_PER_IMAGE:
        raise aws_error("ResourceLimitExceeded",
                        f"An AMI usage report for {ami.id} is already in progress; wait until it is available.")
    report = Report(f"amiur-{secrets.token_hex(9)[:17]}", ami.id, answered, account_ids, now)
    for account in _accounts(backend.region_name, account_ids):
        for kind, count in sorted(_usage(ami.id, account, scopes, now).items()):
            report.entries.append(Entry(report.id, ami.id, account.account_id, kind, count, now))
    held[report.id] = report
    if tags:
        backend.create_tags([report.id], tags)
    return report.id


@replaces(EC2Response, "create_image_usage_report", new=True)
def create_image_usage_report(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    request = dict(self.params)
    report_id = once(self.ec2_backend, "CreateImageUsageReport", request, lambda: _create(self, request), ec2_mismatch)
    return ActionResult({"ReportId": report_id})


def _ids(self: EC2Response, parameter: str) -> list[str]:
    ids = self._get_param(parameter) or []
    if len(ids) > MAX_IDS:
        raise aws_error("InvalidParameterValue", f"{parameter} takes at most {MAX_IDS} values.")
    return ids


def _selected(self: EC2Response, now: datetime) -> list[Report]:
    report_ids, image_ids = _ids(self, "ReportIds"), _ids(self, "ImageIds")
    return [report for report in reports(self.ec2_backend, now).values()
            if (not report_ids or report.id in report_ids) and (not image_ids or report.image_id in image_ids)]


def _time_matches(moment: datetime, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(clock.iso(moment), pattern) for pattern in patterns)


def _report_filter(backend: EC2Backend, report: Report, name: str, values: list[str], now: datetime) -> bool:
    tags = backend.tags.get(report.id, {})
    if name == "creation-time":
        return _time_matches(report.created, values)
    if name == "state":
        return report.state(now) in values
    if name == "tag-key":
        return any(key in values for key in tags)
    if name.startswith("tag:"):
        return tags.get(name[4:]) in values
    raise aws_error("InvalidParameterValue", f"The filter '{name}' is invalid")


def _entry_filter(entry: Entry, name: str, values: list[str]) -> bool:
    if name == "account-id":
        return entry.account_id in values
    if name == "creation-time":
        return _time_matches(entry.created, values)
    if name == "resource-type":
        return entry.resource_type in values
    raise aws_error("InvalidParameterValue", f"The filter '{name}' is invalid")


@replaces(EC2Response, "describe_image_usage_reports", new=True)
def describe_image_usage_reports(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    now, backend = clock.now(), self.ec2_backend
    paging = Paging.within(self, 1, 1000)
    filters = self._filters_from_querystring()
    chosen = [report for report in _selected(self, now)
              if all(_report_filter(backend, report, name, values, now) for name, values in filters.items())]
    page, token = paging.cut(chosen, {})
    return ActionResult({"ImageUsageReports": [report.answer(backend, now) for report in page], "NextToken": token})


@replaces(EC2Response, "describe_image_usage_report_entries", new=True)
def describe_image_usage_report_entries(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    now = clock.now()
    paging = Paging.within(self, 1, 1000)
    filters = self._filters_from_querystring()
    entries = [entry for report in _selected(self, now) if report.state(now) == "available" for entry in report.entries
               if all(_entry_filter(entry, name, values) for name, values in filters.items())]
    page, token = paging.cut(entries, {})
    return ActionResult({"ImageUsageReportEntries": [entry.answer() for entry in page], "NextToken": token})


@replaces(EC2Response, "delete_image_usage_report", new=True)
def delete_image_usage_report(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    report_id = self._get_param("ReportId")
    if not report_id:
        raise aws_error("MissingParameter", "The request must contain the parameter ReportId.")
    held = reports(self.ec2_backend)
    if report_id not in held:
        raise aws_error("InvalidParameterValue", f"The image usage report '{report_id}' does not exist.")
    del held[report_id]
    self.ec2_backend.tags.pop(report_id, None)
    return ActionResult({"Return": True})
