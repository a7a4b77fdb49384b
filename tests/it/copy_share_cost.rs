//! Copying to regions, sharing with accounts and the storage bill, against the emulator: the
//! copies are read back in their region, the permissions from the AMI and its snapshots.

use crate::support;

use support::{image_instance_with_extra_disk, register_root_image, run, Emulator};

const OTHER_REGION: &str = "us-east-1";
const FRIEND: &str = "111122223333";

#[tokio::test]
async fn copy_lands_in_every_region_tagged_and_a_rerun_finds_it() {
    copy_lands_in_every_region_tagged_and_a_rerun_finds_it_with(Emulator::start()).await;
}

/// The same on an EC2 that shows each change late (each copy is not found by id for a moment): the first run still finishes.
#[tokio::test]
async fn copy_under_lag() {
    copy_lands_in_every_region_tagged_and_a_rerun_finds_it_with(Emulator::start_lagging(support::LAG)).await;
}

async fn copy_lands_in_every_region_tagged_and_a_rerun_finds_it_with(emulator: Emulator) {
    let ec2 = emulator.ec2().await;
    let ami = register_root_image(&ec2, "gio-node-7").await;
    run(emulator.cli().args(["adopt", &ami, "--contact", "ops@example.org"])).success();
    ec2.create_tags()
        .resources(&ami)
        .tags(aws_sdk_ec2::types::Tag::builder().key("gio-ami:clusters").value("prod").build())
        .send()
        .await
        .unwrap();

    let copied = run(emulator.cli().args([
        "copy",
        &ami,
        "--to",
        OTHER_REGION,
        "--to",
        "ap-southeast-2",
        "--output",
        "json",
    ]))
    .success()
    .json();
    let copies = copied["outcomes"].as_array().unwrap();
    assert_eq!(copies.len(), 2);
    for copy in copies {
        let region = copy["region"].as_str().unwrap();
        let id = copy["id"].as_str().unwrap();
        assert_eq!(
            (copy["action"].as_str(), copy["status"].as_str(), copy["source"].as_str()),
            (Some("copy_image"), Some("done"), Some(ami.as_str()))
        );
        let there = aws_sdk_ec2::Client::new(&emulator.config(region).await);
        let image = there.describe_images().image_ids(id).send().await.unwrap();
        let image = &image.images()[0];
        assert_eq!(
            (image.name(), image.state().map(|s| s.as_str())),
            (Some("gio-node-7"), Some("available"))
        );
        let tag = |key: &str| image.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value());
        assert_eq!(tag("gio-ami:contact"), Some("ops@example.org"));
        assert_eq!(tag("gio-ami:clusters"), None, "publication marks stay with the source");
        let snapshot = image.block_device_mappings()[0].ebs().unwrap().snapshot_id().unwrap();
        let snapshots = there.describe_snapshots().snapshot_ids(snapshot).send().await.unwrap();
        assert!(
            snapshots.snapshots()[0].tags().iter().any(|t| t.key() == Some("gio-ami:release")),
            "the copy's snapshot is tagged too"
        );
    }

    let again =
        run(emulator.cli().args(["copy", &ami, "--to", OTHER_REGION, "--output", "json"])).success().json();
    let first = copies.iter().find(|c| c["region"] == OTHER_REGION).unwrap();
    assert_eq!(
        (&again["outcomes"][0]["id"], &again["outcomes"][0]["status"]),
        (&first["id"], &serde_json::json!("reused"))
    );
    let there = aws_sdk_ec2::Client::new(&emulator.config(OTHER_REGION).await);
    let all = there.describe_images().owners("self").send().await.unwrap();
    assert_eq!(all.images().len(), 1, "no second copy");
}

