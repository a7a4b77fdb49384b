//! `archive` / `unarchive`: a release kept for rollback goes to the archive tier (recorded,
//! deregistered, its snapshots archived) past the guards of `wipe`, and comes back as it was,
//! launchable, once AWS has restored its snapshots (the emulator's clock stands in for the hours).

use crate::support;

use support::{run, Emulator, REGION};

async fn tier(ec2: &aws_sdk_ec2::Client, snapshot: &str) -> (String, String) {
    let filter = aws_sdk_ec2::types::Filter::builder().name("snapshot-id").values(snapshot).build();
    let status = ec2.describe_snapshot_tier_status().filters(filter).send().await.unwrap();
    let status = &status.snapshot_tier_statuses()[0];
    (
        status.storage_tier().map(|t| t.as_str().to_string()).unwrap_or_default(),
        status.last_tiering_operation_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
    )
}

#[tokio::test]
async fn an_unused_release_is_archived_and_unarchived_as_it_was_and_one_in_use_is_refused() {
    an_unused_release_is_archived_and_unarchived_as_it_was_and_one_in_use_is_refused_with(Emulator::start())
        .await;
}

/// The same on an EC2 that shows each change late (ModifySnapshotTier may find the AMI just deregistered still holding its snapshots): the first run still finishes.
#[tokio::test]
async fn archive_under_lag() {
    an_unused_release_is_archived_and_unarchived_as_it_was_and_one_in_use_is_refused_with(
        Emulator::start_lagging(support::LAG),
    )
    .await;
}

async fn an_unused_release_is_archived_and_unarchived_as_it_was_and_one_in_use_is_refused_with(
    emulator: Emulator,
) {
    let ec2 = emulator.ec2().await;
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    let (used, _) = support::tagged_release(&ec2, "gio-node-live").await;
    ssm.put_parameter()
        .name("/prod/node-ami")
        .value(&used)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let refused = run(emulator.cli().args(["archive", &used, "--yes"])).failure();
    assert!(refused.stderr.contains("SSM parameter /prod/node-ami"), "{}", refused.stderr);
    assert!(support::own_image(&ec2, &used).await.is_some(), "an AMI in use stays");

    let (ami, snapshots) = support::tagged_release(&ec2, "gio-node-rollback").await;
    let before = support::own_image(&ec2, &ami).await.unwrap();
    let dry = run(emulator.cli().args(["archive", &ami, "--dry-run"])).success().stdout;
    assert!(
        dry.contains("archive 2 snapshot(s)") && dry.contains("90 days") && dry.contains("72 hours"),
        "{dry}"
    );
    assert!(support::own_image(&ec2, &ami).await.is_some(), "a dry run changes nothing");

    let archived = run(emulator.cli().args(["archive", &ami, "--yes", "--output", "json"])).success().json();
    assert_eq!(
        support::statuses(&archived),
        ["deregister_image done", "archive_snapshot done", "archive_snapshot done"],
        "{archived}"
    );
    assert!(support::own_image(&ec2, &ami).await.is_none(), "the AMI is deregistered");
    let record = ssm.get_parameter().name(format!("/gio-ami/archived/{ami}")).send().await.unwrap();
    assert!(
        record.parameter().unwrap().value().unwrap().contains("gio-node-rollback"),
        "its registration is recorded"
    );
    assert_eq!(tier(&ec2, &snapshots[0]).await.1, "archival-in-progress");
    let orphans = run(emulator.cli().args(["snapshots", "--orphans", "--output", "json"])).success().json();
    assert_eq!(orphans, serde_json::json!([]), "archived snapshots are no orphans");

    emulator.set_clock("7h");
    assert_eq!(tier(&ec2, &snapshots[1]).await, ("archive".into(), "archival-completed".into()));
    let cost = run(emulator.cli().args(["cost", "--output", "json"])).success().json();
    assert_eq!(cost["archive_gib"], 28, "{cost}");
    assert_eq!(cost["locked_gib"], 0, "{cost}");

    let started = run(emulator.cli().args(["unarchive", &ami, "--output", "json"])).success().json();
    assert_eq!(
        support::statuses(&started),
        ["restore_from_archive done", "restore_from_archive done"],
        "{started}"
    );
    assert_eq!(started["plan"]["waiting"], serde_json::json!([ami]), "{started}");
    assert!(support::own_image(&ec2, &ami).await.is_none(), "registered only once the snapshots are back");

    emulator.set_clock("80h");
    let back = run(emulator.cli().args(["unarchive", &ami, "--output", "json"])).success().json();
    assert_eq!(support::statuses(&back), ["register_image done"], "{back}");
    let again = back["outcomes"][0]["id"].as_str().unwrap().to_string();
    let after = support::own_image(&ec2, &again).await.unwrap();
    assert_eq!(after.name(), before.name());
    assert_eq!(
        after.block_device_mappings(),
        before.block_device_mappings(),
        "same devices, snapshots, sizes"
    );
    let tag = |key: &str| {
        after.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string)
    };
    assert_eq!(tag("gio-ami:release").as_deref(), Some("gio-node-rollback"));
    assert_eq!(tag("gio-ami:unarchived-from"), Some(ami.clone()));
    assert!(
        ssm.get_parameter().name(format!("/gio-ami/archived/{ami}")).send().await.is_err(),
        "the record is removed"
    );
    let launched = ec2
        .run_instances()
        .image_id(&again)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .send()
        .await;
    assert!(launched.is_ok(), "an instance launches from it: {launched:?}");
    let rerun = run(emulator.cli().args(["unarchive", &ami, "--output", "json"])).success().json();
    assert_eq!(support::statuses(&rerun), ["reuse reused"], "{rerun}");
    emulator.set_clock("0");
}

