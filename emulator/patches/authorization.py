"""IAM enforcement (`/moto-api/reset-auth`, fixtures.py enforce-iam) that authorizes a request as AWS does:
against the ARNs of the resources it touches, with the resources' tags as condition keys, and an Allow
whose condition is not met simply not applying (moto 5.2.5 authorizes every action against Resource "*",
evaluates only StringEquals, and answers an unmet condition with a Deny).

AWS, policy evaluation logic: "By default, all requests are implicitly denied"; "An explicit allow in an
identity-based policy overrides this default"; "an explicit deny in any policy overrides any allows". A
statement applies when its Action (or NotAction), Resource (or NotResource) and every Condition match.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
("If the key that you specify in a policy condition is not present in the request context, the values do
not match and the condition is false. If the policy condition requires that the key is not matched, such as
StringNotLike or ArnNotLike, and the right key is not present, the condition is true"; `...IfExists`: "If the
policy key is present ..., process the key as specified ... If the key is not present, evaluate the condition
element as true"; Null: "true" when the key is absent.)
Resources and condition keys per action, from the Service Authorization Reference:
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html (image
`arn:${Partition}:ec2:${Region}::image/${ImageId}`, snapshot `arn:${Partition}:ec2:${Region}::snapshot/${SnapshotId}`,
instance `arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}`; aws:ResourceTag/${TagKey} and
ec2:ResourceTag/${TagKey} on each)
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html (parameter
`arn:${Partition}:ssm:${Region}:${Account}:parameter/${ParameterNameWithoutLeadingSlash}`; aws:ResourceTag,
ssm:ResourceTag; AWS's public parameters have no account: `arn:aws:ssm:REGION::parameter/aws/service/...`)
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticblockstore.html (the EBS
direct APIs act on the EC2 snapshot ARN)
A request touching several resources (CreateTags of several ids, GetParameters of several names) is allowed
only if each of them is.

The refusal names the caller, the action and the resource, as the IAM guide's access-denied messages do:
"User: ARN is not authorized to perform: ACTION on resource: RESOURCE because no identity-based policy allows
the ACTION action" (or "with an explicit deny in an identity-based policy"),
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html; EC2's UnauthorizedOperation
begins "You are not authorized to perform this operation."
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html; the encoded authorization
failure message EC2 appends is not modelled). error_protocol.py answers it as each service's own code.

Modelled: the actions in RESOURCES (others keep moto's Resource "*": a statement naming ARNs allows none of
them, as AWS denies an action that supports only "*"); the keys aws:ResourceTag/K, ec2:ResourceTag/K (EC2
only: the EBS reference lists aws:ResourceTag alone), ssm:ResourceTag/K (SSM) of those actions' resources,
with their current tags; the operators StringEquals, StringNotEquals, StringEqualsIgnoreCase,
StringNotEqualsIgnoreCase, StringLike, StringNotLike (each also ...IfExists) and Null. Anything else in a
Condition (another key, operator, a set operator, a policy variable) is not evaluated and counts against the
caller, as in sts_trust.py: an Allow under it allows nothing, a Deny under it denies. Role trust
(sts:AssumeRole's second half) is sts_trust.py's. Not modelled: permissions boundaries, SCPs, session
policies, resource-based policies.

Permissions AWS checks that are no API call of their own, so moto never asks for them (each cited below):
ec2:CreateTags for tagging on creation (created_tags), iam:PassRole for the role of an instance profile an
instance is launched with (passed_roles), and ec2:DescribeImages for the validation of an aws:ec2:image SSM
parameter (image_validation_allowed, read by ssm_image_parameters.py).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

from moto.core.exceptions import AccessDeniedError
from moto.ec2.models import ec2_backends
from moto.iam.access_control import IAMPolicy, IAMRequest
from moto.iam.models import iam_backends
from moto.ssm.models import ssm_backends
from moto.utilities.utils import get_partition

from . import replaces

# In the emulator's log: which action a policy lacks is what a test under a least-privilege policy looks for.
LOG = logging.getLogger("gio-emulator.authorization")


@dataclass(frozen=True)
class Target:
    """A resource an action touches: its ARN and, for the resources modelled, the condition keys the emulator
    evaluates (`evaluated`, a pattern of lower-cased names: one absent from `keys` is absent from the request
    context) and their values (None: no key is evaluated)."""

    arn: str
    keys: dict[str, str] | None = None
    evaluated: str = r"(aws|ec2|ssm):resourcetag/.+"


ANY = Target("*")

# The EC2 resource types a CreateTags / DeleteTags id names, by prefix; images and snapshots have no account
# in their ARN.
EC2_TYPES = {"ami": "image", "snap": "snapshot", "i": "instance", "vol": "volume", "lt": "launch-template",
             "sg": "security-group", "subnet": "subnet", "vpc": "vpc", "eni": "network-interface",
             "igw": "internet-gateway", "rtb": "route-table", "key": "key-pair"}
UNOWNED = ("image", "snapshot")


def _tag_keys(tags: dict[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    return {f"{prefix}:resourcetag/{key}": value for prefix in prefixes for key, value in tags.items()}


def ec2_target(request: IAMRequest, resource_id: str, keys: tuple[str, ...] = ("aws", "ec2")) -> Target:
    prefix = resource_id.split("-", 1)[0]
    kind = EC2_TYPES.get(prefix)
    if kind is None:
        return Target(f"arn:{get_partition(request._region)}:ec2:{request._region}:{request.account_id}:{prefix}/{resource_id}")
    account = "" if kind in UNOWNED else request.account_id
    arn = f"arn:{get_partition(request._region)}:ec2:{request._region}:{account}:{kind}/{resource_id}"
    tags = ec2_backends[request.account_id][request._region].tags.get(resource_id, {})
    return Target(arn, _tag_keys(tags, keys))


def query_values(request: IAMRequest, name: str) -> list[str]:
    """The values of a Query-protocol parameter, one (`Name`) or a list (`Name.1`, `Name.2`, ...)."""
    pattern = re.compile(rf"{re.escape(name)}(?:\.(\d+))?")  # the name itself may hold a dot
    found = sorted((int(match[1] or 0), values) for key, values in request._data.items()
                   if (match := pattern.fullmatch(key)))
    return [value for _, values in found for value in (values if isinstance(values, list) else [values])]


def ec2_ids(parameter: str) -> Callable[[IAMRequest], list[Target]]:
    return lambda request: [ec2_target(request, resource_id) for resource_id in query_values(request, parameter)]


def json_body(request: IAMRequest) -> dict[str, Any]:
    try:
        body = json.loads(request._body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def parameter_target(request: IAMRequest, name: str) -> Target:
    """An SSM parameter by name or ARN (a `:version` or `:label` selector dropped)."""
    if name.startswith("arn:"):
        name = "/" + name.split(":parameter/", 1)[-1]
    name = re.sub(r":[^/:]*$", "", name)
    bare = name.removeprefix("/")
    account = "" if bare.startswith("aws/service/") else request.account_id
    arn = f"arn:{get_partition(request._region)}:ssm:{request._region}:{account}:parameter/{bare}"
    backend = ssm_backends[request.account_id][request._region]
    parameter = backend.get_parameter(name) if name else None
    tags = backend._resource_tags.get("Parameter", {}).get(parameter.name, {}) if parameter else {}
    return Target(arn, _tag_keys(tags, ("aws", "ssm")))


def ssm_names(*members: str) -> Callable[[IAMRequest], list[Target]]:
    def targets(request: IAMRequest) -> list[Target]:
        body = json_body(request)
        if body.get("ResourceType", "Parameter") != "Parameter":
            return [ANY]
        names = [name for member in members for name in
                 (body.get(member) if isinstance(body.get(member), list) else [body.get(member)]) if isinstance(name, str)]
        return [parameter_target(request, name) for name in names]

    return targets


SNAPSHOT_ID = re.compile(r"snap-[0-9a-fA-F]+")


def ebs_snapshots(request: IAMRequest) -> list[Target]:
    """The snapshots an EBS direct request names: in its path, and ListChangedBlocks' firstSnapshotId."""
    path, _, query = request._path.partition("?")
    first = parse_qs(query).get("firstSnapshotId", [])
    named = SNAPSHOT_ID.findall(unquote(path)) + [value for value in first if SNAPSHOT_ID.fullmatch(value)]
    return [ec2_target(request, snapshot_id, ("aws",)) for snapshot_id in dict.fromkeys(named)]


