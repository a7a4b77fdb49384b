"""DescribeImageReferences (patches/references.py): instances, launch template versions, SSM
parameters and Image Builder image recipes that reference given AMIs.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImageReferences.html,
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-ami-references.html): "Either
IncludeAllResourceTypes or ResourceTypes must be specified"; state-name "Default: All states";
version-depth "The number of launch template versions to check, starting from the most recent
version ... Default: 10"; with both parameters "your specified values override the default values";
"AMI references can be checked in: ... Image Builder image recipes".
"""

from datetime import timedelta

import botocore.exceptions
import pytest

from helpers import error_code, register_root_image

REGION = "eu-central-2"


def register(ec2, name):
    return register_root_image(ec2, name, zone=f"{REGION}a")


def references(ec2, image_ids, **kwargs):
    answer = ec2.describe_image_references(ImageIds=image_ids, **kwargs)
    return sorted((r["ImageId"], r["ResourceType"], r["Arn"]) for r in answer["ImageReferences"])


def test_instances_launch_templates_and_parameters_that_reference_an_ami(client, clock):
    ec2, ssm = client("ec2", REGION), client("ssm", REGION)
    image, other = register(ec2, "gio-referenced"), register(ec2, "gio-unreferenced")
    running = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    stopped = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped])
    template = ec2.create_launch_template(LaunchTemplateName="gio-nodes",
                                          LaunchTemplateData={"ImageId": image})["LaunchTemplate"]["LaunchTemplateId"]
    for _ in range(10):  # the AMI is now 11 versions back
        ec2.create_launch_template_version(LaunchTemplateId=template, LaunchTemplateData={"ImageId": other})
    ssm.put_parameter(Name="/gio/release/current", Value=image, Type="String", DataType="aws:ec2:image")
    clock.advance(timedelta(seconds=1))  # the value exists once SSM validated it (patch 40)

    arn = f"arn:aws:ec2:{REGION}:123456789012"
    parameter_arn = f"arn:aws:ssm:{REGION}:123456789012:parameter/gio/release/current"
    assert references(ec2, [image], IncludeAllResourceTypes=True) == sorted([
        (image, "ec2:Instance", f"{arn}:instance/{running}"),
        (image, "ec2:Instance", f"{arn}:instance/{stopped}"),
        (image, "ssm:Parameter", parameter_arn),
    ]), "the template's version 1 is past the default depth of 10"
    deep = [{"ResourceType": "ec2:LaunchTemplate",
             "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["11"]}]}]
    assert references(ec2, [image], ResourceTypes=deep) == [(image, "ec2:LaunchTemplate", f"{arn}:launch-template/{template}")]
    assert references(ec2, [other], ResourceTypes=[{"ResourceType": "ec2:LaunchTemplate"}]) == [
        (other, "ec2:LaunchTemplate", f"{arn}:launch-template/{template}")]

    only_running = [{"ResourceType": "ec2:Instance",
                     "ResourceTypeOptions": [{"OptionName": "state-name", "OptionValues": ["running", "pending"]}]}]
    assert references(ec2, [image], IncludeAllResourceTypes=True, ResourceTypes=only_running) == sorted([
        (image, "ec2:Instance", f"{arn}:instance/{running}"), (image, "ssm:Parameter", parameter_arn)])
    assert references(ec2, [image], ResourceTypes=[{"ResourceType": "imagebuilder:ImageRecipe"}]) == []

    pages = ec2.get_paginator("describe_image_references").paginate(
        ImageIds=[image, other], IncludeAllResourceTypes=True, PaginationConfig={"PageSize": 5})
    assert sum(len(p["ImageReferences"]) for p in pages) == 4


def test_image_recipes_built_on_an_ami_reference_it(client, client_as):
    ec2, ib = client("ec2", REGION), client("imagebuilder", REGION)
    theirs = client_as("222233334444", "imagebuilder", REGION)
    image = register(ec2, "gio-recipe-base")
    recipe = ib.create_image_recipe(name="gio-nodes", semanticVersion="1.0.0", parentImage=image)["imageRecipeArn"]
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": "222233334444"}]})
    their_recipe = theirs.create_image_recipe(name="gio-nodes", semanticVersion="1.0.0",
                                              parentImage=image)["imageRecipeArn"]
    assert recipe == f"arn:aws:imagebuilder:{REGION}:123456789012:image-recipe/gio-nodes/1.0.0"

    mine = [(image, "imagebuilder:ImageRecipe", recipe)]
    assert references(ec2, [image], ResourceTypes=[{"ResourceType": "imagebuilder:ImageRecipe"}]) == mine
    assert references(ec2, [image], IncludeAllResourceTypes=True) == mine, "another account's recipe is its own"
    assert references(ec2, [image], ResourceTypes=[{"ResourceType": "ec2:Instance"},
                                                   {"ResourceType": "imagebuilder:ContainerRecipe"}]) == []
    assert references(client_as("222233334444", "ec2", REGION), [image], IncludeAllResourceTypes=True) == [
        (image, "imagebuilder:ImageRecipe", their_recipe)]

    ib.delete_image_recipe(imageRecipeArn=recipe)
    assert references(ec2, [image], IncludeAllResourceTypes=True) == []
    theirs.delete_image_recipe(imageRecipeArn=their_recipe)


@pytest.mark.parametrize("kwargs, code", [
    ({"ImageIds": ["ami-12345678"]}, "MissingParameter"),
    ({"ImageIds": ["snap-12345678"], "IncludeAllResourceTypes": True}, "InvalidAMIID.Malformed"),
    ({"ImageIds": [f"ami-{n:08x}" for n in range(11)], "IncludeAllResourceTypes": True}, "InvalidParameterValue"),
    ({"ImageIds": ["ami-12345678"], "ResourceTypes": [
        {"ResourceType": "ssm:Parameter", "ResourceTypeOptions": [{"OptionName": "state-name", "OptionValues": ["running"]}]}]},
     "InvalidParameterValue"),
    ({"ImageIds": ["ami-12345678"], "ResourceTypes": [
        {"ResourceType": "ec2:LaunchTemplate",
         "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["10001"]}]}]}, "InvalidParameterValue"),
], ids=["no-resource-type", "not-an-ami", "eleven-ids", "option-on-parameters", "depth-over-10000"])
def test_invalid_requests_are_refused(ec2, kwargs, code):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_image_references(**kwargs)
    assert error_code(excinfo) == code
