"""lastLaunchedTime: the time RunInstances last launched from an AMI, reported a day later.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html, LastLaunchedTime): "The date
and time, in ISO 8601 date-time format, when the AMI was last used to launch an EC2 instance. When the AMI
is used to launch an instance, there is a 24-hour delay before that usage is reported."
"""

from datetime import datetime, timedelta

from helpers import make_snapshot


def last_launched(ec2, image_id):
    attribute = ec2.describe_image_attribute(ImageId=image_id, Attribute="lastLaunchedTime")
    shown = ec2.describe_images(ImageIds=[image_id])["Images"][0].get("LastLaunchedTime")
    assert attribute["LastLaunchedTime"].get("Value") == shown
    return shown


def parse(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_launch_is_reported_a_day_later_as_the_time_of_the_launch(client, clock):
    ec2 = client("ec2", "eu-south-1")
    snapshot = make_snapshot(ec2, zone="eu-south-1a")
    image_id = ec2.register_image(Name="gio-last-launched", RootDeviceName="/dev/xvda",
                                  BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}])["ImageId"]
    assert last_launched(ec2, image_id) is None

    first = clock.now()
    ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)
    assert last_launched(ec2, image_id) is None, "not reported within the first 24 hours"
    clock.advance(timedelta(hours=24, seconds=5))
    reported = last_launched(ec2, image_id)
    assert reported.endswith("Z") and abs((parse(reported) - first).total_seconds()) < 60

    ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)
    assert last_launched(ec2, image_id) == reported, "the second launch is not reported yet"
    clock.advance(timedelta(hours=24, seconds=5))
    assert parse(last_launched(ec2, image_id)) > parse(reported)