# Action -> the resources it is authorized against.
RESOURCES: dict[str, Callable[[IAMRequest], list[Target]]] = {
    **{f"ec2:{action}": ec2_ids("ImageId") for action in (
        "DeregisterImage", "DisableImage", "EnableImage", "ModifyImageAttribute", "EnableImageDeregistrationProtection",
        "DisableImageDeregistrationProtection", "EnableImageDeprecation", "DisableImageDeprecation")},
    **{f"ec2:{action}": ec2_ids("SnapshotId") for action in (
        "DeleteSnapshot", "ModifySnapshotTier", "RestoreSnapshotTier", "ModifySnapshotAttribute", "LockSnapshot",
        "UnlockSnapshot")},
    "ec2:TerminateInstances": ec2_ids("InstanceId"),
    "ec2:CreateTags": ec2_ids("ResourceId"),
    "ec2:DeleteTags": ec2_ids("ResourceId"),
    **{f"ssm:{action}": ssm_names("Name") for action in (
        "PutParameter", "GetParameter", "GetParameterHistory", "DeleteParameter", "LabelParameterVersion",
        "UnlabelParameterVersion")},
    "ssm:GetParameters": ssm_names("Names"),
    "ssm:DeleteParameters": ssm_names("Names"),
    **{f"ssm:{action}": ssm_names("ResourceId") for action in (
        "AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource")},
    **{f"ebs:{action}": ebs_snapshots for action in (
        "ListSnapshotBlocks", "ListChangedBlocks", "GetSnapshotBlock", "PutSnapshotBlock", "CompleteSnapshot")},
}


