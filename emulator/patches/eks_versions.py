"""EKS DescribeClusterVersions (moto 5.2.5 does not have it): the Kubernetes versions EKS offers,
their support status, release and end-of-support dates.

AWS: "A minor version is under standard support in Amazon EKS for the first 14 months after it's
released. Once a version is past the end of standard support date, it enters extended support for
the next 12 months." "Billing for extended support starts at the beginning of the day that the
version reaches end of standard support, in the UTC+0 timezone"; the release calendar gives each
version's dates, which the catalog below copies (1.24 to 1.34). The example output of
`aws eks describe-cluster-versions` answers clusterType "eks" and "status": "STANDARD_SUPPORT":
the deprecated `status` member carries the same upper-case values as `versionStatus`, although
the request's `status` takes unsupported | standard-support | extended-support ("Use versionStatus
instead, as that field matches for input and output of this action").
https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeClusterVersions.html
https://docs.aws.amazon.com/eks/latest/APIReference/API_ClusterVersionInformation.html

A version's status is computed from its dates on the emulator's clock (clock.py): moving the clock
moves a version from standard to extended support to unsupported.

The emulator's choices where the reference is silent: without includeAll only the versions in
standard or extended support are listed (the filters then narrow that set; includeAll widens it
to every version); the default version is the newest (as in the guide's example); versions come
newest first; maxResults is 1-100 (its documented range) and defaults to 100; out-of-range values
and tokens not issued answer InvalidParameterException, the operation's documented error for
"The specified parameter is invalid". kubernetesPatchVersion and defaultPlatformVersion are
plausible values, not AWS's (for 1.29-1.32 the patch the seeded AMIs ship, see seed.py).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import moto.eks.urls
from moto.core.responses import ActionResult
from moto.eks.exceptions import InvalidParameterException
from moto.eks.responses import EKSResponse

from . import clock, replaces
from .seed import KUBERNETES_PATCHES

MAX_RESULTS = 100
STATUSES = {"unsupported": "UNSUPPORTED", "standard-support": "STANDARD_SUPPORT", "extended-support": "EXTENDED_SUPPORT"}


def _day(text: str) -> datetime:
    """A calendar date as its first instant in UTC+0, when EKS changes a version's support."""
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Version:
    version: str
    released: datetime  # on Amazon EKS
    end_of_standard: datetime
    end_of_extended: datetime
    patch: str
    platform: str

    def status(self, now: datetime) -> str:
        if now < self.end_of_standard:
            return "STANDARD_SUPPORT"
        return "EXTENDED_SUPPORT" if now < self.end_of_extended else "UNSUPPORTED"


def _version(version: str, released: str, end_of_standard: str, end_of_extended: str, patch: str, platform: str) -> Version:
    return Version(version, _day(released), _day(end_of_standard), _day(end_of_extended),
                   KUBERNETES_PATCHES.get(version, patch), platform)


# Newest first: the Amazon EKS Kubernetes release calendar.
CATALOG = (
    _version("1.34", "2025-10-02", "2026-12-02", "2027-12-02", "1.34.2", "eks.9"),
    _version("1.33", "2025-05-29", "2026-07-29", "2027-07-29", "1.33.6", "eks.18"),
    _version("1.32", "2025-01-23", "2026-03-23", "2027-03-23", "1.32.3", "eks.25"),
    _version("1.31", "2024-09-26", "2025-11-26", "2026-11-26", "1.31.7", "eks.32"),
    _version("1.30", "2024-05-23", "2025-07-23", "2026-07-23", "1.30.11", "eks.36"),
    _version("1.29", "2024-01-23", "2025-03-23", "2026-03-23", "1.29.15", "eks.39"),
    _version("1.28", "2023-09-26", "2024-11-26", "2025-11-26", "1.28.15", "eks.44"),
    _version("1.27", "2023-05-24", "2024-07-24", "2025-07-24", "1.27.16", "eks.48"),
    _version("1.26", "2023-04-11", "2024-06-11", "2025-06-11", "1.26.15", "eks.49"),
    _version("1.25", "2023-02-22", "2024-05-01", "2025-05-01", "1.25.16", "eks.49"),
    _version("1.24", "2022-11-15", "2024-01-31", "2025-01-31", "1.24.17", "eks.52"),
)
DEFAULT_VERSION = CATALOG[0].version


def _invalid(message: str) -> InvalidParameterException:
    return InvalidParameterException(message=message)


def _flag(response: EKSResponse, name: str) -> bool:
    return str(response._get_param(name, False)).lower() == "true"


def _statuses(response: EKSResponse) -> set[str]:
    """The statuses asked for by versionStatus and the deprecated status (both must hold)."""
    asked = set()
    if (status := response._get_param("status")) is not None:
        if status not in STATUSES:
            raise _invalid(f"status must be one of {', '.join(STATUSES)}")
        asked.add(STATUSES[status])
    if (version_status := response._get_param("versionStatus")) is not None:
        if version_status not in STATUSES.values():
            raise _invalid(f"versionStatus must be one of {', '.join(STATUSES.values())}")
        asked.add(version_status)
    return asked


def _information(version: Version, now: datetime) -> dict[str, Any]:
    status = version.status(now)
    return {
        "clusterVersion": version.version,
        "clusterType": "eks",
        "defaultPlatformVersion": version.platform,
        "defaultVersion": version.version == DEFAULT_VERSION,
        "releaseDate": version.released,
        "endOfStandardSupportDate": version.end_of_standard,
        "endOfExtendedSupportDate": version.end_of_extended,
        "status": status,
        "versionStatus": status,
        "kubernetesPatchVersion": version.patch,
    }


@replaces(EKSResponse, "describe_cluster_versions", new=True)
def describe_cluster_versions(self: EKSResponse) -> ActionResult:
    max_results = self._get_int_param("maxResults", MAX_RESULTS)
    if not 1 <= max_results <= MAX_RESULTS:
        raise _invalid(f"maxResults must be between 1 and {MAX_RESULTS}")
    wanted = self.querystring.get("clusterVersions", [])  # repeated in the query; _get_param keeps the first
    statuses, cluster_type = _statuses(self), self._get_param("clusterType")
    now = clock.now()
    versions = [
        info for info in (_information(version, now) for version in CATALOG)
        if (_flag(self, "includeAll") or info["versionStatus"] != "UNSUPPORTED")
        and (not wanted or info["clusterVersion"] in wanted)
        and (not statuses or {info["versionStatus"]} == statuses)
        and (not _flag(self, "defaultOnly") or info["defaultVersion"])
        and (cluster_type is None or info["clusterType"] == cluster_type)
    ]
    start = 0
    if token := self._get_param("nextToken"):
        try:
            start = next(n for n, info in enumerate(versions) if info["clusterVersion"] == _decode(token))
        except (StopIteration, binascii.Error, UnicodeDecodeError):
            raise _invalid("The nextToken is not valid.") from None
    page, rest = versions[start:start + max_results], versions[start + max_results:]
    next_token = base64.urlsafe_b64encode(rest[0]["clusterVersion"].encode()).decode() if rest else None
    return ActionResult({"clusterVersions": page, "nextToken": next_token})


def _decode(token: str) -> str:
    return base64.urlsafe_b64decode(token.encode()).decode()


# moto builds the EKS app from this table on the first EKS request, after apply().
replaces(moto.eks.urls, "url_paths")({  # type: ignore[arg-type]
    **moto.eks.urls.url_paths,
    "{0}/cluster-versions$": moto.eks.urls.response.dispatch,
})
