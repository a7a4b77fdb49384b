"""The SigV4 signature of a request checked against what was sent (moto 5.2.5 checks a request without a
body against its parsed parameters, so with IAM enforcement on every signed GET, HEAD or DELETE to a
REST service, EKS ListClusters or EBS ListSnapshotBlocks, and every bodyless POST, EBS CompleteSnapshot,
fails with SignatureDoesNotMatch, even for an administrator).

"AWS then replicates this process and verifies the signature": the canonical request is built from the
request as sent, its HTTP method, the URI-encoded path, the query string, the signed headers and
`HashedPayload`, "Hex(SHA256Hash(<payload>))", where "If there is no payload in the request, you compute a
hash of the empty string", or the `x-amz-content-sha256` header's value when the request signs one (the
literal `UNSIGNED-PAYLOAD` for a payload left unsigned).
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html

The body sent is the one validation.py read off the socket and put back for moto (a form-encoded body,
the Query and EC2 protocols', is consumed into moto's parsed form, and re-encoding the parameters does not
give back the bytes sent: the AWS SDK for Rust encodes a space as `%20`). Where no such copy exists, moto's
parsed form stands in for a form-encoded body, as before.
"""

from __future__ import annotations

import io
from typing import Any

from botocore.awsrequest import AWSRequest
from moto.iam.access_control import IAMRequest

from . import replaces

FORM = "application/x-www-form-urlencoded"


def payload(body: bytes | None, data: dict[str, object], headers: Any) -> bytes | dict[str, object]:
    """What the client signed as the payload: the body sent, else its form parameters when it sent a form
    the server read already, else nothing."""
    sent = getattr(headers, "environ", {}).get("wsgi.input")
    if isinstance(sent, io.BytesIO):
        return sent.getvalue()
    if body:
        return body
    if FORM in (headers.get("Content-Type") or "") and data:
        return data
    return b""


@replaces(IAMRequest, "_create_aws_request")
def _create_aws_request(self: IAMRequest) -> AWSRequest:
    signed = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
    headers = self._create_headers_for_aws_request(signed, self._headers)
    request = AWSRequest(method=self._method, url=self._path, data=payload(self._body, self._data, self._headers),
                         headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    return request
