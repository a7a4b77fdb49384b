"""Allowed AMIs, an account-level setting per Region (moto 5.2.5 has none of it):
EnableAllowedImagesSettings, DisableAllowedImagesSettings, GetAllowedImagesSettings,
ReplaceImageCriteriaInAllowedImagesSettings; DescribeImages' ImageAllowed and image-allowed filter;
discovery and launch restricted in `enabled` state.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-allowed-amis.html):
- "The Allowed AMIs feature only controls the discovery and use of public AMIs or AMIs shared with your
  account. It does not restrict the AMIs owned by your account. Regardless of the criteria you set, the
  AMIs created by your account are always discoverable and usable by users in your account."
- Parameter values: "An AMI can match any values within a parameter to be allowed"; ImageCriterion:
  "An AMI must match all parameters within an ImageCriterion to be allowed"; ImageCriteria: "An AMI can
  match any ImageCriterion to be allowed."
- ImageProviders: "amazon – An alias that identifies AMIs created by Amazon or verified providers",
  "aws-marketplace", "aws-backup-vault", "AWS account IDs – One or more 12-digit AWS account IDs",
  "none – Indicates that only AMIs created by your account can be discovered and used. Public or shared
  AMIs can't be discovered and used."
- Enabled: "Only allowed AMIs are discoverable in the EC2 console and by APIs that use images (for
  example, that describe, copy, store, or perform other actions that use images). Instances can only be
  launched using allowed AMIs." Disabled: "No restrictions are placed on AMI discoverability or usage."
  Audit mode: "The ImageCriteria are applied, but no restrictions are placed on AMI discoverability or
  usage. [...] the response for the describe-image operation includes "ImageAllowed": true or
  "ImageAllowed": false".
- Limits: "10 ImageCriterion", each "200 values for ImageProviders, 50 values for ImageNames, 50 values
  for MarketplaceProductCodes".
ImageCriterionRequest (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImageCriterionRequest.html):
ImageNames "can include wildcards (? and *). Length: 1–128 characters. With ?, the minimum is 3
characters", letters, digits, ( ) [ ] . / - ' @ _ * ? and spaces; ImageProviders: "When none is specified,
no other values can be specified"; MarketplaceProductCodes "Length: 1-25 characters", letters and digits.
CreationDateCondition.MaximumDaysSinceCreated: "a value of 300 allows images that were created within the
last 300 days"; DeprecationTimeCondition.MaximumDaysSinceDeprecated: "The maximum number of days that have
elapsed since the image was deprecated. Set to 0 to exclude all deprecated images." Both 0-2147483647.
GetAllowedImagesSettings State: "disabled: All AMIs are allowed."; ManagedBy "account | declarative-policy".
Image.ImageAllowed: "If true, the AMI satisfies the criteria for Allowed AMIs and can be discovered and
used in the account. If false and Allowed AMIs is set to enabled, the AMI can't be discovered or used [...]
If false and Allowed AMIs is set to audit-mode, the AMI can be discovered and used in the account."

The emulator's choices, where the documents say nothing:
- ImageAllowed appears while the setting is enabled or in audit mode, and is absent while disabled;
  the account's own AMIs are ImageAllowed true (they are always discoverable and usable).
  The image-allowed filter reads true for every AMI while disabled ("All AMIs are allowed").
- RunInstances of an AMI the criteria don't allow (enabled state), launch templates included, answers
  InvalidAMIID.NotFound: to the account the AMI is not discoverable, as if it did not exist; no code is
  documented. DescribeImages leaves such AMIs out, asked for by id too (InvalidAMIID.NotFound when
  nothing else is left).
- Invalid criteria answer InvalidParameterValue. An ImageCriterion without any parameter matches every
  AMI (all of no parameters).
- ImageWatermarks and ScanResultCondition (issue 34; ImageCriterionRequest in botocore's model) are
  accepted within their documented limits, stored and answered back. ImageWatermarks: "An AMI is allowed
  if it carries at least one watermark that satisfies an ImageWatermarkFilter"; ScanResultCondition:
  "AMIs that Amazon Inspector has not scanned are not allowed when you specify this condition". The
  emulator has neither AttachImageWatermark nor Amazon Inspector, so no AMI carries a watermark or scan
  results (DescribeImages reports none): a criterion with either parameter matches no AMI, which is what
  AWS does for an AMI without watermark or scan.
- amazon / aws-marketplace / aws-backup-vault match the AMI's owner alias (the seeded EKS AMIs are
  "amazon"); "none" matches no AMI (own ones are allowed anyway).
- Times are the emulator's clock (clock.py); ages compare to the exact day counts, not calendar days.
- ManagedBy is always "account": declarative policies are not modelled. Criteria are kept while disabled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models import EC2Backend
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response

from . import clock, replaces
from .common import as_utc, aws_error

DISABLED, ENABLED, AUDIT = "disabled", "enabled", "audit-mode"
PROVIDER_ALIASES = ("amazon", "aws-marketplace", "aws-backup-vault")
NONE = "none"
MAX_CRITERIA, MAX_PROVIDERS, MAX_NAMES, MAX_CODES = 10, 200, 50, 50
MAX_DAYS = 2_147_483_647
IMAGE_NAME = re.compile(r"[A-Za-z0-9()\[\]./\-'@_*? ]{1,128}")
PRODUCT_CODE = re.compile(r"[A-Za-z0-9]{1,25}")
ACCOUNT_ID = re.compile(r"[0-9]{12}")
MAX_WATERMARKS = 50
SEVERITIES = ("informational", "low", "medium", "high", "critical")
WATERMARK_DAYS = ("MaximumDaysSinceSourceImageCreated", "MaximumDaysSinceWatermarkCreated")
SCAN_DAYS = ("MaxDaysSinceLastFindingScan", *(f"MaxDaysSince{s.capitalize()}FixAvailable" for s in SEVERITIES))


@dataclass
class Settings:
    state: str = DISABLED
    criteria: list[dict[str, Any]] = field(default_factory=list)


def settings(backend: EC2Backend) -> Settings:
    """This account's settings in this Region: disabled, no criteria, until changed."""
    return backend.__dict__.setdefault("_gio_allowed_images", Settings())


