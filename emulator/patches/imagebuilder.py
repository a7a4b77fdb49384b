"""EC2 Image Builder image recipes, the `imagebuilder` service moto 5.2.5 lacks (routes.py serves it):
CreateImageRecipe, GetImageRecipe, ListImageRecipes, DeleteImageRecipe. DescribeImageReferences reports
the recipes whose parent image is an AMI (references.py).

As the API reference (and the botocore model of it) says:
- CreateImageRecipe requires name, semanticVersion and parentImage (and clientToken, which the SDKs
  fill in). "The recipe name, combined with the semantic version, must be unique to your account in
  each Amazon Web Services Region. Image Builder generates the image recipe ARN from a normalized form
  of the name, so names that differ only in case, spaces, or underscores count as the same name"; a
  taken one: ResourceAlreadyExistsException ("The resource that you are trying to create already
  exists"). The name matches ^[-_A-Za-z-0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z-0-9]$, a description is
  1-1024 characters, tags are at most 50, keys 1-128 characters not starting with aws:, values <= 256.
- semanticVersion: "<major>.<minor>.<patch>/<build>. You can assign values for the first three ...
  For the first three nodes, you can assign any positive integer value, including zero. The upper
  limit is 2^30-1, or 1073741823, for each node"; InvalidVersionNumberException: "Your version number
  is out of bounds or does not follow the required syntax".
- components: "Components are optional ... You can specify each component only one time in a recipe";
  a componentArn is "a build version ARN, or a component version ARN whose version segments can use x
  wildcards" (ComponentVersionArnOrBuildVersionArn's pattern).
- parentImage: an "AMI ID", an "Image Builder image Amazon Resource Name (ARN)", an SSM parameter
  "prefixed by ssm:", or a Marketplace product ID. "If you enter an AMI ID ..., you must have access to
  the AMI. The AMI must also be in the Region where you're creating the recipe."
- clientToken: "If you retry a request with the same client token, Image Builder returns the original
  response without running the operation again"; other parameters with the same token:
  IdempotentParameterMismatchException. dryRun: "If validation succeeds, the operation returns a
  DryRunOperationException error response."
- The answers: CreateImageRecipe requestId, clientToken, imageRecipeArn; GetImageRecipe the
  ImageRecipe (arn, name, description, platform, owner, version, components, parentImage,
  blockDeviceMappings, dateCreated, tags, workingDirectory, ...; `type` "isn't currently returned in
  responses"); DeleteImageRecipe requestId and imageRecipeArn. ARNs follow ImageRecipeArn:
  arn:aws:imagebuilder:REGION:ACCOUNT:image-recipe/NAME/MAJOR.MINOR.PATCH.
- ListImageRecipes: "By default, this request will only show image recipes owned by your account"
  (owner Self | Shared | Amazon | ThirdParty | AWSMarketplace); filters name, parentImage, platform
  (at most 10, each with 1-10 values); maxResults: "If you don't specify a value, Image Builder returns
  up to 25 items. The largest page size that you can request is 100 items"; a token it did not issue:
  InvalidPaginationTokenException. Summaries: arn, name, platform, owner, parentImage, dateCreated, tags.
Chosen where the docs are silent:
- The normalized name is the name in lower case with spaces and underscores as hyphens.
- Every other invalid request (a required member missing, a value outside its documented shape, a
  parent AMI the caller cannot use, an unknown owner or filter, maxResults outside 1-100) is
  InvalidRequestException ("The request is malformed or otherwise invalid"), the one validation error
  these operations list; the parent's message is the one AWS answers in the wild ("The value supplied
  for parameter 'parentImage' is not valid").
- A recipe that does not exist is ResourceNotFoundException (HTTP 404, "At least one of the resources
  referenced by your request does not exist"): the model defines it, these operations' error lists do
  not name it, and it is what AWS answers and clients such as the Terraform provider expect. An ARN of
  another account or Region names none of the caller's recipes. Wildcard versions (x.x.x, which the
  ARN pattern allows) are not resolved to the latest version: they name no recipe.
- A semanticVersion with x is refused (the model's pattern allows it; the reference says values are
  assigned integers).
- platform is Windows for a parent AMI whose platform is windows, else Linux (and Linux for parents
  that are not AMIs). dateCreated is the emulator's clock (clock.py). Lists are ordered by ARN; a
  filter matches a recipe whose value equals one of its values, and filters all apply.
Not modelled: components (any component ARN of the documented shape is accepted, none need exist, and
parameters are not checked against a component's definition); parents that are not AMI ids are taken
as given, not resolved; the owners but Self list nothing (no sharing, no Amazon-managed recipes);
latestVersionReferences; quotas (20 components); ResourceDependencyException (no images or pipelines
use a recipe); block device mappings are kept as given; Allowed AMIs settings do not restrict parents.
https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_CreateImageRecipe.html
https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_GetImageRecipe.html
https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_ListImageRecipes.html
https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_DeleteImageRecipe.html
https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_ImageRecipe.html
https://docs.aws.amazon.com/imagebuilder/latest/userguide/ibhow-semantic-versioning.html
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.base_backend import AccountSpecificBackend, BackendDict, BaseBackend
from moto.core.responses import ActionResult, BaseResponse
from moto.ec2.models import ec2_backends

from . import clock, idempotency, org_sharing
from .common import ServiceError

NAME = re.compile(r"[-_A-Za-z0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z0-9]")
VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
MAX_VERSION_NODE = 2**30 - 1
COMPONENT_ARN = re.compile(r"arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws(?:-[a-z-]+)?|third-party):component/"
                           r"[a-z0-9-_]+/(?:(?:[0-9]+|x)\.(?:[0-9]+|x)\.(?:[0-9]+|x)|[0-9]+\.[0-9]+\.[0-9]+/[0-9]+)")
RECIPE_ARN = re.compile(r"arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):image-recipe/[a-z0-9-_]+/"
                        r"(?:[0-9]+|x)\.(?:[0-9]+|x)\.(?:[0-9]+|x)")
TAG_KEY = re.compile(r"(?!aws:)[a-zA-Z0-9\s_.:/=+\-@]{1,128}")
OWNERS = ("Self", "Shared", "Amazon", "ThirdParty", "AWSMarketplace")
FILTERS = {"name": "name", "parentImage": "parent_image", "platform": "platform"}
DEFAULT_RESULTS, MAX_RESULTS = 25, 100


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidRequestException", message)


def not_found(arn: Any) -> ServiceError:
    return ServiceError("ResourceNotFoundException", f"The resource ARN '{arn}' does not exist.")


def normalized(name: str) -> str:
    return re.sub(r"[ _]", "-", name.lower())


@dataclass
class Recipe:
    arn: str
    name: str
    version: str
    owner: str
    parent_image: str
    platform: str
    date_created: str
    components: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # the optional members, as given
    tags: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"arn": self.arn, "name": self.name, "platform": self.platform, "owner": self.owner,
                "parentImage": self.parent_image, "dateCreated": self.date_created, "tags": self.tags}

    def answer(self) -> dict[str, Any]:
        return {**self.summary(), **self.details, "version": self.version, "components": self.components}


class ImageBuilderBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.recipes: dict[str, Recipe] = {}  # by ARN

    def recipe(self, arn: Any) -> Recipe:
        if not isinstance(arn, str) or not RECIPE_ARN.fullmatch(arn):
            raise invalid(f"The value supplied for parameter 'imageRecipeArn' is not valid: {arn}.")
        recipe = self.recipes.get(arn)
        if recipe is None:
            raise not_found(arn)
        return recipe


def _ec2_regions() -> list[str]:
    """botocore's endpoint data, where moto looks up a service's Regions, has no `imagebuilder` entry
    (its endpoints come from rules), so Image Builder is served in EC2's Regions."""
    session = AccountSpecificBackend.get_session()
    return [region for partition in session.get_available_partitions()
            for region in session.get_available_regions("ec2", partition_name=partition)]


