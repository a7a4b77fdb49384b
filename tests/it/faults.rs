//! Reliability under faults: each command runs through the fault proxy (10% of requests
//! throttled, 503, reset before or after the emulator acted, or answered past the timeout) for
//! several seeds, then once with half of its requests failing, and must
//! either finish or fail with one clean error. Either way, the emulator's inventory, read
//! directly, holds exactly what that outcome should leave: nothing leaks.

use crate::support;

use aws_sdk_ec2::types::Filter;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::faults::{Fault, Faults, Tally};
use support::{finish, run, running_builder, spawn_build, spec_path, Emulator, Run, PARAMETER};

const RATE: f64 = 0.10;
/// Every other request failing: far past any real outage, and still nothing may leak.
const HALF: f64 = 0.5;
/// Seeds whose first few requests draw a fault, so even a command of a few requests is hit.
const SEEDS: [u64; 3] = [7, 10, 14];

/// Everything billable in the account, counted directly at the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Inventory {
    instances: usize,
    volumes: usize,
    snapshots: usize,
    images: usize,
}

impl Inventory {
    fn of(instances: usize, volumes: usize, snapshots: usize, images: usize) -> Self {
        Inventory { instances, volumes, snapshots, images }
    }
}

async fn inventory(ec2: &aws_sdk_ec2::Client) -> Inventory {
    let alive = Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .build();
    let instances = ec2.describe_instances().filters(alive).send().await.unwrap();
    Inventory {
        instances: instances.reservations().iter().map(|r| r.instances().len()).sum(),
        volumes: ec2.describe_volumes().send().await.unwrap().volumes().len(),
        snapshots: ec2.describe_snapshots().owner_ids("self").send().await.unwrap().snapshots().len(),
        images: ec2.describe_images().owners("self").send().await.unwrap().images().len(),
    }
}

/// How one run through faults ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Completed,
    /// Exit 1 with one error, and the inventory is what a failure should leave.
    CleanlyFailed,
    /// Anything else: the inventory differs from what the outcome should leave, or the
    /// failure was not clean. Says what.
    Leaked(String),
}

/// Judges a run by what it left: `fits(completed, &found)` says whether that is what the
/// outcome should leave.
fn verdict<T: std::fmt::Debug>(run: &Run, found: T, fits: impl Fn(bool, &T) -> bool) -> Outcome {
    let completed = run.status.success();
    if !completed && (run.status.code() != Some(1) || !run.stderr.contains("error")) {
        return Outcome::Leaked(format!("not a clean failure ({}):\n{}", run.status, run.stderr));
    }
    match (fits(completed, &found), completed) {
        (true, true) => Outcome::Completed,
        (true, false) => Outcome::CleanlyFailed,
        (false, _) => Outcome::Leaked(format!("found {found:?} after {}:\n{}", run.status, run.stderr)),
    }
}

/// Judges a run: `expected(completed)` is what the inventory must hold after it.
async fn judge(ec2: &aws_sdk_ec2::Client, run: &Run, expected: impl Fn(bool) -> Inventory) -> Outcome {
    verdict(run, inventory(ec2).await, |completed, found| *found == expected(completed))
}

/// One run of a command through faults: how it ended, and what the proxy saw and did.
type Trial = (Outcome, Tally);

async fn disks_add(seed: u64, rate: f64) -> Trial {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let source = support::register_root_image(&ec2, "gio-node-1.31").await;
    let proxy = emulator.proxied(Faults::new(rate, seed));
    let out = run(proxy.cli().args([
        "disks",
        "add",
        &source,
        "--disk",
        "/dev/xvdb=50",
        "--disk",
        "/dev/xvdc=20",
        "--output",
        "json",
    ]));
    // New empty disks need no snapshot: only the root's stays, shared by both AMIs.
    let outcome = judge(&ec2, &out, |done| Inventory::of(0, 0, 1, if done { 2 } else { 1 })).await;
    (outcome, proxy.tally())
}

