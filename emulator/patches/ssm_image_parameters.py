"""SSM parameters of data type aws:ec2:image: validated asynchronously, and their data type fixed for life.

AWS, PutParameter (DataType, https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html):
"If you call PutParameter with aws:ec2:image data type, a successful HTTP 200 response does not guarantee
that your parameter was successfully created or updated. The aws:ec2:image value is validated
asynchronously, and the PutParameter call returns before the validation is complete. If you submit an
invalid AMI value, the PutParameter operation will return success, but the asynchronous validation will
fail and the parameter will not be created or updated." Systems Manager "validates the parameter value is
in the required format, such as ami-12345abcdeEXAMPLE, and that the specified AMI is available in your
Amazon Web Services account."
"Native parameter support for Amazon Machine Image IDs" (How AMI format validation works,
https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-ec2-aliases.html):
"Systems Manager doesn't create the parameter immediately. It instead performs an asynchronous validation
operation [...]. A parameter version number might be generated before the validation operation is
complete." The outcome is reported only through EventBridge ("Parameter Store Change" with an
`exception`).
"Parameter data types in Parameter Store"
(https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-data-types.html): "You can
change an existing parameter from one data type to another [...]. The exceptions are aws:ec2:image and
aws:ssm:integration. You can't change a parameter to or from either of these data types."

moto 5.2.5 stores any aws:ec2:image value at once, whether an AMI or not, and lets an overwrite change the
data type either way; an overwrite without DataType turns the parameter back to `text`.

The emulator's choices, where the documents say nothing:
- PutParameter answers the new version's number at once; the version is invisible (GetParameter,
  GetParameters, GetParameterHistory, DescribeParameters, GetParametersByPath, a `name:version` selector:
  ParameterVersionNotFound) for VALIDATION of the emulator's clock, then it appears if the value was valid
  and never does otherwise. What a reader sees meanwhile and after a failure is unsaid; "will not be
  created or updated" is read as: the parameter stays as it was (absent, for a create).
- The value is judged when written: the format `ami-` + 8 or 17 hex digits, and an AMI the writing account
  can launch in the Region (its own, or shared with it, or public), `available`, and allowed by the
  account's Allowed AMIs settings when enabled (patch 36: what they refuse is not discoverable). With IAM
  enforced, a writer without ec2:DescribeImages fails the validation too ("To create an aws:ec2:image data
  type parameter, the user must have both ssm:PutParameter and ec2:DescribeImages permissions", same guide;
  authorization.image_validation_allowed).
- A failed version leaves no trace: the next write takes its number again.
- A change to or from aws:ec2:image or aws:ssm:integration is refused at once with ValidationException
  (the code is undocumented; the generic SSM validation error chosen), and nothing is written.
- An overwrite without DataType keeps the parameter's data type (the reference gives `text` as the default
  for a new parameter only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.ssm.exceptions import ValidationException
from moto.ssm.models import Parameter, SimpleSystemManagerBackend
from moto.ssm.responses import SimpleSystemManagerResponse

from . import replaces
from .allowed_images import discoverable
from .authorization import image_validation_allowed
from .clock import now
from .org_sharing import launchable

IMAGE = "aws:ec2:image"
# The data types a parameter can be changed neither to nor from.
FIXED = (IMAGE, "aws:ssm:integration")
# How long a validation takes (undocumented): long enough that a read at once misses the new version, short
# enough that a client polling in real time is hardly slowed.
VALIDATION = timedelta(seconds=1)
AMI_ID = re.compile(r"ami-([0-9a-f]{8}|[0-9a-f]{17})")


@dataclass
class Pending:
    parameter: Parameter
    ready: datetime
    valid: bool


def _pending(backend: SimpleSystemManagerBackend) -> dict[str, list[Pending]]:
    if not hasattr(backend, "_gio_pending"):
        backend._gio_pending = {}  # type: ignore[attr-defined]
    return backend._gio_pending  # type: ignore[attr-defined,no-any-return]


def settle(backend: SimpleSystemManagerBackend) -> None:
    """Ends every validation whose time has come: a valid version joins the parameter's history, in
    version order; an invalid one is dropped. Called before any read or write of the backend."""
    pending, at = _pending(backend), now()
    for name in list(pending):
        waiting = [p for p in pending[name] if p.ready > at]
        for done in (p for p in pending[name] if p.ready <= at and p.valid):
            versions = backend._parameters[name]
            versions.append(done.parameter)
            versions.sort(key=lambda p: p.version)
        if waiting:
            pending[name] = waiting
        else:
            del pending[name]


def _valid(backend: SimpleSystemManagerBackend, value: str) -> bool:
    if not AMI_ID.fullmatch(value):
        return False
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    ami = launchable(ec2, value)
    return ami is not None and ami.state == "available" and discoverable(ec2, ami)


@replaces(SimpleSystemManagerResponse, "put_parameter")
def put_parameter_response(self: SimpleSystemManagerResponse) -> ActionResult:
    """moto's, but an absent DataType reaches the backend as None (moto: `text`), so an overwrite keeps it."""
    param = self.ssm_backend.put_parameter(
        self._get_param("Name"), self._get_param("Description"), self._get_param("Value"),
        self._get_param("Type"), self._get_param("AllowedPattern"), self._get_param("KeyId"),
        self._get_param("Overwrite", False), self._get_param("Tags"), self._get_param("DataType"),
        tier=self._get_param("Tier"), policies=self._get_param("Policies"),
    )
    return ActionResult({"Version": param.version, "Tier": param.tier})


