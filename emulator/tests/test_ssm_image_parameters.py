"""SSM parameters of data type aws:ec2:image (patches/ssm_image_parameters.py).

AWS, PutParameter (DataType): "a successful HTTP 200 response does not guarantee that your parameter was
successfully created or updated. The aws:ec2:image value is validated asynchronously [...] If you submit an
invalid AMI value, the PutParameter operation will return success, but the asynchronous validation will
fail and the parameter will not be created or updated." Parameter data types in Parameter Store: "You
can't change a parameter to or from [aws:ec2:image]."
"""

from datetime import timedelta

import botocore.exceptions
import pytest

from helpers import error_code, register_root_image

REGION = "ap-southeast-3"
# patches/ssm_image_parameters.VALIDATION: how long a validation takes on the emulator's clock.
VALIDATION = timedelta(seconds=1)


@pytest.fixture
def ec2(client):
    return client("ec2", REGION)


@pytest.fixture
def ssm(client):
    return client("ssm", REGION)


def ami(ec2, name):
    return register_root_image(ec2, name, zone=f"{REGION}a")


def value(ssm, name):
    return ssm.get_parameter(Name=name)["Parameter"]


def test_a_valid_ami_is_stored_once_validated(ec2, ssm, clock):
    image = ami(ec2, "gio-param-valid")
    answer = ssm.put_parameter(Name="/gio/valid", Value=image, Type="String", DataType="aws:ec2:image")
    assert answer["Version"] == 1
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        value(ssm, "/gio/valid")
    assert error_code(missing) == "ParameterNotFound", "validating: not created yet"

    clock.advance(VALIDATION)
    stored = value(ssm, "/gio/valid")
    assert (stored["Value"], stored["Version"], stored["DataType"]) == (image, 1, "aws:ec2:image")

    newer = ami(ec2, "gio-param-newer")
    assert ssm.put_parameter(Name="/gio/valid", Value=newer, Overwrite=True, DataType="aws:ec2:image")["Version"] == 2
    assert value(ssm, "/gio/valid")["Value"] == image, "the update is not seen before it is validated"
    with pytest.raises(botocore.exceptions.ClientError) as version:
        ssm.get_parameter(Name="/gio/valid:2")
    assert error_code(version) == "ParameterVersionNotFound"
    clock.advance(VALIDATION)
    assert ssm.get_parameter(Name="/gio/valid:2")["Parameter"]["Value"] == newer
    assert [v["Value"] for v in ssm.get_parameter_history(Name="/gio/valid")["Parameters"]] == [image, newer]


def test_an_invalid_value_answers_200_and_is_never_stored(ec2, ssm, clock):
    image = ami(ec2, "gio-param-kept")
    ssm.put_parameter(Name="/gio/kept", Value=image, Type="String", DataType="aws:ec2:image")
    clock.advance(VALIDATION)
    for invalid in ("ami-0123456789abcdef0", "not-an-ami"):  # no such AMI; not an AMI id at all
        answer = ssm.put_parameter(Name="/gio/kept", Value=invalid, Overwrite=True, DataType="aws:ec2:image")
        assert answer["Version"] == 2, "a version number, as if written"
        clock.advance(VALIDATION)
        assert value(ssm, "/gio/kept")["Value"] == image, "the update was dropped"
        assert len(ssm.get_parameter_history(Name="/gio/kept")["Parameters"]) == 1

    ssm.put_parameter(Name="/gio/never", Value="ami-0123456789abcdef0", Type="String", DataType="aws:ec2:image")
    clock.advance(VALIDATION)
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        value(ssm, "/gio/never")
    assert error_code(missing) == "ParameterNotFound", "the creation was dropped"


def test_an_ami_the_account_may_not_launch_is_dropped(ec2, client_as, clock):
    image = ami(ec2, "gio-param-foreign")
    theirs = client_as("333344445555", "ssm", REGION)
    theirs.put_parameter(Name="/gio/theirs", Value=image, Type="String", DataType="aws:ec2:image")
    clock.advance(VALIDATION)
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        value(theirs, "/gio/theirs")
    assert error_code(missing) == "ParameterNotFound", "not shared with that account"

    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": "333344445555"}]})
    their_ec2 = client_as("333344445555", "ec2", REGION)
    their_ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": ["amazon"]}])
    their_ec2.enable_allowed_images_settings(AllowedImagesSettingsState="enabled")
    theirs.put_parameter(Name="/gio/theirs", Value=image, Type="String", DataType="aws:ec2:image")
    clock.advance(VALIDATION)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        value(theirs, "/gio/theirs")
    assert error_code(refused) == "ParameterNotFound", "shared, but not allowed by the account's Allowed AMIs"

    their_ec2.disable_allowed_images_settings()
    theirs.put_parameter(Name="/gio/theirs", Value=image, Type="String", DataType="aws:ec2:image")
    clock.advance(VALIDATION)
    assert value(theirs, "/gio/theirs")["Value"] == image


def test_the_data_type_changes_neither_to_nor_from_aws_ec2_image(ec2, ssm, clock):
    image = ami(ec2, "gio-param-typed")
    ssm.put_parameter(Name="/gio/text", Value=image, Type="String")
    with pytest.raises(botocore.exceptions.ClientError) as to_image:
        ssm.put_parameter(Name="/gio/text", Value=image, Overwrite=True, DataType="aws:ec2:image")
    assert error_code(to_image) == "ValidationException"
    stored = value(ssm, "/gio/text")
    assert (stored["Version"], stored["DataType"]) == (1, "text"), "nothing written"

    ssm.put_parameter(Name="/gio/image", Value=image, Type="String", DataType="aws:ec2:image")
    clock.advance(VALIDATION)
    with pytest.raises(botocore.exceptions.ClientError) as to_text:
        ssm.put_parameter(Name="/gio/image", Value=image, Overwrite=True, DataType="text")
    assert error_code(to_text) == "ValidationException"
    # Without DataType an overwrite keeps the parameter's own.
    assert ssm.put_parameter(Name="/gio/image", Value=image, Overwrite=True)["Version"] == 2
    clock.advance(VALIDATION)
    assert value(ssm, "/gio/image")["DataType"] == "aws:ec2:image"

    ssm.delete_parameter(Name="/gio/text")
    ssm.put_parameter(Name="/gio/text", Value=image, Type="String", DataType="aws:ec2:image")
    clock.advance(VALIDATION)
    assert value(ssm, "/gio/text")["DataType"] == "aws:ec2:image", "deleted and made again: the documented fix"