async fn wipe(seed: u64, rate: f64) -> Trial {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let unused = support::register_root_image(&ec2, "gio-node-old").await;
    let used = support::register_root_image(&ec2, "gio-node-live").await;
    support::image_instance_with_extra_disk(&ec2, &used, "gio-node-live-2").await;
    let before = inventory(&ec2).await;
    let proxy = emulator.proxied(Faults::new(rate, seed));
    let out = run(proxy.cli().args(["wipe", &unused, "--yes", "--output", "json"]));
    // Done: the unused AMI and its one snapshot went, and nothing else (the AMI in use, its
    // instance, volumes and image stay). Failed: nothing went.
    let outcome = judge(&ec2, &out, |done| {
        if done {
            Inventory { images: before.images - 1, snapshots: before.snapshots - 1, ..before }
        } else {
            before
        }
    })
    .await;
    (outcome, proxy.tally())
}

const COPY_REGIONS: [&str; 2] = ["us-east-1", "ap-southeast-2"];

async fn copy(seed: u64, rate: f64) -> Trial {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let ami = support::register_root_image(&ec2, "gio-node-7").await;
    run(emulator.cli().args(["adopt", &ami, "--contact", "ops@example.org"])).success();
    let proxy = emulator.proxied(Faults::new(rate, seed));
    let out = run(proxy.cli().args([
        "copy",
        &ami,
        "--to",
        COPY_REGIONS[0],
        "--to",
        COPY_REGIONS[1],
        "--output",
        "json",
    ]));
    let mut found = vec![inventory(&ec2).await];
    for region in COPY_REGIONS {
        found.push(inventory(&aws_sdk_ec2::Client::new(&emulator.config(region).await)).await);
    }
    // The source untouched; in each region one copy with its snapshot, or (failed) none yet:
    // a copy that landed is what the re-run finds. Never two.
    let outcome = verdict(&out, found, |done, found| {
        found[0] == Inventory::of(0, 0, 1, 1)
            && found[1..].iter().all(|region| {
                *region == Inventory::of(0, 0, 1, 1) || (!done && *region == Inventory::of(0, 0, 0, 0))
            })
    });
    (outcome, proxy.tally())
}

/// What a publication leaves: the parameter's values (repeats of one value collapsed: a
/// retried PutParameter writes a version again, as on AWS) and the clusters tag of the AMI.
async fn publication(emulator: &Emulator, ami: &str) -> (Vec<String>, Option<String>) {
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(support::REGION).await);
    let history = ssm.get_parameter_history().name(PARAMETER).send().await.unwrap();
    let mut values: Vec<String> =
        history.parameters().iter().map(|p| p.value().unwrap().to_string()).collect();
    values.dedup();
    let image = emulator.ec2().await.describe_images().image_ids(ami).send().await.unwrap();
    let tag =
        image.images()[0].tags().iter().find(|t| t.key() == Some("gio-ami:clusters")).and_then(|t| t.value());
    (values, tag.map(str::to_string))
}

async fn publish(seed: u64, rate: f64) -> Trial {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("faults-publish-{}-{seed}", std::process::id()));
    support::write_cluster_spec(&dir);
    let first = support::register_root_image(&ec2, "gio-node-1").await;
    let second = support::register_root_image(&ec2, "gio-node-2").await;
    run(emulator.cli().current_dir(&dir).args(["publish", &first, "--cluster", "prod"])).success();
    let proxy = emulator.proxied(Faults::new(rate, seed));
    let out = run(proxy.cli().current_dir(&dir).args(["publish", &second, "--cluster", "prod"]));
    let found = publication(&emulator, &second).await;
    // Done: the parameter moved on and the AMI records it. Failed: it did not move, or it
    // moved and the tag is still to come (the re-run adds it); the old value stays in history.
    let outcome = verdict(&out, found, |done, (values, tag)| {
        let moved = *values == [first.clone(), second.clone()];
        let tagged = tag.as_deref() == Some("prod");
        if done {
            moved && tagged
        } else {
            (*values == [first.clone()] && tag.is_none()) || moved
        }
    });
    (outcome, proxy.tally())
}

