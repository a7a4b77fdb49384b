//! The release history, publication to clusters and adoption, against the emulator: the table is
//! read back from what AWS holds, the parameter from SSM, the README from disk.

use crate::support;

use aws_sdk_ec2::types::Tag;
use std::path::PathBuf;
use support::faults::{Fault, Faults};
use support::{eks_nodegroup_running, node_running, run, Emulator, REGION};

const OTHER_REGION: &str = "us-east-1";
const PARAMETER: &str = "/gio/eks/prod/node-ami";

/// A directory holding a gio-ami.toml with clusters prod (SSM parameter) and dev.
fn project(test: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("history-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gio-ami.toml"), support::spec("history")).unwrap();
    dir
}

/// Two releases as a team's hand-kept table has them, adopted into gio-ami.
async fn two_releases(emulator: &Emulator) -> (String, String) {
    let ec2 = emulator.ec2().await;
    // Creation dates have a resolution of one second; releases a second apart sort for sure.
    let [first, second] = support::releases_a_second_apart(emulator, &ec2, "gio-node-").await;
    run(emulator.cli().args([
        "adopt",
        &first,
        "--description",
        "first release",
        "--contact",
        "ops@example.org",
        "--author",
        "ana",
    ]))
    .success();
    run(emulator.cli().args([
        "adopt",
        &second,
        "--description",
        "with the fix for the VM size t2.small => t2.medium",
        "--contact",
        "ops@example.org",
        "--author",
        "bob",
    ]))
    .success();
    (first, second)
}

/// What a copy made by another tool looks like: same name, tags copied.
async fn copy_to_other_region(emulator: &Emulator, ami: &str) -> String {
    let copy = aws_sdk_ec2::Client::new(&emulator.config(OTHER_REGION).await)
        .copy_image()
        .source_image_id(ami)
        .source_region(REGION)
        .name("gio-node-1")
        .copy_image_tags(true)
        .send()
        .await
        .unwrap();
    copy.image_id().unwrap().to_string()
}

async fn parameter_history(emulator: &Emulator) -> Vec<String> {
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    let history = ssm.get_parameter_history().name(PARAMETER).send().await.unwrap();
    for p in history.parameters() {
        assert_eq!(p.data_type(), Some("aws:ec2:image"), "consumers need the AMI data type");
    }
    history.parameters().iter().map(|p| p.value().unwrap().to_string()).collect()
}

/// The two releases in a project, the first published to prod.
async fn first_published(test: &str) -> (Emulator, PathBuf, String, String) {
    let emulator = Emulator::start();
    let dir = project(test);
    let (first, second) = two_releases(&emulator).await;
    run(emulator.cli().current_dir(&dir).args(["publish", &first, "--cluster", "prod"])).success();
    (emulator, dir, first, second)
}

#[tokio::test]
async fn history_marks_what_clusters_run_now_and_what_was_published_before() {
    let (emulator, dir, first, second) = first_published("marks").await;
    eks_nodegroup_running(&emulator, "prod", &second).await;
    node_running(&emulator, "dev", &first).await;

    let history =
        run(emulator.cli().current_dir(&dir).args(["history", "--format", "json"])).success().json();
    assert_eq!(history["clusters"], serde_json::json!(["dev", "prod"]));
    let releases = history["releases"].as_array().unwrap();
    let rows: Vec<(&str, &serde_json::Value)> =
        releases.iter().map(|r| (r["amis"][0]["id"].as_str().unwrap(), &r["clusters"])).collect();
    assert_eq!(
        rows,
        [
            (second.as_str(), &serde_json::json!({"prod": "running"})),
            (first.as_str(), &serde_json::json!({"dev": "running", "prod": "published"})),
        ],
        "newest first; prod's nodegroup runs the second, dev's node the first, which prod had before"
    );
    assert_eq!(releases[0]["description"], "with the fix for the VM size t2.small => t2.medium");
    assert_eq!(releases[0]["author"], "bob");
    assert!(history["api_calls"].as_u64().unwrap() > 0);

    let narrowed = run(emulator.cli().current_dir(&dir).args(["history", "--cluster", "prod"])).success();
    let header = narrowed.stdout.lines().find(|l| l.contains("RELEASE")).unwrap().to_string();
    assert!(header.contains("prod") && !header.contains("dev"), "{header}");
    assert!(narrowed.stdout.contains('●') && narrowed.stdout.contains('○'), "{}", narrowed.stdout);
}

