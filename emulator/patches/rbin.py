"""Recycle Bin retention rules, the `rbin` service moto 5.2.5 lacks (routes.py serves it): CreateRule,
GetRule, ListRules, UpdateRule, DeleteRule, LockRule, UnlockRule, TagResource, UntagResource,
ListTagsForResource. What the rules retain is recycle_bin.py's (the EC2 side).

As the API reference and the Recycle Bin guide say:
- "Tag-level retention rules ... Resources (of the specified type) that have at least one of these
  tag key and value pairs are automatically retained"; "Region-level retention rules ... apply to all
  of the resources (of the specified type) in the Region ... you can specify exclusion tags to exclude
  resources that have specific tags"; "You can't specify exclusion tags for tag-level retention rules".
- Retention: "EBS snapshots and EBS-backed AMIs: 1 - 365 days", "EBS volumes: 1 - 7 days", unit DAYS.
- "If a resource matches more than one retention rule upon deletion, then the retention rule with the
  longest retention period takes precedence" (recycle-bin-factors). An older user-guide version also
  said a tag-level rule beat a Region-level one; the current guide says only this, which is followed.
- Locks: "You can't lock tag-level retention rules, or Region-level retention rules that have exclusion
  tags"; "A locked retention rule can't be modified or deleted"; UnlockRule leaves it `pending_unlock`
  until the unlock delay (7-30 days) has passed ("can be modified or deleted only after the unlock delay
  period has expired"), on the emulator's clock (clock.py). A rule refused for its lock state answers
  ConflictException, Reason INVALID_RULE_STATE (the model's only reason for it).
- Deleting a rule "no longer retains new resources"; resources already retained keep their period.
Chosen where the docs are silent: a ResourceTag without a value matches the key with any value;
ListRules' ResourceTags / ExcludeResourceTags list the rules that have every pair given; every
invalid parameter is a ValidationException with Reason INVALID_PARAMETER_VALUE (a page token that
does not decode: INVALID_PAGE_TOKEN); quotas (250 rules, a tag pair in 5 rules) are not enforced.
- Activation (patch 47): "When you create your first retention rule, it can take up to 30 minutes for the
  rule to become active" (recycle-bin-working-with-rules); GetRule's Status is `pending` or `available`,
  and "Only retention rules that are in the available state retain resources" (GetRule, Status). So the
  first rule of an account and Region makes the bin of that account and Region active 30 minutes later (the
  documented maximum) on the emulator's clock; until then every rule there is `pending` (GetRule, CreateRule,
  UpdateRule, LockRule answers; ListRules' RuleSummary has no Status) and retains nothing: a resource deleted
  meanwhile is gone for good. Rules made once the bin is active are `available` at once (only the first rule
  is said to take time). Once active, the bin stays so, whatever the clock does afterwards (settled as
  clock.py settles what is final), and deleting every rule does not make a later one wait again (unsaid).
https://docs.aws.amazon.com/recyclebin/latest/APIReference/API_GetRule.html
https://docs.aws.amazon.com/recyclebin/latest/APIReference/API_CreateRule.html
https://docs.aws.amazon.com/recyclebin/latest/APIReference/API_UpdateRule.html
https://docs.aws.amazon.com/recyclebin/latest/APIReference/API_ListRules.html
https://docs.aws.amazon.com/recyclebin/latest/APIReference/API_LockRule.html
https://docs.aws.amazon.com/recyclebin/latest/APIReference/API_UnlockRule.html
https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin-factors.html
https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin-working-with-rules.html
"""

from __future__ import annotations

import base64
import binascii
import random
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.responses import ActionResult, BaseResponse, EmptyResult

from . import clock
from .common import ServiceError

RETENTION_DAYS = {"EBS_SNAPSHOT": (1, 365), "EC2_IMAGE": (1, 365), "EBS_VOLUME": (1, 7)}
UNLOCK_DELAY_DAYS = (7, 30)
# "it can take up to 30 minutes for the rule to become active": the documented maximum, so a client that
# trusts a rule sooner is seen to be wrong.
FIRST_RULE_ACTIVATION = timedelta(minutes=30)


