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
    let history = run(emulator.cli().current_dir(&dir).args(["history", "--output", "json"])).success();
    support::reports::assert_valid("history", &history.stdout);
    let history = history.json();
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
        run(emulator.cli().current_dir(&dir).args(["promote", "--to", "prod", "--output", "json"])).success();
    support::reports::assert_valid("promote", &promoted.stdout);
    let promoted = promoted.json();
    assert_eq!(promoted["release"], release.as_str(), "{promoted}");
    for (arch, ami) in &amis {
        let name = format!("/gio/eks/prod/{arch}/node-ami");
        assert_eq!(parameter(&emulator, &name).await.as_deref(), Some(ami.as_str()), "{name}");
    }
}

#[tokio::test]
async fn a_failed_variant_fails_the_release_and_a_rerun_builds_only_it() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir = project("rerun");
    let spec = dir.join("gio-ami.toml");
    let good = std::fs::read_to_string(&spec).unwrap();
    // The arm64 builder names an instance profile the account does not have: its launch fails.
    let broken = good.replace(
        "instance_type = \"t4g.medium\"",
        "instance_type = \"t4g.medium\"\niam_instance_profile = \"gio-missing\"",
    );
    std::fs::write(&spec, &broken).unwrap();
    let mut command = emulator.cli();
    command.env("GIO_AMI_AUTHOR", "Ada");
    let failed = guests_power_off(&emulator, support::spawn_build(command, &spec)).await;
    assert!(!failed.status.success(), "a failed variant fails the release");
    let report: Value = serde_json::from_slice(&failed.stdout).unwrap();
    let outcomes = report["outcomes"].as_array().unwrap();
    assert_eq!(outcomes[0]["status"], "done", "{report}");
    let why = outcomes[1]["status"]["failed"].as_str().unwrap_or_default();
    assert!(why.contains("Instance profile gio-missing not found"), "{report}");
    let release = report["release"].as_str().unwrap().to_string();
    let own = ec2.describe_images().owners("self").send().await.unwrap();
    let names: Vec<&str> = own.images().iter().filter_map(|i| i.name()).collect();
    assert_eq!(names, [format!("{release}-x86_64-standard")], "the variant that built is kept");

    std::fs::write(&spec, &good).unwrap();
    let rerun = build(&emulator, &dir).await;
    assert_eq!(rerun["release"], release.as_str(), "the same release, finished");
    assert_eq!(rerun["variants"].as_array().unwrap().len(), 1, "only the missing variant is built: {rerun}");
    assert_eq!(rerun["made"][0]["arch"], "x86_64", "{rerun}");
    let own = ec2.describe_images().owners("self").send().await.unwrap();
    let mut names: Vec<&str> = own.images().iter().filter_map(|i| i.name()).collect();
    names.sort_unstable();
    assert_eq!(names, [format!("{release}-arm64-standard"), format!("{release}-x86_64-standard")]);
}

/// A release set registered the way a build leaves one: `release`-ARCH-standard per
/// architecture, each with its own 8 GiB root, tagged; made `ago` seconds back.
async fn registered_set(emulator: &Emulator, release: &str, ago: u32) -> [String; 2] {
    use aws_sdk_ec2::types::{ArchitectureValues, Tag};
    let ec2 = emulator.ec2().await;
    let _then = emulator.backdated(ago);
    let mut amis = Vec::new();
    for (arch, value) in [("x86_64", ArchitectureValues::X8664), ("arm64", ArchitectureValues::Arm64)] {
        let snapshot = support::new_snapshot(&ec2, 8, &format!("root of {release} {arch}")).await;
        let name = format!("{release}-{arch}-standard");
        let ami = support::register_image_of(&ec2, &name, value, &[("/dev/xvda", &snapshot, 8)]).await;
        let tags = [("gio-ami:release", release), ("gio-ami:arch", arch), ("gio-ami:variant", "standard")];
        let mut request = ec2.create_tags().resources(&ami).resources(&snapshot);
        for (key, value) in tags {
            request = request.tags(Tag::builder().key(key).value(value).build());
        }
        request.send().await.unwrap();
        amis.push(ami);
    }
    amis.try_into().unwrap()
}

