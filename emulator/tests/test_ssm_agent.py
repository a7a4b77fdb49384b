"""Patch 14: DescribeInstanceInformation lists running instances with an instance profile as managed.

AWS (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstanceInformation.html):
"This operation does not return information for nodes that are either Stopped or Terminated."
"Attempting to use InstanceInformationFilterList and Filters leads to an exception error."
MaxResults: "The default value is 10 items." Valid Range: Minimum value of 5. Maximum value of 50.
"""

import boto3
import botocore.config
import botocore.exceptions
import pytest

from helpers import seed_image


def launch(ec2, image, **profile):
    instances = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, **profile)["Instances"]
    return [i["InstanceId"] for i in instances]


def test_running_instances_with_a_profile_are_online_and_stopped_ones_drop_out(client):
    region = "ap-east-1"
    ec2, ssm, iam = client("ec2", region), client("ssm", region), client("iam", region)
    iam.create_instance_profile(InstanceProfileName="gio-ami-builder")
    image = seed_image(ec2, "amazon-eks-node-al2023-x86_64-standard-1.31")["ImageId"]
    profile = {"IamInstanceProfile": {"Name": "gio-ami-builder"}}

    [managed] = launch(ec2, image, **profile)
    launch(ec2, image)  # no profile: its agent cannot register
    [other] = launch(ec2, image, **profile)

    def nodes(**kwargs):
        listed = ssm.describe_instance_information(**kwargs)["InstanceInformationList"]
        return {n["InstanceId"]: n["PingStatus"] for n in listed}

    assert nodes() == {managed: "Online", other: "Online"}
    assert nodes(Filters=[{"Key": "InstanceIds", "Values": [managed]}]) == {managed: "Online"}
    assert nodes(InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [other]}]) == {other: "Online"}
    ec2.stop_instances(InstanceIds=[managed])
    ec2.terminate_instances(InstanceIds=[other])
    assert nodes() == {}
    ec2.start_instances(InstanceIds=[managed])
    assert nodes() == {managed: "Online"}

    with pytest.raises(botocore.exceptions.ClientError) as both:
        ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [managed]}],
                                          InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [managed]}])
    assert both.value.response["Error"]["Code"] == "InvalidInstanceInformationFilterValue"


def test_nodes_are_paged_ten_by_default_and_max_results_is_5_to_50(client, endpoint):
    region = "ap-southeast-3"
    ec2, ssm, iam = client("ec2", region), client("ssm", region), client("iam", region)
    iam.create_instance_profile(InstanceProfileName="gio-ami-pager")
    image = seed_image(ec2, "amazon-eks-node-al2023-x86_64-standard-1.31")["ImageId"]
    # one launch each: moto associates the profile with the first instance of a reservation only
    launched = [i for _ in range(12) for i in launch(ec2, image, IamInstanceProfile={"Name": "gio-ami-pager"})]

    first = ssm.describe_instance_information()
    assert len(first["InstanceInformationList"]) == 10 and "NextToken" in first
    second = ssm.describe_instance_information(NextToken=first["NextToken"])
    assert len(second["InstanceInformationList"]) == 2 and "NextToken" not in second
    listed = [n["InstanceId"] for page in (first, second) for n in page["InstanceInformationList"]]
    assert sorted(listed) == sorted(launched)
    pages = ssm.get_paginator("describe_instance_information").paginate(PaginationConfig={"PageSize": 5})
    assert [len(p["InstanceInformationList"]) for p in pages] == [5, 5, 2]

    unchecked = boto3.client("ssm", region_name=region, endpoint_url=endpoint, aws_access_key_id="a",
                             aws_secret_access_key="b", config=botocore.config.Config(parameter_validation=False))
    for size in (4, 51):  # the Rust SDK checks no ranges
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            unchecked.describe_instance_information(MaxResults=size)
        assert excinfo.value.response["Error"]["Code"] == "ValidationException"
