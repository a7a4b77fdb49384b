//! A kill at every request. Each mutating command runs once, uninterrupted, through a proxy that
//! counts its requests; then, for a k, it runs fresh through a proxy that sends it SIGKILL once
//! the emulator has acted on its k-th request and before the answer reaches it (the moment a
//! crash costs the most: AWS did it, the process never learnt it), and then runs again to the
//! end. The account must then hold what the uninterrupted run left: the same AMIs (names, state,
//! tags, devices, launch permissions), snapshots (state, size, tags, volume permissions),
//! instances and volumes in every region, and the same SSM values. That is the promise of
//! ARCHITECTURE.md ("Apply is re-runnable"): a run killed at any request and started again
//! finishes the job, duplicating nothing and leaking nothing.
//!
//! A build differs in what "again" means: each build makes a new release, so building again after
//! a build killed past its CreateImage would rightly make a second one. Its promise (README: gc
//! removes "what killed builds left") is that `gc` after the kill leaves nothing of the build or
//! its complete release; when nothing, building again leaves what an uninterrupted build leaves.
//!
//! An upload killed mid-transfer is the one documented exception: its pending snapshot is left
//! to AWS, which deletes it when StartSnapshot's timeout runs out (`left_to_aws`).
//!
//! The tests kill at a sample of k (the first, a middle and the last mutating request of the
//! counting run); `kill_table` (run by bench/kill) kills at every k from 1 to N.

use crate::support;

use aws_sdk_ec2::types::{ImageAttributeName, SnapshotAttributeName};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::faults::{FaultProxy, Faults};
use support::{finish, register_root_image, run, Emulator, Run, REGION};

/// The regions `copy` copies to; every region's inventory is part of an end state.
const COPY_REGIONS: [&str; 2] = ["us-east-1", "ap-southeast-2"];
/// How often a build's guest (played by the test) looks for a builder to power off.
const GUEST_POLL: Duration = Duration::from_millis(100);
/// Tags whose values differ between any two runs (clock, process, random build id, the image
/// file's modification time): only their presence is compared.
const VOLATILE_TAGS: [&str; 6] = [
    "gio-ami:created-at",
    "gio-ami:upload-of",
    "gio-ami:build-id",
    "gio-ami:build-host",
    "gio-ami:build-pid",
    "gio-ami:build-deadline",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Wipe,
    Prune,
    Gc,
    DisksAddChain,
    Build,
    Copy,
    Share,
    Publish,
    Upload,
    Restore,
    Archive,
    Unarchive,
}

const VERBS: [Verb; 12] = [
    Verb::Wipe,
    Verb::Prune,
    Verb::Gc,
    Verb::DisksAddChain,
    Verb::Build,
    Verb::Copy,
    Verb::Share,
    Verb::Publish,
    Verb::Upload,
    Verb::Restore,
    Verb::Archive,
    Verb::Unarchive,
];

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Wipe => "wipe",
            Verb::Prune => "prune",
            Verb::Gc => "gc",
            Verb::DisksAddChain => "disks add --chain",
            Verb::Build => "build",
            Verb::Copy => "copy",
            Verb::Share => "share",
            Verb::Publish => "publish",
            Verb::Upload => "upload --register",
            Verb::Restore => "restore",
            Verb::Archive => "archive",
            Verb::Unarchive => "unarchive",
        }
    }
}