async fn prune(seed: u64, rate: f64) -> Trial {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let family = support::releases_a_second_apart::<3>(&emulator, &ec2, "gio-node-").await.to_vec();
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(support::REGION).await);
    let in_use = aws_sdk_ssm::types::ParameterType::String;
    ssm.put_parameter().name(PARAMETER).value(&family[0]).r#type(in_use).send().await.unwrap();
    let proxy = emulator.proxied(Faults::new(rate, seed));
    let out = run(proxy.cli().args(["prune", "--release-prefix", "gio-node-", "--keep", "1", "--yes"]));
    let images = ec2.describe_images().owners("self").send().await.unwrap();
    let mut left: Vec<String> =
        images.images().iter().filter_map(|i| i.image_id()).map(str::to_string).collect();
    left.sort_by_key(|id| family.iter().position(|f| f == id));
    let found = (left, inventory(&ec2).await.snapshots);
    // The oldest is in use (SSM) and the newest is kept; the middle one goes with its snapshot,
    // or (failed) stays whole.
    let outcome = verdict(&out, found, |done, (left, snapshots)| {
        let pruned = *left == [family[0].clone(), family[2].clone()] && *snapshots == 2;
        pruned || (!done && *left == family && *snapshots == 3)
    });
    (outcome, proxy.tally())
}

/// 8 MiB with data in 4 of its 16 blocks: the zero blocks are skipped, the rest sent.
fn disk_image(name: &str) -> PathBuf {
    let file = format!("faults-{name}-{}.raw", std::process::id());
    support::write_image(Path::new(env!("CARGO_TARGET_TMPDIR")), &file, 16 * support::BLOCK, &[0, 3, 7, 12])
}

async fn upload(seed: u64, rate: f64) -> Trial {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let path = disk_image(&format!("upload-{seed}"));
    let proxy = emulator.proxied(Faults::new(rate, seed));
    let out = run(proxy.cli().args([
        "upload",
        path.to_str().unwrap(),
        "--register",
        "--name",
        "gio-node-uploaded",
        "--output",
        "json",
    ]));
    // The AMI and its snapshot, or (failed) nothing: an unfinished snapshot is deleted.
    let outcome =
        judge(&ec2, &out, |done| if done { Inventory::of(0, 0, 1, 1) } else { Inventory::of(0, 0, 0, 0) })
            .await;
    (outcome, proxy.tally())
}

#[tokio::test]
async fn a_failed_guard_lookup_means_refuse_never_not_in_use() {
    for guard in [
        "DescribeInstances",
        "DescribeLaunchTemplates",
        "DescribeAutoScalingGroups",
        "DescribeLaunchConfigurations",
        "DescribeParameters",
        "GET /clusters",
    ] {
        let emulator = Emulator::start();
        let ec2 = emulator.ec2().await;
        // Creation times have one-second resolution: prune must see `old` as the older one.
        let then = emulator.backdated(1);
        let old = support::register_root_image(&ec2, "gio-node-old").await;
        drop(then);
        support::register_root_image(&ec2, "gio-node-new").await;
        let proxy = emulator.proxied(Faults::new(1.0, 7).only(&[guard]).kinds(&[Fault::Unavailable]));
        for command in [
            &["wipe", &old, "--yes"][..],
            &["prune", "--release-prefix", "gio-node-", "--keep", "1", "--yes"],
        ] {
            // Two attempts are enough to prove a retried look-up that still fails refuses.
            let out = run(proxy.cli().env("AWS_MAX_ATTEMPTS", "2").args(command));
            assert!(
                !out.status.success() || out.stdout.contains("refuse"),
                "{guard}, {command:?}:\n{}\n{}",
                out.stdout,
                out.stderr
            );
            let outcome = judge(&ec2, &out, |_| Inventory::of(0, 0, 2, 2)).await;
            assert_eq!(outcome, Outcome::CleanlyFailed, "{guard}, {command:?}: nothing removed");
        }
        assert!(proxy.tally().injected.len() >= 2, "{guard} was not looked up by both commands");
    }
}