#[tokio::test]
async fn a_copy_made_again_with_another_kms_key_is_a_new_copy_with_that_key() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let ami = register_root_image(&ec2, "gio-node-8").await;
    let there = aws_sdk_ec2::Client::new(&emulator.config(OTHER_REGION).await);
    let first = run(emulator.cli().args([
        "copy",
        &ami,
        "--to",
        OTHER_REGION,
        "--kms-key",
        &format!("{OTHER_REGION}=alias/first"),
        "--output",
        "json",
    ]))
    .success()
    .json();
    let first = first["outcomes"][0]["id"].as_str().unwrap().to_string();
    // The wrong key: the copy goes, and the same copy is asked for again with the right one.
    // AWS refuses a ClientToken reused with other parameters, so this copy needs its own token.
    there.deregister_image().image_id(&first).send().await.unwrap();
    let second = run(emulator.cli().args([
        "copy",
        &ami,
        "--to",
        OTHER_REGION,
        "--kms-key",
        &format!("{OTHER_REGION}=alias/second"),
        "--output",
        "json",
    ]))
    .success()
    .json();
    let second = second["outcomes"][0]["id"].as_str().unwrap();
    assert_ne!(second, first);
    let image = there.describe_images().image_ids(second).send().await.unwrap();
    let snapshot =
        image.images()[0].block_device_mappings()[0].ebs().unwrap().snapshot_id().unwrap().to_string();
    let snapshots = there.describe_snapshots().snapshot_ids(snapshot).send().await.unwrap();
    assert_eq!(snapshots.snapshots()[0].kms_key_id(), Some("alias/second"));
}

#[tokio::test]
async fn a_disabled_copy_is_named_as_holding_the_name_not_waited_for() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let ami = register_root_image(&ec2, "gio-node-9").await;
    let first =
        run(emulator.cli().args(["copy", &ami, "--to", OTHER_REGION, "--output", "json"])).success().json();
    let copy = first["outcomes"][0]["id"].as_str().unwrap();
    let there = aws_sdk_ec2::Client::new(&emulator.config(OTHER_REGION).await);
    there.disable_image().image_id(copy).send().await.unwrap();
    // Unseen, the disabled copy let CopyImage replay its token and answer that copy, which
    // never becomes available: the wait ran to its two hours.
    let again = run(emulator.cli().args(["copy", &ami, "--to", OTHER_REGION])).failure();
    assert!(
        again.stderr.contains(&format!("`gio-node-9` is taken by {copy}, which is disabled")),
        "{}",
        again.stderr
    );
}

