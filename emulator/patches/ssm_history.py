"""SSM GetParameterHistory: pages that a client can trust, and a parameter named by its ARN.

AWS: Name is "The name or Amazon Resource Name (ARN) of the parameter for which you want to review
history"; MaxResults 1-50; NextToken "The token for the next set of items to return. (You received
this token from a previous call.)", and a token that is not one answers InvalidNextToken, an error
the operation documents ("The specified token isn't valid.").
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameterHistory.html

moto 5.2.5 already answers every version, oldest first, each with its Version, Value, Labels and
LastModifiedDate (written by the emulator's clock, see clock.py), in pages of MaxResults; but an
ARN is ParameterNotFound and a token it did not issue an HTML HTTP 500.
"""

from __future__ import annotations

from moto.ssm.models import PARAMETER_HISTORY_MAX_RESULTS, Parameter, SimpleSystemManagerBackend

from . import replaces
from .common import ServiceError
from .ssm_image_parameters import settle

_moto_get_parameter_history = SimpleSystemManagerBackend.get_parameter_history


@replaces(SimpleSystemManagerBackend, "get_parameter_history")
def get_parameter_history(self: SimpleSystemManagerBackend, name: str, next_token: str | None,
                          max_results: int = PARAMETER_HISTORY_MAX_RESULTS) -> tuple[list[Parameter] | None, str | None]:
    settle(self)  # versions whose aws:ec2:image validation ended (patch 40)
    name = self._strip_parameter_arn(name)
    if next_token is not None:
        versions = len(self._parameters[name]) if name in self._parameters else 0
        # moto's tokens are the index of the page's first version, always within the history.
        if not (next_token.isdigit() and 0 < int(next_token) < versions):
            raise ServiceError("InvalidNextToken", "The specified token isn't valid.")
    return _moto_get_parameter_history(self, name, next_token, max_results)
