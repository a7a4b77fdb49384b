"""RunInstances with a ClientToken launches once, however often it is retried."""

from helpers import seed_image


def test_a_repeated_client_token_returns_the_first_reservation(client):
    ec2 = client("ec2", "eu-north-1")
    image = seed_image(ec2, "bottlerocket-aws-k8s-1.31-x86_64")
    first = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, ClientToken="build-1")
    again = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, ClientToken="build-1")
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == [i["InstanceId"] for i in first["Instances"]]
    reservations = ec2.describe_instances()["Reservations"]
    assert sum(len(r["Instances"]) for r in reservations) == 1

    ec2.terminate_instances(InstanceIds=[first["Instances"][0]["InstanceId"]])
    after = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, ClientToken="build-1")
    assert after["Instances"][0]["InstanceId"] == first["Instances"][0]["InstanceId"], "even once terminated"


def test_without_a_token_or_with_another_each_call_launches(client):
    ec2 = client("ec2", "eu-south-1")
    image = seed_image(ec2, "bottlerocket-aws-k8s-1.31-x86_64")
    ids = {
        ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, **token)["Instances"][0]["InstanceId"]
        for token in ({}, {}, {"ClientToken": "a"}, {"ClientToken": "b"})
    }
    assert len(ids) == 4