def invalid(message: str, reason: str = "INVALID_PARAMETER_VALUE") -> ServiceError:
    return ServiceError("ValidationException", message, Reason=reason)


def in_wrong_state(rule: Rule) -> ServiceError:
    return ServiceError("ConflictException", f"The retention rule {rule.identifier} is {rule.lock_state()} and "
                                             "can't be modified or deleted.", Reason="INVALID_RULE_STATE")


def _pairs(tags: list[dict[str, str]] | None) -> list[tuple[str, str | None]]:
    return [(t["ResourceTagKey"], t.get("ResourceTagValue")) for t in tags or []]


def _any_pair_on(pairs: list[tuple[str, str | None]], tags: dict[str, str]) -> bool:
    return any(key in tags and value in (None, tags[key]) for key, value in pairs)


@dataclass
class Rule:
    identifier: str
    arn: str
    resource_type: str
    retention_days: int
    description: str = ""
    resource_tags: list[dict[str, str]] = field(default_factory=list)
    exclude_tags: list[dict[str, str]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    lock_configuration: dict[str, Any] | None = None
    locked: bool | None = None  # None: never locked, as AWS reports no LockState then
    lock_end: datetime | None = None  # set by UnlockRule: when the unlock delay ends
    active_from: datetime | None = None  # when the bin of its account and Region is active

    def available(self) -> bool:
        return self.active_from is None or clock.now() >= self.active_from

    def lock_state(self) -> str | None:
        if self.locked is None:
            return None
        if self.locked:
            return "locked"
        return "pending_unlock" if self.lock_end and clock.now() < self.lock_end else "unlocked"

    def retains(self, resource_tags: dict[str, str]) -> bool:
        """Whether this rule retains a deleted resource with these tags."""
        if self.resource_tags:
            return _any_pair_on(_pairs(self.resource_tags), resource_tags)
        return not _any_pair_on(_pairs(self.exclude_tags), resource_tags)

    def check_changeable(self) -> None:
        if self.lock_state() in ("locked", "pending_unlock"):
            raise in_wrong_state(self)

    def answer(self, *, summary: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {
            "Identifier": self.identifier,
            "RuleArn": self.arn,
            "Description": self.description,
            "RetentionPeriod": {"RetentionPeriodValue": self.retention_days, "RetentionPeriodUnit": "DAYS"},
        }
        state = self.lock_state()
        if state:
            result["LockState"] = state
        if summary:
            return result
        result.update(ResourceType=self.resource_type, Status="available" if self.available() else "pending")
        if self.resource_tags:
            result["ResourceTags"] = self.resource_tags
        if self.exclude_tags:
            result["ExcludeResourceTags"] = self.exclude_tags
        if self.lock_configuration:
            result["LockConfiguration"] = self.lock_configuration
        if state == "pending_unlock":
            result["LockEndTime"] = self.lock_end
        return result


class RecycleBinBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.rules: dict[str, Rule] = {}
        self.active_from: datetime | None = None  # set by the first rule: when the bin becomes active
        self.active = False  # settled: the clock saw the bin active

    def activation(self) -> datetime | None:
        """When a rule made now is active: the bin's activation, which the first rule starts; None once
        active."""
        if self.active or (self.active_from is not None and clock.now() >= self.active_from):
            return None
        if self.active_from is None:
            self.active_from = clock.now() + FIRST_RULE_ACTIVATION
        return self.active_from

    def rule(self, identifier: str) -> Rule:
        rule = self.rules.get(identifier or "")
        if rule is None:
            raise ServiceError("ResourceNotFoundException", f"The retention rule {identifier} does not exist.",
                               Reason="RULE_NOT_FOUND")
        return rule

    def rule_by_arn(self, arn: str) -> Rule:
        return self.rule((arn or "").rpartition("/")[2] if (arn or "").startswith("arn:") else "")


rbin_backends = BackendDict(RecycleBinBackend, "rbin")


@clock.settles
def _activated(at: datetime) -> None:
    """Before the clock is set back: a bin the clock saw become active stays active, and so do its rules."""
    for account in list(dict.values(rbin_backends)):  # dict's own methods: only backends that exist
        for backend in list(dict.values(account)):
            if backend.active_from is not None and backend.active_from <= at:
                backend.active = True
                for rule in backend.rules.values():
                    rule.active_from = None


def retaining_rule(account_id: str, region: str, resource_type: str, resource_tags: dict[str, str]) -> Rule | None:
    """The rule that retains a resource of this type and tags deleted now: of the rules that match it,
    the one with the longest retention period; None when no rule does (it is deleted for good)."""
    matching = [rule for rule in rbin_backends[account_id][region].rules.values()
                if rule.resource_type == resource_type and rule.available() and rule.retains(resource_tags)]
    return max(matching, key=lambda rule: rule.retention_days, default=None)


def _retention(resource_type: str, period: dict[str, Any] | None) -> int:
    period = period or {}
    value, unit = period.get("RetentionPeriodValue"), period.get("RetentionPeriodUnit")
    low, high = RETENTION_DAYS[resource_type]
    if unit != "DAYS" or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"The retention period for {resource_type} must be {low}-{high} DAYS; it was {value} {unit}.")
    return value


def _lock_configuration(configuration: dict[str, Any] | None) -> dict[str, Any]:
    delay = (configuration or {}).get("UnlockDelay") or {}
    value, unit = delay.get("UnlockDelayValue"), delay.get("UnlockDelayUnit")
    low, high = UNLOCK_DELAY_DAYS
    if unit != "DAYS" or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"The unlock delay must be {low}-{high} DAYS; it was {value} {unit}.")
    return {"UnlockDelay": {"UnlockDelayValue": value, "UnlockDelayUnit": "DAYS"}}