/// "25 concurrent snapshot archives and 5 concurrent restores per account" (EBS snapshot archive
/// quotas, https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-archive-considerations.html),
/// counting what other tools have in progress: what does not fit is queued, said so, and a re-run
/// once some have completed carries on where the first stopped.
#[tokio::test]
async fn archives_and_restores_past_the_quotas_are_queued_and_a_rerun_carries_on() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    emulator.fixture(&["archiving", "--count", "24"]);
    let (ami, snapshots) = support::tagged_release(&ec2, "gio-node-crowded").await;

    let first = run(emulator.cli().args(["archive", &ami, "--yes", "--output", "json"])).success();
    assert_eq!(
        support::statuses(&first.json()),
        ["deregister_image done", "archive_snapshot done", "refuse refused"],
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("1 snapshot(s) queued"), "{}", first.stdout);
    assert_eq!(tier(&ec2, &snapshots[0]).await, ("standard".into(), "archival-in-progress".into()));
    assert_eq!(tier(&ec2, &snapshots[1]).await, ("standard".into(), String::new()), "not sent: queued");

    emulator.set_clock("7h");
    let second = run(emulator.cli().args(["archive", &ami, "--yes", "--output", "json"])).success().json();
    assert_eq!(support::statuses(&second), ["archive_snapshot done", "reuse reused"], "{second}");
    assert_eq!(tier(&ec2, &snapshots[1]).await.1, "archival-in-progress");

    // Both archived by 14 h; another tool restores 4 of the 24 seeded archives meanwhile.
    emulator.set_clock("14h");
    let seeded = ec2.describe_snapshots().owner_ids("self").send().await.unwrap();
    let others: Vec<String> = seeded
        .snapshots()
        .iter()
        .filter(|s| s.description().unwrap_or_default().starts_with("seed "))
        .map(|s| s.snapshot_id().unwrap().to_string())
        .take(4)
        .collect();
    for other in &others {
        ec2.restore_snapshot_tier().snapshot_id(other).permanent_restore(true).send().await.unwrap();
    }
    let restores = run(emulator.cli().args(["unarchive", &ami, "--output", "json"])).success();
    assert_eq!(
        support::statuses(&restores.json()),
        ["restore_from_archive done", "refuse refused"],
        "{}",
        restores.stdout
    );
    assert!(restores.stdout.contains("1 snapshot(s) queued"), "{}", restores.stdout);
    assert_eq!(tier(&ec2, &snapshots[1]).await.1, "archival-completed", "not sent: queued");

    emulator.set_clock("87h");
    let carried = run(emulator.cli().args(["unarchive", &ami, "--output", "json"])).success().json();
    assert_eq!(support::statuses(&carried), ["restore_from_archive done"], "{carried}");
    assert_eq!(tier(&ec2, &snapshots[1]).await.1, "permanent-restore-in-progress");
    emulator.set_clock("0");
}
