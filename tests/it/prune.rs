//! `prune`: per release family, the newest N stay, the rest go (or are disabled), and an AMI in
//! use is never touched.

use crate::support;

use aws_sdk_ec2::types::Filter;
use support::{run, Emulator, REGION};

/// Three releases of one family, oldest first, a second apart (AMI creation times have
/// one-second resolution), and one of another family.
async fn releases(emulator: &Emulator, ec2: &aws_sdk_ec2::Client) -> (Vec<String>, String) {
    let family = support::releases_a_second_apart::<3>(emulator, ec2, "gio-node-").await.to_vec();
    (family, support::register_root_image(ec2, "other-1").await)
}

/// (id, state) of each of these AMIs that still exists.
async fn states(ec2: &aws_sdk_ec2::Client, amis: &[String]) -> Vec<(String, String)> {
    let images = ec2
        .describe_images()
        .owners("self")
        .include_disabled(true)
        .filters(Filter::builder().name("image-id").set_values(Some(amis.to_vec())).build())
        .send()
        .await
        .unwrap();
    let mut found: Vec<(String, String)> = images
        .images()
        .iter()
        .map(|i| (i.image_id().unwrap().to_string(), i.state().unwrap().as_str().to_string()))
        .collect();
    found.sort_by_key(|(id, _)| amis.iter().position(|a| a == id));
    found
}

#[tokio::test]
async fn keeps_the_newest_and_any_ami_in_use_and_wipes_the_rest() {
    keeps_the_newest_and_any_ami_in_use_and_wipes_the_rest_with(Emulator::start()).await;
}

/// The same on an EC2 that shows each change late (prune deletes the snapshots of the AMIs it just deregistered): the first run still finishes.
#[tokio::test]
async fn prune_wipes_the_rest_under_lag() {
    keeps_the_newest_and_any_ami_in_use_and_wipes_the_rest_with(Emulator::start_lagging(support::LAG)).await;
}

async fn keeps_the_newest_and_any_ami_in_use_and_wipes_the_rest_with(emulator: Emulator) {
    let ec2 = emulator.ec2().await;
    let (family, other) = releases(&emulator, &ec2).await;
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    ssm.put_parameter()
        .name("/gio/eks/prod/node-ami")
        .value(&family[0])
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();

    let dry =
        run(emulator.cli().args(["prune", "--release-prefix", "gio-node-", "--keep", "1", "--dry-run"]))
            .success();
    assert!(dry.stdout.contains("SSM parameter /gio/eks/prod/node-ami"), "{}", dry.stdout);
    assert_eq!(states(&ec2, &family).await.len(), 3, "a dry run changes nothing");

    run(emulator.cli().args(["prune", "--release-prefix", "gio-node-", "--keep", "1", "--yes"])).success();
    let left: Vec<String> = states(&ec2, &family).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(left, [family[0].clone(), family[2].clone()], "the oldest is in use, the newest is kept");
    assert_eq!(states(&ec2, std::slice::from_ref(&other)).await.len(), 1, "another family is not counted");
}

#[tokio::test]
async fn disable_is_a_first_stage_that_keeps_the_amis() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (family, _) = releases(&emulator, &ec2).await;

    // A disable deletes nothing: the plan says nothing of the Recycle Bin.
    let dry = run(emulator.cli().args([
        "prune",
        "--release-prefix",
        "gio-node-",
        "--keep",
        "2",
        "--disable",
        "--dry-run",
        "--output",
        "json",
    ]))
    .success()
    .json();
    assert!(!dry.to_string().contains("Recycle Bin"), "{dry}");
    assert_eq!(dry["plan"]["recycle_bin"], serde_json::json!([]), "{dry}");
    let wipe = run(emulator.cli().args([
        "prune",
        "--release-prefix",
        "gio-node-",
        "--keep",
        "2",
        "--dry-run",
        "--output",
        "json",
    ]))
    .success()
    .json();
    assert!(
        wipe["plan"]["actions"][0]["why"].as_str().unwrap().contains("final: no Recycle Bin rule keeps it"),
        "{wipe}"
    );

    run(emulator.cli().args(["prune", "--release-prefix", "gio-node-", "--keep", "2", "--disable", "--yes"]))
        .success();
    assert_eq!(
        states(&ec2, &family).await,
        [
            (family[0].clone(), "disabled".to_string()),
            (family[1].clone(), "available".to_string()),
            (family[2].clone(), "available".to_string()),
        ]
    );
    // Again: nothing left to disable.
    let again = run(emulator.cli().args([
        "prune",
        "--release-prefix",
        "gio-node-",
        "--keep",
        "2",
        "--disable",
        "--yes",
    ]))
    .success();
    assert!(again.stdout.contains("nothing was changed"), "{}", again.stdout);
}