# The extra authorization of tagging on creation: "If tags are specified in the resource-creating action,
# Amazon performs additional authorization on the ec2:CreateTags action", with the keys ec2:CreateAction (the
# creating action's name) and aws:RequestTag/K (the tags asked for); the resource does not exist yet, so it
# has no aws:ResourceTag. https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html
# EBS StartSnapshot likewise: the Service Authorization Reference maps the operation StartSnapshot to the IAM
# actions ebs:StartSnapshot and ec2:CreateTags ("Tagging, Write"), asked here as for EC2, when Tags are given.
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticblockstore.html
ON_CREATION = r"ec2:createaction|aws:requesttag/.+|(aws|ec2):resourcetag/.+"


def spec_tags(data: dict[str, Any], n: str) -> dict[str, str]:
    """The tags of an EC2 TagSpecification.N (TagSpecification.N.Tag.M.Key / .Value)."""
    tags = {}
    for key, value in data.items():
        if found := re.fullmatch(rf"TagSpecification\.{n}\.Tag\.(\d+)\.Key", key):
            tags[_listed(value)[0]] = _listed(data.get(f"TagSpecification.{n}.Tag.{found[1]}.Value", [""]))[0]
    return tags


def created_tags(request: IAMRequest) -> list[Target]:
    """The resources an EC2 request tags on creation (TagSpecification.N) or EBS StartSnapshot's (Tags)."""
    service, action = request._action.split(":", 1)
    specs: list[tuple[str, dict[str, str]]] = []
    if service == "ec2":
        for key, kind in request._data.items():
            if found := re.fullmatch(r"TagSpecification\.(\d+)\.ResourceType", key):
                specs.append((_listed(kind)[0], spec_tags(request._data, found[1])))
    elif request._action == "ebs:StartSnapshot":
        specs.append(("snapshot", {t["Key"]: t.get("Value", "") for t in json_body(request).get("Tags") or []
                                   if isinstance(t, dict) and "Key" in t}))
    partition = get_partition(request._region)
    return [Target(f"arn:{partition}:ec2:{request._region}:{'' if kind in UNOWNED else request.account_id}:{kind}/*",
                   {"ec2:createaction": action, **{f"aws:requesttag/{k}": v for k, v in tags.items()}}, ON_CREATION)
            for kind, tags in specs if tags]


