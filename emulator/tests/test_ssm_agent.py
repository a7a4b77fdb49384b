"""Patch 14: DescribeInstanceInformation lists instances with an instance profile as managed."""

from helpers import seed_image


def test_instances_with_a_profile_register_online_and_lose_connection_when_stopped(client):
    region = "ap-east-1"
    ec2, ssm, iam = client("ec2", region), client("ssm", region), client("iam", region)
    iam.create_instance_profile(InstanceProfileName="gio-ami-builder")
    image = seed_image(ec2, "amazon-eks-node-al2023-x86_64-standard-1.31")["ImageId"]

    def launch(**profile):
        return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, **profile)["Instances"][0]["InstanceId"]

    managed = launch(IamInstanceProfile={"Name": "gio-ami-builder"})
    launch()  # no profile: its agent cannot register
    other = launch(IamInstanceProfile={"Name": "gio-ami-builder"})

    def nodes(**kwargs):
        listed = ssm.describe_instance_information(**kwargs)["InstanceInformationList"]
        return {n["InstanceId"]: n["PingStatus"] for n in listed}

    assert nodes() == {managed: "Online", other: "Online"}
    assert nodes(Filters=[{"Key": "InstanceIds", "Values": [managed]}]) == {managed: "Online"}
    assert nodes(InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [other]}]) == {other: "Online"}
    ec2.stop_instances(InstanceIds=[managed])
    ec2.terminate_instances(InstanceIds=[other])
    assert nodes() == {managed: "ConnectionLost"}
