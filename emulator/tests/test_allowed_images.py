"""Allowed AMIs (patches/allowed_images.py): the account-level settings, ImageAllowed, and what enabled
and audit mode change for discovery and launch.

AWS (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-allowed-amis.html): enabled: "Only allowed
AMIs are discoverable in the EC2 console and by APIs that use images [...] Instances can only be launched
using allowed AMIs"; audit mode: "The ImageCriteria are applied, but no restrictions are placed on AMI
discoverability or usage", describe-images includes "ImageAllowed": true or false; "It does not restrict
the AMIs owned by your account"; "An AMI can match any values within a parameter", "must match all
parameters within an ImageCriterion", "can match any ImageCriterion". CreationDateCondition: "a value of
300 allows images that were created within the last 300 days"; DeprecationTimeCondition: "Set to 0 to
exclude all deprecated images" (API_CreationDateConditionRequest, API_DeprecationTimeConditionRequest).
"""

from datetime import timedelta

import botocore.exceptions
import pytest

from helpers import error_code, register_root_image

REGION = "ap-southeast-1"
VIEWER, TRUSTED, OTHER = "320000000001", "320000000002", "320000000003"


def ec2_of(client_as, account, region=REGION):
    return client_as(account, "ec2", region)


def shared(client_as, owner, name, with_account=VIEWER, region=REGION):
    ec2 = ec2_of(client_as, owner, region)
    image_id = register_root_image(ec2, name, zone=f"{region}a")
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": with_account}]})
    return image_id


def listed(ec2, **kwargs):
    return {i["ImageId"]: i.get("ImageAllowed") for i in ec2.describe_images(**kwargs)["Images"]}


def refused(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**kwargs)
    return error_code(excinfo)


def launch(ec2, image_id):
    return ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


@pytest.fixture(scope="module")
def images(client_as):
    viewer = ec2_of(client_as, VIEWER)
    return {
        "own": register_root_image(viewer, "gio-allowed-own", zone=f"{REGION}a"),
        "trusted": shared(client_as, TRUSTED, "gio-allowed-trusted"),
        "other": shared(client_as, OTHER, "gio-allowed-other"),
        "amazon": viewer.describe_images(Owners=["amazon"], MaxResults=1)["Images"][0]["ImageId"],
    }


@pytest.fixture
def viewer(client_as):
    """The viewer's EC2 client; its settings are disabled and cleared again after the test."""
    ec2 = ec2_of(client_as, VIEWER)
    yield ec2
    ec2.disable_allowed_images_settings()
    ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[])


def test_settings_start_disabled_and_image_allowed_is_absent(viewer, images):
    assert viewer.get_allowed_images_settings() | {"ResponseMetadata": None} == {
        "State": "disabled", "ImageCriteria": [], "ManagedBy": "account", "ResponseMetadata": None}
    seen = listed(viewer, ImageIds=list(images.values()))
    assert set(seen) == set(images.values()) and set(seen.values()) == {None}
    assert set(listed(viewer, ImageIds=list(images.values()),
                      Filters=[{"Name": "image-allowed", "Values": ["true"]}])) == set(images.values()), \
        "disabled: all AMIs are allowed"


def test_audit_mode_marks_images_and_restricts_nothing(viewer, images):
    criteria = [{"ImageProviders": [TRUSTED]}]
    assert viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=criteria)["ReturnValue"] is True
    assert viewer.enable_allowed_images_settings(AllowedImagesSettingsState="audit-mode")[
        "AllowedImagesSettingsState"] == "audit-mode"
    settings = viewer.get_allowed_images_settings()
    assert (settings["State"], settings["ImageCriteria"], settings["ManagedBy"]) == ("audit-mode", criteria, "account")

    seen = listed(viewer, ImageIds=list(images.values()))
    assert seen == {images["own"]: True, images["trusted"]: True, images["other"]: False, images["amazon"]: False}
    not_allowed = listed(viewer, ImageIds=list(images.values()), Filters=[{"Name": "image-allowed", "Values": ["false"]}])
    assert set(not_allowed) == {images["other"], images["amazon"]}
    assert launch(viewer, images["other"]), "audit mode launches anything"


