"""Patch 10: ListNodegroups names a missing cluster the way AWS does."""

import botocore.exceptions
import pytest


def test_list_nodegroups_of_a_missing_cluster_is_resource_not_found(client):
    eks = client("eks", "ap-southeast-2")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        eks.list_nodegroups(clusterName="nowhere")
    error = raised.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "No cluster found for name: nowhere." in error["Error"]["Message"]


def test_list_nodegroups_of_an_existing_cluster_still_lists_them(client):
    eks = client("eks", "ap-southeast-2")
    role = "arn:aws:iam::123456789012:role/eks"
    eks.create_cluster(name="here", roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    eks.create_nodegroup(clusterName="here", nodegroupName="ng", subnets=["subnet-1"], nodeRole=role)
    assert eks.list_nodegroups(clusterName="here")["nodegroups"] == ["ng"]