#[tokio::test]
async fn share_grants_launch_and_volume_permissions_and_unshare_revokes_them() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let root = register_root_image(&ec2, "gio-node-root").await;
    let (_, ami) = image_instance_with_extra_disk(&ec2, &root, "gio-node-shared").await;
    let image = ec2.describe_images().image_ids(&ami).send().await.unwrap();
    let snapshots: Vec<String> = image.images()[0]
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_string))
        .collect();
    assert_eq!(snapshots.len(), 2);

    let launch = || async {
        let attribute = ec2
            .describe_image_attribute()
            .image_id(&ami)
            .attribute("launchPermission".into())
            .send()
            .await
            .unwrap();
        attribute
            .launch_permissions()
            .iter()
            .filter_map(|p| p.user_id().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let volumes = |snapshot: String| {
        let ec2 = ec2.clone();
        async move {
            let attribute = ec2
                .describe_snapshot_attribute()
                .snapshot_id(snapshot)
                .attribute("createVolumePermission".into())
                .send()
                .await
                .unwrap();
            attribute
                .create_volume_permissions()
                .iter()
                .filter_map(|p| p.user_id().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };

    let dry = run(emulator.cli().args(["share", &ami, "--account", FRIEND, "--dry-run"])).success();
    assert!(dry.stdout.contains("dry run"), "{}", dry.stdout);
    assert!(launch().await.is_empty(), "a dry run changes nothing");

    for _ in 0..2 {
        run(emulator.cli().args(["share", &ami, "--account", FRIEND])).success();
    }
    assert_eq!(launch().await, [FRIEND]);
    for snapshot in &snapshots {
        assert_eq!(volumes(snapshot.clone()).await, [FRIEND], "{snapshot}");
    }

    run(emulator.cli().args(["share", &ami, "--account", FRIEND, "--unshare"])).success();
    assert!(launch().await.is_empty());
    for snapshot in &snapshots {
        assert!(volumes(snapshot.clone()).await.is_empty(), "{snapshot}");
    }

    let bad = run(emulator.cli().args(["share", &ami, "--account", "1111-2222-3333"])).failure();
    assert!(bad.stderr.contains("is not an AWS account id"), "{}", bad.stderr);
}

/// EC2 from another account of the emulator, through STS AssumeRole (moto's accounts).
async fn ec2_of(emulator: &Emulator, account: &str) -> aws_sdk_ec2::Client {
    // AWS Organizations makes this role in every account it creates, trusting the management account.
    let role = format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole");
    aws_sdk_ec2::Client::new(&emulator.config_as(&role, support::REGION).await)
}

#[tokio::test]
async fn share_with_an_organization_or_ou_reaches_its_member_accounts_and_unshare_takes_it_back() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let ami = register_root_image(&ec2, "gio-node-org").await;
    let org: serde_json::Value = serde_json::from_str(&emulator.fixture(&["organization"])).unwrap();
    let (organization, ou, member) =
        (org["organization"].as_str().unwrap(), org["ou"].as_str().unwrap(), org["member"].as_str().unwrap());
    let member_ec2 = ec2_of(&emulator, member).await;
    let visible = || async {
        !member_ec2
            .describe_images()
            .image_ids(&ami)
            .send()
            .await
            .map(|o| o.images().is_empty())
            .unwrap_or(true)
    };
    assert!(!visible().await, "not shared yet");

    for (flag, arn) in [("--org", organization), ("--ou", ou)] {
        let shared =
            run(emulator.cli().args(["share", &ami, flag, arn, "--output", "json"])).success().json();
        assert_eq!(
            support::statuses(&shared),
            ["modify_launch_permission done"],
            "launch permission only: {shared}"
        );
        assert!(visible().await, "{flag}: the member account sees the AMI");
        run(emulator.cli().args(["share", &ami, flag, arn, "--unshare", "--yes"])).success();
        assert!(!visible().await, "{flag} --unshare takes it back");
    }
    let bad = run(emulator.cli().args(["share", &ami, "--org", "o-abcdefghij"])).failure();
    assert!(bad.stderr.contains("not an organization ARN"), "{}", bad.stderr);
    let none = run(emulator.cli().args(["share", &ami]));
    assert_eq!(none.status.code(), Some(2), "bad usage: {}", none.stderr);
    assert!(none.stderr.contains("--account"), "{}", none.stderr);
}

#[tokio::test]
async fn cost_counts_release_storage_orphans_and_unused_amis() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let root = register_root_image(&ec2, "gio-node-root").await;
    run(emulator.cli().args(["adopt", &root, "--release", "r1"])).success();
    let (_, gone) = image_instance_with_extra_disk(&ec2, &root, "gio-node-gone").await;
    ec2.deregister_image().image_id(&gone).send().await.unwrap();

    let dir =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gio-ami.toml"), support::spec("cost").replace("ami-12345678", &root)).unwrap();
    let cost = run(emulator.cli().current_dir(&dir).args(["cost", "--price", "0.1", "--output", "json"]))
        .success()
        .json();
    let r1 = cost["releases"].as_array().unwrap().iter().find(|r| r["release"] == "r1").unwrap();
    assert_eq!((&r1["gib"], &r1["snapshots"]), (&serde_json::json!(8), &serde_json::json!(1)));
    assert!((r1["usd_per_month"].as_f64().unwrap() - 0.8).abs() < 1e-9);
    assert_eq!(cost["orphan_gib"], 58, "the deregistered AMI left its 8 + 50 GiB behind");
    assert_eq!(cost["total_gib"], 66);
    assert_eq!(cost["unused_amis"], serde_json::json!([root]), "prod runs nothing");
    assert!(cost["note"].as_str().unwrap().contains("upper bound"));

    let table = run(emulator.cli().current_dir(&dir).arg("cost")).success();
    assert!(
        table.stdout.contains("Orphan snapshots (no AMI references them): 2, 58 GiB"),
        "{}",
        table.stdout
    );
}
