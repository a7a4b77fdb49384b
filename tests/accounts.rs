//! An organization in one view: a build account and two consumer accounts of one emulator,
//! reached through STS AssumeRole as `[accounts]` configures them.

mod support;

use aws_sdk_ec2::types::{
    AllowedImagesSettingsEnabledState, ImageCriterionRequest, InstanceType, LaunchPermission, LaunchPermissionModifications,
    ResourceType, Tag, TagSpecification,
};
use std::path::Path;
use support::{run, tagged_release, Emulator, REGION};

/// Two member accounts with a role the caller (the build account) may assume: [(id, role)].
fn consumers(emulator: &Emulator) -> Vec<(String, String)> {
    let made: serde_json::Value = serde_json::from_str(&emulator.fixture(&["accounts", "--count", "2"])).unwrap();
    made.as_array().unwrap().iter().map(|a| (a["id"].as_str().unwrap().into(), a["role_arn"].as_str().unwrap().into())).collect()
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

async fn share(ec2: &aws_sdk_ec2::Client, ami: &str, account: &str) {
    let add = LaunchPermissionModifications::builder().add(LaunchPermission::builder().user_id(account).build()).build();
    ec2.modify_image_attribute().image_id(ami).launch_permission(add).send().await.unwrap();
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
        .tag_specifications(TagSpecification::builder().resource_type(ResourceType::Instance).tags(tag).build())
        .send()
        .await
        .unwrap();
    run.instances()[0].instance_id().unwrap().to_string()
}

#[tokio::test]
async fn three_accounts_in_one_history_and_a_wipe_refused_for_a_consumers_instance() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let [(prod_id, prod_role), (_, dev_role)] = <[_; 2]>::try_from(consumers(&emulator)).unwrap();
    let prod = aws_sdk_ec2::Client::new(&emulator.config_as(&prod_role, REGION).await);
    let dev = aws_sdk_ec2::Client::new(&emulator.config_as(&dev_role, REGION).await);
    let (released, _) = tagged_release(&ec2, "gio-node-1").await;
    share(&ec2, &released, &prod_id).await;
    let node = prod_node(&prod, &released).await;
    let (dev_only, _) = tagged_release(&dev, "gio-node-dev").await;
    let dir = support::scratch(&format!("accounts-{}", line!()));
    write_spec(&dir, &prod_role, &dev_role, "");

    let history = run(emulator.cli().current_dir(&dir).args(["history", "--output", "json"])).success().json();
    assert_eq!(history["accounts"], serde_json::json!(["build", "dev", "prod"]), "{history}");
    let row = |release: &str| history["releases"].as_array().unwrap().iter().find(|r| r["release"] == release).cloned().unwrap();
    let built = row("gio-node-1");
    assert_eq!(built["amis"], serde_json::json!([{"account": "build", "region": REGION, "id": released}]), "one row: {history}");
    assert_eq!(built["clusters"]["prod"], "running", "prod's column comes from prod's own account: {history}");
    assert_eq!(row("gio-node-dev")["amis"][0]["account"], "dev");
    assert_eq!(history["releases"].as_array().unwrap().len(), 2, "{history}");

    let images = run(emulator.cli().current_dir(&dir).args(["images", "--output", "json", "--account", "dev"])).success().json();
    let rows: Vec<(String, String, String)> = images
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["account"].as_str().unwrap().into(), i["region"].as_str().unwrap().into(), i["id"].as_str().unwrap().into()))
        .collect();
    assert_eq!(rows, [("dev".to_string(), REGION.to_string(), dev_only.clone())]);
    let table = run(emulator.cli().current_dir(&dir).args(["images"])).success().stdout;
    assert!(table.contains("ACCOUNT") && table.contains("prod") == table.contains(&released), "{table}");

    let wipe = run(emulator.cli().current_dir(&dir).args(["wipe", &released, "--yes"])).failure();
    assert!(wipe.stderr.contains(&format!("instance {node}")) && wipe.stderr.contains("in account `prod`"), "{}", wipe.stderr);
    assert!(support::own_image(&ec2, &released).await.is_some(), "the refused wipe deregistered nothing");

    // Once prod's node is gone, nothing holds it: the wipe goes through.
    prod.terminate_instances().instance_ids(&node).send().await.unwrap();
    run(emulator.cli().current_dir(&dir).args(["wipe", &released, "--yes"])).success();
    assert!(support::own_image(&ec2, &released).await.is_none());
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_is_named_a_warning_in_reports_and_the_error_alone() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let [(_, prod_role), (_, dev_role)] = <[_; 2]>::try_from(consumers(&emulator)).unwrap();
    let (released, _) = tagged_release(&ec2, "gio-node-1").await;
    let ghost = "arn:aws:iam::999988887777:role/gio-ami-reader";
    let dir = support::scratch(&format!("accounts-{}", line!()));
    write_spec(&dir, &prod_role, &dev_role, &format!("[accounts.ghost]\nrole_arn = \"{ghost}\"\n"));

    let history = run(emulator.cli().current_dir(&dir).args(["history", "--output", "json"])).success();
    assert!(history.stderr.contains("account `ghost`") && history.stderr.contains(ghost), "{}", history.stderr);
    assert_eq!(history.json()["releases"][0]["amis"][0]["id"], released.as_str(), "the others are still read");

    let alone = run(emulator.cli().current_dir(&dir).args(["images", "--account", "ghost"])).failure();
    assert!(alone.stderr.contains("cannot act in account `ghost`: assuming arn:aws:iam::999988887777:role/gio-ami-reader failed"), "{}", alone.stderr);
    assert!(alone.stderr.contains("trust policy"), "{}", alone.stderr);

    let unknown = run(emulator.cli().current_dir(&dir).args(["images", "--account", "stage"])).failure();
    assert!(unknown.stderr.contains("no account `stage`") && unknown.stderr.contains("build, dev, ghost, prod"), "{}", unknown.stderr);

    // A guard refuses what it cannot check: the AMI is shared with the unreachable account.
    share(&ec2, &released, "999988887777").await;
    let wipe = run(emulator.cli().current_dir(&dir).args(["wipe", &released, "--yes"])).failure();
    assert!(wipe.stderr.contains("could not check") && wipe.stderr.contains("account `ghost`"), "{}", wipe.stderr);
    assert!(support::own_image(&ec2, &released).await.is_some());
}

