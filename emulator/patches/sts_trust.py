"""STS AssumeRole only for a role that exists and whose trust policy lets the caller in (moto 5.2.5:
"the role does not need to exist", so any caller assumed any ARN and became its account).

AWS, AssumeRole: "When you create a role, you create two policies: a role trust policy that specifies
who can assume the role [...]. To assume a role from a different account, your Amazon Web Services
account must be trusted by the role. The trust relationship is defined in the role's trust policy";
ExternalId: "A unique identifier that might be required when you assume a role in another account.
[...] only someone with the ID can assume the role". https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
How to use an external ID: the trust policy's `"Condition": {"StringEquals": {"sts:ExternalId": "..."}}`.
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html
Principal: an account ("123456789012" or "arn:aws:iam::123456789012:root": every principal of that
account), an IAM user, a role (its sessions), an assumed-role session ARN, or "*".
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
Evaluation: an explicit Deny overrides any Allow; nothing allowed is denied.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
The refusal, as STS answers it (HTTP 403, the same whether the role exists or not): `AccessDenied`,
"User: <caller ARN> is not authorized to perform: sts:AssumeRole on resource: <role ARN>".

Evaluated: the trust policy (AssumeRolePolicyDocument) of the role the ARN names, in the ARN's
account; statements with Effect, Principal ("*" or {"AWS": one or a list}), Action (one or a list,
`*` and `?` wildcards, case-insensitive) and Condition StringEquals sts:ExternalId (one value or a
list). The caller is who GetCallerIdentity says it is (moto's identity for unknown credentials:
arn:aws:sts::ACCOUNT:user/moto).
Not modelled: identity-based policies of the caller (the emulator enforces no IAM policy, so
trusting an account is enough), NotPrincipal / NotAction, other condition operators and keys: a
condition the emulator does not evaluate counts against the caller (an Allow under it allows
nothing, a Deny under it denies), so the emulator never lets in whom AWS might refuse.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from moto.iam.models import Role, iam_backends
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException

from . import replaces

ROLE_ARN = re.compile(r"arn:(aws[a-z-]*):iam::([0-9]{12}):role/.+")

_moto_assume_role = TokenResponse.assume_role


class AccessDenied(HTTPException):
    """STS's AccessDenied (HTTP 403), in the Query protocol's error shape (ErrorResponse > Error,
    which is where SDKs read the code; moto's own AccessDeniedError nests it under Errors)."""

    code = 403

    def __init__(self, caller_arn: str, role_arn: str) -> None:
        message = f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        super().__init__(description=(
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>{escape(message)}</Message></Error>"
            "<RequestId></RequestId></ErrorResponse>"))  # moto fills in the request id

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "text/xml")]


@dataclass(frozen=True)
class Caller:
    arn: str
    names: frozenset[str]  # every Principal AWS value that designates the caller

    @classmethod
    def of(cls, response: TokenResponse) -> Caller:
        access_key, backend = response.get_access_key(), response.backend
        _, arn, account = backend.get_caller_identity(access_key, response.region)
        names = {account, f"arn:{response.partition}:iam::{account}:root", arn}
        session = backend.get_assumed_role_from_access_key(access_key)
        if session is not None:
            names.add(session.role_arn)  # a role as principal trusts its sessions
        return cls(arn, frozenset(names))


def role_at(arn: str) -> Role | None:
    """The role the ARN names, if its account's IAM holds it (no backend is made for a stranger)."""
    match = ROLE_ARN.fullmatch(arn or "")
    if match is None:
        return None
    partition, account = match.groups()
    backend = dict.get(dict.get(iam_backends, account) or {}, partition)  # dict's own get: nothing is created
    return next((role for role in list(backend.roles.values()) if role.arn == arn), None) if backend else None


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: str) -> list[dict[str, Any]]:
    try:
        policy = json.loads(document)
    except (TypeError, ValueError):
        return []
    found = policy.get("Statement", []) if isinstance(policy, dict) else []
    return [statement for statement in listed(found) if isinstance(statement, dict)]


def names_caller(principal: Any, caller: Caller) -> bool:
    aws = principal.get("AWS", []) if isinstance(principal, dict) else principal if principal == "*" else []
    return any(name == "*" or name in caller.names for name in listed(aws))


def names_assume_role(action: Any) -> bool:
    patterns = (re.escape(str(a)).replace(r"\*", ".*").replace(r"\?", ".") for a in listed(action))
    return any(re.fullmatch(pattern, "sts:AssumeRole", re.IGNORECASE) for pattern in patterns)


def condition_met(condition: Any, external_id: str | None) -> bool | None:
    """True or False for what is evaluated (every operator and key must hold), None when the
    condition holds something the emulator does not evaluate and nothing evaluated fails."""
    if not isinstance(condition, dict):
        return None
    results: list[bool | None] = []
    for operator, keys in condition.items():
        for key, values in (keys.items() if isinstance(keys, dict) else [(None, None)]):
            evaluated = operator == "StringEquals" and str(key).lower() == "sts:externalid"  # keys: any case
            results.append(external_id in listed(values) if evaluated else None)
    return False if False in results else None if None in results else True


def trusts(role: Role | None, caller: Caller, external_id: str | None) -> bool:
    allowed = denied = False
    for statement in statements(role.assume_role_policy_document) if role else []:
        if not (names_caller(statement.get("Principal"), caller) and names_assume_role(statement.get("Action"))):
            continue
        met = condition_met(statement.get("Condition", {}), external_id)
        allowed |= statement.get("Effect") == "Allow" and met is True
        denied |= statement.get("Effect") == "Deny" and met is not False
    return allowed and not denied


@replaces(TokenResponse, "assume_role")
def assume_role(self: TokenResponse) -> Any:
    """moto's AssumeRole, once the role's trust policy lets the caller in."""
    role_arn, caller = self._get_param("RoleArn"), Caller.of(self)
    if not trusts(role_at(role_arn), caller, self._get_param("ExternalId")):
        raise AccessDenied(caller.arn, role_arn)
    return _moto_assume_role(self)
