"""Patch 10: EKS ListNodegroups on a cluster that does not exist.

AWS answers ResourceNotFoundException (HTTP 404, "No cluster found for name: NAME.")
https://docs.aws.amazon.com/eks/latest/APIReference/API_ListNodegroups.html#API_ListNodegroups_Errors
moto 5.2.5 raises a bare KeyError there, which the server turns into an HTML HTTP 500 that
no SDK can read. Clients that ask every cluster of a config (most clusters are not EKS, or
live elsewhere) need the real error to tell "no such cluster" from an outage.
"""

from __future__ import annotations

from typing import Any

from moto.eks.exceptions import ResourceNotFoundException
from moto.eks.models import CLUSTER_NOT_FOUND_MSG, EKSBackend

from . import replaces

_list_nodegroups = EKSBackend.list_nodegroups


@replaces(EKSBackend, "list_nodegroups")
def list_nodegroups(self: EKSBackend, cluster_name: str, *args: Any, **kwargs: Any) -> Any:
    if cluster_name not in self.clusters:
        raise ResourceNotFoundException(
            clusterName=cluster_name,
            nodegroupName=None,
            fargateProfileName=None,
            addonName=None,
            message=CLUSTER_NOT_FOUND_MSG.format(clusterName=cluster_name),
        )
    return _list_nodegroups(self, cluster_name, *args, **kwargs)