# Launching an instance with an instance profile passes the profile's role to EC2: "The identities in your AWS
# account, such as IAM users, must have specific permissions to launch an Amazon EC2 instance with an IAM role
# [...] You must grant permission to use the following API actions as required: iam:PassRole", whose Resource is
# the role's ARN ("specify the ARNs of specific IAM roles with iam:PassRole").
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/permission-to-pass-iam-roles.html
# iam:PassedToService is the service principal the role is passed to; iam:AssociatedResourceArn (the instance
# to be) is not modelled. https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html
# Action -> the service the roles of its instance profile (IamInstanceProfile.Name / .Arn) are passed to.
PASSED_TO = {"ec2:RunInstances": "ec2.amazonaws.com"}


def passed_roles(request: IAMRequest) -> list[Target]:
    """The roles of the instance profile the request launches with, as iam:PassRole targets. An unknown
    profile passes nothing: the action itself refuses it."""
    service = PASSED_TO.get(request._action)
    names = query_values(request, "IamInstanceProfile.Name")
    arns = query_values(request, "IamInstanceProfile.Arn")
    if service is None or not (names or arns):
        return []
    # dict's own get: no IAM backend is made for the asking
    backend = dict.get(dict.get(iam_backends, request.account_id) or {}, get_partition(request._region))
    profiles = [p for p in (backend.instance_profiles.values() if backend else []) if p.name in names or p.arn in arns]
    return [Target(role.arn, {"iam:passedtoservice": service}, "iam:passedtoservice")
            for profile in profiles for role in profile.roles]


# "To create an aws:ec2:image data type parameter, the user must have both ssm:PutParameter and
# ec2:DescribeImages permissions."
# https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-ec2-aliases.html
# How a missing ec2:DescribeImages shows is undocumented; the value is validated asynchronously and "If you
# submit an invalid AMI value, the PutParameter operation will return success, but the asynchronous validation
# will fail and the parameter will not be created or updated" (PutParameter, DataType): the emulator fails the
# validation the same way (ssm_image_parameters.py) and logs the refusal naming ec2:DescribeImages.
_served = threading.local()  # gio_emulator.py serves each request on a thread of its own (threaded=True)


def _note_image_validation(request: IAMRequest, policies: list[Any]) -> None:
    """For a PutParameter whose caller may not call ec2:DescribeImages: the caller, for image_validation_allowed."""
    refused = request._action == "ssm:PutParameter" and decision(policies, "ec2:DescribeImages", ANY) != "allow"
    _served.validation_refused = request._access_key.arn if refused else None