async fn build(seed: u64, rate: f64) -> Trial {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let proxy = emulator.proxied(Faults::new(rate, seed));
    let mut build = spawn_build(proxy.cli(), &spec_path("build"));
    // Plays the guest: provisioning done, power off.
    if let Some(builder) = running_builder(&ec2, &mut build).await {
        ec2.stop_instances().instance_ids(builder).send().await.unwrap();
    }
    let out = finish(build);
    // The AMI and the snapshots of its root and extra disk, builder and pre-snapshots gone; or,
    // failed, nothing at all.
    let outcome =
        judge(&ec2, &out, |done| if done { Inventory::of(0, 0, 2, 1) } else { Inventory::of(0, 0, 0, 0) })
            .await;
    (outcome, proxy.tally())
}

/// gc through faults after a build was killed with SIGKILL (so it could not clean up).
async fn gc(seed: u64, rate: f64) -> Trial {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let mut build = spawn_build(emulator.cli(), &spec_path("gc"));
    running_builder(&ec2, &mut build).await.expect("a builder");
    build.kill().unwrap();
    support::wait(&mut build);
    assert_eq!(inventory(&ec2).await.instances, 1, "the builder is left behind");
    let proxy = emulator.proxied(Faults::new(rate, seed));
    let out = run(proxy.cli().arg("gc"));
    let outcome =
        judge(&ec2, &out, |done| if done { Inventory::of(0, 0, 0, 0) } else { Inventory::of(1, 2, 0, 0) })
            .await;
    (outcome, proxy.tally())
}

/// Runs a command through 10% faults for each seed, then through HALF for the first: none may
/// leak, and faults must have hit.
async fn holds_under_faults<F: std::future::Future<Output = Trial>>(command: impl Fn(u64, f64) -> F) {
    let mut injected = 0;
    for seed in SEEDS {
        let (outcome, tally) = command(seed, RATE).await;
        assert!(!matches!(outcome, Outcome::Leaked(_)), "seed {seed}: {outcome:?}");
        injected += tally.injected.len();
    }
    assert!(injected > 0, "no fault was injected: the test proved nothing, pick other seeds");
    let (outcome, tally) = command(SEEDS[0], HALF).await;
    assert!(!matches!(outcome, Outcome::Leaked(_)), "at {HALF}: {outcome:?}");
    assert!(
        tally.injected.len() * 4 >= tally.requests,
        "at {HALF}, only {} of {} requests failed",
        tally.injected.len(),
        tally.requests
    );
}

#[tokio::test]
async fn disks_add_through_faults_adds_one_ami_or_nothing() {
    holds_under_faults(disks_add).await;
}

#[tokio::test]
async fn wipe_through_faults_removes_the_unused_ami_and_nothing_else() {
    holds_under_faults(wipe).await;
}

#[tokio::test]
async fn build_through_faults_leaves_one_ami_or_nothing() {
    holds_under_faults(build).await;
}

#[tokio::test]
async fn gc_through_faults_removes_what_a_killed_build_left() {
    holds_under_faults(gc).await;
}

#[tokio::test]
async fn copy_through_faults_makes_one_copy_per_region_or_none() {
    holds_under_faults(copy).await;
}

#[tokio::test]
async fn publish_through_faults_moves_the_parameter_or_leaves_it() {
    holds_under_faults(publish).await;
}

#[tokio::test]
async fn prune_through_faults_removes_only_the_unused_older_release() {
    holds_under_faults(prune).await;
}

#[tokio::test]
async fn upload_through_faults_registers_one_ami_or_leaves_nothing() {
    holds_under_faults(upload).await;
}

