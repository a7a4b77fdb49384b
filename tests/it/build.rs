//! init → check → base → build → gc, against the emulator. moto runs no user data, so each
//! test plays the guest itself: it stops the builder instance, as the guest's `shutdown -h now`
//! would once provisioning is done.

use crate::support;

use aws_sdk_ec2::types::Filter;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::{bare_cli, run, Emulator};

const BASE_PARAMETER: &str =
    "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id";

/// A directory holding the native build spec, with `build_keys` added to its `[build]`, and its
/// script.
fn spec_dir(name: &str, build_keys: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("build-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("provision.sh"), "#!/bin/bash\necho provisioning\n").unwrap();
    std::fs::write(
        dir.join("gio-ami.toml"),
        support::with_keys(&support::spec("native-build"), "build", build_keys),
    )
    .unwrap();
    dir
}

/// The builder of the running build, once it exists.
async fn builder(ec2: &aws_sdk_ec2::Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(id) = support::running_builder_now(ec2).await {
            return id;
        }
        assert!(Instant::now() < deadline, "no builder was launched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays the guest: provisioning done, power off.
async fn guest_powers_off(ec2: &aws_sdk_ec2::Client) {
    let instance = builder(ec2).await;
    ec2.stop_instances().instance_ids(instance).send().await.unwrap();
}

/// Starts `gio-ami build` with stderr lines forwarded to a channel.
fn spawn_build(emulator: &Emulator, dir: &Path) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = emulator
        .cli()
        .args(["build", dir.join("gio-ami.toml").to_str().unwrap(), "--output", "json"])
        .env("GIO_AMI_AUTHOR", "Ada")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("never saw `{needle}`; stderr so far:\n{}", seen.join("\n"));
}

/// Everything billable the account holds: live instances, volumes, own snapshots and AMIs.
async fn billable(ec2: &aws_sdk_ec2::Client) -> (Vec<String>, usize, usize, usize) {
    let instances = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    let volumes = ec2.describe_volumes().send().await.unwrap().volumes().len();
    let snapshots = ec2.describe_snapshots().owner_ids("self").send().await.unwrap().snapshots().len();
    let images = ec2.describe_images().owners("self").send().await.unwrap().images().len();
    (instances, volumes, snapshots, images)
}

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

#[test]
fn init_writes_a_spec_that_checks_and_check_points_at_mistakes() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("init-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gio-ami.toml");
    let _ = std::fs::remove_file(&path);
    run(bare_cli().args(["init", path.to_str().unwrap()])).success();
    let again = run(bare_cli().args(["init", path.to_str().unwrap()])).failure();
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let ok = run(bare_cli().args(["check", path.to_str().unwrap()])).success();
    assert!(ok.stdout.contains("valid"), "{}", ok.stdout);

    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("t3.medium\"", "t2.small\"")
        .replace("\"al2023\"", "\"al2025\"");
    std::fs::write(&path, &text).unwrap();
    let bad = run(bare_cli().args(["check", path.to_str().unwrap()])).failure();
    let line = text.lines().position(|l| l.contains("al2025")).unwrap() + 1;
    assert!(bad.stderr.contains(&format!("gio-ami.toml:{line}:10: base.family: unknown value `al2025` (allowed: al2, al2023, bottlerocket)")), "{}", bad.stderr);

    std::fs::write(&path, text.replace("\"al2025\"", "\"al2023\"")).unwrap();
    let warned = run(bare_cli().args(["check", path.to_str().unwrap()])).success();
    assert!(warned.stdout.contains("warning: build.instance_type: t2.small"), "{}", warned.stdout);
}

#[tokio::test]
async fn base_resolves_through_the_public_parameter_and_lists_versions_when_unknown() {
    let emulator = Emulator::start();
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(support::REGION).await);
    let expected =
        ssm.get_parameter().name(BASE_PARAMETER).send().await.unwrap().parameter.unwrap().value.unwrap();
    let out =
        run(emulator.cli().args(["base", "--kubernetes", "1.31", "--family", "al2023", "--output", "json"]))
            .success()
            .json();
    assert_eq!(out["image"]["id"], expected.as_str());
    assert!(out["image"]["name"].as_str().unwrap().contains("1.31"), "{out}");

    let unknown = run(emulator.cli().args(["base", "--kubernetes", "1.99"])).failure();
    assert!(
        unknown.stderr.contains("no EKS-optimized al2023 x86_64 standard AMI for Kubernetes 1.99"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stderr.contains("1.29, 1.30, 1.31, 1.32"), "{}", unknown.stderr);
}

#[tokio::test]
async fn build_makes_a_tagged_ami_with_the_extra_disk_and_leaves_nothing_else() {
    build_makes_a_tagged_ami_with_the_extra_disk_and_leaves_nothing_else_with(Emulator::start()).await;
}

/// The same on an EC2 that shows each change late (the new AMI is not found by id for a moment, tags show late): the first run still finishes.
#[tokio::test]
async fn build_under_lag() {
    build_makes_a_tagged_ami_with_the_extra_disk_and_leaves_nothing_else_with(Emulator::start_lagging(
        support::LAG,
    ))
    .await;
}

async fn build_makes_a_tagged_ami_with_the_extra_disk_and_leaves_nothing_else_with(emulator: Emulator) {
    let ec2 = emulator.ec2().await;
    let dir = spec_dir("ok", "");
    emulator.lagged(true);
    let (child, _stderr) = spawn_build(&emulator, &dir);
    guest_powers_off(&ec2).await;
    let out = support::output_of(child);
    emulator.lagged(false);
    assert!(out.status.success(), "build failed");
    support::reports::assert_valid("build", &String::from_utf8_lossy(&out.stdout));
    let built: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ami = built["ami"].as_str().unwrap();

    let image = ec2.describe_images().image_ids(ami).send().await.unwrap().images()[0].clone();
    let date = &built["name"].as_str().unwrap()["gio-node-1.31-".len()..];
    assert!(date.ends_with("-1") && date.len() == "20261125-1".len(), "{date}");
    let devices: Vec<(&str, i32)> = image
        .block_device_mappings()
        .iter()
        .map(|m| (m.device_name().unwrap(), m.ebs().unwrap().volume_size().unwrap()))
        .collect();
    assert_eq!(devices, [("/dev/xvda", 20), ("/dev/xvdb", 20)]);
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(support::REGION).await);
    let base =
        ssm.get_parameter().name(BASE_PARAMETER).send().await.unwrap().parameter.unwrap().value.unwrap();
    for (key, value) in [
        ("gio-ami:release", built["name"].as_str().unwrap()),
        ("gio-ami:base-ami", base.as_str()),
        ("gio-ami:kubernetes", "1.31"),
        ("gio-ami:family", "al2023"),
        ("gio-ami:author", "Ada"),
        ("gio-ami:contact", "ops@example.org"),
        ("gio-ami:description", "EKS worker node"),
        ("team", "platform"),
    ] {
        assert_eq!(tag(image.tags(), key), Some(value), "{key}");
    }
    let snapshots = ec2.describe_snapshots().owner_ids("self").send().await.unwrap();
    assert_eq!(snapshots.snapshots().len(), 2, "only the AMI's two snapshots: the pre-snapshots are gone");
    for snapshot in snapshots.snapshots() {
        assert_eq!(tag(snapshot.tags(), "gio-ami:release"), built["name"].as_str());
    }
    // The snapshots CreateImage made are read through the EBS direct APIs too; the base is
    // Amazon's, so each starts a lineage of its own and is billed for all it holds.
    let cost = run(emulator.cli().args(["cost", "--exact", "--output", "json"])).success().json();
    let counted = cost["exact"]["snapshots"].as_array().unwrap();
    assert_eq!(counted.len(), 2, "{cost}");
    assert!(counted.iter().all(|b| b["previous"].is_null()), "{cost}");
    assert!(cost["warnings"].as_array().unwrap().is_empty(), "{cost}");
    let (instances, volumes, _, images) = billable(&ec2).await;
    assert_eq!((instances, volumes, images), (vec![], 0, 1), "the builder and its volumes are gone");
    let phases: Vec<&str> =
        built["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert!(phases.iter().any(|p| p.starts_with("pre-snapshotting 2 volume")), "{phases:?}");

    // A second build the same day gets the next number.
    let (child, _stderr) = spawn_build(&emulator, &dir);
    guest_powers_off(&ec2).await;
    let second: serde_json::Value = serde_json::from_slice(&support::output_of(child).stdout).unwrap();
    assert!(second["name"].as_str().unwrap().ends_with("-2"), "{second}");
}

#[tokio::test]
async fn ssm_provisioning_waits_for_the_agent_runs_the_scripts_and_powers_the_builder_off() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    emulator.fixture(&["instance-profile", "--name", "gio-ami-builder"]);
    let dir = spec_dir("ssm", "provision_via = \"ssm\"\niam_instance_profile = \"gio-ami-builder\"");
    // No guest to play: the engine itself stops the builder once Run Command reports success.
    let (child, _stderr) = spawn_build(&emulator, &dir);
    let out = support::output_of(child);
    assert!(out.status.success(), "build failed");
    support::reports::assert_valid("build", &String::from_utf8_lossy(&out.stdout));
    let built: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let image = ec2.describe_images().image_ids(built["ami"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(image.images()[0].state().map(|s| s.as_str()), Some("available"));

    let ssm = aws_sdk_ssm::Client::new(&emulator.config(support::REGION).await);
    let commands = ssm.list_commands().send().await.unwrap();
    let [command] = commands.commands() else { panic!("one Run Command: {commands:?}") };
    assert_eq!(command.document_name(), Some("AWS-RunShellScript"));
    let script = &command.parameters().unwrap()["commands"][0];
    assert!(script.starts_with("set -eEuo pipefail\n") && script.contains("echo provisioning"), "{script}");
    assert!(!script.contains("shutdown"), "the engine powers off, after checking the outcome: {script}");
    let (instances, volumes, snapshots, images) = billable(&ec2).await;
    assert_eq!((instances, volumes, snapshots, images), (vec![], 0, 2, 1), "only the AMI and its snapshots");

    // Until the agent is known to be online nothing is sent; a build that cannot learn it
    // fails and cleans up.
    let unknowable = support::faults::Faults::new(1.0, 7).only(&["DescribeInstanceInformation"]);
    let proxy = emulator.proxied(unknowable.kinds(&[support::faults::Fault::Unavailable]));
    let failed = run(proxy
        .cli()
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(["build", dir.join("gio-ami.toml").to_str().unwrap()]))
    .failure();
    assert!(failed.stderr.contains("DescribeInstanceInformation"), "{}", failed.stderr);
    assert_eq!(ssm.list_commands().send().await.unwrap().commands().len(), 1, "no second Run Command");
    assert_eq!(billable(&ec2).await, (vec![], 0, 2, 1), "the failed build left nothing");
}

#[tokio::test]
async fn a_disabled_base_ami_is_refused_before_any_builder_is_launched() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let base = support::register_root_image(&ec2, "golden-base").await;
    ec2.disable_image().image_id(&base).send().await.unwrap();
    let spec = spec_dir("disabled-base", "").join("gio-ami.toml");
    let text =
        support::with_keys(&std::fs::read_to_string(&spec).unwrap(), "base", &format!("ami = \"{base}\""));
    std::fs::write(&spec, text).unwrap();

    let out = run(emulator.cli().args(["build", spec.to_str().unwrap()])).failure();
    assert!(out.stderr.contains(&format!("the base AMI {base} (golden-base) is disabled")), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("aws ec2 enable-image --image-id {base}")), "{}", out.stderr);
    let instances = ec2.describe_instances().send().await.unwrap();
    assert!(instances.reservations().is_empty(), "RunInstances was never called: {instances:?}");
}