def test_enabled_hides_and_refuses_what_the_criteria_do_not_allow(viewer, images):
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": [TRUSTED]}])
    viewer.enable_allowed_images_settings(AllowedImagesSettingsState="enabled")

    everything = listed(viewer)
    assert everything[images["own"]] is True and everything[images["trusted"]] is True
    assert images["other"] not in everything and images["amazon"] not in everything
    assert set(everything.values()) == {True}
    assert refused(viewer.describe_images, ImageIds=[images["other"]]) == "InvalidAMIID.NotFound"
    assert listed(viewer, ImageIds=[images["other"], images["trusted"]]) == {images["trusted"]: True}

    assert refused(viewer.run_instances, ImageId=images["other"], MinCount=1, MaxCount=1) == "InvalidAMIID.NotFound"
    assert refused(viewer.run_instances, ImageId=images["amazon"], MinCount=1, MaxCount=1) == "InvalidAMIID.NotFound"
    template = viewer.create_launch_template(LaunchTemplateName="gio-allowed-other",
                                             LaunchTemplateData={"ImageId": images["other"]})["LaunchTemplate"]
    assert refused(viewer.run_instances, LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
                   MinCount=1, MaxCount=1) == "InvalidAMIID.NotFound"
    assert launch(viewer, images["trusted"]) and launch(viewer, images["own"]), "own AMIs are never restricted"

    assert viewer.disable_allowed_images_settings()["AllowedImagesSettingsState"] == "disabled"
    assert listed(viewer, ImageIds=[images["other"]]) == {images["other"]: None}
    assert viewer.get_allowed_images_settings()["ImageCriteria"] == [{"ImageProviders": [TRUSTED]}], "criteria kept"


def test_none_allows_only_the_accounts_own_and_amazon_the_seeded_images(viewer, images):
    viewer.enable_allowed_images_settings(AllowedImagesSettingsState="enabled")
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": ["none"]}])
    assert set(listed(viewer, ImageIds=list(images.values()))) == {images["own"]}
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": ["amazon"]}])
    assert set(listed(viewer, ImageIds=list(images.values()))) == {images["own"], images["amazon"]}
    assert viewer.describe_images(Owners=["amazon"])["Images"], "the seeded EKS AMIs are Amazon's"


def test_settings_are_per_region(client_as, viewer, images):
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": ["none"]}])
    viewer.enable_allowed_images_settings(AllowedImagesSettingsState="enabled")
    elsewhere = ec2_of(client_as, VIEWER, "ap-southeast-3")
    assert elsewhere.get_allowed_images_settings()["State"] == "disabled"
    assert elsewhere.describe_images(Owners=["amazon"], MaxResults=5)["Images"]


def test_names_providers_and_criteria_combine_as_documented(client_as, viewer):
    golden = shared(client_as, TRUSTED, "gio-golden-2026")
    plain = shared(client_as, TRUSTED, "gio-plain-2026")
    other_golden = shared(client_as, OTHER, "gio-golden-other")
    lab = shared(client_as, OTHER, "gio-lab-x1")
    viewer.enable_allowed_images_settings(AllowedImagesSettingsState="audit-mode")
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[
        {"ImageProviders": [TRUSTED, "amazon"], "ImageNames": ["gio-golden-*", "nothing-like-it"]},  # AND, then OR
        {"ImageNames": ["gio-lab-??"]},
    ])
    assert listed(viewer, ImageIds=[golden, plain, other_golden, lab]) == {
        golden: True, plain: False, other_golden: False, lab: True}


def test_creation_and_deprecation_conditions_follow_the_emulator_clock(client_as, viewer, clock):
    clock.set(timedelta(days=-10))
    old = shared(client_as, TRUSTED, "gio-aged-old")
    clock.set(timedelta(0))
    new = shared(client_as, TRUSTED, "gio-aged-new")
    viewer.enable_allowed_images_settings(AllowedImagesSettingsState="audit-mode")
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[
        {"ImageProviders": [TRUSTED], "CreationDateCondition": {"MaximumDaysSinceCreated": 5}}])
    assert listed(viewer, ImageIds=[old, new]) == {old: False, new: True}
    clock.advance(timedelta(days=6))
    assert listed(viewer, ImageIds=[old, new]) == {old: False, new: False}, "six days later"

    clock.set(timedelta(0))
    owner = ec2_of(client_as, TRUSTED)
    owner.enable_image_deprecation(ImageId=new, DeprecateAt=clock.now() + timedelta(days=1))
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[
        {"ImageProviders": [TRUSTED], "DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": 0}},
        {"ImageNames": ["gio-aged-new"], "DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": 3}},
    ])
    assert listed(viewer, ImageIds=[old, new]) == {old: True, new: True}, "not deprecated yet"
    clock.advance(timedelta(days=2))
    assert listed(viewer, ImageIds=[new]) == {new: True}, "deprecated a day ago: the second criterion allows it"
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[
        {"ImageProviders": [TRUSTED], "DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": 0}}])
    assert listed(viewer, ImageIds=[new]) == {new: False}, "0 excludes every deprecated image"


