//! The offline engine (`build --engine offline`) and `diff`, against a real disk image published
//! as Amazon's EKS base: the base is copied into the account once, its root read once into the
//! cache, changed with the real libguestfs, and only the changed blocks are uploaded.

use crate::support::{self, faults::FaultProxy, faults::Faults, run, Emulator};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The offline project: a file, a script that installs a "package" (a dpkg record) and leaves a
/// marker, and the base behind the EKS parameter.
fn project(name: &str, script: &str) -> PathBuf {
    let dir = support::scratch(&format!("offline-{name}"));
    std::fs::write(dir.join("motd"), "built offline\n").unwrap();
    std::fs::write(dir.join("provision.sh"), script).unwrap();
    std::fs::write(
        dir.join("gio-ami.toml"),
        "[image]\nname = \"gio-offline-{n}\"\ncontact = \"ops@example.org\"\n[base]\nfamily = \"al2023\"\n\
         kubernetes = \"1.31\"\n[build]\nengine = \"offline\"\nprovision = [\"provision.sh\"]\n\
         [[build.files]]\nsource = \"motd\"\ndestination = \"/etc/motd\"\nmode = \"0600\"\n",
    )
    .unwrap();
    dir
}

const INSTALLS_JQ: &str = "#!/bin/sh\nset -e\necho installing jq\nmkdir -p /opt/gio\necho provisioned > /opt/gio/marker\n\
/bin/busybox yes GIOAMISCRATCH | /bin/busybox head -c 4194304 > /tmp/scratch\n/bin/busybox sync\n/bin/busybox rm /tmp/scratch\n\
printf 'Package: jq\\nStatus: install ok installed\\nVersion: 1.6-2.1\\nArchitecture: amd64\\n\\n' >> /var/lib/dpkg/status\n";

/// EBS direct requests by kind, as the proxy saw them (REST: `PUT /snapshots/ID/blocks/N`).
fn ebs(tally: &support::faults::Tally, method: &str, block: bool) -> usize {
    tally
        .operations
        .iter()
        .filter(|op| {
            op.starts_with(&format!("{method} /snapshots/"))
                && op.contains("/blocks")
                && (op.split("/blocks").nth(1).unwrap_or_default().starts_with('/') == block)
        })
        .count()
}

/// Block indexes where two raw images differ.
fn differing_blocks(a: &Path, b: &Path) -> Vec<u64> {
    use std::io::Read;
    let (mut a, mut b) = (std::fs::File::open(a).unwrap(), std::fs::File::open(b).unwrap());
    let (mut x, mut y) = (vec![0; support::BLOCK], vec![0; support::BLOCK]);
    let mut differ = Vec::new();
    for index in 0.. {
        let (n, m) = (a.read(&mut x).unwrap(), b.read(&mut y).unwrap());
        if n == 0 && m == 0 {
            break;
        }
        x[n..].fill(0);
        y[m..].fill(0);
        if x != y {
            differ.push(index);
        }
    }
    differ
}

fn build(proxy: &FaultProxy, dir: &Path, cache: &Path) -> Value {
    run(proxy.cli().current_dir(dir).env("GIO_AMI_CACHE_DIR", cache).args(["build", "--output", "json"]))
        .success()
        .json()
}