imagebuilder_backends = BackendDict(ImageBuilderBackend, "imagebuilder", use_boto3_regions=False,
                                    additional_regions=_ec2_regions())


def recipes_of(account_id: str, region: str) -> list[Recipe]:
    """The account's image recipes in the Region (none, without creating a backend, if it made none)."""
    backend = dict.get(dict.get(imagebuilder_backends, account_id) or {}, region)
    return list(backend.recipes.values()) if backend else []


def _version(value: Any) -> str:
    match = VERSION.fullmatch(value) if isinstance(value, str) else None
    if match is None or any(int(node) > MAX_VERSION_NODE for node in match.groups()):
        raise ServiceError("InvalidVersionNumberException",
                           f"The semantic version {value!r} must be <major>.<minor>.<patch>, each node an integer "
                           f"0-{MAX_VERSION_NODE}.")
    return value


def _components(components: Any) -> list[dict[str, Any]]:
    if components is None:
        return []
    if not components:
        raise invalid("components must hold at least one component when given.")
    arns = [component.get("componentArn") for component in components]
    for arn in arns:
        if not isinstance(arn, str) or not COMPONENT_ARN.fullmatch(arn):
            raise invalid(f"The value supplied for parameter 'componentArn' is not valid: {arn}.")
    if len(set(arns)) != len(arns):
        raise invalid("Each component can be specified only one time in a recipe.")
    return components


def _tags(tags: Any) -> dict[str, str]:
    tags = tags or {}
    if len(tags) > 50 or not all(TAG_KEY.fullmatch(key) and len(value) <= 256 for key, value in tags.items()):
        raise invalid("Tags: at most 50, keys of 1-128 characters not starting with aws:, values of at most 256.")
    return tags