#[tokio::test]
async fn an_allowed_amis_refusal_is_predicted_before_sharing() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let [(_, prod_role), (dev_id, dev_role)] = <[_; 2]>::try_from(consumers(&emulator)).unwrap();
    let dev = aws_sdk_ec2::Client::new(&emulator.config_as(&dev_role, REGION).await);
    dev.replace_image_criteria_in_allowed_images_settings()
        .image_criteria(ImageCriterionRequest::builder().image_providers("amazon").build())
        .send()
        .await
        .unwrap();
    dev.enable_allowed_images_settings().allowed_images_settings_state(AllowedImagesSettingsEnabledState::Enabled).send().await.unwrap();
    let (released, _) = tagged_release(&ec2, "gio-node-1").await;
    let dir = support::scratch(&format!("accounts-{}", line!()));
    write_spec(&dir, &prod_role, &dev_role, "");
    let launch = || async {
        let attribute = ec2.describe_image_attribute().image_id(&released).attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission);
        attribute.send().await.unwrap().launch_permissions().iter().filter_map(|p| p.user_id().map(str::to_string)).collect::<Vec<_>>()
    };

    let refused = run(emulator.cli().current_dir(&dir).args(["share", &released, "--account", "dev", "--yes"])).failure();
    assert!(refused.stderr.contains(&format!("{released} is not allowed in account `dev`")), "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert!(launch().await.is_empty(), "nothing was shared");

    // Another account without the setting takes it; --force shares into dev anyway.
    run(emulator.cli().current_dir(&dir).args(["share", &released, "--account", "prod", "--yes"])).success();
    let forced = run(emulator.cli().current_dir(&dir).args(["share", &released, "--account", &dev_id, "--force", "--yes"])).success();
    assert!(forced.stderr.contains("--force, although") || forced.stdout.contains("--force, although"), "{}{}", forced.stdout, forced.stderr);
    assert!(launch().await.contains(&dev_id));
}