_moto_put_parameter = SimpleSystemManagerBackend.put_parameter


@replaces(SimpleSystemManagerBackend, "put_parameter")
def put_parameter(self: SimpleSystemManagerBackend, name: str, description: str, value: str,
                  parameter_type: str, allowed_pattern: str, keyid: str, overwrite: bool,
                  tags: list[dict[str, str]], data_type: str | None, tier: str | None = None,
                  policies: str | None = None) -> Parameter:
    settle(self)
    key = self._parameters.normalize_name(self._strip_parameter_arn(name))
    current = self._parameters[key][-1] if self._parameters.get(key) else None
    if data_type is None:
        data_type = current.data_type if current is not None and overwrite else "text"
    if current is not None and overwrite and current.data_type != data_type and (
            current.data_type in FIXED or data_type in FIXED):
        raise ValidationException(
            f"The data type of parameter {name} is {current.data_type}; it can't be changed to {data_type}. "
            f"Delete the parameter and create it again with data type {data_type}.")
    if not self._parameters.get(key):
        # moto's defaultdict made an empty entry by looking: gone again, so a create stays a create.
        self._parameters.pop(key, None)
    parameter = _moto_put_parameter(self, name, description, value, parameter_type, allowed_pattern, keyid,
                                    overwrite, tags, data_type, tier, policies)
    held = _pending(self).get(key, [])
    if held:
        parameter.version = max(parameter.version, max(p.parameter.version for p in held) + 1)
    if data_type != IMAGE:
        return parameter
    versions = self._parameters[key]
    versions.remove(parameter)
    if not versions:
        del self._parameters[key]
    valid = image_validation_allowed(name) and _valid(self, value)
    _pending(self).setdefault(key, []).append(Pending(parameter, now() + VALIDATION, valid))
    return parameter


_moto_delete_parameter = SimpleSystemManagerBackend.delete_parameter
_moto_delete_parameters = SimpleSystemManagerBackend.delete_parameters


@replaces(SimpleSystemManagerBackend, "delete_parameter")
def delete_parameter(self: SimpleSystemManagerBackend, name: str) -> None:
    """A deleted parameter takes its versions still being validated with it."""
    settle(self)
    _pending(self).pop(self._parameters.normalize_name(name), None)
    _moto_delete_parameter(self, name)


@replaces(SimpleSystemManagerBackend, "delete_parameters")
def delete_parameters(self: SimpleSystemManagerBackend, names: list[str]) -> list[str]:
    settle(self)
    for name in names:
        _pending(self).pop(self._parameters.normalize_name(name), None)
    return _moto_delete_parameters(self, names)


def _settling(method: str) -> None:
    original = getattr(SimpleSystemManagerBackend, method)

    def settled(self: SimpleSystemManagerBackend, *args: Any, **kwargs: Any) -> Any:
        settle(self)
        return original(self, *args, **kwargs)

    settled.__name__ = method
    settled.__doc__ = f"moto's {method}, once every validation due is settled."
    replaces(SimpleSystemManagerBackend, method)(settled)


# Every read (and label) of parameters sees the validations due; GetParameterHistory is patch 32's, which
# settles first itself, and DescribeImageReferences (patch 28) settles before it reads them.
for _method in ("get_parameter", "get_parameters", "describe_parameters", "get_parameters_by_path",
                "label_parameter_version"):
    _settling(_method)