def _platform(account_id: str, region: str, parent: Any) -> str:
    """The recipe's platform from its parent, which must be an AMI the account can use in this Region
    when it is an AMI id."""
    if not isinstance(parent, str) or not 1 <= len(parent) <= 1024:
        raise invalid("parentImage is required: an AMI id, an Image Builder image ARN, ssm:PARAMETER or a "
                      "Marketplace product id.")
    if not parent.startswith("ami-"):
        return "Linux"
    ami = org_sharing.launchable(ec2_backends[account_id][region], parent)
    if ami is None:
        raise invalid(f"The value supplied for parameter 'parentImage' is not valid. The AMI {parent} does not "
                      f"exist in {region} or you do not have access to it.")
    return "Windows" if ami.platform == "windows" else "Linux"


class ImageBuilderResponse(BaseResponse):
    """Image Builder's REST-JSON operations; the action and parameters come from the `imagebuilder` model."""

    def __init__(self) -> None:
        super().__init__(service_name="imagebuilder")
        self.automated_parameter_parsing = True

    @property
    def backend(self) -> ImageBuilderBackend:
        return imagebuilder_backends[self.current_account][self.region]

    def create_image_recipe(self) -> ActionResult:
        request = dict(self.params)
        return idempotency.once(self.backend, "CreateImageRecipe", request, lambda: self._create(request),
                                lambda: ServiceError("IdempotentParameterMismatchException",
                                                     "The client token was used before with other parameters."),
                                token="clientToken")

    def _create(self, request: dict[str, Any]) -> ActionResult:
        name, description = request.get("name"), request.get("description")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise invalid(f"The value supplied for parameter 'name' is not valid: {name!r}.")
        if description is not None and not 1 <= len(description) <= 1024:
            raise invalid("description must be 1-1024 characters.")
        version = _version(request.get("semanticVersion"))
        platform = _platform(self.current_account, self.region, request.get("parentImage"))
        components, tags = _components(request.get("components")), _tags(request.get("tags"))
        arn = f"arn:aws:imagebuilder:{self.region}:{self.current_account}:image-recipe/{normalized(name)}/{version}"
        if arn in self.backend.recipes:
            raise ServiceError("ResourceAlreadyExistsException", f"The resource ARN '{arn}' already exists.")
        if request.get("dryRun"):
            raise ServiceError("DryRunOperationException", "The request would have succeeded, but dryRun was set.")
        details = {key: request[key] for key in ("description", "blockDeviceMappings", "workingDirectory",
                                                 "additionalInstanceConfiguration", "amiTags", "amiWatermarks")
                   if request.get(key) is not None}
        self.backend.recipes[arn] = Recipe(arn, name, version, self.current_account, request["parentImage"], platform,
                                           clock.iso(clock.now()), components, details, tags)
        return ActionResult({"requestId": str(uuid.uuid4()), "clientToken": request.get("clientToken"),
                             "imageRecipeArn": arn})

    def get_image_recipe(self) -> ActionResult:
        recipe = self.backend.recipe(self._get_param("imageRecipeArn"))
        return ActionResult({"requestId": str(uuid.uuid4()), "imageRecipe": recipe.answer()})

    def delete_image_recipe(self) -> ActionResult:
        recipe = self.backend.recipe(self._get_param("imageRecipeArn"))
        del self.backend.recipes[recipe.arn]
        return ActionResult({"requestId": str(uuid.uuid4()), "imageRecipeArn": recipe.arn})

    def list_image_recipes(self) -> ActionResult:
        owner = self._get_param("owner") or "Self"
        if owner not in OWNERS:
            raise invalid(f"owner must be one of {', '.join(OWNERS)}; it was {owner}.")
        filters = self._get_param("filters") or []
        if len(filters) > 10 or any(f.get("name") not in FILTERS or not 1 <= len(f.get("values") or []) <= 10
                                    for f in filters):
            raise invalid(f"filters: at most 10, each one of {', '.join(FILTERS)} with 1-10 values.")
        max_results, token = self._get_param("maxResults", DEFAULT_RESULTS), self._get_param("nextToken")
        if not 1 <= max_results <= MAX_RESULTS:
            raise invalid(f"maxResults must be 1-{MAX_RESULTS}; it was {max_results}.")
        try:
            after = base64.b64decode(token, validate=True).decode() if token else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ServiceError("InvalidPaginationTokenException", f"The nextToken '{token}' is not valid.") from None
        recipes = sorted((recipe for recipe in self.backend.recipes.values()
                          if owner == "Self" and recipe.arn > after
                          and all(getattr(recipe, FILTERS[f["name"]]) in f["values"] for f in filters)),
                         key=lambda recipe: recipe.arn)
        page, rest = recipes[:max_results], recipes[max_results:]
        result: dict[str, Any] = {"requestId": str(uuid.uuid4()), "imageRecipeSummaryList": [r.summary() for r in page]}
        if rest:
            result["nextToken"] = base64.b64encode(page[-1].arn.encode()).decode()
        return ActionResult(result)
