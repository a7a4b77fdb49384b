"""EKS DescribeClusterVersions: the release calendar, support status on the emulator's clock, filters, paging.

AWS (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html): standard support for
14 months from the EKS release, then extended support for 12; "Billing for extended support starts at
the beginning of the day that the version reaches end of standard support, in the UTC+0 timezone".
Calendar: 1.31 released September 26, 2024, end of standard support November 26, 2025, end of
extended support November 26, 2026. The guide's example output carries "status": "STANDARD_SUPPORT".
API: https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeClusterVersions.html
"""

from datetime import datetime, timezone

import botocore.exceptions
import pytest

from helpers import error_code


@pytest.fixture
def at(clock):
    """at("2025-12-01T12:00:00") runs the emulator's clock at that UTC instant."""
    return lambda instant: clock.set(datetime.fromisoformat(instant).replace(tzinfo=timezone.utc) - datetime.now(timezone.utc))


@pytest.fixture
def eks(client):
    return client("eks", "eu-west-3")


def listed(eks, **request):
    return [(v["clusterVersion"], v["versionStatus"]) for v in eks.describe_cluster_versions(**request)["clusterVersions"]]


def test_versions_in_standard_or_extended_support_newest_first_with_their_dates(eks, at):
    at("2025-12-01T12:00:00")
    assert listed(eks) == [("1.34", "STANDARD_SUPPORT"), ("1.33", "STANDARD_SUPPORT"), ("1.32", "STANDARD_SUPPORT"),
                           ("1.31", "EXTENDED_SUPPORT"), ("1.30", "EXTENDED_SUPPORT"), ("1.29", "EXTENDED_SUPPORT")]
    [version] = eks.describe_cluster_versions(clusterVersions=["1.31"])["clusterVersions"]
    assert version["releaseDate"] == datetime(2024, 9, 26, tzinfo=timezone.utc)
    assert version["endOfStandardSupportDate"] == datetime(2025, 11, 26, tzinfo=timezone.utc)
    assert version["endOfExtendedSupportDate"] == datetime(2026, 11, 26, tzinfo=timezone.utc)
    assert (version["clusterType"], version["status"], version["defaultVersion"]) == ("eks", "EXTENDED_SUPPORT", False)
    assert version["kubernetesPatchVersion"].startswith("1.31.")
    assert version["defaultPlatformVersion"].startswith("eks.")


def test_support_ends_at_the_start_of_the_day_utc(eks, at):
    at("2026-12-01T23:59:58")
    assert listed(eks, clusterVersions=["1.34"]) == [("1.34", "STANDARD_SUPPORT")]
    at("2026-12-02T00:00:01")
    assert listed(eks, clusterVersions=["1.34"]) == [("1.34", "EXTENDED_SUPPORT")]
    at("2027-12-02T00:00:01")
    assert listed(eks, clusterVersions=["1.34"]) == [], "unsupported: left out unless includeAll"
    assert listed(eks, clusterVersions=["1.34"], includeAll=True) == [("1.34", "UNSUPPORTED")]


def test_filters_narrow_the_list(eks, at):
    at("2025-12-01T12:00:00")
    assert [v for v, _ in listed(eks, includeAll=True)] == \
        ["1.34", "1.33", "1.32", "1.31", "1.30", "1.29", "1.28", "1.27", "1.26", "1.25", "1.24"]
    assert listed(eks, versionStatus="EXTENDED_SUPPORT") == \
        [("1.31", "EXTENDED_SUPPORT"), ("1.30", "EXTENDED_SUPPORT"), ("1.29", "EXTENDED_SUPPORT")]
    assert listed(eks, status="extended-support") == listed(eks, versionStatus="EXTENDED_SUPPORT"), \
        "the deprecated status takes the lower-case values"
    assert [v for v, _ in listed(eks, versionStatus="UNSUPPORTED", includeAll=True)] == \
        ["1.28", "1.27", "1.26", "1.25", "1.24"]
    assert listed(eks, clusterVersions=["1.33", "1.29", "1.20"]) == [("1.33", "STANDARD_SUPPORT"), ("1.29", "EXTENDED_SUPPORT")]
    default = eks.describe_cluster_versions(defaultOnly=True)["clusterVersions"]
    assert [(v["clusterVersion"], v["defaultVersion"]) for v in default] == [("1.34", True)]
    assert listed(eks, clusterType="eks") == listed(eks)
    for request in ({"versionStatus": "standard-support"}, {"status": "STANDARD_SUPPORT"}):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            eks.describe_cluster_versions(**request)
        assert error_code(excinfo) == "InvalidParameterException", request


def test_pages_of_max_results_and_a_token_for_the_rest(eks, at):
    at("2025-12-01T12:00:00")
    pages, token = [], None
    while True:
        page = eks.describe_cluster_versions(includeAll=True, maxResults=4, **({"nextToken": token} if token else {}))
        pages.append([v["clusterVersion"] for v in page["clusterVersions"]])
        token = page.get("nextToken")
        if not token:
            break
    assert pages == [["1.34", "1.33", "1.32", "1.31"], ["1.30", "1.29", "1.28", "1.27"], ["1.26", "1.25", "1.24"]]
    paged = [v["clusterVersion"] for p in eks.get_paginator("describe_cluster_versions").paginate(
        includeAll=True, PaginationConfig={"PageSize": 3}) for v in p["clusterVersions"]]
    assert paged == [version for page in pages for version in page]
    for request in ({"maxResults": 101}, {"nextToken": "not-a-token"}):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            eks.describe_cluster_versions(**request)
        assert error_code(excinfo) == "InvalidParameterException", request
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