#[tokio::test]
async fn a_registration_whose_answer_was_lost_is_found_not_repeated() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    // RegisterImage takes no ClientToken: the retry finds the name taken by the first attempt.
    let lost_once = || {
        emulator.proxied(Faults::new(1.0, 7).only(&["RegisterImage"]).kinds(&[Fault::ResetAfter]).at_most(1))
    };
    let proxy = lost_once();
    let image = disk_image("lost-answer");
    run(proxy.cli().args(["upload", image.to_str().unwrap(), "--register", "--name", "gio-node-uploaded"]))
        .success();
    assert_eq!(proxy.tally().injected.len(), 1);
    assert_eq!(inventory(&ec2).await, Inventory::of(0, 0, 1, 1), "one AMI on the one snapshot");

    let uploaded = ec2.describe_images().owners("self").send().await.unwrap().images()[0]
        .image_id()
        .unwrap()
        .to_string();
    let proxy = lost_once();
    let added =
        run(proxy.cli().args(["disks", "add", &uploaded, "--disk", "/dev/xvdb=50", "--output", "json"]))
            .success()
            .json();
    assert_eq!(proxy.tally().injected.len(), 1);
    assert_eq!(added["outcomes"][0]["status"], "reused", "found, not registered again: {added}");
    assert_eq!(inventory(&ec2).await, Inventory::of(0, 0, 1, 2));
}

#[tokio::test]
async fn an_answer_that_never_comes_in_time_fails_after_five_attempts_with_a_clear_error() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let ami = support::register_root_image(&ec2, "gio-node-1").await;
    let proxy = emulator.proxied(Faults::new(1.0, 7).only(&["DescribeImages"]).kinds(&[Fault::Slow]));
    let started = Instant::now();
    let out = run(proxy.cli().args(["snapshots", &ami])).failure();
    let took = started.elapsed();
    assert!(
        out.stderr.contains("DescribeImages timed out") && out.stderr.contains("--timeout"),
        "{}",
        out.stderr
    );
    assert_eq!(proxy.tally().injected.len(), 5, "one attempt and four retries");
    // Five attempts of CLIENT_TIMEOUT each plus at most 15 s of backoff bound the call.
    let bound = Duration::from_secs(5 * support::faults::CLIENT_TIMEOUT + 15 + 5);
    assert!(took < bound, "took {took:?}, more than {bound:?}");

    // The SDK's own variable is the user's word on retries.
    let proxy = emulator.proxied(Faults::new(1.0, 7).only(&["DescribeImages"]).kinds(&[Fault::Slow]));
    run(proxy.cli().env("AWS_MAX_ATTEMPTS", "2").args(["snapshots", &ami])).failure();
    assert_eq!(proxy.tally().injected.len(), 2, "AWS_MAX_ATTEMPTS=2");
}

