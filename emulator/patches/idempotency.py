"""RunInstances with a ClientToken is idempotent (moto 5.2.5 launches again on every retry).

AWS: repeating RunInstances with the ClientToken of an earlier successful request returns that
request's reservation and launches nothing, even once those instances have terminated. An SDK
that retries a RunInstances whose answer was lost (a reset connection, a timeout) therefore
cannot start a second, unbilled-for-by-intent instance.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Run_Instance_Idempotency.html
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ec2.responses import EC2Response

from . import replaces

_moto_run_instances = EC2Response.run_instances


@replaces(EC2Response, "run_instances")
def run_instances(self: EC2Response) -> ActionResult:
    token = self._get_param("ClientToken")
    if token:
        for reservation in self.ec2_backend.reservations.values():
            if any(instance.client_token == token for instance in reservation.instances):
                return ActionResult(reservation)
    return _moto_run_instances(self)
