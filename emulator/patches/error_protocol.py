"""Every error answered in the protocol of the service that answers it (moto 5.2.5 answers some in
another: the AccessDenied of its IAM enforcement, `INITIAL_NO_AUTH_ACTION_COUNT`, and any error raised
as moto's generic RESTError, is the Query protocol's XML `<ErrorResponse><Errors><Error>` whatever
the service, with no `x-amzn-ErrorType`).

As the services answer, and as the SDKs read them:
- JSON (SSM, Organizations) and REST-JSON (EBS, EKS, Recycle Bin, Image Builder): a JSON body with
  `__type` (the code) and `message`, the code also in the `x-amzn-ErrorType` header; access refused is
  `AccessDeniedException` ("You do not have sufficient access to perform this action", each reference's
  Common Errors; the models of SSM, EBS, EKS, Image Builder and Organizations name that shape).
  https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html#operation-error-serialization
  https://smithy.io/2.0/aws/protocols/aws-restjson1-protocol.html#operation-error-serialization
  https://docs.aws.amazon.com/systems-manager/latest/APIReference/CommonErrors.html
- Query (STS, IAM, Auto Scaling): `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`;
  the SDKs look for Error right under ErrorResponse (an `<Errors>` level in between hides the code).
  https://smithy.io/2.0/aws/protocols/aws-query-protocol.html#operation-error-serialization
- EC2: `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`; access refused
  is `UnauthorizedOperation` ("You are not authorized to perform this operation").
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
moto's HTTP status is kept.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ElementTree
from typing import Any, Callable, Iterable
from xml.sax.saxutils import escape

from werkzeug.http import HTTP_STATUS_CODES

from .common import service_model

Answer = tuple[str, list[tuple[str, str]], bytes]

# What a refusal of access is called in each protocol.
ACCESS_DENIED = {"json": "AccessDeniedException", "rest-json": "AccessDeniedException",
                 "ec2": "UnauthorizedOperation", "query": "AccessDenied"}
MOTO_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


def _status(code: int) -> str:
    return f"{code} {HTTP_STATUS_CODES.get(code, 'Error')}"


def json_error(service: str, status: int, code: str, text: str, request_id: str, **members: Any) -> Answer:
    """A JSON or REST-JSON service's error."""
    protocol = service_model(service).protocol
    content_type = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
    body = json.dumps({"__type": code, "message": text, **members}).encode()
    return _status(status), [("Content-Type", content_type), ("x-amzn-ErrorType", code),
                             ("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))], body


def query_error(service: str, status: int, code: str, text: str, request_id: str) -> Answer:
    """A Query service's error (STS, IAM, Auto Scaling)."""
    namespace = service_model(service).metadata.get("xmlNamespace", "")
    body = (f'<ErrorResponse xmlns="{escape(namespace)}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
            f"<Message>{escape(text)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
    return _status(status), [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id),
                             ("Content-Length", str(len(body)))], body


def ec2_error(status: int, code: str, text: str, request_id: str) -> Answer:
    """An EC2 error."""
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(text)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>").encode()
    return _status(status), [("Content-Type", "text/xml;charset=UTF-8"), ("Content-Length", str(len(body)))], body


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def xml_error(body: bytes) -> tuple[str, str, str, bool] | None:
    """(root, code, message, nested under Errors) of an XML error body, or None if it is not one."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    found = {_local(element.tag): (element.text or "") for element in root.iter()}
    if "Code" not in found:
        return None
    nested = any(_local(child.tag) == "Errors" for child in root)
    return _local(root.tag), found["Code"], found.get("Message", found.get("message", "")), nested


def rewritten(service: str, protocol: str, status: int, headers: list[tuple[str, str]], body: bytes) -> Answer | None:
    """This error in the service's own protocol, or None if it already is."""
    if not body.lstrip().startswith(b"<"):
        return None
    found = xml_error(body)
    if found is None:
        return None
    root, code, text, nested = found
    if code in MOTO_ACCESS_DENIED:
        code = ACCESS_DENIED[protocol]
    request_id = dict((k.lower(), v) for k, v in headers).get("x-amzn-requestid") or str(uuid.uuid4())
    if protocol in ("json", "rest-json"):
        return json_error(service, status, code, text, request_id)
    if protocol == "query" and (root != "ErrorResponse" or nested):
        return query_error(service, status, code, text, request_id)
    if protocol == "ec2" and root != "Response":
        return ec2_error(status, code, text, request_id)
    return None


def in_protocol(service: str, protocol: str, call: Callable[[Callable[..., Any]], Iterable[bytes]],
                start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Run the WSGI app `call`, answering its errors in the service's protocol."""
    captured: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured[:] = [status, headers, exc_info]
        return lambda data: None  # moto's Flask apps return their body, they never write()

    answer = call(capture)
    status, headers, exc_info = captured
    code = int(status.split()[0])
    if code < 400:
        start_response(status, headers, exc_info)
        return answer
    try:
        body = b"".join(answer)
    finally:
        if hasattr(answer, "close"):
            answer.close()
    fixed = rewritten(service, protocol, code, headers, body)
    if fixed is None:
        start_response(status, headers, exc_info)
        return [body]
    start_response(*fixed[:2])
    return [fixed[2]]