@pytest.mark.parametrize("criteria", [
    [{"ImageProviders": ["amazon"]}] * 11,
    [{"ImageProviders": [f"{n:012d}" for n in range(201)]}],
    [{"ImageProviders": ["none", "amazon"]}],
    [{"ImageProviders": ["amazn"]}],
    [{"ImageProviders": ["1234-5678-9012"]}],
    [{"ImageNames": ["x" * 129]}],
    [{"ImageNames": ["a?"]}],
    [{"ImageNames": ["gio:golden"]}],
    [{"ImageNames": [f"gio-{n}" for n in range(51)]}],
    [{"MarketplaceProductCodes": ["a" * 26]}],
    [{"MarketplaceProductCodes": ["abc-def"]}],
    [{"ImageWatermarks": [{"WatermarkKey": f"{TRUSTED}:m{n}"} for n in range(51)]}],
    [{"ScanResultCondition": {"MaximumSeverityLabel": "severe"}}],
], ids=["11-criteria", "201-providers", "none-and-more", "unknown-alias", "account-with-hyphens", "long-name",
        "short-wildcard-name", "bad-name-character", "51-names", "long-code", "bad-code", "51-watermarks",
        "unknown-severity"])
def test_invalid_criteria_are_refused(viewer, criteria):
    assert refused(viewer.replace_image_criteria_in_allowed_images_settings,
                   ImageCriteria=criteria) == "InvalidParameterValue"
    assert viewer.get_allowed_images_settings()["ImageCriteria"] == []


def test_enable_takes_only_enabled_or_audit_mode(viewer):
    assert refused(viewer.enable_allowed_images_settings, AllowedImagesSettingsState="disabled") \
        == "InvalidParameterValue"
    assert viewer.get_allowed_images_settings()["State"] == "disabled"


def test_watermark_and_scan_result_criteria_are_kept_and_match_no_unwatermarked_unscanned_ami(viewer, images):
    """ImageCriterion (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImageCriterion.html):
    ImageWatermarks: "An AMI is allowed if it carries at least one watermark that satisfies an
    ImageWatermarkFilter"; ScanResultCondition: "AMIs that Amazon Inspector has not scanned are not allowed
    when you specify this condition". No AMI here carries a watermark or scan results."""
    watermarked = {"ImageProviders": [TRUSTED],
                   "ImageWatermarks": [{"WatermarkKey": f"{TRUSTED}:approved*", "MaximumDaysSinceWatermarkCreated": 30}]}
    scanned = {"ImageProviders": [OTHER],
               "ScanResultCondition": {"MaximumSeverityLabel": "medium", "MaxDaysSinceCriticalFixAvailable": 7}}
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[watermarked, scanned])
    assert viewer.get_allowed_images_settings()["ImageCriteria"] == [watermarked, scanned], "stored as sent"
    viewer.enable_allowed_images_settings(AllowedImagesSettingsState="audit-mode")
    seen = listed(viewer, ImageIds=[images["trusted"], images["other"], images["own"]])
    assert seen == {images["trusted"]: False, images["other"]: False, images["own"]: True}
    assert all("ImageWatermarks" not in i and "ScanResults" not in i
               for i in viewer.describe_images(ImageIds=[images["trusted"]])["Images"])
    viewer.enable_allowed_images_settings(AllowedImagesSettingsState="enabled")
    assert refused(viewer.run_instances, ImageId=images["trusted"], MinCount=1, MaxCount=1) == "InvalidAMIID.NotFound"
    # The same providers without those parameters allow them.
    viewer.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": [TRUSTED, OTHER]}])
    assert listed(viewer, ImageIds=[images["trusted"], images["other"]]) == {images["trusted"]: True,
                                                                              images["other"]: True}
