"""Arrange scenes in a running emulator for the demo and the benchmarks, as a user's other tools
(the console, aws-cli, an old build pipeline) would have left them. Reads AWS_ENDPOINT_URL,
AWS_REGION and the dummy credentials from the environment, like gio-ami itself;
`fixtures.py --as ROLE_ARN COMMAND …` arranges the scene in that role's account instead.

    fixtures.py image-builder --name NAME   launch from the EKS base with a 50 GiB extra disk,
                                            CreateImage, terminate; prints the AMI id
    fixtures.py deregister AMI_ID           deregister (its snapshots stay, as in AWS)
    fixtures.py snapshots --count N         N self-owned snapshots of a scratch volume
    fixtures.py archiving --count N         N such snapshots, each being archived (ModifySnapshotTier):
                                            archives another tool has in flight, counted by AWS's
                                            quota of concurrent archives
    fixtures.py recycle-bin --expired-listed=10m
                                            list Recycle Bin entries that long past their exit time
                                            (their restore answers NotFound; 0 sets it back)
    fixtures.py images --count N --prefix P N AMIs named P-1..P-N made like image-builder (2
                                            snapshots each); prints their ids, one a line
    fixtures.py guest-poweroff              play the guest of the next gio-ami build: wait for
                                            its builder, then stop it, as the guest's own
                                            `shutdown -h now` would (moto runs no user data)
    fixtures.py instance-profile --name NAME
                                            an IAM instance profile (what build.iam_instance_profile
                                            names; EC2 refuses a launch with an unknown one)
    fixtures.py releases --count N --clusters K [--prefix P]
                                            N release AMIs P-0000.. (gio-ami tags, one shared
                                            root snapshot; P is `bench`) and K EKS clusters c1..cK
                                            (P-c1..P-cK with --prefix), each with a managed
                                            nodegroup whose launch template runs one release;
                                            every 10th release is marked published
    fixtures.py node --cluster NAME AMI_ID  a running node of cluster NAME (tagged
                                            kubernetes.io/cluster/NAME, as self-managed nodes are)
    fixtures.py clock --offset=-48h         run the emulator's clock that far from the wall clock
                                            (s, m, h, d; 0 sets it back): what is written now is
                                            dated then, and a cooldown runs out without waiting
    fixtures.py eks-release --release 20261201 --bottlerocket 1.27.0-0f1e2d3c
                                            Amazon publishes newer EKS-optimized AMIs, dated now by
                                            the emulator's clock, and recommends them in every region
    fixtures.py eks-base --image FILE --kubernetes 1.31 [--arch x86_64] [--variant standard]
                     [--region R] [--name NAME]
                                            Amazon publishes an EKS-optimized AL2023 AMI whose root
                                            snapshot holds the raw disk image FILE's non-zero blocks,
                                            and recommends it (region: $AWS_REGION, else
                                            $AWS_DEFAULT_REGION, else eu-west-1); prints
                                            {"ami", "snapshot", "blocks"} as JSON on one line
    fixtures.py organization                the caller's organization (made if missing) with an OU
                                            `nodes` holding a new member account; prints
                                            {"organization", "ou", "member"} as JSON
    fixtures.py accounts --count N [--role NAME] [--external-id X]
                                            N new member accounts of the caller's organization (made
                                            if missing), each with an IAM role NAME (gio-ami-reader)
                                            trusting the caller's account (sts:ExternalId X when
                                            given), made through OrganizationAccountAccessRole;
                                            prints [{"id", "role_arn"}] as JSON
    fixtures.py image-recipe --ami AMI_ID --name NAME
                                            an EC2 Image Builder image recipe NAME 1.0.0 built on the
                                            AMI (component update-linux); prints its ARN
    fixtures.py iam-user --name NAME --policy FILE [--name NAME --policy FILE ...] [--enforce]
                                            IAM user NAME with the policy document in FILE as its one
                                            inline policy (replaced if the user exists) and a new access
                                            key, for each pair; prints {"access_key_id", "secret_access_key",
                                            "arn"} a line each; --enforce then does what enforce-iam does
                                            (one Python start for a test's whole scene)
    fixtures.py role-policy --name ROLE --policy FILE [--trust TRUST_FILE]
                                            the policy document in FILE as role ROLE's one inline policy
                                            (replaced), and TRUST_FILE as its trust policy when given;
                                            with `--as arn:aws:iam::ID:role/OrganizationAccountAccessRole`,
                                            a role `accounts` made in member account ID
    fixtures.py enforce-iam                 from now on every request must be signed by an IAM user's
                                            (or role session's) keys and be allowed by its policies
                                            (emulator/patches/authorization.py); call it last, once the
                                            scene is arranged with the dummy credentials
"""
import argparse
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3