#[tokio::test]
async fn a_builder_that_stops_before_its_agent_registers_fails_the_build_at_once() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    emulator.fixture(&["instance-profile", "--name", "gio-ami-builder"]);
    let dir = spec_dir(
        "ssm-down",
        "provision_via = \"ssm\"\niam_instance_profile = \"gio-ami-builder\"\ntimeout = \"60s\"",
    );
    // The engine's first look at Systems Manager is held past the client's timeout and retried:
    // time for the builder to go down before its agent is seen, as a guest that fails to boot does.
    // Systems Manager then no longer lists it, whatever the wait.
    let first_look_slow = support::faults::Faults::new(1.0, 7)
        .only(&["DescribeInstanceInformation"])
        .kinds(&[support::faults::Fault::Slow])
        .at_most(1);
    let proxy = emulator.proxied(first_look_slow);
    let started = Instant::now();
    let child = proxy
        .cli()
        .args(["build", dir.join("gio-ami.toml").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let instance = builder(&ec2).await;
    ec2.stop_instances().instance_ids(&instance).send().await.unwrap();
    let out = support::output_of(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("the builder {instance} is stopped and its SSM Agent never registered")),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "at once, not at the 60 s deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(billable(&ec2).await, (vec![], 0, 0, 0), "the failed build left nothing");
}

#[tokio::test]
async fn ctrl_c_while_the_guest_provisions_leaves_nothing_billable() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (mut child, stderr) = spawn_build(&emulator, &spec_dir("int", ""));
    wait_for_line(&stderr, "to provision itself and power off");
    builder(&ec2).await;
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = support::wait(&mut child);
    assert_eq!(status.code(), Some(1));
    let said: Vec<String> = stderr.iter().collect();
    let said = said.join("\n");
    assert!(said.contains("interrupted by Ctrl-C") && said.contains("removed i-"), "{said}");
    let (instances, volumes, snapshots, images) = billable(&ec2).await;
    assert_eq!((instances, volumes, snapshots, images), (vec![], 0, 0, 0));
}

