//! Rollout through environments against the emulator: promotion staging -> prod through its gates
//! (the soak measured from the parameter's history, written in the past by moving the emulator's
//! clock rather than by sleeping), and `outdated` against the EKS-optimized bases AWS publishes.
//! Each test has its own emulator: they move its one clock.

use crate::support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::{
    eks_nodegroup_running, node_running, recommended_base, register_root_image, run, Emulator, REGION,
};

const FAR_REGION: &str = "us-east-1";

/// A directory holding tests/specs/valid/rollout.toml as its gio-ami.toml.
fn project(test: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("rollout-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gio-ami.toml"), support::spec("rollout")).unwrap();
    dir
}

/// An adopted release (`name`), optionally recording the base it was built on.
async fn release(emulator: &Emulator, name: &str, base: Option<&str>) -> String {
    let ami = register_root_image(&emulator.ec2().await, name).await;
    let mut adopt = emulator.cli();
    adopt.args(["adopt", &ami, "--author", "ana"]);
    if let Some(base) = base {
        adopt.args(["--base", base]);
    }
    run(&mut adopt).success();
    ami
}

/// Publishes `ami` to `cluster` as if it had been written `ago` (e.g. "49h") before now.
fn publish_ago(emulator: &Emulator, dir: &Path, ami: &str, cluster: &str, ago: &str) {
    emulator.set_clock(&format!("-{ago}"));
    run(emulator.cli().current_dir(dir).args(["publish", ami, "--cluster", cluster])).success();
    emulator.set_clock("0");
}

async fn parameter(emulator: &Emulator, region: &str, name: &str) -> Option<String> {
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(region).await);
    ssm.get_parameter().name(name).send().await.ok().and_then(|o| o.parameter?.value)
}

fn promote(emulator: &Emulator, dir: &Path, args: &[&str]) -> std::process::Command {
    let mut command = emulator.cli();
    command.current_dir(dir).args(["promote", "--output", "json"]).args(args);
    command
}

fn gate<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == kind)
        .unwrap_or_else(|| panic!("no gate {kind}: {report}"))
}

#[tokio::test]
async fn promotion_waits_for_the_soak_and_writes_marks_and_protects_once() {
    let emulator = Emulator::start();
    let dir = project("soak");
    let a = release(&emulator, "gio-node-a", None).await;
    node_running(&emulator, "staging", &a).await;
    publish_ago(&emulator, &dir, &a, "staging", "49h");

    let done = run(&mut promote(&emulator, &dir, &["--to", "prod"])).success().json();
    let soak = gate(&done, "soak");
    assert_eq!(soak["passed"], true);
    assert!(
        soak["measured"].as_str().unwrap().starts_with(&format!("staging has had {a} for 49h")),
        "{soak}"
    );
    assert!(soak["measured"].as_str().unwrap().ends_with("≥ 48h"), "{soak}");
    assert_eq!(parameter(&emulator, REGION, "/gio/eks/prod/node-ami").await.as_deref(), Some(a.as_str()));
    let image = emulator.ec2().await.describe_images().image_ids(&a).send().await.unwrap();
    let image = &image.images()[0];
    assert_eq!(
        image.deregistration_protection(),
        Some("enabled-without-cooldown"),
        "prod has protect = true"
    );
    let clusters = image.tags().iter().find(|t| t.key() == Some("gio-ami:clusters")).and_then(|t| t.value());
    assert_eq!(clusters, Some("staging,prod"), "the history marks both");

    let again = run(&mut promote(&emulator, &dir, &["--to", "prod"])).failure();
    assert!(
        again.stderr.contains(&format!("prod already holds {a}: nothing to promote")),
        "{}",
        again.stderr
    );

    // A newer release, published to staging three hours ago and running there.
    let b = release(&emulator, "gio-node-b", None).await;
    node_running(&emulator, "staging", &b).await;
    publish_ago(&emulator, &dir, &b, "staging", "3h");
    let early = run(&mut promote(&emulator, &dir, &["--to", "prod"])).failure();
    assert!(
        early.stderr.contains(&format!("staging has had {b} for 3h, less than the soak of 48h: ")),
        "{}",
        early.stderr
    );
    assert_eq!(early.json()["plan"]["actions"], serde_json::json!([]), "a refused plan holds no action");
    let urgent =
        run(&mut promote(&emulator, &dir, &["--to", "prod", "--soak", "0s", "--dry-run"])).success().json();
    assert!(
        gate(&urgent, "soak")["measured"].as_str().unwrap().contains("(--soak 0s overrides the spec's 48h)"),
        "{urgent}"
    );
    assert_eq!(urgent["applied"], false);
    assert_eq!(
        parameter(&emulator, REGION, "/gio/eks/prod/node-ami").await.as_deref(),
        Some(a.as_str()),
        "neither wrote"
    );
}

