"""EC2 Image Builder image recipes (patches/imagebuilder.py, served by patches/routes.py).

AWS (https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_CreateImageRecipe.html): "The
recipe name, combined with the semantic version, must be unique to your account in each Amazon Web
Services Region. Image Builder generates the image recipe ARN from a normalized form of the name, so
names that differ only in case, spaces, or underscores count as the same name"; semantic versions are
<major>.<minor>.<patch>, each node 0 to 2^30-1 (InvalidVersionNumberException otherwise); "If you enter
an AMI ID ..., you must have access to the AMI"; "If you retry a request with the same client token,
Image Builder returns the original response". ListImageRecipes "will only show image recipes owned by
your account" by default, up to 25 items a page unless maxResults (at most 100) says otherwise.
"""

import boto3
import botocore.config
import botocore.exceptions
import pytest

from helpers import error_code, register_root_image

REGION = "ap-south-2"
UPDATE_LINUX = f"arn:aws:imagebuilder:{REGION}:aws:component/update-linux/x.x.x"
OTHER_ACCOUNT = "222233334444"


@pytest.fixture(scope="module")
def ami(client):
    return register_root_image(client("ec2", REGION), "gio-recipe-parent", zone=f"{REGION}a")


def recipe_arn(name, version, account="123456789012", region=REGION):
    return f"arn:aws:imagebuilder:{region}:{account}:image-recipe/{name}/{version}"


def refused(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**kwargs)
    return error_code(excinfo), excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_recipes_are_created_read_listed_and_deleted(client, ami):
    ib = client("imagebuilder", REGION)
    mappings = [{"deviceName": "/dev/xvdb", "ebs": {"volumeSize": 50, "volumeType": "gp3"}}]
    created = ib.create_image_recipe(name="Gio Nodes_Base", semanticVersion="1.0.0", parentImage=ami,
                                     components=[{"componentArn": UPDATE_LINUX}], blockDeviceMappings=mappings,
                                     description="EKS nodes", tags={"team": "platform"}, clientToken="first")
    arn = recipe_arn("gio-nodes-base", "1.0.0")
    assert (created["imageRecipeArn"], created["clientToken"]) == (arn, "first") and created["requestId"]
    newer = ib.create_image_recipe(name="Gio Nodes_Base", semanticVersion="1.1.0", parentImage=ami)["imageRecipeArn"]
    assert newer == recipe_arn("gio-nodes-base", "1.1.0"), "a name takes several versions"

    recipe = ib.get_image_recipe(imageRecipeArn=arn)["imageRecipe"]
    assert {key: recipe[key] for key in ("arn", "name", "version", "owner", "parentImage", "platform", "components",
                                         "blockDeviceMappings", "description", "tags")} == {
        "arn": arn, "name": "Gio Nodes_Base", "version": "1.0.0", "owner": "123456789012", "parentImage": ami,
        "platform": "Linux", "components": [{"componentArn": UPDATE_LINUX}], "blockDeviceMappings": mappings,
        "description": "EKS nodes", "tags": {"team": "platform"}}
    assert recipe["dateCreated"].endswith("Z") and "type" not in recipe, "type isn't currently returned"

    listed = ib.list_image_recipes()["imageRecipeSummaryList"]
    assert {arn, newer} <= {r["arn"] for r in listed}, "owner Self by default"
    assert next(r for r in listed if r["arn"] == arn) == {
        key: recipe[key] for key in ("arn", "name", "platform", "owner", "parentImage", "dateCreated", "tags")}
    this_name = [{"name": "name", "values": ["Gio Nodes_Base"]}, {"name": "parentImage", "values": [ami]}]
    pages = ib.get_paginator("list_image_recipes").paginate(filters=this_name, PaginationConfig={"PageSize": 1})
    assert [[r["arn"] for r in page["imageRecipeSummaryList"]] for page in pages] == [[arn], [newer]]
    assert ib.list_image_recipes(owner="Amazon")["imageRecipeSummaryList"] == []
    assert ib.list_image_recipes(filters=[{"name": "platform", "values": ["Windows"]}])["imageRecipeSummaryList"] == []

    deleted = ib.delete_image_recipe(imageRecipeArn=arn)
    assert deleted["imageRecipeArn"] == arn
    assert refused(ib.get_image_recipe, imageRecipeArn=arn) == ("ResourceNotFoundException", 404)
    assert refused(ib.delete_image_recipe, imageRecipeArn=arn) == ("ResourceNotFoundException", 404)
    assert [r["arn"] for r in ib.list_image_recipes(filters=this_name)["imageRecipeSummaryList"]] == [newer]
    ib.delete_image_recipe(imageRecipeArn=newer)


def test_a_name_and_version_are_taken_once_and_a_client_token_repeats_the_first_answer(client, ami):
    ib = client("imagebuilder", REGION)
    first = ib.create_image_recipe(name="gio-taken", semanticVersion="2.0.0", parentImage=ami, clientToken="t-1")
    again = ib.create_image_recipe(name="gio-taken", semanticVersion="2.0.0", parentImage=ami, clientToken="t-1")
    assert again["imageRecipeArn"] == first["imageRecipeArn"] == recipe_arn("gio-taken", "2.0.0")
    assert refused(ib.create_image_recipe, name="gio-taken", semanticVersion="2.0.1", parentImage=ami,
                   clientToken="t-1") == ("IdempotentParameterMismatchException", 400)
    for name in ("GIO-TAKEN", "gio_taken", "gio taken"):
        assert refused(ib.create_image_recipe, name=name, semanticVersion="2.0.0",
                       parentImage=ami) == ("ResourceAlreadyExistsException", 400), name
    ib.delete_image_recipe(imageRecipeArn=first["imageRecipeArn"])