#[tokio::test]
async fn a_guest_that_never_powers_off_times_out_and_is_cleaned_up() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (child, stderr) = spawn_build(&emulator, &spec_dir("timeout", "timeout = \"3s\""));
    let out = support::output_of(child);
    assert_eq!(out.status.code(), Some(1));
    let said: Vec<String> = stderr.iter().collect();
    let said = said.join("\n");
    assert!(said.contains("gave up waiting for the builder") && said.contains("removed i-"), "{said}");
    let (instances, volumes, snapshots, images) = billable(&ec2).await;
    assert_eq!((instances, volumes, snapshots, images), (vec![], 0, 0, 0));
}

#[tokio::test]
async fn gc_removes_what_a_killed_build_left_and_spares_a_live_one() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir = spec_dir("kill", "");
    let (mut child, stderr) = spawn_build(&emulator, &dir);
    wait_for_line(&stderr, "to provision itself and power off");
    let killed = builder(&ec2).await;

    // While the build lives, gc leaves it alone.
    let live = run(emulator.cli().args(["gc", "--output", "json"])).success().json();
    assert_eq!(live["plan"]["actions"][0]["action"], "refuse", "{live}");
    assert_eq!(billable(&ec2).await.0, vec![killed.clone()]);

    child.kill().unwrap(); // SIGKILL: no clean-up is possible
    support::wait(&mut child);
    let plan = run(emulator.cli().args(["gc", "--dry-run", "--output", "json"])).success().json();
    assert_eq!(plan["plan"]["actions"][0]["action"], "terminate_instance", "{plan}");
    assert_eq!(billable(&ec2).await.0, vec![killed.clone()], "dry run removes nothing");
    run(emulator.cli().arg("gc")).success();
    let (instances, volumes, snapshots, images) = billable(&ec2).await;
    assert_eq!((instances, volumes, snapshots, images), (vec![], 0, 0, 0));
}