#[tokio::test]
async fn history_works_outside_a_project_and_without_clusters() {
    let emulator = Emulator::start();
    let (first, _) = two_releases(&emulator).await;
    let elsewhere = std::env::temp_dir();
    let csv = run(emulator.cli().current_dir(&elsewhere).args(["history", "--format", "csv"])).success();
    let lines: Vec<&str> = csv.stdout.split("\r\n").collect();
    assert_eq!(lines[0], "RELEASE,DATE,AUTHOR,CONTACT,DESCRIPTION,REGION,AMI,PARENT,PROTECTED,LAST LAUNCH");
    assert!(lines[2].starts_with("gio-node-1,") && lines[2].contains(&first), "{}", lines[2]);
}

#[tokio::test]
async fn readme_block_is_replaced_and_nothing_else() {
    let emulator = Emulator::start();
    let dir = project("readme");
    let (first, second) = two_releases(&emulator).await;
    let readme = dir.join("README.md");
    let before = "# Nodes\n\nHand-written intro.\n\n<!-- gio-ami:history:begin -->\nstale\n<!-- gio-ami:history:end -->\n\nFooter.\n";
    std::fs::write(&readme, before).unwrap();
    run(emulator.cli().current_dir(&dir).args(["history", "--format", "markdown", "--update", "README.md"]))
        .success();
    let after = std::fs::read_to_string(&readme).unwrap();
    assert!(
        after.starts_with(
            "# Nodes\n\nHand-written intro.\n\n<!-- gio-ami:history:begin -->\n| RELEASE | dev | prod |"
        ),
        "{after}"
    );
    assert!(after.ends_with("<!-- gio-ami:history:end -->\n\nFooter.\n"), "{after}");
    assert!(!after.contains("stale"));
    let second_at = after.find(&second).unwrap();
    assert!(second_at < after.find(&first).unwrap(), "newest first:\n{after}");

    let no_markers = "# Nodes\nno block here\n";
    std::fs::write(&readme, no_markers).unwrap();
    let refused = run(emulator.cli().current_dir(&dir).args(["history", "--update", "README.md"])).failure();
    assert!(refused.stderr.contains("no <!-- gio-ami:history:begin --> marker"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), no_markers, "the file is untouched");
}

