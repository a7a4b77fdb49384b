//! Undo: `recycle-bin` writes the retention rules, the wipe plan says what they keep, `restore`
//! brings a wiped AMI back as it was, launchable; without a rule, or past its retention, the
//! deletion is final and named so.

use crate::support;

use support::{run, Emulator, REGION};

async fn snapshot_tags(ec2: &aws_sdk_ec2::Client, snapshots: &[String]) -> Vec<Vec<String>> {
    let found = ec2.describe_snapshots().set_snapshot_ids(Some(snapshots.to_vec())).send().await.unwrap();
    let mut tags: Vec<(String, Vec<String>)> = found
        .snapshots()
        .iter()
        .map(|s| {
            (
                s.snapshot_id().unwrap().to_string(),
                s.tags().iter().map(|t| t.key().unwrap().to_string()).collect(),
            )
        })
        .collect();
    tags.sort_by_key(|(id, _)| snapshots.iter().position(|s| s == id));
    tags.into_iter().map(|(_, keys)| keys).collect()
}

#[tokio::test]
async fn a_wipe_under_gio_amis_rules_is_undone_by_restore_and_the_ami_launches() {
    a_wipe_under_gio_amis_rules_is_undone_by_restore_and_the_ami_launches_with(Emulator::start()).await;
}

/// The same on an EC2 that shows each change late (the wipe's snapshots stay in use for a moment, its marks show late): the first run still finishes.
#[tokio::test]
async fn wipe_and_restore_under_lag() {
    a_wipe_under_gio_amis_rules_is_undone_by_restore_and_the_ami_launches_with(Emulator::start_lagging(
        support::LAG,
    ))
    .await;
}

async fn a_wipe_under_gio_amis_rules_is_undone_by_restore_and_the_ami_launches_with(emulator: Emulator) {
    let ec2 = emulator.ec2().await;
    let rbin = aws_sdk_rbin::Client::new(&emulator.config(REGION).await);

    let made =
        run(emulator.cli().args(["recycle-bin", "--retain", "7d", "--output", "json"])).success().json();
    assert_eq!(
        support::statuses(&made),
        ["retain_in_recycle_bin done", "retain_in_recycle_bin done"],
        "{made}"
    );
    let again =
        run(emulator.cli().args(["recycle-bin", "--retain", "7d", "--output", "json"])).success().json();
    assert_eq!(
        support::statuses(&again),
        ["reuse reused", "reuse reused"],
        "re-running changes nothing: {again}"
    );
    for kind in [aws_sdk_rbin::types::ResourceType::Ec2Image, aws_sdk_rbin::types::ResourceType::EbsSnapshot]
    {
        let rules = rbin.list_rules().resource_type(kind.clone()).send().await.unwrap();
        assert_eq!(rules.rules().len(), 1, "{kind:?}: one rule");
        let rule = rbin.get_rule().identifier(rules.rules()[0].identifier().unwrap()).send().await.unwrap();
        assert_eq!(rule.retention_period().unwrap().retention_period_value(), 7);
        assert_eq!(rule.resource_tags()[0].resource_tag_key(), "gio-ami:release");
    }
    support::recycle_bin_active(&emulator).await;

    let (ami, snapshots) = support::tagged_release(&ec2, "gio-node-undo").await;
    let before = support::own_image(&ec2, &ami).await.unwrap();
    let plan = run(emulator.cli().args(["wipe", &ami, "--dry-run", "--output", "json"])).success().json();
    let fates = plan["plan"]["recycle_bin"].as_array().unwrap();
    assert_eq!(fates.len(), 3, "{plan}");
    assert!(fates.iter().all(|f| f["fate"] == "kept" && f["days"] == 7), "{plan}");
    let text = run(emulator.cli().args(["wipe", &ami, "--dry-run"])).success().stdout;
    assert!(text.contains("the Recycle Bin keeps it until"), "{text}");

    run(emulator.cli().args(["wipe", &ami, "--yes"])).success();
    assert!(support::own_image(&ec2, &ami).await.is_none(), "the AMI is deregistered");
    let binned = ec2.list_images_in_recycle_bin().image_ids(&ami).send().await.unwrap();
    assert_eq!(binned.images().len(), 1, "the AMI sits in the bin");
    let binned =
        ec2.list_snapshots_in_recycle_bin().set_snapshot_ids(Some(snapshots.clone())).send().await.unwrap();
    assert_eq!(binned.snapshots().len(), 2, "both snapshots sit in the bin");

    let dry = run(emulator.cli().args(["restore", &ami, "--dry-run"])).success().stdout;
    assert!(dry.contains("restore 2 snapshot(s), restore 1 AMI(s)"), "{dry}");
    assert!(support::own_image(&ec2, &ami).await.is_none(), "a dry run restores nothing");

    let restored = run(emulator.cli().args(["restore", &ami, "--output", "json"])).success().json();
    assert_eq!(
        support::statuses(&restored),
        ["restore_snapshot done", "restore_snapshot done", "restore_image done"],
        "{restored}"
    );
    let after = support::own_image(&ec2, &ami).await.expect("the AMI is back");
    assert_eq!(after.state().unwrap().as_str(), "available");
    assert_eq!(
        after.block_device_mappings(),
        before.block_device_mappings(),
        "its mappings are as they were"
    );
    let keys = |image: &aws_sdk_ec2::types::Image| {
        let mut tags: Vec<(String, String)> =
            image.tags().iter().map(|t| (t.key().unwrap().into(), t.value().unwrap().into())).collect();
        tags.sort();
        tags
    };
    assert_eq!(keys(&after), keys(&before), "its tags are as they were");
    for tags in snapshot_tags(&ec2, &snapshots).await {
        assert!(
            tags.iter().all(|k| !k.starts_with("gio-ami:wiped-ami:") && !k.starts_with("aws:")),
            "marks are gone: {tags:?}"
        );
    }
    let launched = ec2
        .run_instances()
        .image_id(&ami)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .send()
        .await;
    assert!(launched.is_ok(), "an instance launches from the restored AMI: {launched:?}");

    let rerun = run(emulator.cli().args(["restore", &ami, "--output", "json"])).success().json();
    assert_eq!(support::statuses(&rerun), ["reuse reused"], "a re-run finds it done: {rerun}");
    emulator.set_clock("0");
}