def _check_scope(resource_tags: list[dict[str, str]], exclude_tags: list[dict[str, str]]) -> None:
    if resource_tags and exclude_tags:
        raise invalid("You can't specify exclusion tags for tag-level retention rules.")


def _check_lockable(rule: Rule) -> None:
    if rule.resource_tags or rule.exclude_tags:
        raise invalid("You can't lock tag-level retention rules, or Region-level retention rules that have "
                      "exclusion tags.")


class RecycleBinResponse(BaseResponse):
    """The Recycle Bin's REST-JSON operations; the action and parameters come from the `rbin` model."""

    def __init__(self) -> None:
        super().__init__(service_name="rbin")
        self.automated_parameter_parsing = True

    @property
    def backend(self) -> RecycleBinBackend:
        return rbin_backends[self.current_account][self.region]

    def create_rule(self) -> ActionResult:
        resource_type = self._get_param("ResourceType")
        if resource_type not in RETENTION_DAYS:
            raise invalid(f"ResourceType must be one of {', '.join(RETENTION_DAYS)}; it was {resource_type}.")
        resource_tags, exclude_tags = self._get_param("ResourceTags") or [], self._get_param("ExcludeResourceTags") or []
        _check_scope(resource_tags, exclude_tags)
        identifier = "".join(random.choices(string.ascii_letters + string.digits, k=11))
        rule = Rule(
            identifier=identifier,
            arn=f"arn:aws:rbin:{self.region}:{self.current_account}:rule/{identifier}",
            resource_type=resource_type,
            retention_days=_retention(resource_type, self._get_param("RetentionPeriod")),
            description=self._get_param("Description") or "",
            resource_tags=resource_tags,
            exclude_tags=exclude_tags,
            tags={t["Key"]: t["Value"] for t in self._get_param("Tags") or []},
        )
        if self._get_param("LockConfiguration") is not None:
            _check_lockable(rule)
            rule.lock_configuration, rule.locked = _lock_configuration(self._get_param("LockConfiguration")), True
        rule.active_from = self.backend.activation()  # a refused request starts no activation
        self.backend.rules[identifier] = rule
        return ActionResult({**rule.answer(), "Tags": [{"Key": k, "Value": v} for k, v in rule.tags.items()]})

    def get_rule(self) -> ActionResult:
        return ActionResult(self.backend.rule(self._get_param("Identifier")).answer())

    def update_rule(self) -> ActionResult:
        rule = self.backend.rule(self._get_param("Identifier"))
        rule.check_changeable()
        resource_type = self._get_param("ResourceType")
        if resource_type not in (None, rule.resource_type):
            raise invalid("You can't update a retention rule's resource type after creation.")
        resource_tags = self._get_param("ResourceTags")
        exclude_tags = self._get_param("ExcludeResourceTags")
        resource_tags = rule.resource_tags if resource_tags is None else resource_tags
        exclude_tags = rule.exclude_tags if exclude_tags is None else exclude_tags
        _check_scope(resource_tags, exclude_tags)
        if self._get_param("RetentionPeriod") is not None:
            rule.retention_days = _retention(rule.resource_type, self._get_param("RetentionPeriod"))
        if self._get_param("Description") is not None:
            rule.description = self._get_param("Description")
        rule.resource_tags, rule.exclude_tags = resource_tags, exclude_tags
        answer = rule.answer()
        answer.pop("LockConfiguration", None)  # UpdateRule's answer has no such member
        return ActionResult(answer)

    def delete_rule(self) -> ActionResult:
        rule = self.backend.rule(self._get_param("Identifier"))
        rule.check_changeable()
        del self.backend.rules[rule.identifier]
        return EmptyResult()

    def list_rules(self) -> ActionResult:
        resource_type = self._get_param("ResourceType")
        if resource_type not in RETENTION_DAYS:
            raise invalid(f"ResourceType must be one of {', '.join(RETENTION_DAYS)}; it was {resource_type}.")
        wanted_tags = _pairs(self._get_param("ResourceTags"))
        wanted_exclusions = _pairs(self._get_param("ExcludeResourceTags"))
        lock_state = self._get_param("LockState")
        rules = sorted((r for r in self.backend.rules.values()
                        if r.resource_type == resource_type
                        and set(wanted_tags) <= set(_pairs(r.resource_tags))
                        and set(wanted_exclusions) <= set(_pairs(r.exclude_tags))
                        and lock_state in (None, r.lock_state())),
                       key=lambda r: r.identifier)
        max_results, token = self._get_param("MaxResults") or 1000, self._get_param("NextToken")
        if not 1 <= max_results <= 1000:
            raise invalid(f"MaxResults must be 1-1000; it was {max_results}.")
        try:
            after = base64.b64decode(token, validate=True).decode() if token else ""
        except (binascii.Error, UnicodeDecodeError):
            raise invalid(f"The NextToken '{token}' is not valid.", "INVALID_PAGE_TOKEN") from None
        rules = [r for r in rules if r.identifier > after]
        page, rest = rules[:max_results], rules[max_results:]
        result: dict[str, Any] = {"Rules": [r.answer(summary=True) for r in page]}
        if rest:
            result["NextToken"] = base64.b64encode(page[-1].identifier.encode()).decode()
        return ActionResult(result)

    def lock_rule(self) -> ActionResult:
        rule = self.backend.rule(self._get_param("Identifier"))
        _check_lockable(rule)
        if rule.lock_state() == "locked":
            raise in_wrong_state(rule)
        rule.lock_configuration = _lock_configuration(self._get_param("LockConfiguration"))
        rule.locked, rule.lock_end = True, None
        return ActionResult(rule.answer())

    def unlock_rule(self) -> ActionResult:
        rule = self.backend.rule(self._get_param("Identifier"))
        if rule.lock_state() != "locked" or rule.lock_configuration is None:
            raise in_wrong_state(rule)
        delay = rule.lock_configuration["UnlockDelay"]["UnlockDelayValue"]
        rule.locked, rule.lock_end = False, clock.now() + timedelta(days=delay)
        return ActionResult(rule.answer())

    def tag_resource(self) -> ActionResult:
        rule = self.backend.rule_by_arn(self._get_param("ResourceArn"))
        rule.tags.update({t["Key"]: t["Value"] for t in self._get_param("Tags") or []})
        return EmptyResult()

    def untag_resource(self) -> ActionResult:
        rule = self.backend.rule_by_arn(self._get_param("ResourceArn"))
        for key in self._get_param("TagKeys") or []:
            rule.tags.pop(key, None)
        return EmptyResult()

    def list_tags_for_resource(self) -> ActionResult:
        rule = self.backend.rule_by_arn(self._get_param("ResourceArn"))
        return ActionResult({"Tags": [{"Key": k, "Value": v} for k, v in rule.tags.items()]})
