//! Release sets (`[[variants]]`): one release of an x86_64 and an arm64 AMI, built together, one
//! row of the history, published and promoted as a whole or not at all.

use crate::support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};
use support::{node_running, run, Emulator, REGION};

fn base_parameter(arch: &str) -> String {
    format!("/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/{arch}/standard/recommended/image_id")
}

/// A directory holding tests/specs/valid/release-set.toml and its script.
fn project(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sets-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("provision.sh"), "#!/bin/bash\necho provisioning\n").unwrap();
    std::fs::write(dir.join("gio-ami.toml"), support::spec("release-set")).unwrap();
    dir
}

/// Plays every builder's guest until the build ends: each powers off once it runs.
async fn guests_power_off(emulator: &Emulator, mut build: Child) -> std::process::Output {
    let ec2 = emulator.ec2().await;
    let deadline = Instant::now() + Duration::from_secs(180);
    while build.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the build did not end");
        if let Some(builder) = support::running_builder_now(&ec2).await {
            ec2.stop_instances().instance_ids(builder).send().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    support::output_of(build)
}

async fn build(emulator: &Emulator, dir: &Path) -> Value {
    let mut command = emulator.cli();
    command.env("GIO_AMI_AUTHOR", "Ada");
    let out = guests_power_off(emulator, support::spawn_build(command, &dir.join("gio-ami.toml"))).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "build failed: {}", String::from_utf8_lossy(&out.stderr));
    support::reports::assert_valid("build", &stdout);
    serde_json::from_str(&stdout).unwrap()
}

async fn parameter(emulator: &Emulator, name: &str) -> Option<String> {
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    ssm.get_parameter().name(name).send().await.ok().and_then(|o| o.parameter?.value)
}

fn tags(image: &aws_sdk_ec2::types::Image) -> std::collections::BTreeMap<&str, &str> {
    image.tags().iter().filter_map(|t| Some((t.key()?, t.value()?))).collect()
}

/// The AMI of each variant of the built report, by arch.
fn amis(built: &Value) -> std::collections::BTreeMap<String, String> {
    built["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (arch_of(v), v["ami"].as_str().unwrap().to_string()))
        .collect()
}

fn arch_of(built: &Value) -> String {
    built["name"].as_str().unwrap().rsplit('-').nth(1).unwrap().to_string()
}

#[tokio::test]
async fn a_two_variant_set_is_built_listed_published_and_promoted_whole() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir = project("whole");
    let built = build(&emulator, &dir).await;
    let release = built["release"].as_str().unwrap().to_string();
    let amis = amis(&built);
    assert_eq!(amis.keys().collect::<Vec<_>>(), ["arm64", "x86_64"], "{built}");

    // Two AMIs of one release, each on its own architecture's base.
    for (arch, ami) in &amis {
        let image = ec2.describe_images().image_ids(ami).send().await.unwrap().images()[0].clone();
        assert_eq!(image.architecture().map(|a| a.as_str()), Some(arch.as_str()));
        assert_eq!(image.name(), Some(format!("{release}-{arch}-standard").as_str()));
        let base = parameter(&emulator, &base_parameter(arch)).await.unwrap();
        let tags = tags(&image);
        assert_eq!(
            (
                tags["gio-ami:release"],
                tags["gio-ami:arch"],
                tags["gio-ami:variant"],
                tags["gio-ami:base-ami"]
            ),
            (release.as_str(), arch.as_str(), "standard", base.as_str())
        );
    }
    let (x86, arm) = (amis["x86_64"].clone(), amis["arm64"].clone());

    // One history row, its AMIs per variant.
    let history =
        run(emulator.cli().current_dir(&dir).args(["history", "--output", "json"])).success().json();
    let releases = history["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 1, "{history}");
    let variants: Vec<(&str, &str, &str)> = releases[0]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["arch"].as_str().unwrap(), v["variant"].as_str().unwrap(), v["ami"].as_str().unwrap()))
        .collect();
    assert_eq!(variants, [("x86_64", "standard", x86.as_str()), ("arm64", "standard", arm.as_str())]);

    // Any AMI of the set publishes all of it, each to its own parameter.
    emulator.set_clock("-49h");
    run(emulator.cli().current_dir(&dir).args(["publish", &arm, "--cluster", "staging"])).success();
    emulator.set_clock("0");
    for (arch, ami) in &amis {
        let name = format!("/gio/eks/staging/{arch}/node-ami");
        assert_eq!(parameter(&emulator, &name).await.as_deref(), Some(ami.as_str()), "{name}");
    }

    // Staging runs only the x86_64 AMI: the arm64 variant's gate fails, and prod gets neither.
    node_running(&emulator, "staging", &x86).await;
    let refused =
        run(emulator.cli().current_dir(&dir).args(["promote", "--to", "prod", "--output", "json"])).failure();
    let why = format!("arm64/standard: {arm} is published to staging but no node of staging runs it");
    assert!(refused.stderr.contains(&why), "{}", refused.stderr);
    assert_eq!(refused.json()["plan"]["actions"], serde_json::json!([]), "a refused plan holds no action");
    for arch in ["x86_64", "arm64"] {
        assert_eq!(parameter(&emulator, &format!("/gio/eks/prod/{arch}/node-ami")).await, None);
    }
    // Once it runs both, the set moves together.
    node_running(&emulator, "staging", &arm).await;
    let promoted =
        run(emulator.cli().current_dir(&dir).args(["promote", "--to", "prod", "--output", "json"]))
            .success()
            .json();
    assert_eq!(promoted["release"], release.as_str(), "{promoted}");
    for (arch, ami) in &amis {
        let name = format!("/gio/eks/prod/{arch}/node-ami");
        assert_eq!(parameter(&emulator, &name).await.as_deref(), Some(ami.as_str()), "{name}");
    }
}