def image_validation_allowed(parameter: str) -> bool:
    """Whether the PutParameter being served may have the aws:ec2:image value it writes validated (always when
    IAM is not enforced); a refusal is logged as the others are."""
    refused = getattr(_served, "validation_refused", None)
    _served.validation_refused = None
    if refused:
        LOG.warning("denied User: %s is not authorized to perform: ec2:DescribeImages (the validation of the "
                    "aws:ec2:image value written to %s fails)", refused, parameter)
    return refused is None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` any one."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


STRING_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringEqualsIgnoreCase": lambda expected, actual: expected.lower() == actual.lower(),
    "StringLike": lambda expected, actual: _glob(expected, actual, case=True),
}
NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
           "StringNotLike": "StringLike"}


def _key(name: str) -> str:
    """A condition key as the context holds it: the service and key name case-insensitive, the tag key as is."""
    head, slash, tag = name.partition("/")
    return head.lower() + slash + tag


def key_met(operator: str, values: list[Any], actual: str | None) -> bool | None:
    """One operator on one key; None when the emulator does not evaluate it."""
    if any(not isinstance(value, (str, bool)) or "${" in str(value) for value in values):
        return None
    wanted = [str(value).lower() if isinstance(value, bool) else value for value in values]
    if operator == "Null":
        return any((value == "true") == (actual is None) for value in wanted if value in ("true", "false"))
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if base in STRING_OPERATORS:
        if actual is None:
            return if_exists
        return any(STRING_OPERATORS[base](value, actual) for value in wanted)
    if base in NEGATED:
        if actual is None:
            return True
        return not any(STRING_OPERATORS[NEGATED[base]](value, actual) for value in wanted)
    return None


def condition_met(condition: Any, target: Target) -> bool | None:
    """Every operator and key must hold: True, False, or None when something not evaluated could decide."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        return None
    results: list[bool | None] = []
    for operator, keys in condition.items():
        for name, values in (keys.items() if isinstance(keys, dict) else [("", None)]):
            key = _key(str(name))
            modelled = target.keys is not None and re.fullmatch(target.evaluated, key)
            results.append(key_met(operator, _listed(values), target.keys.get(key)) if modelled else None)
    return False if False in results else None if None in results else True


def _matches(statement: dict[str, Any], element: str, value: str, *, case: bool) -> bool:
    if element in statement:
        return any(_glob(str(p), value, case=case) for p in _listed(statement[element]))
    negated = "Not" + element
    if negated in statement:
        return not any(_glob(str(p), value, case=case) for p in _listed(statement[negated]))
    return element == "Resource"  # no Resource element: trust policies, which name no resource


def decision(policies: list[Any], action: str, target: Target) -> str:
    """"deny" (explicit), "allow", or "implicit" for one resource."""
    allowed = False
    for policy in policies:
        document = IAMPolicy(policy)._policy_json
        for statement in _listed(document.get("Statement", [])):
            if not (isinstance(statement, dict) and _matches(statement, "Action", action, case=False)
                    and _matches(statement, "Resource", target.arn, case=True)):
                continue
            met = condition_met(statement.get("Condition"), target)
            if statement.get("Effect") == "Deny" and met is not False:
                return "deny"
            allowed |= statement.get("Effect") == "Allow" and met is True
    return "allow" if allowed else "implicit"


class AccessDenied(AccessDeniedError):
    """moto's AccessDenied (answered in each service's protocol by error_protocol.py) with AWS's message."""

    def __init__(self, request: IAMRequest, action: str, target: Target, explicit: bool) -> None:
        where = "" if target.arn == "*" else f" on resource: {target.arn}"
        why = ("with an explicit deny in an identity-based policy" if explicit
               else f"because no identity-based policy allows the {action} action")
        lead = "You are not authorized to perform this operation. " if request._service == "ec2" else ""
        message = f"{lead}User: {request._access_key.arn} is not authorized to perform: {action}{where} {why}"
        super(AccessDeniedError, self).__init__("AccessDenied", message)
        LOG.warning("denied %s", message)


@replaces(IAMRequest, "check_action_permitted")
def check_action_permitted(self: IAMRequest, resource: str) -> None:
    if self._action == "sts:GetCallerIdentity":  # "No permissions are required to perform this operation"
        return
    resolve = RESOURCES.get(self._action)
    targets = resolve(self) if resolve else [Target(resource)]
    policies = self._access_key.collect_policies()
    checks = [(self._action, target) for target in targets or [Target(resource)]]
    checks += [("ec2:CreateTags", target) for target in created_tags(self)]
    checks += [("iam:PassRole", target) for target in passed_roles(self)]
    for action, target in checks:
        found = decision(policies, action, target)
        if found != "allow":
            raise AccessDenied(self, action, target, explicit=found == "deny")
    _note_image_validation(self, policies)