BASE_PARAMETER = "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id"


# `--as ROLE_ARN`: the STS credentials every client without its own acts with.
ACTING_AS = None


def client(service, credentials=None):
    """A client with the environment's credentials (or `--as`'s), or with an STS AssumeRole
    answer's Credentials."""
    region = os.environ.get("AWS_REGION", "eu-west-1")
    if credentials is None:
        credentials = ACTING_AS
    keys = {} if credentials is None else {
        "aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"]}
    return boto3.client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=region, **keys)


def assumed(role_arn):
    """The role's credentials, assumed with the environment's."""
    sts = boto3.client("sts", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ.get("AWS_REGION", "eu-west-1"))
    return sts.assume_role(RoleArn=role_arn, RoleSessionName="gio-fixtures")["Credentials"]


def client_as(role_arn, service):
    """A client acting as the role (STS AssumeRole from the environment's credentials)."""
    return client(service, assumed(role_arn))


def image_builder(name):
    ec2 = client("ec2")
    base = client("ssm").get_parameter(Name=BASE_PARAMETER)["Parameter"]["Value"]
    instance = ec2.run_instances(
        ImageId=base, InstanceType="t3.medium", MinCount=1, MaxCount=1,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 50, "VolumeType": "gp3"}}],
    )["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance])
    ami = ec2.create_image(InstanceId=instance, Name=name)["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance])
    return ami


def snapshots(count):
    ec2 = client("ec2")
    zone = os.environ.get("AWS_REGION", "eu-west-1") + "a"
    volume = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(lambda n: ec2.create_snapshot(VolumeId=volume, Description=f"seed {n}")["SnapshotId"],
                             range(count)))
    ec2.delete_volume(VolumeId=volume)
    return made


def archiving(count):
    ec2 = client("ec2")
    for snapshot in snapshots(count):
        ec2.modify_snapshot_tier(SnapshotId=snapshot, StorageTier="archive")


def guest_poweroff(timeout=120):
    ec2 = client("ec2")
    deadline = time.time() + timeout
    while time.time() < deadline:
        reservations = ec2.describe_instances(Filters=[
            {"Name": "tag-key", "Values": ["gio-ami:build-id"]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ])["Reservations"]
        for instance in (i for r in reservations for i in r["Instances"]):
            ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
            return instance["InstanceId"]
        time.sleep(0.2)
    raise SystemExit("no builder instance appeared")


def images(count, prefix):
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(image_builder, [f"{prefix}-{n}" for n in range(1, count + 1)]))
def releases(count, clusters, prefix):
    ec2, eks = client("ec2"), client("eks")
    zone = os.environ.get("AWS_REGION", "eu-west-1") + "a"
    volume = ec2.create_volume(AvailabilityZone=zone, Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.delete_volume(VolumeId=volume)
    names = [f"{prefix}-c{n}" if prefix else f"c{n}" for n in range(1, clusters + 1)]
    prefix = prefix or "bench"

    def register(n):
        tags = {"gio-ami:release": f"{prefix}-{n:04d}", "gio-ami:created-at": f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z",
                "gio-ami:author": "bench", "gio-ami:contact": "ops@example.org", "gio-ami:description": f"release {n}"}
        if n % 10 == 0:
            tags["gio-ami:clusters"] = ",".join(names)
        return ec2.register_image(
            Name=f"{prefix}-{n:04d}", RootDeviceName="/dev/xvda", VirtualizationType="hvm", Architecture="x86_64",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot, "VolumeSize": 8, "VolumeType": "gp3"}}],
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )["ImageId"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        amis = list(pool.map(register, range(count)))
    role = "arn:aws:iam::123456789012:role/eks"
    for n, name in enumerate(names):
        template = ec2.create_launch_template(LaunchTemplateName=f"{name}-nodes", LaunchTemplateData={"ImageId": amis[-1 - n]})
        eks.create_cluster(name=name, roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
        eks.create_nodegroup(clusterName=name, nodegroupName="nodes", subnets=["subnet-1"], nodeRole=role,
                             launchTemplate={"id": template["LaunchTemplate"]["LaunchTemplateId"], "version": "1"})


def node(cluster, ami):
    client("ec2").run_instances(
        ImageId=ami, InstanceType="t3.medium", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"}]}],
    )


def image_recipe(ami, name):
    region = os.environ.get("AWS_REGION", "eu-west-1")
    return client("imagebuilder").create_image_recipe(
        name=name, semanticVersion="1.0.0", parentImage=ami,
        components=[{"componentArn": f"arn:aws:imagebuilder:{region}:aws:component/update-linux/x.x.x"}],
    )["imageRecipeArn"]


def organization_arn(orgs):
    """The caller's organization (made, with all features, if it has none): its ARN."""
    try:
        return orgs.describe_organization()["Organization"]["Arn"]
    except orgs.exceptions.AWSOrganizationsNotInUseException:
        return orgs.create_organization(FeatureSet="ALL")["Organization"]["Arn"]


def new_account(orgs, name):
    """A member account CreateAccount makes (AWS gives it OrganizationAccountAccessRole, trusting
    the management account): its id."""
    status = orgs.create_account(Email=f"{name}@example.org", AccountName=name)["CreateAccountStatus"]
    return orgs.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"]


def organization():
    """The caller's organization (made if it has none) with an OU `nodes` holding a new member
    account: what `share --org/--ou` is tested with. Prints {organization, ou, member} as JSON."""
    orgs = client("organizations")
    arn = organization_arn(orgs)
    root = orgs.list_roots()["Roots"][0]["Id"]
    ou = orgs.create_organizational_unit(ParentId=root, Name="nodes")["OrganizationalUnit"]
    member = new_account(orgs, "nodes")
    orgs.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou["Id"])
    return {"organization": arn, "ou": ou["Arn"], "member": member}


def accounts(count, role, external_id):
    """COUNT new member accounts of the caller's organization (made if it has none), each with an IAM
    role ROLE trusting the caller's account (with the sts:ExternalId condition when given), made
    there through OrganizationAccountAccessRole: what `[accounts]` specs are tested with. The role
    needs no policy unless IAM is enforced (enforce-iam). Prints [{id, role_arn}] as JSON."""
    orgs = client("organizations")
    organization_arn(orgs)
    caller = client("sts").get_caller_identity()["Account"]
    condition = {"Condition": {"StringEquals": {"sts:ExternalId": external_id}}} if external_id else {}
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{caller}:root"}, "Action": "sts:AssumeRole", **condition}]})
    made = []
    for _ in range(count):
        account = new_account(orgs, f"member-{uuid.uuid4().hex[:8]}")  # AWS wants a new email for each
        iam = client_as(f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", "iam")
        made.append({"id": account, "role_arn": iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"]})
    return made


def iam_user(name, policy_file):
    """IAM user NAME holding the policy document of FILE (inline, named `gio-ami`, replacing the one it
    had) and a new access key: who a test runs gio-ami as once IAM is enforced."""
    iam = client("iam")
    try:
        iam.create_user(UserName=name)
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    with open(policy_file) as document:
        iam.put_user_policy(UserName=name, PolicyName="gio-ami", PolicyDocument=document.read())
    key = iam.create_access_key(UserName=name)["AccessKey"]
    arn = iam.get_user(UserName=name)["User"]["Arn"]
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"], "arn": arn}


def role_policy(name, policy_file, trust_file=None):
    """The policy document of FILE as role NAME's inline policy `gio-ami` (replacing the one it had): what
    an `[accounts]` role may do once IAM is enforced."""
    with open(policy_file) as document:
        client("iam").put_role_policy(RoleName=name, PolicyName="gio-ami", PolicyDocument=document.read())
    if trust_file:
        with open(trust_file) as trust:
            client("iam").update_assume_role_policy(RoleName=name, PolicyDocument=trust.read())


def enforce_iam():
    """moto's control that enforces IAM from the next request on (INITIAL_NO_AUTH_ACTION_COUNT 0). The count
    is the raw body: not a form, which the server would parse away."""
    request = urllib.request.Request(f"{os.environ['AWS_ENDPOINT_URL']}/moto-api/reset-auth", data=b"0",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request) as answer:
        answer.read()


def hook(path, body):
    """POST to the emulator's test hooks (emulator/patches/hooks.py)."""
    request = urllib.request.Request(f"{os.environ['AWS_ENDPOINT_URL']}/moto-api/gio/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        raise SystemExit(f"{path}: {refused.read().decode()}") from None


def seconds(duration):
    """-48h, 90m, 1d, 30s, 0 -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(duration[:-1]) * units[duration[-1]] if duration[-1] in units else float(duration)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--as", dest="role_arn", help="act as this IAM role (STS AssumeRole)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("image-builder").add_argument("--name", required=True)
    commands.add_parser("deregister").add_argument("ami")
    commands.add_parser("snapshots").add_argument("--count", type=int, required=True)
    commands.add_parser("archiving").add_argument("--count", type=int, required=True)
    commands.add_parser("recycle-bin").add_argument("--expired-listed", required=True)
    commands.add_parser("guest-poweroff")
    images_parser = commands.add_parser("images")
    images_parser.add_argument("--count", type=int, required=True)
    images_parser.add_argument("--prefix", required=True)
    commands.add_parser("instance-profile").add_argument("--name", required=True)
    seeded = commands.add_parser("releases")
    seeded.add_argument("--count", type=int, required=True)
    seeded.add_argument("--clusters", type=int, required=True)
    seeded.add_argument("--prefix")
    moves = commands.add_parser("clock").add_mutually_exclusive_group(required=True)
    moves.add_argument("--offset")
    moves.add_argument("--advance")
    node_parser = commands.add_parser("node")
    node_parser.add_argument("--cluster", required=True)
    node_parser.add_argument("ami")
    release = commands.add_parser("eks-release")
    release.add_argument("--release", required=True)
    release.add_argument("--bottlerocket", required=True)
    base = commands.add_parser("eks-base")
    base.add_argument("--image", required=True)
    base.add_argument("--kubernetes", required=True)
    base.add_argument("--arch", default="x86_64")
    base.add_argument("--variant", default="standard")
    base.add_argument("--region",
                      default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"))
    base.add_argument("--name")
    commands.add_parser("organization")
    made = commands.add_parser("accounts")
    made.add_argument("--count", type=int, required=True)
    made.add_argument("--role", default="gio-ami-reader")
    made.add_argument("--external-id")
    recipe = commands.add_parser("image-recipe")
    recipe.add_argument("--ami", required=True)
    recipe.add_argument("--name", required=True)
    user = commands.add_parser("iam-user")
    user.add_argument("--name", required=True, action="append")
    user.add_argument("--policy", required=True, action="append")
    user.add_argument("--enforce", action="store_true")
    role = commands.add_parser("role-policy")
    role.add_argument("--name", required=True)
    role.add_argument("--policy", required=True)
    role.add_argument("--trust")
    commands.add_parser("enforce-iam")
    args = parser.parse_args()
    if args.role_arn:
        global ACTING_AS
        ACTING_AS = assumed(args.role_arn)
    if args.command == "organization":
        print(json.dumps(organization()))
    elif args.command == "accounts":
        print(json.dumps(accounts(args.count, args.role, args.external_id)))
    elif args.command == "iam-user":
        if len(args.name) != len(args.policy):
            parser.error("iam-user takes one --policy per --name")
        for name, policy in zip(args.name, args.policy):
            print(json.dumps(iam_user(name, policy)))
        if args.enforce:
            enforce_iam()
    elif args.command == "role-policy":
        role_policy(args.name, args.policy, args.trust)
    elif args.command == "enforce-iam":
        enforce_iam()
    elif args.command == "image-builder":
        print(image_builder(args.name))
    elif args.command == "images":
        print("\n".join(images(args.count, args.prefix)))
    elif args.command == "guest-poweroff":
        guest_poweroff()
    elif args.command == "deregister":
        client("ec2").deregister_image(ImageId=args.ami)
    elif args.command == "instance-profile":
        client("iam").create_instance_profile(InstanceProfileName=args.name)
    elif args.command == "releases":
        releases(args.count, args.clusters, args.prefix)
    elif args.command == "node":
        node(args.cluster, args.ami)
    elif args.command == "clock":
        move = {"offset_seconds": seconds(args.offset)} if args.offset else {"advance_seconds": seconds(args.advance)}
        print(hook("clock", move)["now"])
    elif args.command == "archiving":
        archiving(args.count)
    elif args.command == "recycle-bin":
        hook("recycle-bin", {"expired_listed_seconds": seconds(args.expired_listed)})
    elif args.command == "image-recipe":
        print(image_recipe(args.ami, args.name))
    elif args.command == "eks-release":
        print(hook("eks-releases", {"release": args.release, "bottlerocket": args.bottlerocket})["published"])
    elif args.command == "eks-base":
        published = {"image": os.path.abspath(args.image), "kubernetes": args.kubernetes, "arch": args.arch,
                     "variant": args.variant, "region": args.region}
        print(json.dumps(hook("eks-base", {**published, **({"name": args.name} if args.name else {})})))
    else:
        snapshots(args.count)


if __name__ == "__main__":
    main()
