"""STS AssumeRole only for a role that exists and trusts the caller (patches/sts_trust.py).

AWS (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html): "To assume a role from a
different account, your Amazon Web Services account must be trusted by the role. The trust relationship
is defined in the role's trust policy"; ExternalId: "only someone with the ID can assume the role". The
refusal is AccessDenied (403), "User: <caller> is not authorized to perform: sts:AssumeRole on resource:
<role>", whether the role exists or not. An explicit Deny overrides any Allow.
Organizations (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access.html):
CreateAccount makes OrganizationAccountAccessRole (or RoleName) in the new account, trusting the
management account.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pytest

from helpers import client_with, register_root_image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures.py"
TESTS_ACCOUNT = "123456789012"  # the account of the tests' own credentials
CALLER_ARN = f"arn:aws:sts::{TESTS_ACCOUNT}:user/moto"  # moto's identity for them (GetCallerIdentity)


def trust(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal, action="sts:AssumeRole", **more):
    return {"Effect": "Allow", "Principal": principal, "Action": action, **more}


def external_id(*values):
    return {"Condition": {"StringEquals": {"sts:ExternalId": values[0] if len(values) == 1 else list(values)}}}


def role(client_as, account, name, *statements):
    """A role NAME in ACCOUNT with that trust policy, made by the account itself: its ARN."""
    return client_as(account, "iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust(*statements))["Role"]["Arn"]


def assume(sts, role_arn, **kwargs):
    return sts.assume_role(RoleArn=role_arn, RoleSessionName="gio", **kwargs)["Credentials"]


def refusal(sts, role_arn, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        assume(sts, role_arn, **kwargs)
    answer = excinfo.value.response
    return answer["ResponseMetadata"]["HTTPStatusCode"], answer["Error"]["Code"], answer["Error"]["Message"]


def denied(role_arn, caller=CALLER_ARN):
    return 403, "AccessDenied", f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


def test_a_role_that_does_not_exist_is_refused_as_aws_refuses_it(client):
    sts = client("sts")
    for arn in ("arn:aws:iam::390000000001:role/nobody", "arn:aws:iam::390000000001:role/path/nobody"):
        assert refusal(sts, arn) == denied(arn)


def test_a_role_trusting_another_account_is_refused(client, client_as):
    arn = role(client_as, "390000000002", "trusts-someone-else", allow({"AWS": "arn:aws:iam::390000000099:root"}))
    assert refusal(client("sts"), arn) == denied(arn)
    elsewhere = client_as("390000000099", "sts")
    assume(elsewhere, arn)  # the account it trusts does get in


def test_a_trusted_caller_acts_as_the_roles_account(client, client_as, endpoint):
    account = "390000000003"
    arn = role(client_as, account, "reader", allow({"AWS": TESTS_ACCOUNT}))
    credentials = assume(client("sts"), arn)
    identity = client_with(endpoint, credentials, "sts").get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == (account, f"arn:aws:sts::{account}:assumed-role/reader/gio")
    ec2 = client_with(endpoint, credentials, "ec2", "eu-north-1")
    image_id = register_root_image(ec2, "gio-sts-trust", zone="eu-north-1a")
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["OwnerId"] == account


@pytest.mark.parametrize("principal", [
    "*", {"AWS": "*"}, {"AWS": f"arn:aws:iam::{TESTS_ACCOUNT}:root"}, {"AWS": CALLER_ARN},
    {"AWS": ["arn:aws:iam::390000000099:root", TESTS_ACCOUNT]},
], ids=["star", "aws-star", "account-root", "caller-arn", "list"])
def test_every_principal_shape_naming_the_caller_lets_it_in(client, client_as, principal, request):
    assume(client("sts"), role(client_as, "390000000004", request.node.callspec.id, allow(principal)))


@pytest.mark.parametrize("statement", [
    allow({"AWS": TESTS_ACCOUNT}, action="sts:TagSession"),
    allow({"Service": "ec2.amazonaws.com"}),
    {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::390000000099:root"}, "Action": "sts:AssumeRole"},
    allow({"AWS": TESTS_ACCOUNT}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
], ids=["other-action", "service-principal", "not-principal", "unevaluated-condition"])
def test_a_statement_that_does_not_allow_the_caller_to_assume_lets_nobody_in(client, client_as, statement, request):
    arn = role(client_as, "390000000005", request.node.callspec.id, statement)
    assert refusal(client("sts"), arn) == denied(arn)


def test_actions_as_lists_and_wildcards_any_case(client, client_as):
    for n, action in enumerate([["sts:TagSession", "sts:AssumeRole"], "sts:*", "*", "STS:assume?ole"]):
        assume(client("sts"), role(client_as, "390000000006", f"a-{n}", allow({"AWS": TESTS_ACCOUNT}, action=action)))


def test_an_external_id_condition_wants_that_id(client, client_as):
    sts = client("sts")
    arn = role(client_as, "390000000007", "third-party", allow({"AWS": TESTS_ACCOUNT}, **external_id("gio-7f3a")))
    assert refusal(sts, arn) == denied(arn), "required"
    assert refusal(sts, arn, ExternalId="gio-0000") == denied(arn), "mismatch"
    assert refusal(sts, arn, ExternalId="GIO-7F3A") == denied(arn), "StringEquals is case-sensitive"
    assume(sts, arn, ExternalId="gio-7f3a")
    either = role(client_as, "390000000007", "either", allow({"AWS": TESTS_ACCOUNT}, **external_id("one", "two")))
    assume(sts, either, ExternalId="two")
    lower = role(client_as, "390000000007", "key-case", allow({"AWS": TESTS_ACCOUNT},
                                                             Condition={"StringEquals": {"sts:externalid": "gio-k"}}))
    assume(sts, lower, ExternalId="gio-k")  # condition keys are case-insensitive


def test_an_explicit_deny_wins_over_any_allow(client, client_as):
    sts, caller = client("sts"), client_as("390000000098", "sts")
    caller_arn = "arn:aws:sts::390000000098:assumed-role/gio-tests/gio-tests"
    arn = role(client_as, "390000000008", "denies-one",
               allow("*"), {"Effect": "Deny", "Principal": {"AWS": CALLER_ARN}, "Action": "sts:*"})
    assert refusal(sts, arn) == denied(arn)
    assume(caller, arn)  # the Deny names someone else
    keyed = role(client_as, "390000000008", "denies-without-id",
                 allow("*"), {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole", **external_id("gio-bad")})
    assume(sts, keyed, ExternalId="gio-good")
    assert refusal(caller, keyed, ExternalId="gio-bad") == denied(keyed, caller_arn)


def test_a_role_principal_trusts_the_sessions_of_that_role(client_as):
    first = client_as("390000000010", "sts")  # a session of arn:aws:iam::390000000010:role/gio-tests
    chained = role(client_as, "390000000011", "chained", allow({"AWS": "arn:aws:iam::390000000010:role/gio-tests"}))
    assume(first, chained)
    other = role(client_as, "390000000011", "other-role", allow({"AWS": "arn:aws:iam::390000000010:role/someone"}))
    assert refusal(first, other) == denied(other, "arn:aws:sts::390000000010:assumed-role/gio-tests/gio-tests")


def test_create_account_makes_a_role_the_management_account_may_assume(client_as, endpoint):
    management = "390000000020"
    orgs = client_as(management, "organizations")
    orgs.create_organization(FeatureSet="ALL")
    made = orgs.create_account(Email="a@example.com", AccountName="a")["CreateAccountStatus"]["AccountId"]
    named = orgs.create_account(Email="b@example.com", AccountName="b", RoleName="Admin")["CreateAccountStatus"]["AccountId"]
    sts = client_as(management, "sts")
    credentials = assume(sts, f"arn:aws:iam::{made}:role/OrganizationAccountAccessRole")
    assert client_with(endpoint, credentials, "sts").get_caller_identity()["Account"] == made
    assume(sts, f"arn:aws:iam::{named}:role/Admin")
    role_arn = f"arn:aws:iam::{made}:role/OrganizationAccountAccessRole"
    assert refusal(client_as("390000000021", "sts"), role_arn) == \
        denied(role_arn, "arn:aws:sts::390000000021:assumed-role/gio-tests/gio-tests"), "only the management account"


def fixture(endpoint, credentials, *args):
    """emulator/fixtures.py ARGS with those credentials: its JSON output."""
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
           "AWS_SESSION_TOKEN": credentials["SessionToken"]}
    done = subprocess.run([sys.executable, str(FIXTURES), *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_accounts_and_organization_fixtures_make_assumable_members(client, credentials_as, endpoint):
    manager = credentials_as("390000000030")  # the fixtures' caller, so the organization is its own
    sts = client_with(endpoint, manager, "sts")

    made = fixture(endpoint, manager, "accounts", "--count", "2")
    assert [sorted(a) for a in made] == [["id", "role_arn"]] * 2 and made[0]["id"] != made[1]["id"]
    for account in made:
        assert account["role_arn"] == f"arn:aws:iam::{account['id']}:role/gio-ami-reader"
        credentials = assume(sts, account["role_arn"])
        assert client_with(endpoint, credentials, "sts").get_caller_identity()["Account"] == account["id"]
        assert refusal(client("sts"), account["role_arn"]) == denied(account["role_arn"]), "trusts its caller only"

    [keyed] = fixture(endpoint, manager, "accounts", "--count", "1", "--role", "vendor", "--external-id", "gio-42")
    assert keyed["role_arn"] == f"arn:aws:iam::{keyed['id']}:role/vendor"
    assert refusal(sts, keyed["role_arn"])[1] == "AccessDenied"
    assume(sts, keyed["role_arn"], ExternalId="gio-42")

    org = fixture(endpoint, manager, "organization")
    members = client_with(endpoint, manager, "organizations").list_accounts()["Accounts"]
    assert {org["member"], *(a["id"] for a in made), keyed["id"]} <= {a["Id"] for a in members}, "one organization"
    credentials = assume(sts, f"arn:aws:iam::{org['member']}:role/OrganizationAccountAccessRole")
    assert client_with(endpoint, credentials, "sts").get_caller_identity()["Account"] == org["member"]