def _name_pattern(name: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in name))


def _days(condition: dict[str, Any] | None, member: str) -> timedelta | None:
    return None if not condition or condition.get(member) is None else timedelta(days=int(condition[member]))


def matches(criterion: dict[str, Any], ami: Ami) -> bool:
    """All of the criterion's parameters, each matched by any of its values."""
    now = clock.now()
    providers = criterion.get("ImageProviders")
    if providers and not any(ami.owner_id == p or (p in PROVIDER_ALIASES and ami.owner_alias == p)
                             for p in providers):
        return False
    names = criterion.get("ImageNames")
    if names and not any(_name_pattern(name).fullmatch(ami.name or "") for name in names):
        return False
    codes = criterion.get("MarketplaceProductCodes")
    if codes and not set(codes) & set(ami.product_codes or []):
        return False
    max_age = _days(criterion.get("CreationDateCondition"), "MaximumDaysSinceCreated")
    if max_age is not None and now - as_utc(ami.creation_date) > max_age:
        return False
    max_deprecated = _days(criterion.get("DeprecationTimeCondition"), "MaximumDaysSinceDeprecated")
    deprecated_at = getattr(ami, "deprecation_time", None)
    if max_deprecated is not None and deprecated_at is not None:
        since = now - as_utc(deprecated_at)
        if since >= timedelta(0) and (not max_deprecated or since > max_deprecated):
            return False
    # No AMI of the emulator carries a watermark or Amazon Inspector scan results (see above): a
    # criterion that asks for either matches none.
    if criterion.get("ImageWatermarks") or criterion.get("ScanResultCondition"):
        return False
    return True


def allowed(backend: EC2Backend, ami: Ami) -> bool:
    """Whether the account's criteria allow the AMI (its own AMIs always are)."""
    if ami.owner_id == backend.account_id:
        return True
    return any(matches(criterion, ami) for criterion in settings(backend).criteria)


def discoverable(backend: EC2Backend, ami: Ami) -> bool:
    """Only allowed AMIs are discoverable while the setting is enabled."""
    return settings(backend).state != ENABLED or allowed(backend, ami)


def check_launch(backend: EC2Backend, ami: Ami) -> None:
    """RunInstances (launch templates too) only from allowed AMIs while the setting is enabled."""
    if not discoverable(backend, ami):
        raise aws_error("InvalidAMIID.NotFound", f"The image id '[{ami.id}]' does not exist "
                                                 "(not allowed by this account's Allowed AMIs settings)")


def filter_value(ami: Ami) -> bool:
    """DescribeImages' image-allowed filter: the criteria's verdict, true for all while disabled."""
    backend = ami.ec2_backend
    return settings(backend).state == DISABLED or allowed(backend, ami)


@replaces(Ami, "image_allowed", new=True)
@property
def image_allowed(self: Ami) -> bool | None:
    """Image.ImageAllowed for the account reading it (the AMI's backend is the reader's: org_sharing.py)."""
    backend = self.ec2_backend
    return None if settings(backend).state == DISABLED else allowed(backend, self)