#[tokio::test]
async fn a_release_copied_to_another_region_is_one_row_with_both_amis() {
    let emulator = Emulator::start();
    let (first, _) = two_releases(&emulator).await;
    let copy = copy_to_other_region(&emulator, &first).await;
    let history = run(emulator.cli().args([
        "history",
        "--region",
        REGION,
        "--region",
        OTHER_REGION,
        "--output",
        "json",
    ]))
    .success()
    .json();
    let row = history["releases"].as_array().unwrap().iter().find(|r| r["release"] == "gio-node-1").unwrap();
    assert_eq!(
        row["amis"],
        serde_json::json!([{"region": REGION, "id": first}, {"region": OTHER_REGION, "id": copy}])
    );
    assert_eq!(history["releases"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn publish_keeps_the_previous_value_and_rollback_restores_it() {
    let (emulator, dir, first, second) = first_published("publish").await;

    let dry =
        run(emulator.cli().current_dir(&dir).args(["publish", &second, "--cluster", "prod", "--dry-run"]))
            .success();
    assert!(dry.stdout.contains(&format!("{PARAMETER} {first} -> {second}")), "{}", dry.stdout);
    assert_eq!(parameter_history(&emulator).await, std::slice::from_ref(&first), "a dry run writes nothing");

    run(emulator.cli().current_dir(&dir).args(["publish", &second, "--cluster", "prod"])).success();
    assert_eq!(parameter_history(&emulator).await, [first.clone(), second.clone()]);
    let tags = emulator.ec2().await.describe_images().image_ids(&second).send().await.unwrap();
    let clusters = tags.images()[0].tags().iter().find(|t| t.key() == Some("gio-ami:clusters")).unwrap();
    assert_eq!(clusters.value(), Some("prod"));

    let rollback = run(emulator.cli().current_dir(&dir).args([
        "publish",
        "--rollback",
        "--cluster",
        "prod",
        "--output",
        "json",
    ]))
    .success()
    .json();
    assert_eq!(rollback["ami"], first.as_str());
    assert_eq!(parameter_history(&emulator).await, [first.clone(), second, first]);
}

#[tokio::test]
async fn publish_refuses_another_region_and_unknown_clusters() {
    let emulator = Emulator::start();
    let dir = project("refuse");
    let (first, _) = two_releases(&emulator).await;
    let copy = copy_to_other_region(&emulator, &first).await;
    let copy = copy.as_str();
    let wrong = run(emulator.cli().current_dir(&dir).args([
        "publish",
        copy,
        "--cluster",
        "prod",
        "--region",
        OTHER_REGION,
    ]))
    .failure();
    assert!(wrong.stderr.contains(&format!("gio-ami copy {copy} --to {REGION}")), "{}", wrong.stderr);
    let unknown =
        run(emulator.cli().current_dir(&dir).args(["publish", &first, "--cluster", "staging"])).failure();
    assert!(
        unknown.stderr.contains("no cluster `staging` in gio-ami.toml (known: dev, prod)"),
        "{}",
        unknown.stderr
    );
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    assert!(ssm.get_parameter().name(PARAMETER).send().await.is_err(), "nothing was published");
}

#[tokio::test]
async fn adopt_tags_the_ami_and_its_snapshots() {
    let emulator = Emulator::start();
    let (first, _) = two_releases(&emulator).await;
    let ec2 = emulator.ec2().await;
    let image = ec2.describe_images().image_ids(&first).send().await.unwrap();
    let image = &image.images()[0];
    let tag = |tags: &[Tag], key: &str| {
        tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string)
    };
    assert_eq!(tag(image.tags(), "gio-ami:release").as_deref(), Some("gio-node-1"));
    assert_eq!(tag(image.tags(), "gio-ami:contact").as_deref(), Some("ops@example.org"));
    let snapshot = image.block_device_mappings()[0].ebs().unwrap().snapshot_id().unwrap();
    let snapshots = ec2.describe_snapshots().snapshot_ids(snapshot).send().await.unwrap();
    assert_eq!(tag(snapshots.snapshots()[0].tags(), "gio-ami:author").as_deref(), Some("ana"));
}

#[tokio::test]
async fn reports_degrade_when_one_clusters_look_up_fails_and_still_succeed() {
    let (emulator, dir, first, second) = first_published("degraded").await;
    eks_nodegroup_running(&emulator, "prod", &second).await;
    eks_nodegroup_running(&emulator, "dev", &first).await;
    // dev's nodegroups cannot be listed: a web server in front of EKS answers for it.
    let broken = Faults::new(1.0, 7).only(&["GET /clusters/dev/node-groups"]).kinds(&[Fault::Unreadable]);
    let proxy = emulator.proxied(broken);
    let says_what_failed = |text: &str| {
        text.contains("cluster `dev`")
            && text.contains("ListNodegroups failed")
            && text.contains(&format!("{} answered HTTP 500", proxy.endpoint))
    };

    let out = run(proxy.cli().current_dir(&dir).args(["history", "--output", "json"])).success();
    let history = out.json();
    let rows: Vec<(&str, &serde_json::Value)> = history["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["amis"][0]["id"].as_str().unwrap(), &r["clusters"]))
        .collect();
    assert_eq!(
        rows,
        [
            (second.as_str(), &serde_json::json!({"dev": "unknown", "prod": "running"})),
            (first.as_str(), &serde_json::json!({"dev": "unknown", "prod": "published"})),
        ],
        "dev runs the first release, but nobody could tell; prod is read as ever"
    );
    let warnings = history["warnings"].as_array().unwrap();
    assert!(warnings.len() == 1 && says_what_failed(warnings[0].as_str().unwrap()), "{warnings:?}");
    assert!(out.stderr.lines().any(|l| l.starts_with("warning: ") && says_what_failed(l)), "{}", out.stderr);
    assert!(!out.stderr.contains("Unknown: "), "{}", out.stderr);

    let table = run(proxy.cli().current_dir(&dir).args(["history", "--format", "markdown"])).success();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines[0], "| RELEASE | dev | prod | DATE | AUTHOR | CONTACT | DESCRIPTION | REGION | AMI | PARENT | PROTECTED | LAST LAUNCH |");
    assert!(lines[2].starts_with("| gio-node-2 | ? | ● |"), "{}", table.stdout);
    assert!(lines[3].starts_with("| gio-node-1 | ? | ○ |"), "{}", table.stdout);

    let out = run(proxy.cli().current_dir(&dir).args(["cost", "--output", "json"])).success();
    let cost = out.json();
    assert_eq!(
        cost["unused_amis"],
        serde_json::Value::Null,
        "an AMI prod does not run may run in dev: {cost}"
    );
    let warnings = cost["warnings"].as_array().unwrap();
    assert!(warnings.len() == 1 && says_what_failed(warnings[0].as_str().unwrap()), "{warnings:?}");
    assert!(out.stderr.lines().any(|l| l.starts_with("warning: ") && says_what_failed(l)), "{}", out.stderr);
    assert!(proxy.tally().injected.iter().all(|(operation, _)| operation == "GET /clusters/dev/node-groups"));
}