#[tokio::test]
async fn an_offline_build_launches_nothing_and_uploads_only_what_changed() {
    let emulator = Emulator::start();
    let (base, _) = support::eks_base(&emulator);
    let dir = project("build", INSTALLS_JQ);
    let cache = dir.join("cache");

    let planned = run(emulator.cli().current_dir(&dir).env("GIO_AMI_CACHE_DIR", &cache).args([
        "build",
        "--dry-run",
        "--output",
        "json",
    ]))
    .success();
    support::reports::assert_valid("build", &planned.stdout);
    let planned = planned.json();
    let offline = &planned["plan"]["offline"];
    assert_eq!(
        (offline["copy_needed"].as_bool(), offline["cached"].as_bool()),
        (Some(true), Some(false)),
        "{planned:#}"
    );
    assert_eq!(offline["files"][0], "motd -> /etc/motd");

    let proxy = FaultProxy::start(&emulator.endpoint, Faults::new(0.0, 0));
    let first = build(&proxy, &dir, &cache);
    let tally = proxy.tally();
    assert!(!tally.operations.iter().any(|op| op == "RunInstances"), "{:?}", tally.operations);
    assert_eq!(tally.operations.iter().filter(|op| *op == "CopyImage").count(), 1);
    let ami = first["ami"].as_str().unwrap().to_string();
    let snapshot = first["snapshots"][0].as_str().unwrap().to_string();

    // The root, read back: the spec's file and the script's effect, the base's files intact.
    let back = dir.join("back.raw");
    run(emulator.cli().args(["download", &snapshot]).arg(&back)).success();
    let read = support::read_in_image(
        &back,
        &["/etc/motd", "/opt/gio/marker", "/etc/os-release", "/etc/hosts", "/.autorelabel"],
    );
    assert_eq!(read[0].as_deref(), Some("built offline\n"));
    assert_eq!(read[1].as_deref(), Some("provisioned\n"));
    assert!(read[2].as_deref().unwrap().contains("gio-ami test base"));
    assert_eq!(read[3].as_deref(), Some("127.0.0.1 localhost\n"));
    // SELinux is configured, and neither Debian's appliance nor the image has setfiles: the node
    // relabels at its first boot.
    assert_eq!(read[4].as_deref(), Some(""), "/.autorelabel");
    // Exactly the blocks that differ from the base were sent.
    let changed = differing_blocks(&support::base_image(), &back);
    assert!(!changed.is_empty());
    // The 4 MiB the script wrote and removed were discarded: not one of its blocks was sent.
    let root = std::fs::read(&back).unwrap();
    for index in &changed {
        let block = &root[*index as usize * support::BLOCK..][..support::BLOCK];
        assert!(
            !block.windows(13).any(|w| w == b"GIOAMISCRATCH"),
            "block {index} holds the removed scratch file"
        );
    }
    assert_eq!(ebs(&tally, "PUT", true), changed.len(), "PutSnapshotBlock per changed block: {changed:?}");

    // The AMI: the base's shape, the release's tags, the engine named.
    let ec2 = emulator.ec2().await;
    let image = support::own_image(&ec2, &ami).await.unwrap();
    let tags: std::collections::BTreeMap<_, _> =
        image.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect();
    assert_eq!(tags["gio-ami:engine"], "offline");
    assert_eq!(tags["gio-ami:base-ami"], base);
    assert_eq!(tags["gio-ami:release"], first["name"].as_str().unwrap());
    let amazon = ec2.describe_images().image_ids(&base).send().await.unwrap().images()[0].clone();
    assert_eq!((image.boot_mode(), image.ena_support()), (amazon.boot_mode(), amazon.ena_support()));
    assert_eq!(
        (image.imds_support(), image.root_device_name()),
        (amazon.imds_support(), amazon.root_device_name())
    );
    let copies = ec2
        .describe_images()
        .owners("self")
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:gio-ami:base-copy").values(&base).build())
        .send()
        .await
        .unwrap();
    assert_eq!(copies.images().len(), 1, "one copy of the base, tagged with it");
    let copy_root =
        copies.images()[0].block_device_mappings()[0].ebs().unwrap().snapshot_id().unwrap().to_string();

    // Steady state: no copy, no block of the base read again.
    let proxy = FaultProxy::start(&emulator.endpoint, Faults::new(0.0, 0));
    let second = build(&proxy, &dir, &cache);
    let tally = proxy.tally();
    assert_eq!(tally.operations.iter().filter(|op| *op == "CopyImage").count(), 0);
    assert_eq!((ebs(&tally, "GET", true), ebs(&tally, "GET", false)), (0, 0), "{:?}", tally.operations);
    assert_ne!(second["ami"], first["ami"]);
    let listed =
        run(emulator.cli().env("GIO_AMI_CACHE_DIR", &cache).args(["cache", "list", "--output", "json"]))
            .success()
            .json();
    assert_eq!(listed["snapshots"][0]["snapshot_id"], copy_root.as_str());

    // EBS bills the release only for the blocks it changed.
    let cost = run(emulator.cli().args(["cost", "--exact", "--output", "json"])).success().json();
    let billed =
        cost["exact"]["snapshots"].as_array().unwrap().iter().find(|b| b["snapshot"] == snapshot.as_str());
    let billed = billed.unwrap_or_else(|| panic!("{snapshot} billed: {cost:#}"));
    assert_eq!(
        (billed["previous"].as_str(), billed["blocks"].as_u64()),
        (Some(copy_root.as_str()), Some(changed.len() as u64))
    );

    // What changed, as a release review asks: the package the script added and the files.
    let diff = run(emulator.cli().env("GIO_AMI_CACHE_DIR", &cache).args([
        "diff",
        copies.images()[0].image_id().unwrap(),
        &ami,
        "--output",
        "json",
    ]))
    .success();
    support::reports::assert_valid("diff", &diff.stdout);
    let diff = diff.json();
    assert_eq!(diff["packages"]["added"], serde_json::json!([{"name": "jq.amd64", "version": "1.6-2.1"}]));
    assert_eq!(diff["new"]["read"], "changed", "the release's root read as its changed blocks: {diff:#}");
    let files: Vec<(&str, &str)> = diff["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["change"].as_str().unwrap()))
        .collect();
    for expected in
        [("/etc/motd", "added"), ("/opt/gio/marker", "added"), ("/var/lib/dpkg/status", "modified")]
    {
        assert!(files.contains(&expected), "{expected:?} in {files:?}");
    }
    let motd = diff["files"].as_array().unwrap().iter().find(|f| f["path"] == "/etc/motd").unwrap();
    assert_eq!((motd["new_mode"].as_str(), motd["new_size"].as_u64()), (Some("0600"), Some(14)));
}

#[tokio::test]
async fn a_failing_script_shows_its_output_and_uploads_nothing() {
    let emulator = Emulator::start();
    support::eks_base(&emulator);
    let dir = project("failing", "#!/bin/sh\necho about to fail\necho on stderr >&2\nexit 3\n");
    let proxy = FaultProxy::start(&emulator.endpoint, Faults::new(0.0, 0));
    let failed = run(proxy.cli().current_dir(&dir).arg("build")).failure();
    assert!(
        failed.stderr.contains("provisioning script provision.sh failed inside the image (exit status 3)"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("about to fail\non stderr"), "{}", failed.stderr);
    let tally = proxy.tally();
    assert!(
        !tally.operations.iter().any(|op| op.starts_with("POST /snapshots")),
        "no StartSnapshot: {:?}",
        tally.operations
    );
    assert_eq!(support::releases(&emulator.ec2().await).await, 0);
    // The scratch copy is gone with the failed build.
    let work = dir.join("cache/work");
    assert!(std::fs::read_dir(&work).map_or(true, |mut d| d.next().is_none()), "left in {}", work.display());
}

#[tokio::test]
async fn a_script_past_build_timeout_is_stopped_and_nothing_is_uploaded() {
    let emulator = Emulator::start();
    support::eks_base(&emulator);
    let dir = project("timeout", "#!/bin/sh\necho waiting forever\n/bin/busybox sleep 600\n");
    let spec = std::fs::read_to_string(dir.join("gio-ami.toml")).unwrap();
    std::fs::write(
        dir.join("gio-ami.toml"),
        spec.replace("engine = \"offline\"", "engine = \"offline\"\ntimeout = \"5s\""),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let failed = run(emulator.cli().current_dir(&dir).arg("build")).failure();
    assert!(
        failed.stderr.contains("provisioning script provision.sh was still running after 5s (build.timeout)"),
        "{}",
        failed.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(300), "stopped, not waited out");
    assert_eq!(support::releases(&emulator.ec2().await).await, 0);
}

#[test]
fn scripts_with_the_network_resolve_through_the_appliance_and_the_image_keeps_its_resolver() {
    let emulator = Emulator::start();
    support::eks_base(&emulator);
    let dir = project(
        "network",
        "#!/bin/sh\nset -e\nmkdir -p /opt\n/bin/busybox cat /etc/resolv.conf > /opt/resolver-seen\n",
    );
    let spec = std::fs::read_to_string(dir.join("gio-ami.toml")).unwrap();
    std::fs::write(
        dir.join("gio-ami.toml"),
        spec.replace("engine = \"offline\"", "engine = \"offline\"\nnetwork = true"),
    )
    .unwrap();
    let built = run(emulator.cli().current_dir(&dir).args(["build", "--output", "json"])).success().json();
    let back = dir.join("back.raw");
    run(emulator.cli().args(["download", built["snapshots"][0].as_str().unwrap()]).arg(&back)).success();
    let read = support::read_in_image(
        &back,
        &["/opt/resolver-seen", "/etc/resolv.conf", "/etc/resolv.conf.gio-ami-kept"],
    );
    assert!(read[0].as_deref().unwrap().contains("nameserver "), "the script saw {:?}", read[0]);
    // The image's link to its stub is back (dangling outside a booted system: not a file).
    assert_eq!((read[1].as_deref(), read[2].as_deref()), (None, None));
}

#[tokio::test]
async fn a_build_killed_while_uploading_is_finished_by_a_rerun_and_gc_takes_its_snapshot() {
    let emulator = Emulator::start();
    support::eks_base(&emulator);
    let dir = project("killed", INSTALLS_JQ);
    let cache = dir.join("cache");
    // A counting run in a twin emulator: the k of the second PutSnapshotBlock.
    let twin = Emulator::start();
    support::eks_base(&twin);
    let counting = FaultProxy::start(&twin.endpoint, Faults::new(0.0, 0));
    build(&counting, &dir, &dir.join("twin-cache"));
    let operations = counting.tally().operations;
    let puts = operations.iter().enumerate().filter(|(_, op)| op.starts_with("PUT /snapshots/"));
    let k = puts.map(|(n, _)| n + 1).nth(1).unwrap_or_else(|| panic!("two blocks sent: {operations:?}"));
    drop(twin);
    let killer = FaultProxy::killing(&emulator.endpoint, k);
    let mut command = killer.cli();
    command.current_dir(&dir).env("GIO_AMI_CACHE_DIR", &cache).arg("build");
    let child =
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    killer.aim(child.id());
    let killed = support::finish(child);
    assert!(killer.tally().killed, "killed at request {k}: {:?}", killer.tally().operations);
    assert!(!killed.status.success());
    let ec2 = emulator.ec2().await;
    let left = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag-key").values("gio-ami:build-id").build())
        .send()
        .await
        .unwrap();
    let left: Vec<String> = left.snapshots().iter().map(|s| s.snapshot_id().unwrap().to_string()).collect();

    // The re-run finishes the job: one release, the base copy reused.
    let rerun = run(emulator
        .cli()
        .current_dir(&dir)
        .env("GIO_AMI_CACHE_DIR", &cache)
        .args(["build", "--output", "json"]))
    .success()
    .json();
    assert_eq!(support::releases(&ec2).await, 1);
    let copies = ec2
        .describe_images()
        .owners("self")
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag-key").values("gio-ami:base-copy").build())
        .send()
        .await
        .unwrap();
    assert_eq!(copies.images().len(), 1, "the killed build's copy reused");
    // gc takes what the killed build left (its unfinished snapshot), not the release's.
    let gc = run(emulator.cli().args(["gc", "--yes", "--output", "json"])).success().json();
    let deleted: Vec<&str> =
        gc["outcomes"].as_array().unwrap().iter().filter_map(|o| o["id"].as_str()).collect();
    let release_root = rerun["snapshots"][0].as_str().unwrap();
    assert!(!deleted.contains(&release_root));
    for snapshot in left.iter().filter(|s| s.as_str() != release_root) {
        assert!(deleted.contains(&snapshot.as_str()), "{snapshot} collected: {gc:#}");
    }
}

#[test]
fn without_libguestfs_the_build_names_the_package_to_install() {
    let dir = project("no-libguestfs", INSTALLS_JQ);
    let emulator = Emulator::start();
    support::eks_base(&emulator);
    let empty = dir.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let failed = run(emulator.cli().current_dir(&dir).env("PATH", &empty).arg("build")).failure();
    assert!(failed.stderr.contains("libguestfs, which is not installed"), "{}", failed.stderr);
    assert!(failed.stderr.contains("sudo apt-get install libguestfs-tools"), "{}", failed.stderr);
}

#[test]
fn a_base_without_a_root_filesystem_is_refused_and_nothing_is_uploaded() {
    let emulator = Emulator::start();
    let dir = project("no-root", INSTALLS_JQ);
    // Data, but no filesystem: an own AMI, so no copy either.
    let image = support::write_image(&dir, "noise.raw", 4 * support::BLOCK, &[0, 1, 3]);
    let upload = ["upload", image.to_str().unwrap(), "--register", "--name", "noise", "--output", "json"];
    let base = run(emulator.cli().args(upload)).success().json()["image_id"].as_str().unwrap().to_string();
    let spec = std::fs::read_to_string(dir.join("gio-ami.toml")).unwrap();
    let spec = spec.replace("family = \"al2023\"\nkubernetes = \"1.31\"", &format!("ami = \"{base}\""));
    std::fs::write(dir.join("gio-ami.toml"), spec).unwrap();
    let proxy = FaultProxy::start(&emulator.endpoint, Faults::new(0.0, 0));
    let failed = run(proxy.cli().current_dir(&dir).arg("build")).failure();
    assert!(failed.stderr.contains("no root filesystem was found in"), "{}", failed.stderr);
    assert!(failed.stderr.contains("build with engine = \"native\""), "{}", failed.stderr);
    let tally = proxy.tally();
    assert!(
        !tally.operations.iter().any(|op| op == "CopyImage" || op.starts_with("POST /snapshots")),
        "{:?}",
        tally.operations
    );
}

#[test]
fn a_bottlerocket_base_is_refused_before_any_call() {
    let dir = project("bottlerocket", INSTALLS_JQ);
    let spec = std::fs::read_to_string(dir.join("gio-ami.toml")).unwrap().replace("al2023", "bottlerocket");
    std::fs::write(dir.join("gio-ami.toml"), spec).unwrap();
    let failed = run(support::bare_cli().current_dir(&dir).arg("check")).failure();
    assert!(failed.stderr.contains("dm-verity"), "{}", failed.stderr);
    assert!(failed.stderr.contains("customize it with its settings"), "{}", failed.stderr);
}
