"""RunInstances and CopyImage with a ClientToken are idempotent (moto 5.2.5 acts again on
every retry).

AWS: repeating RunInstances with the ClientToken of an earlier successful request returns that
request's reservation and launches nothing, even once those instances have terminated; CopyImage
with a token seen before returns the first copy's ImageId. An SDK that retries a call whose
answer was lost (a reset connection, a timeout) therefore cannot start a second instance or a
second copy, each billed.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Run_Instance_Idempotency.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html (ClientToken)
"""

from __future__ import annotations

from typing import Any, Callable

from moto.core.responses import ActionResult
from moto.ec2.responses import EC2Response

from . import replaces


def once(backend: Any, operation: str, token: str | None, act: Callable[[], str]) -> str:
    """The id `act()` made the first time this region saw (operation, token); `act()` when no
    token was given. Tokens are per region and per operation, as in EC2."""
    if not token:
        return act()
    made: dict[tuple[str, str], str] = backend.__dict__.setdefault("_gio_client_tokens", {})
    if (operation, token) not in made:
        made[(operation, token)] = act()
    return made[(operation, token)]

_moto_run_instances = EC2Response.run_instances


@replaces(EC2Response, "run_instances")
def run_instances(self: EC2Response) -> ActionResult:
    token = self._get_param("ClientToken")
    if token:
        for reservation in self.ec2_backend.reservations.values():
            if any(instance.client_token == token for instance in reservation.instances):
                return ActionResult(reservation)
    return _moto_run_instances(self)