#[tokio::test]
async fn a_family_is_required_and_tag_filters_are_checked() {
    let emulator = Emulator::start();
    let out = run(emulator.cli().args(["prune", "--keep", "1"]));
    assert_eq!(out.status.code(), Some(2), "clap's usage error: {}", out.stderr);
    assert!(out.stderr.contains("--release-prefix"), "{}", out.stderr);
    let out = run(emulator.cli().args(["prune", "--tag", "team"])).failure();
    assert!(out.stderr.contains("KEY=VALUE"), "{}", out.stderr);
}

#[tokio::test]
async fn deprecate_flags_the_older_amis_from_now_and_keeps_them_launchable() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (family, _) = releases(&emulator, &ec2).await;

    let asked = std::time::SystemTime::now();
    let table = run(emulator.cli().args([
        "prune",
        "--release-prefix",
        "gio-node-",
        "--keep",
        "1",
        "--deprecate",
        "--dry-run",
    ]))
    .success()
    .stdout;
    let report = run(emulator.cli().args([
        "prune",
        "--release-prefix",
        "gio-node-",
        "--keep",
        "1",
        "--deprecate",
        "--yes",
        "--output",
        "json",
    ]))
    .success()
    .json();
    // AWS refuses a DeprecateAt in the past and rounds to the minute: the plan says the whole
    // minute it asks for, a little ahead of now, and that is what the AMIs get.
    let at = report["plan"]["actions"][0]["deprecate_at"].as_str().unwrap().to_string();
    assert_eq!(report["plan"]["actions"][1]["deprecate_at"], at.as_str(), "{report}");
    let when = humantime::parse_rfc3339(&at).unwrap();
    let ahead = when.duration_since(asked).expect("in the future").as_secs();
    assert!(at.ends_with(":00Z") && (60..=180).contains(&ahead), "{at} is {ahead} s ahead");
    assert!(table.contains(&format!("{} (gio-node-1) from 20", family[0])), "{table}");
    let images = ec2
        .describe_images()
        .image_ids(&family[0])
        .image_ids(&family[1])
        .image_ids(&family[2])
        .send()
        .await
        .unwrap();
    let deprecated: Vec<(String, Option<String>)> = family
        .iter()
        .map(|id| {
            let image = images.images().iter().find(|i| i.image_id() == Some(id)).unwrap();
            (id.clone(), image.deprecation_time().map(|t| t.replace(".000Z", "Z")))
        })
        .collect();
    assert_eq!(
        deprecated,
        [(family[0].clone(), Some(at.clone())), (family[1].clone(), Some(at)), (family[2].clone(), None)]
    );
    assert_eq!(states(&ec2, &family).await.iter().filter(|(_, s)| s == "available").count(), 3);
}

#[tokio::test]
async fn unused_for_keeps_an_ami_launched_within_the_window_and_says_when() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (family, _) = releases(&emulator, &ec2).await;
    // The oldest release ran an instance, since terminated: nothing uses it now, but it was
    // launched recently.
    let launched = ec2
        .run_instances()
        .image_id(&family[0])
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = launched.instances()[0].instance_id().unwrap().to_string();
    ec2.terminate_instances().instance_ids(&instance).send().await.unwrap();
    // EC2 reports a launch a day late: a day and an hour on, it shows.
    emulator.set_clock("25h");

    let pruned = run(emulator.cli().args([
        "prune",
        "--release-prefix",
        "gio-node-",
        "--keep",
        "1",
        "--unused-for",
        "90d",
        "--yes",
        "--output",
        "json",
    ]));
    emulator.set_clock("0");
    let pruned = pruned.success().json();
    let kept = pruned["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == family[0].as_str())
        .unwrap_or_else(|| panic!("{pruned}"));
    assert_eq!(kept["action"], "refuse", "{pruned}");
    assert!(kept["why"].as_str().unwrap().contains("within --unused-for 90d"), "{pruned}");
    let left: Vec<String> = states(&ec2, &family).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        left,
        [family[0].clone(), family[2].clone()],
        "launched lately, or the newest: the middle one goes"
    );
}