#[tokio::test]
async fn without_a_rule_or_past_its_retention_a_wipe_is_final_and_restore_says_gone_for_good() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let bad = run(emulator.cli().args(["recycle-bin", "--retain", "36h"])).failure();
    assert!(bad.stderr.contains("whole days"), "{}", bad.stderr);

    let (unkept, _) = support::tagged_release(&ec2, "gio-node-final").await;
    let plan = run(emulator.cli().args(["wipe", &unkept, "--dry-run", "--output", "json"])).success().json();
    assert!(plan["plan"]["recycle_bin"].as_array().unwrap().iter().all(|f| f["fate"] == "final"), "{plan}");
    run(emulator.cli().args(["wipe", &unkept, "--yes"])).success();
    let gone = run(emulator.cli().args(["restore", &unkept])).failure();
    assert!(
        gone.stdout.contains("gone for good") && gone.stderr.contains(&unkept),
        "{}\n{}",
        gone.stdout,
        gone.stderr
    );

    run(emulator.cli().args(["recycle-bin", "--retain", "1d"])).success();
    support::recycle_bin_active(&emulator).await;
    let (kept, _) = support::tagged_release(&ec2, "gio-node-expires").await;
    run(emulator.cli().args(["wipe", &kept, "--yes"])).success();
    assert_eq!(ec2.list_images_in_recycle_bin().image_ids(&kept).send().await.unwrap().images().len(), 1);
    emulator.set_clock("1531m");
    let expired = run(emulator.cli().args(["restore", &kept])).failure();
    assert!(expired.stdout.contains("gone for good"), "{}", expired.stdout);
    emulator.set_clock("0");
}

