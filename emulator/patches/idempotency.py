"""RunInstances, CopyImage and EBS StartSnapshot with a ClientToken are idempotent (moto 5.2.5
acts again on every retry).

AWS: repeating RunInstances with the ClientToken of an earlier successful request returns that
request's reservation and launches nothing, even once those instances have terminated; CopyImage
with a token seen before returns the first copy's ImageId, and StartSnapshot the first answer.
An SDK that retries a call whose answer was lost (a reset connection, a timeout) therefore
cannot start a second instance, copy or snapshot, each billed.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Run_Instance_Idempotency.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html (ClientToken)
https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html (ClientToken)
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from moto.core.responses import ActionResult
from moto.ebs.responses import EBSResponse
from moto.ec2.responses import EC2Response

from . import replaces


T = TypeVar("T")


def once(backend: Any, operation: str, token: str | None, act: Callable[[], T]) -> T:
    """What `act()` answered the first time this region saw (operation, token); `act()` when no
    token was given. Tokens are per region and per operation, as in EC2."""
    if not token:
        return act()
    made: dict[tuple[str, str], Any] = backend.__dict__.setdefault("_gio_client_tokens", {})
    if (operation, token) not in made:
        made[(operation, token)] = act()
    return made[(operation, token)]


_moto_run_instances = EC2Response.run_instances


@replaces(EC2Response, "run_instances")
def run_instances(self: EC2Response) -> ActionResult:
    # The answer holds the reservation itself, so a repeat shows its instances as they are now.
    return once(self.ec2_backend, "RunInstances", self._get_param("ClientToken"), lambda: _moto_run_instances(self))


_moto_start_snapshot = EBSResponse.start_snapshot


@replaces(EBSResponse, "start_snapshot")
def start_snapshot(self: EBSResponse) -> ActionResult:
    return once(self.ebs_backend, "StartSnapshot", self._get_param("ClientToken"), lambda: _moto_start_snapshot(self))