/// The launch permissions of `ami`, as (kind, grantee) pairs, sorted.
async fn launch_permissions(ec2: &aws_sdk_ec2::Client, ami: &str) -> Vec<(String, String)> {
    let answer = ec2
        .describe_image_attribute()
        .image_id(ami)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .unwrap();
    let mut found: Vec<(String, String)> = answer
        .launch_permissions()
        .iter()
        .filter_map(|p| {
            p.user_id()
                .map(|a| ("account", a))
                .or(p.organization_arn().map(|o| ("organization", o)))
                .or(p.organizational_unit_arn().map(|u| ("unit", u)))
                .map(|(kind, who)| (kind.to_string(), who.to_string()))
        })
        .collect();
    found.sort();
    found
}

/// Issue 34: DisableImage "removes all launch permissions from the AMI", and EnableImage does not
/// give them back. The plan names who loses access, the AMI records it, and `gio-ami enable`
/// restores it.
#[tokio::test]
async fn disable_names_who_loses_launch_access_and_enable_gives_it_back() {
    const FRIEND: &str = "222233334444";
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    // Made days ago: an image usage report (FRIEND has no role here) may miss a few days of use,
    // and prune keeps a younger AMI shared with such an account (issue 34, item 3).
    emulator.set_clock("-4d");
    let (family, _) = releases(&emulator, &ec2).await;
    emulator.set_clock("0");
    let old = &family[0];
    let org: serde_json::Value = serde_json::from_str(&emulator.fixture(&["organization"])).unwrap();
    let organization = org["organization"].as_str().unwrap().to_string();
    let grants = aws_sdk_ec2::types::LaunchPermissionModifications::builder()
        .add(aws_sdk_ec2::types::LaunchPermission::builder().user_id(FRIEND).build())
        .add(aws_sdk_ec2::types::LaunchPermission::builder().organization_arn(&organization).build())
        .build();
    ec2.modify_image_attribute().image_id(old).launch_permission(grants).send().await.unwrap();
    let shared =
        vec![("account".to_string(), FRIEND.to_string()), ("organization".to_string(), organization.clone())];
    assert_eq!(launch_permissions(&ec2, old).await, shared);

    let prune = ["prune", "--release-prefix", "gio-node-", "--keep", "2", "--disable"];
    let dry = support::run_past_usage_reports(
        &emulator,
        emulator.cli().args(prune).args(["--dry-run", "--output", "json"]),
    )
    .await
    .success()
    .json();
    let disable = &dry["plan"]["actions"][0];
    assert_eq!(
        (disable["action"].as_str(), disable["id"].as_str()),
        (Some("disable_image"), Some(old.as_str()))
    );
    assert_eq!(disable["revoked"]["accounts"], serde_json::json!([FRIEND]), "{disable}");
    assert_eq!(disable["revoked"]["organizations"], serde_json::json!([organization]), "{disable}");
    let why = disable["why"].as_str().unwrap();
    assert!(why.contains(FRIEND) && why.contains(&organization) && why.contains("gio-ami enable"), "{why}");
    let table = support::run_past_usage_reports(&emulator, emulator.cli().args(prune).arg("--dry-run"))
        .await
        .success();
    assert!(table.stdout.contains(FRIEND) && table.stdout.contains(&organization), "{}", table.stdout);

    support::run_past_usage_reports(&emulator, emulator.cli().args(prune).arg("--yes")).await.success();
    assert_eq!(states(&ec2, std::slice::from_ref(old)).await[0].1, "disabled");
    assert!(launch_permissions(&ec2, old).await.is_empty(), "AWS took every launch permission away");
    let recorded = |image: &aws_sdk_ec2::types::Image| {
        image
            .tags()
            .iter()
            .find(|t| t.key() == Some("gio-ami:launch-grants"))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    let described = ec2.describe_images().image_ids(old).include_disabled(true).send().await.unwrap();
    assert_eq!(recorded(&described.images()[0]), Some(format!("{FRIEND} {organization}")));

    let enabled = run(emulator.cli().args(["enable", old, "--yes", "--output", "json"])).success().json();
    assert_eq!(support::statuses(&enabled), ["enable_image done"], "{enabled}");
    assert_eq!(states(&ec2, std::slice::from_ref(old)).await[0].1, "available");
    assert_eq!(launch_permissions(&ec2, old).await, shared, "granted back");
    let described = ec2.describe_images().image_ids(old).send().await.unwrap();
    assert_eq!(recorded(&described.images()[0]), None, "the record is gone once granted back");
    let again = run(emulator.cli().args(["enable", old, "--yes", "--output", "json"])).success().json();
    assert_eq!(support::statuses(&again), ["reuse reused"], "{again}");
}
