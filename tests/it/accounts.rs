//! An organization in one view: a build account and two consumer accounts of one emulator,
//! reached through STS AssumeRole as `[accounts]` configures them.

use crate::support;

use aws_sdk_ec2::types::{
    AllowedImagesSettingsEnabledState, ImageCriterionRequest, ImageWatermarkFilterRequest, InstanceType,
    LaunchPermission, LaunchPermissionModifications, ResourceType, ScanResultConditionRequest, SeverityLabel,
    Tag, TagSpecification,
};
use std::path::{Path, PathBuf};
use support::{run, tagged_release, Emulator, REGION};

/// A consumer account: its id, the role gio-ami assumes there, and the test's EC2 client in it.
struct Member {
    id: String,
    role: String,
    ec2: aws_sdk_ec2::Client,
}

/// The build account (the caller) with one release, `gio-node-1`, and two member accounts
/// whose roles the caller may assume, all in a spec (with `extra` lines) in `dir`.
struct Org {
    emulator: Emulator,
    ec2: aws_sdk_ec2::Client,
    prod: Member,
    dev: Member,
    released: String,
    dir: PathBuf,
}

impl Org {
    async fn new(name: &str, extra: &str) -> Org {
        let emulator = Emulator::start();
        let made: serde_json::Value =
            serde_json::from_str(&emulator.fixture(&["accounts", "--count", "2"])).unwrap();
        let mut members = Vec::new();
        for account in made.as_array().unwrap() {
            let role = account["role_arn"].as_str().unwrap().to_string();
            let ec2 = aws_sdk_ec2::Client::new(&emulator.config_as(&role, REGION).await);
            members.push(Member { id: account["id"].as_str().unwrap().into(), role, ec2 });
        }
        let [prod, dev] = <[_; 2]>::try_from(members).ok().unwrap();
        let ec2 = emulator.ec2().await;
        let (released, _) = tagged_release(&ec2, "gio-node-1").await;
        let dir = support::scratch(&format!("accounts-{name}"));
        write_spec(&dir, &prod.role, &dev.role, extra);
        Org { emulator, ec2, prod, dev, released, dir }
    }

    /// gio-ami in the spec's directory.
    fn cli(&self) -> std::process::Command {
        let mut cli = self.emulator.cli();
        cli.current_dir(&self.dir);
        cli
    }
}

fn write_spec(dir: &Path, prod: &str, dev: &str, extra: &str) {
    let text = format!(
        "[image]\nname = \"n\"\n[base]\nami = \"ami-12345678\"\n\
         [accounts.build]\nregions = [\"{REGION}\"]\n\
         [accounts.prod]\nrole_arn = \"{prod}\"\n\
         [accounts.dev]\nrole_arn = \"{dev}\"\n\
         [clusters.prod]\naccount = \"prod\"\nregion = \"{REGION}\"\nssm_parameter = \"/gio/prod/node-ami\"\n{extra}"
    );
    std::fs::write(dir.join("gio-ami.toml"), text).unwrap();
}

/// The member's Allowed AMIs setting, enabled with this one criterion.
async fn enforce_allowed_amis(member: &Member, criterion: ImageCriterionRequest) {
    member
        .ec2
        .replace_image_criteria_in_allowed_images_settings()
        .image_criteria(criterion)
        .send()
        .await
        .unwrap();
    member
        .ec2
        .enable_allowed_images_settings()
        .allowed_images_settings_state(AllowedImagesSettingsEnabledState::Enabled)
        .send()
        .await
        .unwrap();
}

async fn share(ec2: &aws_sdk_ec2::Client, ami: &str, account: &str) {
    let add = LaunchPermissionModifications::builder()
        .add(LaunchPermission::builder().user_id(account).build())
        .build();
    ec2.modify_image_attribute().image_id(ami).launch_permission(add).send().await.unwrap();
}

/// The accounts the AMI's launch permission names.
async fn launchers(ec2: &aws_sdk_ec2::Client, ami: &str) -> Vec<String> {
    let attribute = ec2
        .describe_image_attribute()
        .image_id(ami)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission);
    attribute
        .send()
        .await
        .unwrap()
        .launch_permissions()
        .iter()
        .filter_map(|p| p.user_id().map(str::to_string))
        .collect()
}

/// A node of the `prod` cluster in the account `ec2` acts in.
async fn prod_node(ec2: &aws_sdk_ec2::Client, ami: &str) -> String {
    let tag = Tag::builder().key("kubernetes.io/cluster/prod").value("owned").build();
    let run = ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder().resource_type(ResourceType::Instance).tags(tag).build(),
        )
        .send()
        .await
        .unwrap();
    run.instances()[0].instance_id().unwrap().to_string()
}

