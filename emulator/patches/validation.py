"""Every request checked against its operation's input shape in the service's API model, and refused
with that service's own validation error, before moto sees it (moto checks almost nothing: it answered
HTTP 500 or took at face value what AWS refuses, so a client bug only showed on a first real run).

The model is botocore's (the one the SDKs are generated from; the API references print the same
constraints under each member: "Required", "Valid Values", "Length Constraints", "Valid Range",
"Array Members", "Pattern"). A request is read back into members as each protocol writes it:
- ec2 (EC2 Query): form fields, members named by `queryName`, else `locationName` with an upper-case
  first letter, else the member name; lists flattened (`ImageId.1`, `BlockDeviceMapping.1.Ebs.VolumeSize`).
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html
- query (STS, IAM, Auto Scaling): form fields, members by `locationName`, lists as `Name.member.N`
  (flattened ones `Name.N`), maps as `Name.entry.N.key` / `.value`; an empty list is `Name=`.
- json (SSM, Organizations): the operation from `X-Amz-Target`, the members from the JSON body.
- rest-json (EBS, EKS, Recycle Bin, Image Builder): the operation from the method and the path
  (`requestUri`), members from the path, the query string, the headers and the JSON body (or the
  body itself for a payload member, as EBS PutSnapshotBlock's BlockData).

Checked: required members; enum values; string length; numeric range; list and map size; value types;
and, for EC2 only, unknown parameters: EC2 documents `UnknownParameter` ("An unknown or unrecognized
parameter was supplied"), while the other services' references document no such refusal (their
protocols tell clients to ignore what they do not know), so a member they do not model is let through.
Patterns are checked only where listed in PATTERNS below: identifiers and names whose pattern the API
reference states and the service applies (model patterns on free text, such as IAM policy documents or
descriptions, are looser or stricter than what the services accept, and are not checked).

The refusal, in each service's protocol and as its reference's Common Errors page names it:
- EC2: `MissingParameter`, `InvalidParameterValue`, `UnknownParameter` (HTTP 400, `<Response><Errors>`),
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
- STS, IAM, Auto Scaling: `ValidationError` (HTTP 400, `<ErrorResponse><Error>`), "The input fails to
  satisfy the constraints specified by an AWS service",
  https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
  https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html
  https://docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonErrors.html
- SSM: `ValidationException` (the JSON name of ValidationError; the shape is in SSM's model),
  https://docs.aws.amazon.com/systems-manager/latest/APIReference/CommonErrors.html
- Organizations: `InvalidInputException` with its Reason (INPUT_REQUIRED, MAX_LENGTH_EXCEEDED, ...),
  https://docs.aws.amazon.com/organizations/latest/APIReference/API_InvalidInputException.html
- EBS: `ValidationException`, Reason INVALID_PARAMETER_VALUE,
  https://docs.aws.amazon.com/ebs/latest/APIReference/CommonErrors.html
- EKS: `InvalidParameterException`, https://docs.aws.amazon.com/eks/latest/APIReference/CommonErrors.html
- Recycle Bin: `ValidationException`, Reason INVALID_PARAMETER_VALUE,
  https://docs.aws.amazon.com/recyclebin/latest/APIReference/CommonErrors.html
- Image Builder: `InvalidRequestException`,
  https://docs.aws.amazon.com/imagebuilder/latest/APIReference/CommonErrors.html
The message is the one these services write ("1 validation error detected: Value 'x' at 'roleName'
failed to satisfy constraint: Member must ..."); a JSON value of the wrong type is a
`SerializationException`, as JSON services answer a body they cannot read.

Not validated: /moto-api/ (moto's and the emulator's test hooks are not AWS), unsigned requests,
services the emulator does not know a model for, and operations the model does not have (moto answers
those as before).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from botocore.model import OperationModel, Shape
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from . import error_protocol, replaces
from .common import service_model
from .routes import signing_name

_moto_call = DomainDispatcherApplication.__call__
LOG = logging.getLogger("gio-emulator.validation")

# Patterns enforced, per service and shape name: identifiers and names reachable from the operations
# gio-ami and its fixtures call, whose pattern the API reference states under the member and which the
# services apply. Not checked: free text (descriptions, policy documents, Auto Scaling's XmlString, Recycle
# Bin's Description), ARNs whose pattern is any text (STS arnType: its length is checked), tag keys and
# values (their `\p{L}` classes are not Python's), Recycle Bin's RuleArn (not a regular expression Python
# reads; RuleIdentifier covers the rule), Image Builder's WildcardVersionNumber (patch 38 answers it).
PATTERNS: dict[str, frozenset[str]] = {
    "ec2": frozenset({"LaunchTemplateName"}),
    "autoscaling": frozenset({"ImageId", "LaunchTemplateName"}),
    "sts": frozenset({"roleSessionNameType", "externalIdType", "sourceIdentityType", "serialNumberType",
                      "tokenCodeType"}),
    "iam": frozenset({"roleNameType", "pathType", "instanceProfileNameType", "userNameType"}),
    "ssm": frozenset({"ParameterStringFilterKey", "ParameterKeyId"}),
    "ebs": frozenset({"SnapshotId", "KmsKeyArn", "IdempotencyToken"}),
    "eks": frozenset({"ClusterName"}),
    "rbin": frozenset({"RuleIdentifier"}),
    "imagebuilder": frozenset({"ResourceName", "VersionNumber", "ImageRecipeArn", "ImageBuilderArn"}),
    "organizations": frozenset({"RoleName", "CreateAccountRequestId", "Email"}),
}

# Query parameters of the request itself, not of the operation (SigV4 presigned, SigV2).
PROTOCOL_FIELDS = frozenset({"Action", "Version", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
                             "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
                             "AWSAccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "Timestamp",
                             "Expires", "SecurityToken"})


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Violation:
    """One broken constraint: where (the member path as the service names it), the value, the rule."""

    path: str
    value: Any
    rule: str
    kind: str  # required | min-length | max-length | min-value | max-value | enum | pattern | type | unknown


# --- reading the request back into members -------------------------------------------------------


def _wire_name(member: Shape, name: str, ec2: bool) -> str:
    """The field name a member travels under in the Query protocols (botocore's serializers)."""
    if ec2:
        if "queryName" in member.serialization:
            return member.serialization["queryName"]
        if "name" in member.serialization:
            wire = member.serialization["name"]
            return wire[0].upper() + wire[1:]
        return name
    return member.serialization.get("name", name)


class QueryReader:
    """A Query / EC2 Query request's fields -> members, remembering which fields it used."""

    def __init__(self, fields: dict[str, str], ec2: bool) -> None:
        self.fields, self.ec2, self.used = fields, ec2, set()

    def _under(self, prefix: str) -> list[str]:
        return [key for key in self.fields if key.startswith(prefix + ".")]

    def read(self, shape: Shape, prefix: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            if prefix and not self._under(prefix):
                return MISSING
            value = {}
            for name, member in shape.members.items():
                wire = _wire_name(member, name, self.ec2)
                read = self.read(member, f"{prefix}.{wire}" if prefix else wire)
                if read is not MISSING:
                    value[name] = read
            return value
        if kind == "list":
            return self._read_list(shape, prefix)
        if kind == "map":
            return self._read_map(shape, prefix)
        if prefix in self.fields:
            self.used.add(prefix)
            return self.fields[prefix]
        return MISSING

    def _indices(self, prefix: str) -> list[int]:
        found = {key[len(prefix) + 1:].split(".")[0] for key in self._under(prefix)}
        return sorted(int(index) for index in found if index.isdigit())

    def _read_list(self, shape: Shape, prefix: str) -> Any:
        if self.fields.get(prefix) == "":  # an empty list: `Name=`
            self.used.add(prefix)
            return []
        if self.ec2:
            items = prefix
        elif shape.serialization.get("flattened"):
            name = shape.member.serialization.get("name")
            items = ".".join(prefix.split(".")[:-1] + [name]) if name else prefix
        else:
            items = f"{prefix}.{shape.member.serialization.get('name', 'member')}"
        indices = self._indices(items)
        if not indices and items in self.fields:  # a scalar sent where a list is modelled
            self.used.add(items)
            return self.fields[items]
        return [self.read(shape.member, f"{items}.{index}") for index in indices] if indices else MISSING

    def _read_map(self, shape: Shape, prefix: str) -> Any:
        entries = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        indices = self._indices(entries)
        if not indices:
            return MISSING
        return {self.read(shape.key, f"{entries}.{i}.{key_name}"): self.read(shape.value, f"{entries}.{i}.{value_name}")
                for i in indices}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


def _form_fields(request: Request) -> dict[str, str]:
    fields = {key: values[-1] for key, values in request.query.items()}
    if request.body:
        parsed = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        fields.update({key: values[-1] for key, values in parsed.items()})
    return fields


@functools.lru_cache(maxsize=None)
def _routes(service: str) -> list[tuple[str, re.Pattern[str], list[str], int, str]]:
    """(method, path regex, literal query keys, specificity, operation) of a REST service's operations."""
    model = service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, literal_query = http["requestUri"].partition("?")
        pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        keys = [part.split("=")[0] for part in literal_query.split("&") if part]
        literal = len(re.sub(r"\{[^}]+\}", "", path))
        routes.append((http["method"], re.compile(pattern.rstrip("/") + "/?"), keys, literal, name))
    return routes


def rest_operation(service: str, request: Request) -> tuple[str, dict[str, str]] | None:
    """The operation a REST request names by its method and path, and the path's labels."""
    matches = []
    for method, pattern, keys, literal, name in _routes(service):
        if method != request.method or not all(key in request.query for key in keys):
            continue
        if match := pattern.fullmatch(request.path):
            matches.append((literal + len(keys), name, match.groupdict()))
    if not matches:
        return None
    _, name, labels = max(matches, key=lambda found: found[0])
    return name, {key: urllib.parse.unquote(value) for key, value in labels.items()}


def read_rest(operation: OperationModel, request: Request, labels: dict[str, str]) -> Any:
    """A REST-JSON request's members, from wherever each is located."""
    shape = operation.input_shape
    if shape is None:
        return {}
    payload = shape.serialization.get("payload")
    body: Any = {}
    if payload is None and request.body.strip():
        body = json.loads(request.body)
    value: dict[str, Any] = {}
    for name, member in shape.members.items():
        location, wire = member.serialization.get("location"), member.serialization.get("name", name)
        if location == "uri":
            found = labels.get(wire, MISSING)
        elif location == "querystring":
            if member.type_name == "map":
                continue
            values = request.query.get(wire)
            found = MISSING if values is None else (values if member.type_name == "list" else values[-1])
        elif location == "header":
            found = request.headers.get(wire.lower(), MISSING)
        elif location == "headers":
            continue
        elif name == payload:
            found = request.body if member.type_name == "blob" else (json.loads(request.body) if request.body else MISSING)
        else:
            found = body.get(wire, MISSING) if isinstance(body, dict) else MISSING
        if found is not MISSING:
            value[name] = found
    return value


# --- checking members against the shape ------------------------------------------------------


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


class Checker:
    def __init__(self, service: str, textual: bool) -> None:
        """textual: values arrive as text (Query fields, headers, query strings) and are parsed."""
        self.patterns = PATTERNS.get(service, frozenset())
        self.textual = textual
        self.violations: list[Violation] = []

    def fail(self, path: str, value: Any, rule: str, kind: str) -> None:
        self.violations.append(Violation(path, value, rule, kind))

    def check(self, shape: Shape, value: Any, path: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, dict):
                return self.fail(path, value, "Member must be a structure", "type")
            self.required(shape, value, path)
            for name, member_value in value.items():
                if name in shape.members and member_value is not None:
                    self.check(shape.members[name], member_value, self._join(path, name))
        elif kind == "list":
            if not isinstance(value, list):
                return self.fail(path, value, "Member must be a list", "type")
            self._size(shape, path, value, len(value))
            for index, item in enumerate(value, 1):
                self.check(shape.member, item, f"{path}.{index}.member")
        elif kind == "map":
            if not isinstance(value, dict):
                return self.fail(path, value, "Member must be a map", "type")
            self._size(shape, path, value, len(value))
            for key, item in value.items():
                self.check(shape.key, key, f"{path}.{key}.key")
                self.check(shape.value, item, f"{path}.{key}.value")
        elif kind == "string":
            self._string(shape, value, path)
        elif kind in ("integer", "long", "float", "double"):
            self._number(shape, value, path)
        elif kind == "boolean":
            if not (value in ("true", "false") if self.textual and isinstance(value, str) else isinstance(value, bool)):
                self.fail(path, value, "Member must be a boolean (true or false)", "type")
        return None

    def required(self, shape: Shape, value: dict[str, Any], path: str) -> None:
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(self._join(path, name), None, "Member must not be null", "required")

    @staticmethod
    def _join(path: str, name: str) -> str:
        return f"{path}.{_lower_first(name)}" if path else _lower_first(name)

    def _size(self, shape: Shape, path: str, value: Any, size: int) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            self.fail(path, value, f"Member must have length greater than or equal to {low}", "min-length")
        if high is not None and size > high:
            self.fail(path, value, f"Member must have length less than or equal to {high}", "max-length")

    def _string(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, str):
            return self.fail(path, value, "Member must be a string", "type")
        self._size(shape, path, value, len(value))
        if shape.enum and value not in shape.enum:
            self.fail(path, value, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]", "enum")
        if shape.name in self.patterns and "pattern" in shape.metadata:
            if not re.fullmatch(shape.metadata["pattern"], value):
                self.fail(path, value,
                          f"Member must satisfy regular expression pattern: {shape.metadata['pattern']}", "pattern")
        return None

    def _number(self, shape: Shape, value: Any, path: str) -> None:
        integral = shape.type_name in ("integer", "long")
        if self.textual and isinstance(value, str):
            try:
                value = int(value) if integral else float(value)
            except ValueError:
                return self.fail(path, value, f"Member must be a number ({shape.type_name})", "type")
        elif isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
            return self.fail(path, value, f"Member must be a number ({shape.type_name})", "type")
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.fail(path, value, f"Member must have value greater than or equal to {low}", "min-value")
        if high is not None and value > high:
            self.fail(path, value, f"Member must have value less than or equal to {high}", "max-value")
        return None


def _textual_rest_members(operation: OperationModel) -> set[str]:
    """Members of a REST request that travel as text (path, query string, headers)."""
    shape = operation.input_shape
    return {name for name, member in (shape.members.items() if shape else [])
            if member.serialization.get("location") in ("uri", "querystring", "header")}


def violations(service: str, request: Request) -> tuple[OperationModel, list[Violation]] | None:
    """The operation a request names and what in it breaks the model; None when not validated."""
    model = service_model(service)
    if model is None:
        return None
    protocol = model.protocol
    if protocol in ("query", "ec2"):
        fields = _form_fields(request)
        if fields.get("Action") not in model.operation_names:
            return None
        operation = model.operation_model(fields["Action"])
        reader = QueryReader(fields, protocol == "ec2")
        members = reader.read(operation.input_shape, "") if operation.input_shape else {}
        checker = Checker(service, textual=True)
        if operation.input_shape:
            checker.check(operation.input_shape, members, "")
        if protocol == "ec2":
            for field in sorted(set(fields) - reader.used - PROTOCOL_FIELDS):
                checker.fail(field, fields[field], f"The parameter {field} is not recognized", "unknown")
        return operation, checker.violations
    if protocol == "json":
        target = request.headers.get("x-amz-target", "")
        name = target.partition(".")[2]
        if name not in model.operation_names:
            return None
        operation = model.operation_model(name)
        try:
            members = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            return None  # moto answers an unreadable body as before
        checker = Checker(service, textual=False)
        if operation.input_shape:
            checker.check(operation.input_shape, members, "")
        return operation, checker.violations
    if protocol == "rest-json":
        found = rest_operation(service, request)
        if found is None:
            return None
        operation = model.operation_model(found[0])
        try:
            members = read_rest(operation, request, found[1])
        except ValueError:
            return None
        if operation.input_shape is None:
            return operation, []
        textual = _textual_rest_members(operation)
        checker = Checker(service, textual=False)
        checker.required(operation.input_shape, members, "")
        for name, value in members.items():
            checker.textual = name in textual
            checker.check(operation.input_shape.members[name], value, _lower_first(name))
        return operation, checker.violations
    return None


# --- answering in the service's protocol ------------------------------------------------------


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    return repr(value) if isinstance(value, (list, dict)) else repr(str(value))


def message(found: list[Violation]) -> str:
    """The validation message the AWS services write."""
    parts = [f"Value {_shown(v.value)} at '{v.path}' failed to satisfy constraint: {v.rule}" for v in found]
    count = len(found)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(parts)


# InvalidInputException's Reason for each kind of violation (its documented values).
ORGANIZATIONS_REASONS = {"required": "INPUT_REQUIRED", "pattern": "INVALID_PATTERN", "enum": "INVALID_ENUM",
                         "min-length": "MIN_LENGTH_EXCEEDED",
                         "max-length": "MAX_LENGTH_EXCEEDED", "min-value": "MIN_VALUE_EXCEEDED",
                         "max-value": "MAX_VALUE_EXCEEDED"}


# The validation error of each JSON / REST-JSON service (its Common Errors page, its model's shape).
JSON_VALIDATION_ERRORS: dict[str, tuple[str, dict[str, str]]] = {
    "ssm": ("ValidationException", {}),
    "ebs": ("ValidationException", {"Reason": "INVALID_PARAMETER_VALUE"}),
    "rbin": ("ValidationException", {"Reason": "INVALID_PARAMETER_VALUE"}),
    "eks": ("InvalidParameterException", {}),
    "imagebuilder": ("InvalidRequestException", {}),
}


def refusal(service: str, found: list[Violation]) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status, headers, body) of the service's validation error for these violations."""
    protocol = service_model(service).protocol
    request_id = str(uuid.uuid4())
    first = found[0]
    if protocol == "ec2":
        if first.kind == "unknown":
            code, text = "UnknownParameter", first.rule
        elif first.kind == "required":
            code, text = "MissingParameter", f"The request must contain the parameter {first.path}"
        else:
            code, text = "InvalidParameterValue", f"Value ({first.value}) for parameter {first.path} is invalid. {first.rule}"
        return error_protocol.ec2_error(400, code, text, request_id)
    if protocol == "query":
        return error_protocol.query_error(service, 400, "ValidationError", message(found), request_id)
    if first.kind == "type":
        return error_protocol.json_error(service, 400, "SerializationException", message(found), request_id)
    if service == "organizations":
        return error_protocol.json_error(service, 400, "InvalidInputException", message(found), request_id,
                                         Reason=ORGANIZATIONS_REASONS[first.kind])
    code, extra = JSON_VALIDATION_ERRORS.get(service, ("ValidationException", {}))
    return error_protocol.json_error(service, 400, code, message(found), request_id, **extra)



def _read_request(environ: dict[str, Any]) -> Request:
    """The request as it arrived; the body is put back for moto to read."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    if not length and body:
        environ["CONTENT_LENGTH"] = str(len(body))
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    # The path as sent (labels still percent-encoded, so an ARN's `/` stays inside its label), which
    # werkzeug keeps in RAW_URI; PATH_INFO is already decoded.
    path = (environ.get("RAW_URI") or environ.get("PATH_INFO", "")).partition("?")[0]
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    return Request(environ.get("REQUEST_METHOD", "GET"), path, query, headers, body)


def is_aws_request(environ: dict[str, Any]) -> bool:
    path = environ.get("PATH_INFO", "")
    return not (path.startswith("/moto-api") or path.startswith("/latest/") or path == "/favicon.ico")


@replaces(DomainDispatcherApplication, "__call__")
def __call__(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    service = signing_name(environ) if is_aws_request(environ) else None
    if service is None or service_model(service) is None:
        return _moto_call(self, environ, start_response)
    found = violations(service, _read_request(environ))
    if found and found[1]:
        # In the emulator's log: a client's request AWS would refuse is what this patch exists to show.
        LOG.warning("refused %s %s: %s", service, found[0].name, message(found[1]))
        status, headers, body = refusal(service, found[1])
        start_response(status, headers)
        return [body]
    return error_protocol.in_protocol(service, service_model(service).protocol,
                                      lambda respond: _moto_call(self, environ, respond), start_response)