def _criterion(given: dict[str, Any]) -> dict[str, Any]:
    """One ImageCriterionRequest checked, as GetAllowedImagesSettings answers it back."""
    criterion: dict[str, Any] = {}
    providers = list(given.get("ImageProviders") or [])
    if len(providers) > MAX_PROVIDERS:
        raise aws_error("InvalidParameterValue", f"An ImageCriterion takes at most {MAX_PROVIDERS} ImageProviders.")
    for provider in providers:
        if provider not in (*PROVIDER_ALIASES, NONE) and not ACCOUNT_ID.fullmatch(provider):
            raise aws_error("InvalidParameterValue",
                            f"Value ({provider}) for ImageProviders is invalid: amazon, aws-marketplace, "
                            "aws-backup-vault, none or a 12-digit account ID.")
    if NONE in providers and len(providers) > 1:
        raise aws_error("InvalidParameterValue", "When none is specified, no other ImageProviders can be specified.")
    names = list(given.get("ImageNames") or [])
    if len(names) > MAX_NAMES:
        raise aws_error("InvalidParameterValue", f"An ImageCriterion takes at most {MAX_NAMES} ImageNames.")
    for name in names:
        if not IMAGE_NAME.fullmatch(name) or ("?" in name and len(name) < 3):
            raise aws_error("InvalidParameterValue", f"Value ({name}) for ImageNames is invalid.")
    codes = list(given.get("MarketplaceProductCodes") or [])
    if len(codes) > MAX_CODES:
        raise aws_error("InvalidParameterValue", f"An ImageCriterion takes at most {MAX_CODES} MarketplaceProductCodes.")
    for code in codes:
        if not PRODUCT_CODE.fullmatch(code):
            raise aws_error("InvalidParameterValue", f"Value ({code}) for MarketplaceProductCodes is invalid.")
    for key, values in (("ImageProviders", providers), ("MarketplaceProductCodes", codes), ("ImageNames", names)):
        if values:
            criterion[key] = values
    for condition, member in (("DeprecationTimeCondition", "MaximumDaysSinceDeprecated"),
                              ("CreationDateCondition", "MaximumDaysSinceCreated")):
        days = (given.get(condition) or {}).get(member)
        if days is None:
            continue
        criterion[condition] = {member: _days_value(member, days)}
    watermarks = [_watermark_filter(f or {}) for f in given.get("ImageWatermarks") or []]
    if len(watermarks) > MAX_WATERMARKS:
        raise aws_error("InvalidParameterValue", f"An ImageCriterion takes at most {MAX_WATERMARKS} ImageWatermarks.")
    if watermarks:
        criterion["ImageWatermarks"] = watermarks
    scan = _scan_condition(given.get("ScanResultCondition"))
    if scan is not None:
        criterion["ScanResultCondition"] = scan
    return criterion


def _days_value(member: str, days: Any) -> int:
    if not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
        raise aws_error("InvalidParameterValue", f"Value ({days}) for {member} is invalid: 0-{MAX_DAYS}.")
    return days


def _watermark_filter(given: dict[str, Any]) -> dict[str, Any]:
    """ImageWatermarkFilterRequest: WatermarkKey and SourceImageRegion with * and ?, day limits 0-2^31-1."""
    kept = {key: given[key] for key in ("WatermarkKey", "SourceImageRegion") if given.get(key) is not None}
    kept.update({key: _days_value(key, given[key]) for key in WATERMARK_DAYS if given.get(key) is not None})
    return kept


def _scan_condition(given: dict[str, Any] | None) -> dict[str, Any] | None:
    """ScanResultConditionRequest: MaximumSeverityLabel one of Inspector's severities, day limits 0-2^31-1."""
    if given is None:
        return None
    kept = {key: _days_value(key, given[key]) for key in SCAN_DAYS if given.get(key) is not None}
    severity = given.get("MaximumSeverityLabel")
    if severity is not None:
        if severity not in SEVERITIES:
            raise aws_error("InvalidParameterValue", f"Value ({severity}) for MaximumSeverityLabel is invalid: "
                                                     f"{' | '.join(SEVERITIES)}.")
        kept["MaximumSeverityLabel"] = severity
    return kept


@replaces(EC2Response, "enable_allowed_images_settings", new=True)
def enable_allowed_images_settings(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    state = self._get_param("AllowedImagesSettingsState")
    if state is None:
        raise aws_error("MissingParameter", "The request must contain the parameter AllowedImagesSettingsState.")
    if state not in (ENABLED, AUDIT):
        raise aws_error("InvalidParameterValue", f"Value ({state}) for parameter AllowedImagesSettingsState is "
                                                 "invalid: enabled | audit-mode.")
    settings(self.ec2_backend).state = state
    return ActionResult({"AllowedImagesSettingsState": state})


@replaces(EC2Response, "disable_allowed_images_settings", new=True)
def disable_allowed_images_settings(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    settings(self.ec2_backend).state = DISABLED
    return ActionResult({"AllowedImagesSettingsState": DISABLED})


@replaces(EC2Response, "get_allowed_images_settings", new=True)
def get_allowed_images_settings(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    current = settings(self.ec2_backend)
    return ActionResult({"State": current.state, "ImageCriteria": [dict(c) for c in current.criteria],
                         "ManagedBy": "account"})


@replaces(EC2Response, "replace_image_criteria_in_allowed_images_settings", new=True)
def replace_image_criteria_in_allowed_images_settings(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    given = self._get_param("ImageCriteria") or []
    if len(given) > MAX_CRITERIA:
        raise aws_error("InvalidParameterValue", f"ImageCriteria can include up to {MAX_CRITERIA} ImageCriterion.")
    criteria = [_criterion(criterion or {}) for criterion in given]
    settings(self.ec2_backend).criteria = criteria
    return ActionResult({"ReturnValue": True})