#[tokio::test]
async fn three_accounts_in_one_history_and_a_wipe_refused_for_a_consumers_instance() {
    let org = Org::new("history", "").await;
    let released = org.released.clone();
    share(&org.ec2, &released, &org.prod.id).await;
    let node = prod_node(&org.prod.ec2, &released).await;
    let (dev_only, _) = tagged_release(&org.dev.ec2, "gio-node-dev").await;

    let history = run(org.cli().args(["history", "--output", "json"])).success().json();
    assert_eq!(history["accounts"], serde_json::json!(["build", "dev", "prod"]), "{history}");
    let row = |release: &str| {
        history["releases"].as_array().unwrap().iter().find(|r| r["release"] == release).cloned().unwrap()
    };
    let built = row("gio-node-1");
    assert_eq!(
        built["amis"],
        serde_json::json!([{"account": "build", "region": REGION, "id": released}]),
        "one row: {history}"
    );
    assert_eq!(
        built["clusters"]["prod"], "running",
        "prod's column comes from prod's own account: {history}"
    );
    assert_eq!(row("gio-node-dev")["amis"][0]["account"], "dev");
    assert_eq!(history["releases"].as_array().unwrap().len(), 2, "{history}");

    let images = run(org.cli().args(["images", "--output", "json", "--account", "dev"])).success().json();
    let rows: Vec<(&str, &str, &str)> = images
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["account"].as_str().unwrap(), i["region"].as_str().unwrap(), i["id"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [("dev", REGION, dev_only.as_str())]);
    let table = run(org.cli().args(["images"])).success().stdout;
    assert!(table.contains("ACCOUNT") && table.contains(&released) && table.contains(&dev_only), "{table}");
    let gc = run(org.cli().args(["gc", "--yes"])).success();
    assert!(
        gc.stdout.contains("gc removes leftovers in the caller's account only: those of dev, prod"),
        "{}",
        gc.stdout
    );
    // Rows placed in accounts, a report per account, a dry run per place: their schemas say so.
    for args in [&["history"][..], &["images"], &["snapshots", "--orphans"], &["cost"], &["gc", "--dry-run"]]
    {
        let out = run(org.cli().args(args).args(["--output", "json"])).success();
        support::reports::assert_valid(args[0], &out.stdout);
    }

    let wipe = run(org.cli().args(["wipe", &released, "--yes"])).failure();
    assert!(
        wipe.stderr.contains(&format!("instance {node}")) && wipe.stderr.contains("in account `prod`"),
        "{}",
        wipe.stderr
    );
    assert!(support::own_image(&org.ec2, &released).await.is_some(), "the refused wipe deregistered nothing");

    // Once prod's node is gone, nothing holds it: the wipe goes through.
    org.prod.ec2.terminate_instances().instance_ids(&node).send().await.unwrap();
    run(org.cli().args(["wipe", &released, "--yes"])).success();
    assert!(support::own_image(&org.ec2, &released).await.is_none());
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_is_named_a_warning_in_reports_and_the_error_alone() {
    let ghost = "arn:aws:iam::999988887777:role/gio-ami-reader";
    let org = Org::new("ghost", &format!("[accounts.ghost]\nrole_arn = \"{ghost}\"\n")).await;

    let history = run(org.cli().args(["history", "--output", "json"])).success();
    assert!(
        history.stderr.contains("account `ghost`") && history.stderr.contains(ghost),
        "{}",
        history.stderr
    );
    assert_eq!(
        history.json()["releases"][0]["amis"][0]["id"],
        org.released.as_str(),
        "the others are still read"
    );

    let alone = run(org.cli().args(["images", "--account", "ghost"])).failure();
    assert!(
        alone.stderr.contains(&format!("cannot act in account `ghost`: assuming {ghost} failed")),
        "{}",
        alone.stderr
    );
    assert!(alone.stderr.contains("trust policy"), "{}", alone.stderr);

    let unknown = run(org.cli().args(["images", "--account", "stage"])).failure();
    assert!(
        unknown.stderr.contains("no account `stage`") && unknown.stderr.contains("build, dev, ghost, prod"),
        "{}",
        unknown.stderr
    );

    // A guard refuses what it cannot check: the AMI is shared with the unreachable account.
    share(&org.ec2, &org.released, "999988887777").await;
    let wipe = run(org.cli().args(["wipe", &org.released, "--yes"])).failure();
    assert!(
        wipe.stderr.contains("could not check") && wipe.stderr.contains("account `ghost`"),
        "{}",
        wipe.stderr
    );
    assert!(support::own_image(&org.ec2, &org.released).await.is_some());
}

#[tokio::test]
async fn an_allowed_amis_refusal_is_predicted_before_sharing() {
    let org = Org::new("allowed", "").await;
    enforce_allowed_amis(&org.dev, ImageCriterionRequest::builder().image_providers("amazon").build()).await;
    let released = &org.released;
    let launch = || launchers(&org.ec2, released);

    let refused = run(org.cli().args(["share", released, "--account", "dev", "--yes"])).failure();
    assert!(
        refused.stderr.contains(&format!("{released} is not allowed in account `dev`")),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert!(launch().await.is_empty(), "nothing was shared");

    // Another account without the setting takes it; --force shares into dev anyway.
    run(org.cli().args(["share", released, "--account", "prod", "--yes"])).success();
    let forced =
        run(org.cli().args(["share", released, "--account", &org.dev.id, "--force", "--yes"])).success();
    assert!(forced.stdout.contains("--force, although"), "{}{}", forced.stdout, forced.stderr);
    assert!(launch().await.contains(&org.dev.id));
}

/// Criteria on watermarks and Amazon Inspector's scan results refuse an AMI that carries
/// neither (ImageCriterion): gio-ami used to read them as "match everything" and shared an AMI
/// the account could not launch.
#[tokio::test]
async fn criteria_on_watermarks_or_scan_results_refuse_an_ami_without_them_before_sharing() {
    let org = Org::new("allowed-inspector", "").await;
    let owner = support::ACCOUNT;
    let released = &org.released;
    let scanned = ImageCriterionRequest::builder()
        .image_providers(owner)
        .scan_result_condition(
            ScanResultConditionRequest::builder().maximum_severity_label(SeverityLabel::High).build(),
        )
        .build();
    let watermarked = ImageCriterionRequest::builder()
        .image_providers(owner)
        .image_watermarks(
            ImageWatermarkFilterRequest::builder().watermark_key(format!("{owner}:approved")).build(),
        )
        .build();
    for (criterion, lacking) in
        [(scanned, "Amazon Inspector has not scanned"), (watermarked, "carries no watermark")]
    {
        enforce_allowed_amis(&org.dev, criterion).await;
        let refused = run(org.cli().args(["share", released, "--account", "dev", "--yes"])).failure();
        assert!(
            refused.stderr.contains(&format!("{released} is not allowed in account `dev`"))
                && refused.stderr.contains(lacking),
            "{}",
            refused.stderr
        );
        assert!(launchers(&org.ec2, released).await.is_empty(), "nothing was shared");
    }
    // What the prediction said is what the account does: shared anyway, dev cannot launch it.
    share(&org.ec2, released, &org.dev.id).await;
    let launched = org
        .dev
        .ec2
        .run_instances()
        .image_id(released)
        .instance_type(InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .send()
        .await;
    assert!(launched.is_err(), "dev launched an AMI its Allowed AMIs setting refuses");
}

/// A member account gio-ami has no role for, and the test's EC2 client acting in it.
async fn stranger(org: &Org) -> (String, aws_sdk_ec2::Client) {
    let made: serde_json::Value =
        serde_json::from_str(&org.emulator.fixture(&["accounts", "--count", "1"])).unwrap();
    let (stranger, role) = (made[0]["id"].as_str().unwrap(), made[0]["role_arn"].as_str().unwrap());
    (stranger.to_string(), aws_sdk_ec2::Client::new(&org.emulator.config_as(role, REGION).await))
}

/// An AMI made and shared with `account` 4 days ago (the emulator's clock), older than an image
/// usage report's lag; with `launcher`, a node of it launched there then too.
async fn shared_days_ago(
    org: &Org,
    account: &str,
    launcher: Option<&aws_sdk_ec2::Client>,
) -> (String, Option<String>) {
    org.emulator.set_clock("-4d");
    let ami = support::register_root_image(&org.ec2, "gio-node-old").await;
    share(&org.ec2, &ami, account).await;
    let node = match launcher {
        Some(theirs) => Some(prod_node(theirs, &ami).await),
        None => None,
    };
    org.emulator.set_clock("0");
    (ami, node)
}

#[tokio::test]
async fn a_use_in_an_unconfigured_account_is_counted_by_a_usage_report_and_refuses_the_wipe() {
    let org = Org::new("report", "").await;
    let (stranger, theirs) = stranger(&org).await;
    // Launched there days ago too: past the report's lag, so it counts the node.
    let (ami, node) = shared_days_ago(&org, &stranger, Some(&theirs)).await;
    let node = node.unwrap();

    let wipe = support::run_past_usage_reports(&org.emulator, org.cli().args(["wipe", &ami, "--yes"]))
        .await
        .failure();
    assert!(
        wipe.stderr.contains(&format!("in account {stranger} (counted by an image usage report)")),
        "{}",
        wipe.stderr
    );
    assert!(support::own_image(&org.ec2, &ami).await.is_some(), "the refused wipe deregistered nothing");

    theirs.terminate_instances().instance_ids(&node).send().await.unwrap();
    support::run_past_usage_reports(&org.emulator, org.cli().args(["wipe", &ami, "--yes"])).await.success();
    assert!(support::own_image(&org.ec2, &ami).await.is_none());
}

/// Issue 34: an image usage report may miss the last 24 hours of instances ("View your AMI
/// usage"), so its zero for an AMI shared and launched today is no proof it is unused.
#[tokio::test]
async fn a_usage_reports_zero_for_an_ami_launched_today_refuses_the_wipe_unless_forced() {
    let org = Org::new("report-lag", "").await;
    let (stranger, theirs) = stranger(&org).await;
    share(&org.ec2, &org.released, &stranger).await;
    prod_node(&theirs, &org.released).await;

    let wipe =
        support::run_past_usage_reports(&org.emulator, org.cli().args(["wipe", &org.released, "--yes"]))
            .await
            .failure();
    assert!(
        wipe.stderr.contains(&format!("an image usage report counted nothing in {stranger}"))
            && wipe.stderr.contains("no proof it is unused")
            && wipe.stderr.contains("--force"),
        "{}",
        wipe.stderr
    );
    assert!(support::own_image(&org.ec2, &org.released).await.is_some(), "nothing was deregistered");
    assert!(support::pending_usage_report(&org.ec2).await.is_none());

    let forced = support::run_past_usage_reports(
        &org.emulator,
        org.cli().args(["wipe", &org.released, "--force", "--yes"]),
    )
    .await
    .success();
    assert!(forced.stdout.contains("--force, although an image usage report"), "{}", forced.stdout);
    assert!(support::own_image(&org.ec2, &org.released).await.is_none());
}

/// A report EC2 is still building when a run stops is the next run's to read: EC2 keeps one
/// pending report per AMI, and a new one would only start the wait over.
#[tokio::test]
async fn a_usage_report_pending_when_the_run_stops_is_read_by_the_next_run() {
    let org = Org::new("report-resume", "").await;
    let (stranger, _) = stranger(&org).await;
    let (ami, _) = shared_days_ago(&org, &stranger, None).await;

    let mut first = org
        .cli()
        .args(["wipe", &ami, "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let report = loop {
        if let Some(report) = support::pending_usage_report(&org.ec2).await {
            break report;
        }
        assert!(first.try_wait().unwrap().is_none(), "the first run ended before making its report");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(support::own_image(&org.ec2, &ami).await.is_some());

    org.emulator.advance_clock(support::REPORT_PENDING);
    let second = run(org.cli().args(["wipe", &ami, "--yes"])).success();
    assert!(
        second.stderr.contains(&format!("waiting for the image usage report {report} of {ami}")),
        "{}",
        second.stderr
    );
    assert!(support::own_image(&org.ec2, &ami).await.is_none());
    let left = org.ec2.describe_image_usage_reports().image_ids(&ami).send().await.unwrap();
    assert!(left.image_usage_reports().is_empty(), "read, then deleted: {left:?}");
}

#[tokio::test]
async fn publishing_to_a_cluster_writes_the_parameter_in_the_clusters_account() {
    let org = Org::new("publish", "").await;
    let released = &org.released;
    let refused = run(org.cli().args(["publish", released, "--cluster", "prod"])).failure();
    assert!(
        refused.stderr.contains("gio-ami share") && refused.stderr.contains("`prod`"),
        "not shared yet: {}",
        refused.stderr
    );

    share(&org.ec2, released, &org.prod.id).await;
    run(org.cli().args(["publish", released, "--cluster", "prod"])).success();
    let prods = aws_sdk_ssm::Client::new(&org.emulator.config_as(&org.prod.role, REGION).await);
    let value = prods.get_parameter().name("/gio/prod/node-ami").send().await.unwrap();
    assert_eq!(value.parameter().and_then(|p| p.value()), Some(released.as_str()));
    let builds = aws_sdk_ssm::Client::new(&org.emulator.config(REGION).await);
    assert!(
        builds.get_parameter().name("/gio/prod/node-ami").send().await.is_err(),
        "nothing written in the build account"
    );
    let image = support::own_image(&org.ec2, released).await.unwrap();
    assert!(
        image.tags().iter().any(|t| t.key() == Some("gio-ami:clusters") && t.value() == Some("prod")),
        "{image:?}"
    );
}

#[tokio::test]
async fn promoting_into_another_account_grants_it_the_ami_and_copies_it_across_regions_at_home() {
    const FAR: &str = "us-east-1";
    let extra = format!(
        "promote_from = \"staging\"\nprotect = true\n\
         [clusters.staging]\nregion = \"{REGION}\"\nssm_parameter = \"/gio/staging/node-ami\"\n\
         [clusters.far]\naccount = \"prod\"\nregion = \"{FAR}\"\nssm_parameter = \"/gio/far/node-ami\"\npromote_from = \"staging\"\n"
    );
    let org = Org::new("promote", &extra).await;
    let released = &org.released;
    run(org.cli().args(["publish", released, "--cluster", "staging"])).success();
    support::node_running(&org.emulator, "staging", released).await;
    let org = &org;
    let in_prod = |region| async move {
        aws_sdk_ssm::Client::new(&org.emulator.config_as(&org.prod.role, region).await)
    };

    let plan =
        run(org.cli().args(["promote", "--to", "prod", "--dry-run", "--output", "json"])).success().json();
    let verbs: Vec<&str> =
        plan["plan"]["actions"].as_array().unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
    assert!(verbs.contains(&"modify_launch_permission"), "prod cannot launch it yet: {plan}");
    run(org.cli().args(["promote", "--to", "prod", "--yes"])).success();
    assert_eq!(launchers(&org.ec2, released).await, std::slice::from_ref(&org.prod.id));
    let value = in_prod(REGION).await.get_parameter().name("/gio/prod/node-ami").send().await.unwrap();
    assert_eq!(value.parameter().and_then(|p| p.value()), Some(released.as_str()));
    let image = support::own_image(&org.ec2, released).await.unwrap();
    assert_eq!(image.deregistration_protection(), Some("enabled-without-cooldown"), "protected by its owner");
    let clusters = image.tags().iter().find(|t| t.key() == Some("gio-ami:clusters")).and_then(|t| t.value());
    assert_eq!(clusters, Some("staging,prod"), "marked by its owner");

    // In another region the copy is made by the owner and shared with prod before prod's
    // parameter names it.
    let copied = run(org.cli().args(["promote", "--to", "far", "--copy", "--yes", "--output", "json"]))
        .success()
        .json();
    let copy = copied["target_ami"].as_str().unwrap().to_string();
    let far_ec2 = aws_sdk_ec2::Client::new(&org.emulator.config(FAR).await);
    assert!(support::own_image(&far_ec2, &copy).await.is_some(), "the build account owns the copy");
    assert_eq!(launchers(&far_ec2, &copy).await, std::slice::from_ref(&org.prod.id));
    let value = in_prod(FAR).await.get_parameter().name("/gio/far/node-ami").send().await.unwrap();
    assert_eq!(value.parameter().and_then(|p| p.value()), Some(copy.as_str()));
}

#[tokio::test]
async fn a_promotion_whose_value_ssm_drops_fails_and_marks_nothing() {
    let extra = "promote_from = \"staging\"\n\
                 [clusters.staging]\nregion = \"eu-west-1\"\nssm_parameter = \"/gio/staging/node-ami\"\n";
    let org = Org::new("dropped", extra).await;
    let released = &org.released;
    run(org.cli().args(["publish", released, "--cluster", "staging"])).success();
    support::node_running(&org.emulator, "staging", released).await;
    // prod allows only Amazon's AMIs: SSM's validation there refuses the release, after answering.
    enforce_allowed_amis(&org.prod, ImageCriterionRequest::builder().image_providers("amazon").build()).await;

    let dropped = run(org.cli().args(["promote", "--to", "prod", "--yes", "--force"])).failure();
    assert!(
        dropped.stderr.contains("that version still does not exist")
            && dropped.stderr.contains("Allowed AMIs"),
        "{}",
        dropped.stderr
    );
    let prods = aws_sdk_ssm::Client::new(&org.emulator.config_as(&org.prod.role, REGION).await);
    assert!(prods.get_parameter().name("/gio/prod/node-ami").send().await.is_err(), "SSM stored nothing");
    let image = support::own_image(&org.ec2, released).await.unwrap();
    let clusters = image.tags().iter().find(|t| t.key() == Some("gio-ami:clusters")).and_then(|t| t.value());
    assert_eq!(clusters, Some("staging"), "not marked as published to prod");
}