/// "When you create your first retention rule, it can take up to 30 minutes for the rule to become
/// active" (https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin-working-with-rules.html):
/// a wipe meanwhile may be final, and its plan says so, with until when, instead of promising an
/// undo. The emulator keeps the first rule `pending` (retaining nothing) for those 30 minutes.
#[tokio::test]
async fn a_wipe_right_after_the_first_rule_is_said_to_be_maybe_final_and_is() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let rbin = aws_sdk_rbin::Client::new(&emulator.config(REGION).await);
    let made = run(emulator.cli().args(["recycle-bin", "--retain", "7d"])).success();
    assert!(made.stdout.contains("up to 30 minutes to become active"), "{}", made.stdout);
    let rules =
        rbin.list_rules().resource_type(aws_sdk_rbin::types::ResourceType::Ec2Image).send().await.unwrap();
    let rule = rbin.get_rule().identifier(rules.rules()[0].identifier().unwrap()).send().await.unwrap();
    let tags = rbin.list_tags_for_resource().resource_arn(rule.rule_arn().unwrap()).send().await.unwrap();
    let created = tags.tags().iter().find(|t| t.key() == "gio-ami:created-at").unwrap().value().to_string();
    let active_by = gio_ami::core::clock::parse(&created).unwrap() + 30 * 60;
    let hh_mm = gio_ami::core::clock::rfc3339((active_by + 59) / 60 * 60)[11..16].to_string();

    let (ami, snapshots) = support::tagged_release(&ec2, "gio-node-too-soon").await;
    let plan = run(emulator.cli().args(["wipe", &ami, "--dry-run", "--output", "json"])).success().json();
    let fates = plan["plan"]["recycle_bin"].as_array().unwrap();
    assert_eq!(fates.len(), 3, "{plan}");
    assert!(fates.iter().all(|f| f["fate"] == "unsure" && f["days"] == 7), "no undo is promised: {plan}");
    let text = run(emulator.cli().args(["wipe", &ami, "--dry-run"])).success();
    assert!(text.stdout.contains(&format!("may be final until {hh_mm} UTC")), "{}", text.stdout);
    assert!(!text.stdout.contains("the Recycle Bin keeps it"), "{}", text.stdout);

    run(emulator.cli().args(["wipe", &ami, "--yes"])).success();
    assert!(
        ec2.list_images_in_recycle_bin().image_ids(&ami).send().await.unwrap().images().is_empty(),
        "final"
    );
    let binned = ec2.list_snapshots_in_recycle_bin().set_snapshot_ids(Some(snapshots)).send().await.unwrap();
    assert!(binned.snapshots().is_empty(), "its snapshots are gone for good too");
    let gone = run(emulator.cli().args(["restore", &ami])).failure();
    assert!(gone.stdout.contains("gone for good"), "{}", gone.stdout);

    support::recycle_bin_active(&emulator).await;
    let (later, _) = support::tagged_release(&ec2, "gio-node-in-time").await;
    let plan = run(emulator.cli().args(["wipe", &later, "--dry-run", "--output", "json"])).success().json();
    assert!(plan["plan"]["recycle_bin"].as_array().unwrap().iter().all(|f| f["fate"] == "kept"), "{plan}");
    run(emulator.cli().args(["wipe", &later, "--yes"])).success();
    run(emulator.cli().args(["restore", &later])).success();
    assert!(support::own_image(&ec2, &later).await.is_some(), "once active, the wipe is undone");
    emulator.set_clock("0");
}

/// RestoreSnapshotFromRecycleBin's answer is `recovering` for a while, and AWS restores an AMI
/// only once its snapshots are back (https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin-factors.html):
/// `restore` waits for them before it restores the AMI, in one run.
#[tokio::test]
async fn restore_waits_for_the_snapshots_to_recover_before_the_ami() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    run(emulator.cli().args(["recycle-bin", "--retain", "7d"])).success();
    support::recycle_bin_active(&emulator).await;
    let (ami, snapshots) = support::tagged_release(&ec2, "gio-node-recovering").await;
    run(emulator.cli().args(["wipe", &ami, "--yes"])).success();

    let restored = run(emulator.cli().args(["restore", &ami, "--output", "json"])).success().json();
    assert_eq!(
        support::statuses(&restored),
        ["restore_snapshot done", "restore_snapshot done", "restore_image done"],
        "{restored}"
    );
    let image = support::own_image(&ec2, &ami).await.expect("the AMI is back in the same run");
    assert_eq!(image.state().unwrap().as_str(), "available");
    let described = ec2.describe_snapshots().set_snapshot_ids(Some(snapshots)).send().await.unwrap();
    assert!(described.snapshots().iter().all(|s| s.state().unwrap().as_str() == "completed"));
    emulator.set_clock("0");
}

/// An entry past its retention can still be listed for a while (the emulator's test hook makes
/// the listing lag; how long AWS does is undocumented): the restore it plans then answers
/// NotFound, and that is reported as gone for good, not as a failure a re-run would finish.
#[tokio::test]
async fn an_entry_that_expires_between_listing_and_restore_is_gone_for_good() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    run(emulator.cli().args(["recycle-bin", "--retain", "1d"])).success();
    support::recycle_bin_active(&emulator).await;
    let (ami, _) = support::tagged_release(&ec2, "gio-node-lapsing").await;
    run(emulator.cli().args(["wipe", &ami, "--yes"])).success();
    emulator.fixture(&["recycle-bin", "--expired-listed=10m"]);
    emulator.set_clock("1472m");
    assert_eq!(
        ec2.list_images_in_recycle_bin().image_ids(&ami).send().await.unwrap().images().len(),
        1,
        "still listed"
    );

    let gone = run(emulator.cli().args(["restore", &ami])).failure();
    assert!(gone.stderr.contains(&format!("nothing can bring back {ami}")), "{}", gone.stderr);
    assert!(!gone.stderr.to_lowercase().contains("re-run"), "{}", gone.stderr);
    assert!(gone.stdout.contains("gone for good"), "{}", gone.stdout);
    assert!(support::own_image(&ec2, &ami).await.is_none());
    emulator.fixture(&["recycle-bin", "--expired-listed=0"]);
    emulator.set_clock("0");
}