#[tokio::test]
async fn promotion_refuses_what_the_source_does_not_run_disabled_deprecated_or_elsewhere() {
    let emulator = Emulator::start();
    let dir = project("refusals");
    let ec2 = emulator.ec2().await;
    let a = release(&emulator, "gio-node-a", None).await;
    publish_ago(&emulator, &dir, &a, "staging", "50h");
    let idle = run(&mut promote(&emulator, &dir, &["--to", "prod"])).failure();
    assert!(
        idle.stderr.contains(&format!(
            "{a} is published to staging but no node of staging runs it (it runs no node at all)"
        )),
        "{}",
        idle.stderr
    );

    eks_nodegroup_running(&emulator, "staging", &a).await;
    // Another region: refused until --copy copies it there; the copy is what far then holds.
    let far = run(&mut promote(&emulator, &dir, &["--to", "far"])).failure();
    assert!(far.stderr.contains(&format!("{a} is not in {FAR_REGION}: pass --copy")), "{}", far.stderr);
    let copied = run(&mut promote(&emulator, &dir, &["--to", "far", "--copy"])).success().json();
    let copy = copied["target_ami"].as_str().unwrap().to_string();
    assert_ne!(copy, a);
    assert_eq!(parameter(&emulator, FAR_REGION, "/gio/eks/far/node-ami").await, Some(copy.clone()));
    let far_ec2 = aws_sdk_ec2::Client::new(&emulator.config(FAR_REGION).await);
    let held = far_ec2.describe_images().image_ids(&copy).send().await.unwrap();
    assert_eq!(held.images()[0].state().map(|s| s.as_str()), Some("available"));

    ec2.disable_image().image_id(&a).send().await.unwrap();
    let disabled = run(&mut promote(&emulator, &dir, &["--to", "prod"])).failure();
    assert!(disabled.stderr.contains(&format!("{a} is disabled")), "{}", disabled.stderr);
    ec2.enable_image().image_id(&a).send().await.unwrap();

    // Deprecated ten minutes ago: AWS takes only future times, so the emulator's clock goes back.
    emulator.set_clock("-15m");
    let at = aws_smithy_types::DateTime::from_secs(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 600,
    );
    ec2.enable_image_deprecation().image_id(&a).deprecate_at(at).send().await.unwrap();
    emulator.set_clock("0");
    let deprecated = run(&mut promote(&emulator, &dir, &["--to", "prod"])).failure();
    assert!(deprecated.stderr.contains(&format!("{a} is deprecated since")), "{}", deprecated.stderr);
    assert_eq!(
        parameter(&emulator, REGION, "/gio/eks/prod/node-ami").await,
        None,
        "nothing was promoted to prod"
    );
}

fn outdated(emulator: &Emulator, dir: &Path, args: &[&str]) -> std::process::Command {
    let mut command = emulator.cli();
    command.current_dir(dir).args(["outdated", "--cluster", "blue", "--output", "json"]).args(args);
    command
}