def test_a_dry_run_validates_and_creates_nothing(client, ami):
    ib = client("imagebuilder", REGION)
    assert refused(ib.create_image_recipe, name="gio-dry", semanticVersion="1.0.0", parentImage=ami,
                   dryRun=True)[0] == "DryRunOperationException"
    assert refused(ib.create_image_recipe, name="gio-dry", semanticVersion="1.0", parentImage=ami,
                   dryRun=True)[0] == "InvalidVersionNumberException"
    assert refused(ib.get_image_recipe, imageRecipeArn=recipe_arn("gio-dry", "1.0.0"))[0] == "ResourceNotFoundException"


def unvalidated(endpoint):
    """A client without botocore's own checks, so that what AWS itself refuses (missing members too)
    reaches the emulator."""
    return boto3.client("imagebuilder", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=botocore.config.Config(parameter_validation=False))


@pytest.mark.parametrize("change, code", [
    ({"semanticVersion": "1.0"}, "InvalidVersionNumberException"),
    ({"semanticVersion": "1.0.x"}, "InvalidVersionNumberException"),
    ({"semanticVersion": "1073741824.0.0"}, "InvalidVersionNumberException"),
    ({"name": "ab"}, "InvalidRequestException"),
    ({"name": "gio/recipe"}, "InvalidRequestException"),
    ({"name": None}, "InvalidRequestException"),
    ({"parentImage": None}, "InvalidRequestException"),
    ({"parentImage": "ami-00000000000000000"}, "InvalidRequestException"),
    ({"description": ""}, "InvalidRequestException"),
    ({"components": []}, "InvalidRequestException"),
    ({"components": [{"componentArn": "update-linux"}]}, "InvalidRequestException"),
    ({"components": [{"componentArn": UPDATE_LINUX}, {"componentArn": UPDATE_LINUX}]}, "InvalidRequestException"),
    ({"tags": {"aws:owner": "me"}}, "InvalidRequestException"),
], ids=["two-nodes", "wildcard", "node-over-2^30-1", "short-name", "slash-in-name", "no-name", "no-parent",
        "unknown-ami", "empty-description", "no-components", "malformed-component", "component-twice", "aws-tag"])
def test_invalid_recipes_are_refused(endpoint, ami, change, code):
    request = {key: value for key, value in {"name": "gio-invalid", "semanticVersion": "1.0.0", "parentImage": ami,
                                             **change}.items() if value is not None}
    assert refused(unvalidated(endpoint).create_image_recipe, **request)[0] == code


@pytest.mark.parametrize("operation, request_, code", [
    ("get_image_recipe", {"imageRecipeArn": "gio-nodes"}, "InvalidRequestException"),
    ("get_image_recipe", {"imageRecipeArn": recipe_arn("gio-nodes", "x.x.x")}, "ResourceNotFoundException"),
    ("delete_image_recipe", {"imageRecipeArn": recipe_arn("Gio-Nodes", "1.0.0")}, "InvalidRequestException"),
    ("list_image_recipes", {"owner": "Everyone"}, "InvalidRequestException"),
    ("list_image_recipes", {"filters": [{"name": "architecture", "values": ["x86_64"]}]}, "InvalidRequestException"),
    ("list_image_recipes", {"maxResults": 101}, "InvalidRequestException"),
    ("list_image_recipes", {"maxResults": 0}, "InvalidRequestException"),
    ("list_image_recipes", {"nextToken": "not a token"}, "InvalidPaginationTokenException"),
], ids=["not-an-arn", "wildcard-version", "upper-case-arn", "owner", "filter", "over-100", "zero", "token"])
def test_invalid_lookups_are_refused(endpoint, operation, request_, code):
    assert refused(getattr(unvalidated(endpoint), operation), **request_)[0] == code


def test_recipes_are_per_account_and_region_and_the_parent_must_be_usable(client, client_as, ami):
    ec2, ib = client("ec2", REGION), client("imagebuilder", REGION)
    theirs = client_as(OTHER_ACCOUNT, "imagebuilder", REGION)
    mine = ib.create_image_recipe(name="gio-shared-parent", semanticVersion="1.0.0", parentImage=ami)["imageRecipeArn"]
    assert refused(theirs.create_image_recipe, name="gio-shared-parent", semanticVersion="1.0.0",
                   parentImage=ami) == ("InvalidRequestException", 400), "the AMI is not shared with them"
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": OTHER_ACCOUNT}]})
    try:
        other = theirs.create_image_recipe(name="gio-shared-parent", semanticVersion="1.0.0",
                                           parentImage=ami)["imageRecipeArn"]
    finally:
        ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Remove": [{"UserId": OTHER_ACCOUNT}]})
    assert other == recipe_arn("gio-shared-parent", "1.0.0", account=OTHER_ACCOUNT)
    assert [r["arn"] for r in theirs.list_image_recipes()["imageRecipeSummaryList"]] == [other]
    assert mine in [r["arn"] for r in ib.list_image_recipes()["imageRecipeSummaryList"]]
    assert other not in [r["arn"] for r in ib.list_image_recipes()["imageRecipeSummaryList"]]
    assert refused(ib.get_image_recipe, imageRecipeArn=other)[0] == "ResourceNotFoundException"
    assert refused(client("imagebuilder", "ap-south-1").get_image_recipe,
                   imageRecipeArn=mine)[0] == "ResourceNotFoundException", "recipes are per Region"
    assert refused(client("imagebuilder", "ap-south-1").create_image_recipe, name="gio-elsewhere",
                   semanticVersion="1.0.0", parentImage=ami)[0] == "InvalidRequestException", "the AMI is in ap-south-2"
    theirs.delete_image_recipe(imageRecipeArn=other)
    ib.delete_image_recipe(imageRecipeArn=mine)