/// A fresh account arranged for one command, and that command.
struct Scene {
    emulator: Emulator,
    verb: Verb,
    /// gio-ami's arguments, run in `dir`.
    args: Vec<String>,
    dir: PathBuf,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// A directory of its own for each scene: tests run in parallel, and two scenes of one command
/// sharing one would rewrite each other's files (an upload's image, its modification time).
fn scratch(name: &str) -> PathBuf {
    static SCENES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let scene = SCENES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kill-{name}-{}-{scene}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn arrange(verb: Verb) -> Scene {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let mut dir = scratch(&verb.name().replace([' ', '-'], ""));
    let args = match verb {
        Verb::Wipe => {
            let unused = register_root_image(&ec2, "gio-node-old").await;
            let used = register_root_image(&ec2, "gio-node-live").await;
            support::image_instance_with_extra_disk(&ec2, &used, "gio-node-live-2").await;
            strings(&["wipe", &unused, "--yes"])
        }
        Verb::Prune => {
            support::releases_a_second_apart::<2>(&emulator, &ec2, "gio-node-").await;
            strings(&["prune", "--release-prefix", "gio-node-", "--keep", "1", "--yes"])
        }
        Verb::Gc => {
            // What a build killed while its guest provisions leaves: a builder and its volumes.
            let mut build = support::spawn_build(emulator.cli(), &support::spec_path("kill-gc"));
            support::running_builder(&ec2, &mut build).await.expect("a builder");
            build.kill().unwrap();
            support::wait(&mut build);
            strings(&["gc", "--yes"])
        }
        Verb::DisksAddChain => {
            let source = register_root_image(&ec2, "gio-node-1.31").await;
            strings(&["disks", "add", &source, "--chain", "--disk", "/dev/xvdb=50", "--disk", "/dev/xvdc=20"])
        }
        Verb::Build => {
            let spec = support::spec_path("kill-build");
            dir = spec.parent().unwrap().to_path_buf();
            strings(&["build", "gio-ami.toml"])
        }
        Verb::Copy => {
            let ami = register_root_image(&ec2, "gio-node-7").await;
            run(emulator.cli().args(["adopt", &ami, "--contact", "ops@example.org"])).success();
            strings(&["copy", &ami, "--to", COPY_REGIONS[0], "--to", COPY_REGIONS[1]])
        }
        Verb::Share => {
            let ami = register_root_image(&ec2, "gio-node-7").await;
            strings(&["share", &ami, "--account", "111122223333"])
        }
        Verb::Publish => {
            support::write_cluster_spec(&dir);
            let first = register_root_image(&ec2, "gio-node-1").await;
            let second = register_root_image(&ec2, "gio-node-2").await;
            run(emulator.cli().current_dir(&dir).args(["publish", &first, "--cluster", "prod"])).success();
            strings(&["publish", &second, "--cluster", "prod"])
        }
        Verb::Upload => {
            // 8 MiB with data in 4 of its 16 blocks: the zero blocks are skipped, the rest sent.
            let image = support::write_image(&dir, "disk.raw", 16 * support::BLOCK, &[0, 3, 7, 12]);
            strings(&["upload", image.to_str().unwrap(), "--register", "--name", "gio-node-uploaded"])
        }
        Verb::Restore => {
            let (ami, _) = support::tagged_release(&ec2, "gio-node-wiped").await;
            run(emulator.cli().args(["recycle-bin", "--retain", "7d"])).success();
            support::recycle_bin_active(&emulator).await;
            run(emulator.cli().args(["wipe", &ami, "--yes"])).success();
            strings(&["restore", &ami])
        }
        Verb::Archive => {
            let (ami, _) = support::tagged_release(&ec2, "gio-node-rollback").await;
            strings(&["archive", &ami, "--yes"])
        }
        Verb::Unarchive => {
            // Archived, then (on the emulator's clock) archival done, restores started and done.
            let (ami, _) = support::tagged_release(&ec2, "gio-node-archived").await;
            run(emulator.cli().args(["archive", &ami, "--yes"])).success();
            emulator.set_clock("7h");
            run(emulator.cli().args(["unarchive", &ami])).success();
            emulator.set_clock("80h");
            strings(&["unarchive", &ami])
        }
    };
    Scene { emulator, verb, args, dir }
}

/// Runs the scene's command through `cli` to its end (or its kill), playing the guest of a
/// build: a builder that runs is powered off, as a provisioned guest does.
async fn perform(scene: &Scene, mut cli: Command, proxy: Option<&FaultProxy>) -> Run {
    let child = cli
        .args(&scene.args)
        .current_dir(&scene.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(proxy) = proxy {
        proxy.aim(child.id());
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(finish(child)));
    let ec2 = scene.emulator.ec2().await;
    loop {
        match rx.try_recv() {
            Ok(run) => return run,
            Err(mpsc::TryRecvError::Disconnected) => panic!("gio-ami panicked (see above)"),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if scene.verb == Verb::Build {
            if let Some(builder) = support::running_builder_now(&ec2).await {
                ec2.stop_instances().instance_ids(builder).send().await.unwrap();
            }
        }
        tokio::time::sleep(GUEST_POLL).await;
    }
}

fn succeeded(what: &str, run: Run) -> Result<(), String> {
    match run.status.success() {
        true => Ok(()),
        false => Err(format!("{what} failed ({}):\n{}", run.status, run.stderr)),
    }
}

/// After a kill, what finishes the job (see the module's comment).
async fn recover(scene: &Scene) -> Result<(), String> {
    if scene.verb != Verb::Build {
        return succeeded("the re-run", perform(scene, scene.emulator.cli(), None).await);
    }
    succeeded("gc", run(scene.emulator.cli().args(["gc", "--yes"])))?;
    match support::releases(&scene.emulator.ec2().await).await == 0 {
        true => succeeded("the build again", perform(scene, scene.emulator.cli(), None).await),
        false => Ok(()),
    }
}

/// The account's end state in every region, one sorted line per resource, with ids replaced by
/// what they stand for (two emulators never give the same ids): AMIs by name, snapshots and
/// instances by what they hold, SSM parameters by the names of the AMIs they held.
async fn end_state(emulator: &Emulator) -> Vec<String> {
    let mut names = BTreeMap::new();
    let mut clients = Vec::new();
    for region in [REGION, COPY_REGIONS[0], COPY_REGIONS[1]] {
        let ec2 = aws_sdk_ec2::Client::new(&emulator.config(region).await);
        let images = ec2.describe_images().owners("self").send().await.unwrap().images().to_vec();
        for image in &images {
            names.insert(image.image_id().unwrap().to_string(), image.name().unwrap_or_default().to_string());
        }
        clients.push((region, ec2, images));
    }
    let named = |value: &str| match names.get(value) {
        Some(name) => format!("<{name}>"),
        None if value.starts_with("ami-") || value.starts_with("snap-") || value.starts_with("i-") => {
            "<id>".into()
        }
        None => value.to_string(),
    };
    let tags = |tags: &[aws_sdk_ec2::types::Tag]| {
        let mut pairs: Vec<String> = tags
            .iter()
            .map(|t| {
                let key = t.key().unwrap_or_default();
                let value = if VOLATILE_TAGS.contains(&key) {
                    "*".into()
                } else {
                    named(t.value().unwrap_or_default())
                };
                format!("{key}={value}")
            })
            .collect();
        pairs.sort();
        pairs.join(",")
    };
    let mut lines = Vec::new();
    for (region, ec2, images) in &clients {
        for image in images {
            let id = image.image_id().unwrap();
            let devices: Vec<String> = image
                .block_device_mappings()
                .iter()
                .map(|m| {
                    format!(
                        "{}:{}",
                        m.device_name().unwrap_or_default(),
                        m.ebs().and_then(|e| e.volume_size()).unwrap_or_default()
                    )
                })
                .collect();
            let permissions = ec2
                .describe_image_attribute()
                .image_id(id)
                .attribute(ImageAttributeName::LaunchPermission)
                .send()
                .await
                .unwrap();
            let mut accounts: Vec<&str> =
                permissions.launch_permissions().iter().filter_map(|p| p.user_id()).collect();
            accounts.sort();
            let state = image.state().map(|s| s.as_str()).unwrap_or_default();
            lines.push(format!(
                "{region} image {} {state} devices {devices:?} shared {accounts:?} [{}]",
                image.name().unwrap_or_default(),
                tags(image.tags())
            ));
        }
        for snapshot in ec2.describe_snapshots().owner_ids("self").send().await.unwrap().snapshots() {
            let id = snapshot.snapshot_id().unwrap();
            let permissions = ec2
                .describe_snapshot_attribute()
                .snapshot_id(id)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .send()
                .await
                .unwrap();
            let mut accounts: Vec<&str> =
                permissions.create_volume_permissions().iter().filter_map(|p| p.user_id()).collect();
            accounts.sort();
            let state = snapshot.state().map(|s| s.as_str()).unwrap_or_default();
            lines.push(format!(
                "{region} snapshot {state} {} GiB shared {accounts:?} [{}]",
                snapshot.volume_size().unwrap_or_default(),
                tags(snapshot.tags())
            ));
        }
        let reservations = ec2.describe_instances().send().await.unwrap();
        for instance in reservations.reservations().iter().flat_map(|r| r.instances()) {
            let state = instance.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or_default();
            if state != "terminated" {
                lines.push(format!("{region} instance {state} [{}]", tags(instance.tags())));
            }
        }
        for volume in ec2.describe_volumes().send().await.unwrap().volumes() {
            lines.push(format!(
                "{region} volume {} GiB [{}]",
                volume.size().unwrap_or_default(),
                tags(volume.tags())
            ));
        }
    }
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    for parameter in ssm.describe_parameters().send().await.unwrap().parameters() {
        let name = parameter.name().unwrap();
        // An archive's record is named after the AMI and holds its registration (ids included).
        if let Some(ami) = name.strip_prefix("/gio-ami/archived/") {
            lines.push(format!("archive record of {}", named(ami)));
            continue;
        }
        let history = ssm.get_parameter_history().name(name).send().await.unwrap();
        // A retried PutParameter writes a version again, as on AWS: only the values count.
        let mut values: Vec<String> =
            history.parameters().iter().map(|p| named(p.value().unwrap_or_default())).collect();
        values.dedup();
        lines.push(format!("parameter {name} held {values:?}"));
    }
    lines.sort();
    lines
}

/// An uninterrupted run: the end state it leaves, and the operation of each of its requests.
async fn reference(verb: Verb) -> (Vec<String>, Vec<String>) {
    let scene = arrange(verb).await;
    let proxy = scene.emulator.proxied(Faults::new(0.0, 0));
    let out = perform(&scene, proxy.cli(), None).await;
    succeeded(verb.name(), out).unwrap();
    (end_state(&scene.emulator).await, proxy.tally().operations)
}

/// How a run killed after request k ended up.
struct Killed {
    /// The operation of request k, or None if the run ended with fewer requests (waits poll
    /// more or less often from run to run).
    operation: Option<String>,
    /// The re-run finished and the end state is the uninterrupted run's, or what differs.
    converged: Result<(), String>,
}

async fn kill_at(verb: Verb, k: usize, reference: &[String]) -> Killed {
    let scene = arrange(verb).await;
    let proxy = FaultProxy::killing(&scene.emulator.endpoint, k);
    let out = perform(&scene, proxy.cli(), Some(&proxy)).await;
    let tally = proxy.tally();
    drop(proxy);
    let operation = tally.killed.then(|| tally.operations[k - 1].clone());
    if operation.is_some() && out.status.signal() != Some(rustix::process::Signal::KILL.as_raw()) {
        let converged =
            Err(format!("killed after request {k}, yet it ended with {}:\n{}", out.status, out.stderr));
        return Killed { operation, converged };
    }
    let converged = match recover(&scene).await {
        Err(e) => Err(e),
        Ok(()) => {
            let mut found = end_state(&scene.emulator).await;
            found.retain(|line| !left_to_aws(verb, line));
            match found == reference {
                true => Ok(()),
                false => Err(difference(reference, &found)),
            }
        }
    };
    Killed { operation, converged }
}

/// An upload killed between StartSnapshot and CompleteSnapshot leaves its snapshot pending, to
/// AWS: it deletes an unfinished snapshot once StartSnapshot's timeout runs out (see
/// transfer/upload.rs), a time the emulator's clock never reaches in a test.
fn left_to_aws(verb: Verb, line: &str) -> bool {
    verb == Verb::Upload && line.contains(" snapshot pending ")
}

/// The lines one state has more of than the other, either way (a duplicate counts).
fn difference(expected: &[String], found: &[String]) -> String {
    fn count(lines: &[String]) -> BTreeMap<&str, i32> {
        lines.iter().fold(BTreeMap::new(), |mut counts, line| {
            *counts.entry(line.as_str()).or_default() += 1;
            counts
        })
    }
    let (expected, found) = (count(expected), count(found));
    let surplus = |of: &BTreeMap<&str, i32>, over: &BTreeMap<&str, i32>| -> Vec<String> {
        of.iter()
            .filter(|(line, n)| **n > over.get(*line).copied().unwrap_or(0))
            .map(|(line, n)| format!("{n}× {line}"))
            .collect()
    };
    format!(
        "missing {:#?}\nextra (leaked or duplicated) {:#?}",
        surplus(&expected, &found),
        surplus(&found, &expected)
    )
}

/// Reads leave nothing to converge: a kill after one is the same as a kill before the next.
fn mutating(operation: &str) -> bool {
    !["Describe", "Get", "List", "GET "].iter().any(|read| operation.starts_with(read))
}

/// The first, a middle and the last mutating request (numbered from 1).
fn sample(operations: &[String]) -> Vec<usize> {
    let changes: Vec<usize> =
        operations.iter().enumerate().filter(|(_, o)| mutating(o)).map(|(i, _)| i + 1).collect();
    assert!(!changes.is_empty(), "no mutating request among {operations:?}");
    let mut picked = vec![changes[0], changes[changes.len() / 2], changes[changes.len() - 1]];
    picked.dedup();
    picked
}

async fn converges_after_a_kill_at_each_sampled_request(verb: Verb) {
    let (reference, operations) = reference(verb).await;
    converges_after_kills_at(verb, &reference, &operations, &sample(&operations)).await;
}

async fn converges_after_kills_at(verb: Verb, reference: &[String], operations: &[String], ks: &[usize]) {
    for &k in ks {
        let killed = kill_at(verb, k, reference).await;
        let Some(operation) = killed.operation else {
            // Waits poll more or less often from run to run, so a run can end before request k
            // (the reference's last one, say): it ran uninterrupted, and must still end as the
            // reference did.
            if let Err(what) = killed.converged {
                panic!(
                    "{} ended before request {k} ({}) and then differs:\n{what}",
                    verb.name(),
                    operations[k - 1]
                );
            }
            eprintln!(
                "{}: this run ended before request {k} ({}): checked as an uninterrupted run",
                verb.name(),
                operations[k - 1]
            );
            continue;
        };
        if let Err(what) = killed.converged {
            panic!("{} killed after request {k} ({operation}), then re-run:\n{what}", verb.name());
        }
    }
}

#[tokio::test]
async fn wipe_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Wipe).await;
}

#[tokio::test]
async fn prune_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Prune).await;
}

