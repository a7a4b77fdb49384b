"""RunInstances, CopyImage and EBS StartSnapshot with a ClientToken are idempotent (moto 5.2.5
acts again on every retry).

AWS: repeating RunInstances with the ClientToken of an earlier successful request returns that
request's reservation and launches nothing, even once those instances have terminated; CopyImage
with a token seen before returns the first copy's ImageId, and StartSnapshot the first answer.
An SDK that retries a call whose answer was lost (a reset connection, a timeout) therefore
cannot start a second instance, copy or snapshot, each billed.
The same token with other parameters is refused: "If you retry a request with the same client
token, but change one or more of the API parameters, the IdempotentParameterMismatch error is
returned" (EC2); StartSnapshot answers ConflictException, "The request uses the same client token
as a previous, but non-identical request" (EBS direct, HTTP 409).
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Run_Instance_Idempotency.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html (ClientToken)
https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html (ClientToken, Errors)
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from moto.core.responses import ActionResult
from moto.ebs.responses import EBSResponse
from moto.ec2.responses import EC2Response

from . import replaces, snapshots
from .common import ServiceError, aws_error


T = TypeVar("T")


def once(backend: Any, operation: str, request: dict[str, Any], act: Callable[[], T],
         mismatch: Callable[[], Exception], token: str = "ClientToken") -> T:
    """What `act()` answered the first time this region saw (operation, the request's `token`
    member); `act()` when the request has no token. Tokens are per region and per operation, as in
    EC2. A token seen before with other parameters (the request minus its token) raises `mismatch()`."""
    name, token = token, request.get(token)
    if not token:
        return act()
    parameters = {key: value for key, value in request.items() if key != name}
    made: dict[tuple[str, str], tuple[dict[str, Any], Any]] = backend.__dict__.setdefault("_gio_client_tokens", {})
    if (operation, token) not in made:
        made[(operation, token)] = (parameters, act())
    first, answer = made[(operation, token)]
    if first != parameters:
        raise mismatch()
    return answer


def ec2_mismatch() -> Exception:
    return aws_error(
        "IdempotentParameterMismatch",
        "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).",
    )


def ebs_mismatch() -> Exception:
    return ServiceError("ConflictException", "The request uses the same client token as a previous, but non-identical request.")


_moto_run_instances = EC2Response.run_instances


@replaces(EC2Response, "run_instances")
def run_instances(self: EC2Response) -> ActionResult:
    # The answer holds the reservation itself, so a repeat shows its instances as they are now.
    return once(self.ec2_backend, "RunInstances", dict(self.params), lambda: _moto_run_instances(self), ec2_mismatch)


@replaces(EBSResponse, "start_snapshot")
def start_snapshot(self: EBSResponse) -> ActionResult:
    # The snapshot itself (a parent's blocks among them) is snapshots.py's.
    return once(self.ebs_backend, "StartSnapshot", dict(self.params), lambda: snapshots.start_snapshot_response(self),
                ebs_mismatch)