#[tokio::test]
async fn outdated_flags_a_cluster_once_a_newer_base_is_recommended() {
    let emulator = Emulator::start();
    let dir = project("outdated");
    let base = recommended_base(&emulator).await;
    let current = release(&emulator, "gio-node-current", Some(&base)).await;
    eks_nodegroup_running(&emulator, "blue", &current).await;
    run(emulator.cli().current_dir(&dir).args(["publish", &current, "--cluster", "blue"])).success();

    let now = run(&mut outdated(&emulator, &dir, &["--fail-if-behind", "0d"])).success().json();
    let blue = &now["clusters"][0];
    assert_eq!(blue["control_plane"]["version"], "1.31");
    let node = &blue["releases"][0];
    assert_eq!((node["running"].clone(), node["published"].clone()), (Value::Bool(true), Value::Bool(true)));
    assert_eq!(node["base"]["ami"], base.as_str());
    assert_eq!(
        node["base"]["name"], "amazon-eks-node-al2023-x86_64-standard-1.31-v20261101",
        "adopt --base records the name"
    );
    assert_eq!(node["newer_base"], false);
    assert_eq!(node["skew"], 0);
    let calls = now["api_calls"].as_u64().unwrap();
    assert!(calls > 0 && calls < 20, "calls grow with clusters, not releases: {calls}");

    let published =
        emulator.fixture(&["eks-release", "--release", "20261201", "--bottlerocket", "1.27.0-0f1e2d3c"]);
    assert!(!published.trim().is_empty());
    let behind = run(&mut outdated(&emulator, &dir, &["--fail-if-behind", "0d"]));
    assert_eq!(behind.status.code(), Some(3), "{}", behind.stderr);
    assert!(
        behind.stderr.contains("cluster `blue` runs a release behind the recommended EKS-optimized base"),
        "{}",
        behind.stderr
    );
    let node = &behind.json()["clusters"][0]["releases"][0];
    assert_eq!(node["newer_base"], true);
    assert!(node["behind_days"].as_i64().unwrap() >= 28, "{node}");
    assert_eq!(
        node["recommended"]["release_version"].as_str().map(|r| r.ends_with("-20261201")),
        Some(true),
        "{node}"
    );
    run(&mut outdated(&emulator, &dir, &["--fail-if-behind", "90d"])).success();
}

/// Issue 34: `--fail-if-behind 0d` means "any newer base", also one Amazon published the same
/// day as the one the release was built on (whole days apart: 0, which is not more than 0d).
#[tokio::test]
async fn fail_if_behind_0d_exits_3_for_a_newer_base_published_the_same_day() {
    let emulator = Emulator::start();
    let dir = project("same-day");
    emulator.fixture(&["eks-release", "--release", "20261201", "--bottlerocket", "1.27.0-0f1e2d3c"]);
    let base = recommended_base(&emulator).await;
    let current = release(&emulator, "gio-node-same-day", Some(&base)).await;
    eks_nodegroup_running(&emulator, "blue", &current).await;
    run(emulator.cli().current_dir(&dir).args(["publish", &current, "--cluster", "blue"])).success();
    run(&mut outdated(&emulator, &dir, &["--fail-if-behind", "0d"])).success();

    emulator.fixture(&["eks-release", "--release", "20261202", "--bottlerocket", "1.27.1-0f1e2d3c"]);
    assert_ne!(recommended_base(&emulator).await, base, "a newer base is recommended");
    let behind = run(&mut outdated(&emulator, &dir, &["--fail-if-behind", "0d"]));
    let node = &behind.json()["clusters"][0]["releases"][0];
    assert_eq!(
        (node["newer_base"].clone(), node["behind_days"].clone()),
        (Value::Bool(true), 0.into()),
        "{node}"
    );
    assert_eq!(behind.status.code(), Some(3), "{}", behind.stderr);
    run(&mut outdated(&emulator, &dir, &["--fail-if-behind", "1d"])).success();
}