async fn exists(emulator: &Emulator, ami: &str) -> bool {
    let ec2 = emulator.ec2().await;
    let images = ec2.describe_images().owners("self").send().await.unwrap();
    images.images().iter().any(|i| i.image_id() == Some(ami))
}

async fn hold(emulator: &Emulator, parameter_name: &str, ami: &str) {
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    ssm.put_parameter()
        .name(parameter_name)
        .value(ami)
        .data_type("aws:ec2:image")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    // SSM validates an aws:ec2:image value before the parameter shows (asynchronously, on AWS).
    let deadline = Instant::now() + Duration::from_secs(10);
    while parameter(emulator, parameter_name).await.as_deref() != Some(ami) {
        assert!(Instant::now() < deadline, "{parameter_name} never held {ami}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn prune_keeps_sets_whole_and_one_published_variant_is_not_wiped() {
    let emulator = Emulator::start();
    let r1 = registered_set(&emulator, "gio-set-1", 3).await;
    let r2 = registered_set(&emulator, "gio-set-2", 2).await;
    let r3 = registered_set(&emulator, "gio-set-3", 1).await;
    hold(&emulator, "/gio/eks/prod/arm64/node-ami", &r3[1]).await;

    let wipe = run(emulator.cli().args(["wipe", &r3[0], "--yes"])).failure();
    assert!(
        wipe.stderr.contains(&format!("published through /gio/eks/prod/arm64/node-ami ({})", r3[1])),
        "{}",
        wipe.stderr
    );
    assert!(exists(&emulator, &r3[0]).await, "refused: nothing wiped");

    // gio-set-1's x86_64 AMI is still in use: its arm64 sibling stays with it.
    hold(&emulator, "/gio/eks/old/node-ami", &r1[0]).await;
    let pruned = run(emulator.cli().args([
        "prune",
        "--keep",
        "1",
        "--release-prefix",
        "gio-set-",
        "--yes",
        "--output",
        "json",
    ]))
    .success()
    .json();
    for gone in &r2 {
        assert!(!exists(&emulator, gone).await, "{gone}: the older release goes, both of its AMIs: {pruned}");
    }
    for kept in r1.iter().chain(&r3) {
        assert!(exists(&emulator, kept).await, "{kept} stays: {pruned}");
    }
    let outcomes = pruned["outcomes"].as_array().unwrap();
    let why = outcomes
        .iter()
        .find(|o| o["id"] == r1[1].as_str())
        .map(|o| o["why"].as_str().unwrap())
        .unwrap_or_default();
    assert!(why.starts_with("kept: release set gio-set-1 goes whole"), "{pruned}");
}

#[tokio::test]
async fn release_names_the_whole_set_for_every_verb() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir = project("verbs");
    let r1 = registered_set(&emulator, "gio-set-1", 2).await;
    let r2 = registered_set(&emulator, "gio-set-2", 1).await;
    let cli = |args: &[&str]| run(emulator.cli().current_dir(&dir).args(args).args(["--output", "json"]));

    cli(&["protect", "--release", "gio-set-1", "--yes"]).success();
    cli(&["share", "--release", "gio-set-1", "--account", "111122223333", "--yes"]).success();
    for ami in &r1 {
        let image = ec2.describe_images().image_ids(ami).send().await.unwrap().images()[0].clone();
        assert_eq!(image.deregistration_protection(), Some("enabled-without-cooldown"), "{ami}");
        let grants = ec2
            .describe_image_attribute()
            .image_id(ami)
            .attribute("launchPermission".into())
            .send()
            .await
            .unwrap();
        assert_eq!(grants.launch_permissions()[0].user_id(), Some("111122223333"), "{ami}");
    }
    let cost = cli(&["cost", "--release", "gio-set-1"]).success().json();
    let rows = cost["releases"].as_array().unwrap();
    assert_eq!(
        (rows.len(), rows[0]["amis"].as_array().unwrap().len(), &cost["total_gib"]),
        (1, 2, &serde_json::json!(16)),
        "{cost}"
    );
    let lineage = cli(&["lineage", "--release", "gio-set-1"]).success().json();
    let ids: Vec<&str> = lineage.as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert!(r1.iter().all(|a| ids.contains(&a.as_str())), "{lineage}");
    let outdated = cli(&["outdated", "--release", "gio-set-1"]).success();
    support::reports::assert_valid("outdated", &outdated.stdout);
    let outdated = outdated.json();
    assert_eq!(outdated["amis"].as_array().unwrap().len(), 2, "{outdated}");

    let added = cli(&["disks", "add", "--release", "gio-set-1", "--disk", "/dev/xvdb=10"]).success().json();
    support::reports::assert_valid("disks add", &added.to_string());
    let derived = ec2
        .describe_images()
        .owners("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:gio-ami:release")
                .values("gio-set-1-xvdb")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = derived.images().iter().filter_map(|i| i.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["gio-set-1-xvdb-arm64-standard", "gio-set-1-xvdb-x86_64-standard"], "one new set");

    let copied = cli(&["copy", "--release", "gio-set-1", "--to", "us-east-1"]).success().json();
    support::reports::assert_valid("copy", &copied.to_string());
    let far = aws_sdk_ec2::Client::new(&emulator.config("us-east-1").await);
    let copies = far.describe_images().owners("self").send().await.unwrap();
    assert_eq!(copies.images().len(), 2, "both AMIs copied: {copied}");

    // Publish one set, then the next, then roll the cluster back: every variant goes back.
    cli(&["publish", "--release", "gio-set-1", "--cluster", "staging"]).success();
    let published = cli(&["publish", &r2[0], "--cluster", "staging"]).success().json();
    support::reports::assert_valid("publish", &published.to_string());
    for (arch, ami) in [("x86_64", &r2[0]), ("arm64", &r2[1])] {
        assert_eq!(
            parameter(&emulator, &format!("/gio/eks/staging/{arch}/node-ami")).await.as_deref(),
            Some(ami.as_str())
        );
    }
    cli(&["publish", "--rollback", "--cluster", "staging"]).success();
    for (arch, ami) in [("x86_64", &r1[0]), ("arm64", &r1[1])] {
        assert_eq!(
            parameter(&emulator, &format!("/gio/eks/staging/{arch}/node-ami")).await.as_deref(),
            Some(ami.as_str())
        );
    }
}

#[test]
fn a_bad_three_variant_spec_is_refused_at_check_with_its_place() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sets-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("gio-ami.toml");
    let text =
        "[image]\nname = \"gio-node-{k8s}-{date}-{n}\"\n[base]\nfamily = \"al2023\"\nkubernetes = \"1.31\"\n\
                [build]\ninstance_type = \"t3.medium\"\n\
                [[variants]]\narch = \"x86_64\"\n\
                [[variants]]\narch = \"arm64\"\ninstance_type = \"t4g.medium\"\n\
                [[variants]]\narch = \"x86_64\"\nvariant = \"nvidia\"\ninstance_type = \"g5.xlarge\"\n\
                [clusters.prod]\nregion = \"eu-west-1\"\nssm_parameter = \"/gio/eks/prod/{arch}/node-ami\"\n";
    std::fs::write(&spec, text).unwrap();
    let refused = run(support::bare_cli().arg("check").arg(&spec)).failure();
    let place = format!("{}:19:17: clusters.prod.ssm_parameter:", spec.display());
    assert!(refused.stderr.contains(&place), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "the x86_64/standard and x86_64/nvidia AMIs would both write /gio/eks/prod/x86_64/node-ami"
        ),
        "{}",
        refused.stderr
    );
    std::fs::write(&spec, text.replace("/{arch}/node-ami", "/{arch}/{variant}/node-ami")).unwrap();
    run(support::bare_cli().arg("check").arg(&spec)).success();
}