#[tokio::test]
async fn gc_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Gc).await;
}

#[tokio::test]
async fn disks_add_chain_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::DisksAddChain).await;
}

#[tokio::test]
async fn build_killed_at_any_request_then_gc_and_build_converge() {
    converges_after_a_kill_at_each_sampled_request(Verb::Build).await;
}

#[tokio::test]
async fn copy_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Copy).await;
}

#[tokio::test]
async fn share_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Share).await;
}

#[tokio::test]
async fn publish_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Publish).await;
}

#[tokio::test]
async fn upload_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Upload).await;
}

#[tokio::test]
async fn restore_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Restore).await;
}

#[tokio::test]
async fn archive_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Archive).await;
}

#[tokio::test]
async fn unarchive_killed_at_any_request_then_rerun_converges() {
    converges_after_a_kill_at_each_sampled_request(Verb::Unarchive).await;
}

/// Where the sample does not look and an upload once leaked: after CompleteSnapshot, before
/// RegisterImage. The re-run must find the finished snapshot, not upload a second one.
#[tokio::test]
async fn upload_killed_once_its_snapshot_is_complete_then_rerun_converges() {
    let (reference, operations) = reference(Verb::Upload).await;
    // EBS direct is REST: CompleteSnapshot is `POST /snapshots/completion/{SnapshotId}`.
    let completed = 1 + operations
        .iter()
        .position(|o| o.starts_with("POST /snapshots/completion/"))
        .expect("an upload completes its snapshot");
    converges_after_kills_at(Verb::Upload, &reference, &operations, &[completed, completed + 1]).await;
}