/// `bench/faults`: per command, runs × fault rate → completed / cleanly failed / leaked.
/// FAULT_RUNS (default 5) and FAULT_RATES (default 0.05,0.1,0.2,0.5) size it; FAULT_COMMANDS
/// (comma-separated names, default all) narrows it.
#[tokio::test]
#[ignore = "a benchmark: run by bench/faults"]
async fn fault_table() {
    let runs: u64 = std::env::var("FAULT_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let rates: Vec<f64> = std::env::var("FAULT_RATES")
        .unwrap_or_else(|_| "0.05,0.1,0.2,0.5".into())
        .split(',')
        .map(|r| r.trim().parse().expect("FAULT_RATES: comma-separated shares like 0.1"))
        .collect();
    println!(
        "| command | runs | fault rate | requests | faults injected | completed | cleanly failed | leaked |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let only = std::env::var("FAULT_COMMANDS").unwrap_or_default();
    let commands = ["disks add", "wipe", "build", "gc", "copy", "publish", "prune", "upload"];
    for name in commands.into_iter().filter(|c| only.is_empty() || only.split(',').any(|o| o.trim() == *c)) {
        for &rate in &rates {
            let (mut completed, mut failed, mut leaked, mut requests, mut injected) =
                (0, 0, Vec::new(), 0, 0);
            for seed in 1..=runs {
                let (outcome, tally) = match name {
                    "disks add" => disks_add(seed, rate).await,
                    "wipe" => wipe(seed, rate).await,
                    "build" => build(seed, rate).await,
                    "gc" => gc(seed, rate).await,
                    "copy" => copy(seed, rate).await,
                    "publish" => publish(seed, rate).await,
                    "prune" => prune(seed, rate).await,
                    _ => upload(seed, rate).await,
                };
                requests += tally.requests;
                injected += tally.injected.len();
                match outcome {
                    Outcome::Completed => completed += 1,
                    Outcome::CleanlyFailed => failed += 1,
                    Outcome::Leaked(what) => leaked.push(format!("seed {seed}: {what}")),
                }
            }
            println!(
                "| {name} | {runs} | {:.0}% | {requests} | {injected} | {completed} | {failed} | {} |",
                rate * 100.0,
                leaked.len()
            );
            for what in leaked {
                eprintln!("{name} at {rate}: LEAKED {what}");
            }
        }
    }
}

/// The phases of a build as its progress names them, in order.
const PHASES: [&str; 6] = [
    "resolving the base AMI",
    "launching the builder",
    "to provision itself and power off",
    "pre-snapshotting",
    "creating the image",
    "removing the builder and pre-snapshots",
];

/// How long a build may take to end after its Ctrl-C: the clean-up's two passes over what it
/// made (a few seconds apart) and its requests. A build still running then lost the signal.
const ENDS_AFTER_CTRL_C: Duration = Duration::from_secs(90);

/// Starts a build, plays the guest, and sends `signal` as soon as the build announces `phase`.
/// Returns the emulator (to count its inventory) once the build has ended, with how it ended
/// and what it said after the signal.
async fn signal_build_at(phase: &str, signal: &str) -> (Emulator, std::process::ExitStatus, String) {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let mut build = spawn_build(emulator.cli(), &spec_path(&format!("signal-{signal}")));
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = build.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let past_guest = PHASES.iter().position(|p| *p == phase).unwrap() > 2;
    if past_guest {
        let builder = running_builder(&ec2, &mut build).await.expect("a builder");
        ec2.stop_instances().instance_ids(builder).send().await.unwrap();
    }
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let reached = line.contains(phase);
        seen.push(line);
        if reached {
            std::process::Command::new("kill").args([signal, &build.id().to_string()]).status().unwrap();
            break;
        }
    }
    assert!(seen.last().is_some_and(|l| l.contains(phase)), "never reached `{phase}`:\n{}", seen.join("\n"));
    let status = support::wait_within(&mut build, ENDS_AFTER_CTRL_C);
    // The rest of what it said, to its end (the reader stops at the closed pipe).
    let after: Vec<String> = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(10)).ok()).collect();
    (emulator, status, after.join("\n"))
}

/// Nothing of the build, or only the release when the signal came after it was made (the AMI
/// with its root and extra-disk snapshots).
async fn nothing_but_a_release(ec2: &aws_sdk_ec2::Client, phase: &str) {
    let found = inventory(ec2).await;
    let release = Inventory::of(0, 0, 2, 1);
    let released = support::releases(ec2).await;
    let expected = if released == 1 { release } else { Inventory::of(0, 0, 0, 0) };
    assert_eq!(found, expected, "after a signal at `{phase}`");
}

#[tokio::test]
async fn kill_9_at_each_phase_then_gc_leaves_nothing_but_a_release() {
    for phase in PHASES {
        let (emulator, status, _) = signal_build_at(phase, "-KILL").await;
        assert_eq!(status.signal(), Some(rustix::process::Signal::KILL.as_raw()), "at `{phase}`");
        run(emulator.cli().arg("gc")).success();
        nothing_but_a_release(&emulator.ec2().await, phase).await;
    }
}

#[tokio::test]
async fn ctrl_c_at_each_phase_leaves_nothing_but_a_release_without_gc() {
    for phase in PHASES {
        let (emulator, status, said) = signal_build_at(phase, "-INT").await;
        // Ended by itself on the first Ctrl-C (the one handler of the run caught it wherever it
        // landed), and said so: never the signal's default death, never a wait that went on.
        assert_eq!((status.code(), status.signal()), (Some(1), None), "at `{phase}`: {said}");
        assert!(said.contains("interrupted by Ctrl-C"), "at `{phase}`: {said}");
        nothing_but_a_release(&emulator.ec2().await, phase).await;
    }
}