/// `bench/kill`: per command, N requests, and for every k in 1..=N whether a run killed after
/// request k and re-run converged. KILL_COMMANDS (comma-separated names, default all) narrows it.
#[tokio::test]
#[ignore = "a benchmark: run by bench/kill"]
async fn kill_table() {
    let only = std::env::var("KILL_COMMANDS").unwrap_or_default();
    println!("| command | N | converged | leaked | not reached | leaked at k (operation) |");
    println!("|---|---|---|---|---|---|");
    for verb in VERBS.into_iter().filter(|v| only.is_empty() || only.split(',').any(|o| o.trim() == v.name()))
    {
        let (reference, operations) = reference(verb).await;
        let (mut converged, mut leaked, mut unreached) = (0, Vec::new(), 0);
        for k in 1..=operations.len() {
            let killed = kill_at(verb, k, &reference).await;
            match (&killed.operation, killed.converged) {
                (None, Ok(())) => unreached += 1,
                (Some(_), Ok(())) => converged += 1,
                (operation, Err(what)) => {
                    let operation = operation.as_deref().unwrap_or("not reached");
                    eprintln!("{} killed after request {k} ({operation}): LEAKED {what}", verb.name());
                    leaked.push(format!("{k} ({operation})"));
                }
            }
        }
        println!(
            "| {} | {} | {converged} | {} | {unreached} | {} |",
            verb.name(),
            operations.len(),
            leaked.len(),
            leaked.join(", ")
        );
    }
}
