//! `gio-ami upload` / `download` against the emulator: what lands in EBS is read back from it.

use crate::support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread::JoinHandle;
use support::{run, write_image, Emulator, BLOCK, REGION};

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("upload-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn own_snapshots(emulator: &Emulator) -> Vec<aws_sdk_ec2::types::Snapshot> {
    let ec2 = emulator.ec2().await;
    ec2.describe_snapshots().owner_ids("self").send().await.unwrap().snapshots().to_vec()
}

async fn stored_blocks(emulator: &Emulator, snapshot: &str) -> BTreeSet<i32> {
    let ebs = aws_sdk_ebs::Client::new(&emulator.config(REGION).await);
    let pages = ebs
        .list_snapshot_blocks()
        .snapshot_id(snapshot)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    pages.iter().flat_map(|page| page.blocks()).filter_map(|b| b.block_index()).collect()
}

/// Asserts `downloaded` is `original` followed by zeros up to the whole GiB.
fn assert_same_disk(original: &Path, downloaded: &Path) {
    let original = std::fs::read(original).unwrap();
    let downloaded = std::fs::read(downloaded).unwrap();
    assert_eq!(downloaded.len() % (1 << 30), 0, "a whole number of GiB");
    assert!(downloaded[..original.len()] == original[..], "the image's bytes come back identical");
    assert!(downloaded[original.len()..].iter().all(|&b| b == 0), "the rounding up reads as zeros");
}

#[tokio::test]
async fn an_image_with_holes_round_trips_byte_for_byte_and_its_zero_blocks_are_never_sent() {
    let emulator = Emulator::start();
    let dir = scratch("round-trip");
    // 11 blocks, the last one partial: data in 0, 3, 7 and the partial tail.
    let image = write_image(&dir, "gio-node.raw", 10 * BLOCK + 1000, &[0, 3, 7, 10]);

    let uploaded = run(emulator.cli().args([
        "upload",
        image.to_str().unwrap(),
        "--tag",
        "team=platform",
        "--output",
        "json",
    ]))
    .success()
    .json();
    assert_eq!(uploaded["blocks_sent"], 4);
    assert_eq!(uploaded["blocks_skipped"], 7);
    assert_eq!(uploaded["volume_gib"], 1);
    let snapshot = uploaded["snapshot_id"].as_str().unwrap().to_string();
    assert_eq!(
        stored_blocks(&emulator, &snapshot).await,
        BTreeSet::from([0, 3, 7, 10]),
        "only the data blocks reached EBS"
    );

    let described = own_snapshots(&emulator).await;
    assert_eq!(described.len(), 1);
    let tags: Vec<(String, String)> =
        described[0].tags().iter().map(|t| (t.key().unwrap().into(), t.value().unwrap().into())).collect();
    assert!(tags.contains(&("gio-ami:release".into(), "gio-node".into())), "{tags:?}");
    assert!(tags.contains(&("team".into(), "platform".into())), "{tags:?}");
    assert_eq!(described[0].volume_size(), Some(1));
    assert_eq!(described[0].state().map(|s| s.as_str()), Some("completed"));

    let back = dir.join("back.raw");
    let downloaded =
        run(emulator.cli().args(["download", &snapshot, back.to_str().unwrap(), "--output", "json"]))
            .success()
            .json();
    assert_eq!(downloaded["blocks_written"], 4);
    assert_same_disk(&image, &back);
    let again = run(emulator.cli().args(["download", &snapshot, back.to_str().unwrap()])).failure();
    assert!(
        again.stderr.contains("cannot create") && again.stderr.contains("File exists"),
        "{}",
        again.stderr
    );
}

#[tokio::test]
async fn a_download_follows_every_page_of_the_snapshot_block_list() {
    let emulator = Emulator::start();
    let dir = scratch("pages");
    // 130 data blocks: the emulator lists at most 100 a page, as AWS may.
    let data: Vec<usize> = (0..130).map(|i| i * 3).collect();
    let image = write_image(&dir, "gio-node.raw", 390 * BLOCK, &data);
    let uploaded =
        run(emulator.cli().args(["upload", image.to_str().unwrap(), "--output", "json"])).success().json();
    assert_eq!(uploaded["blocks_sent"], 130);
    let snapshot = uploaded["snapshot_id"].as_str().unwrap();
    assert_eq!(stored_blocks(&emulator, snapshot).await.len(), 130);

    let back = dir.join("back.raw");
    let downloaded =
        run(emulator.cli().args(["download", snapshot, back.to_str().unwrap(), "--output", "json"]))
            .success()
            .json();
    assert_eq!(downloaded["blocks_written"], 130);
    assert_same_disk(&image, &back);
}

#[tokio::test]
async fn register_makes_an_ami_rooted_on_the_snapshot_and_a_rerun_reuses_it() {
    let emulator = Emulator::start();
    let dir = scratch("register");
    let image = write_image(&dir, "disk.raw", 4 * BLOCK, &[0, 1]);
    let args = [
        "upload",
        image.to_str().unwrap(),
        "--name",
        "gio-node-custom",
        "--register",
        "--arch",
        "arm64",
        "--disk",
        "/dev/xvdb=20",
        "--output",
        "json",
    ];

    let first = run(emulator.cli().args(args)).success().json();
    let ami = first["image_id"].as_str().unwrap().to_string();
    let snapshot = first["snapshot_id"].as_str().unwrap();
    let ec2 = emulator.ec2().await;
    let images = ec2.describe_images().image_ids(&ami).send().await.unwrap();
    let image_seen = &images.images()[0];
    assert_eq!(image_seen.name(), Some("gio-node-custom"));
    assert_eq!(image_seen.root_device_name(), Some("/dev/xvda"));
    assert_eq!(image_seen.architecture().map(|a| a.as_str()), Some("arm64"));
    assert_eq!(image_seen.boot_mode().map(|b| b.as_str()), Some("uefi"));
    assert_eq!(image_seen.ena_support(), Some(true));
    let mappings: Vec<(&str, Option<&str>, Option<i32>)> = image_seen
        .block_device_mappings()
        .iter()
        .map(|m| {
            (
                m.device_name().unwrap(),
                m.ebs().and_then(|e| e.snapshot_id()),
                m.ebs().and_then(|e| e.volume_size()),
            )
        })
        .collect();
    assert_eq!(mappings, [("/dev/xvda", Some(snapshot), Some(1)), ("/dev/xvdb", None, Some(20))]);
    assert!(image_seen
        .tags()
        .iter()
        .any(|t| t.key() == Some("gio-ami:release") && t.value() == Some("gio-node-custom")));

    let second = run(emulator.cli().args(args)).success().json();
    assert_eq!(second["existed"], true);
    assert_eq!(second["image_id"], ami.as_str());
    assert_eq!(second["snapshot_id"], snapshot);
    assert_eq!(own_snapshots(&emulator).await.len(), 1, "the re-run uploaded nothing");
}

#[tokio::test]
async fn a_name_a_disabled_ami_keeps_is_refused_before_any_block_is_sent() {
    let emulator = Emulator::start();
    let dir = scratch("disabled-name");
    let image = write_image(&dir, "disk.raw", 4 * BLOCK, &[0, 1]);
    let args =
        ["upload", image.to_str().unwrap(), "--name", "gio-node-custom", "--register", "--output", "json"];
    let first = run(emulator.cli().args(args)).success().json();
    let disabled = first["image_id"].as_str().unwrap().to_string();
    run(emulator.cli().args([
        "prune",
        "--release-prefix",
        "gio-node-custom",
        "--keep",
        "0",
        "--disable",
        "--yes",
    ]))
    .success();

    let again = run(emulator.cli().args(args)).failure();
    assert!(
        again.stderr.contains(&format!("`gio-node-custom` is taken by {disabled}, which is disabled")),
        "{}",
        again.stderr
    );
    assert!(
        !again.stderr.contains("snap-"),
        "no snapshot was started, so none was abandoned: {}",
        again.stderr
    );
    assert_eq!(own_snapshots(&emulator).await.len(), 1);
}

/// Spawns an upload of a dense image through one worker (slow enough to act during it) and
/// returns it once it reports the upload started, with the rest of its stderr to come.
fn start_slow_upload(
    emulator: &Emulator,
    image: &Path,
    extra: &[&str],
) -> (std::process::Child, JoinHandle<String>) {
    let mut child = emulator
        .cli()
        .args(["upload", image.to_str().unwrap(), "--workers", "1"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("uploading") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "gio-ami ended before uploading");
    }
    // Keep draining stderr so the child never blocks on a full pipe, and keep its text.
    (child, std::thread::spawn(move || std::io::read_to_string(stderr).unwrap()))
}

#[tokio::test]
async fn ctrl_c_mid_upload_deletes_the_unfinished_snapshot() {
    let emulator = Emulator::start();
    let dir = scratch("ctrl-c");
    let blocks: Vec<usize> = (0..512).collect();
    let image = write_image(&dir, "big.raw", 512 * BLOCK, &blocks);

    let (child, stderr) = start_slow_upload(&emulator, &image, &[]);
    assert_eq!(own_snapshots(&emulator).await.len(), 1, "the upload's snapshot exists while it runs");
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = support::output_of(child);
    let stderr = stderr.join().unwrap();

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted") && stderr.contains("was deleted"), "{stderr}");
    assert_eq!(own_snapshots(&emulator).await.len(), 0, "nothing billable left");
}

#[tokio::test]
async fn a_failing_registration_leaves_no_snapshot() {
    let emulator = Emulator::start();
    let dir = scratch("register-fails");
    let ec2 = emulator.ec2().await;
    // An extra disk from a snapshot that exists when the upload is planned, and is deleted
    // while it runs: RegisterImage then refuses the mapping.
    let volume = ec2.create_volume().availability_zone(format!("{REGION}a")).size(2).send().await.unwrap();
    let doomed = ec2.create_snapshot().volume_id(volume.volume_id().unwrap()).send().await.unwrap();
    let doomed = doomed.snapshot_id().unwrap().to_string();
    ec2.delete_volume().volume_id(volume.volume_id().unwrap()).send().await.unwrap();
    let blocks: Vec<usize> = (0..256).collect();
    let image = write_image(&dir, "node.raw", 256 * BLOCK, &blocks);

    let disk = format!("/dev/xvdb={doomed}");
    let (child, stderr) =
        start_slow_upload(&emulator, &image, &["--register", "--name", "gio-node-doomed", "--disk", &disk]);
    ec2.delete_snapshot().snapshot_id(&doomed).send().await.unwrap();
    let output = support::output_of(child);
    let stderr = stderr.join().unwrap();

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("RegisterImage") && stderr.contains("was deleted"), "{stderr}");
    assert_eq!(own_snapshots(&emulator).await.len(), 0, "the uploaded snapshot was deleted too");
    let images = ec2.describe_images().owners("self").send().await.unwrap();
    assert!(images.images().is_empty());
}

#[tokio::test]
async fn a_qcow2_image_is_converted_with_qemu_img_and_its_absence_is_explained() {
    let emulator = Emulator::start();
    let dir = scratch("qcow2");
    let raw = write_image(&dir, "node.raw", 6 * BLOCK, &[1, 4]);
    let qcow2 = dir.join("node.qcow2");
    let converted = std::process::Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .args([&raw, &qcow2])
        .status()
        .expect("qemu-img (apt-get install qemu-utils)");
    assert!(converted.success());

    let without =
        run(emulator.cli().env("PATH", "/nonexistent").args(["upload", qcow2.to_str().unwrap()])).failure();
    assert!(
        without.stderr.contains("qcow2 image") && without.stderr.contains("apt-get install qemu-utils"),
        "{}",
        without.stderr
    );
    assert!(own_snapshots(&emulator).await.is_empty());

    let uploaded =
        run(emulator.cli().args(["upload", qcow2.to_str().unwrap(), "--output", "json"])).success().json();
    assert_eq!(uploaded["blocks_sent"], 2);
    let back = dir.join("back.raw");
    run(emulator.cli().args(["download", uploaded["snapshot_id"].as_str().unwrap(), back.to_str().unwrap()]))
        .success();
    assert_same_disk(&raw, &back);
}

#[tokio::test]
async fn downloading_an_unknown_snapshot_says_so() {
    let emulator = Emulator::start();
    let target = scratch("unknown").join("never.raw");
    let failed = run(emulator.cli().args(["download", "snap-12345678", target.to_str().unwrap()])).failure();
    assert!(failed.stderr.contains("snapshot snap-12345678 was not found in eu-west-1"), "{}", failed.stderr);
    assert!(!target.exists(), "no file is left behind");
}

#[tokio::test]
async fn an_empty_image_is_refused_before_any_call_and_leaves_no_snapshot() {
    let emulator = Emulator::start();
    let empty = scratch("empty").join("empty.raw");
    std::fs::write(&empty, b"").unwrap();
    let said = format!("{} is empty (0 bytes)", empty.display());

    let refused = run(emulator.cli().args(["upload", empty.to_str().unwrap(), "--register"])).failure();
    assert!(refused.stderr.contains(&said), "{}", refused.stderr);
    assert!(own_snapshots(&emulator).await.is_empty(), "no snapshot was started");
    let images = emulator.ec2().await.describe_images().owners("self").send().await.unwrap();
    assert!(images.images().is_empty(), "no AMI was registered");

    // No region and no credentials: the refusal comes before gio-ami needs AWS at all.
    let offline = run(support::bare_cli().args(["upload", empty.to_str().unwrap()])).failure();
    assert!(offline.stderr.contains(&said), "{}", offline.stderr);
}

/// Overwrites one byte of block `index` of the image with `value`.
fn edit(image: &Path, index: usize, value: u8) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(image).unwrap();
    file.write_at(&[value], (index * BLOCK + 17) as u64).unwrap();
}

/// Zeroes block `index` of the image.
fn blank(image: &Path, index: usize) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(image).unwrap();
    file.write_at(&vec![0; BLOCK], (index * BLOCK) as u64).unwrap();
}

#[tokio::test]
async fn an_upload_chain_sends_only_what_changed_and_each_version_reads_back_whole() {
    let emulator = Emulator::start();
    let dir = scratch("chain");
    let manifests = dir.join("manifests");
    // Every request goes through a proxy that counts them: what EBS received, not what gio-ami says.
    let proxy = emulator.proxied(support::faults::Faults::new(0.0, 1));
    let puts = std::cell::Cell::new(0);
    let upload_to = |image: &Path, manifests: &Path, extra: &[&str]| {
        let mut args = vec![
            "upload",
            image.to_str().unwrap(),
            "--manifest-dir",
            manifests.to_str().unwrap(),
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        let uploaded = run(proxy.cli().args(&args)).success().json();
        let total = blocks_put(&proxy.tally());
        assert_eq!(
            uploaded["blocks_sent"].as_u64(),
            Some((total - puts.replace(total)) as u64),
            "{uploaded}"
        );
        uploaded
    };
    let upload = |image: &Path, extra: &[&str]| upload_to(image, &manifests, extra);
    let read_back = |snapshot: &str, image: &Path| {
        let back = dir.join(format!("{snapshot}.raw"));
        run(emulator.cli().args(["download", snapshot, back.to_str().unwrap()])).success();
        assert_same_disk(image, &back);
    };

    // Version 1: data in blocks 0, 1, 2 and 5 of 8.
    let v1 = write_image(&dir, "v1.raw", 8 * BLOCK, &[0, 1, 2, 5]);
    let first = upload(&v1, &[]);
    let snap1 = first["snapshot_id"].as_str().unwrap().to_string();
    assert_eq!((first["blocks_sent"].as_u64(), first["blocks_skipped"].as_u64()), (Some(4), Some(4)));
    assert!(Path::new(first["manifest"].as_str().unwrap()).exists(), "{first}");

    // Version 2: block 1 changed, block 2 blanked, block 6 new: three blocks to send (the
    // blanked one as zeros, or the child would keep the parent's data), 0 and 5 inherited.
    let v2 = dir.join("v2.raw");
    std::fs::copy(&v1, &v2).unwrap();
    edit(&v2, 1, 0xee);
    blank(&v2, 2);
    edit(&v2, 6, 0x42);
    let second = upload(&v2, &["--parent", &snap1]);
    let snap2 = second["snapshot_id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            second["blocks_sent"].as_u64(),
            second["blocks_inherited"].as_u64(),
            second["blocks_skipped"].as_u64()
        ),
        (Some(3), Some(2), Some(3)),
        "{second}"
    );
    assert_eq!(second["parent"], snap1.as_str());
    read_back(&snap2, &v2);
    read_back(&snap1, &v1);

    // Version 3, from version 2's image instead of its manifest: one block changed, one sent.
    let v3 = dir.join("v3.raw");
    std::fs::copy(&v2, &v3).unwrap();
    edit(&v3, 5, 0x11);
    let elsewhere = dir.join("elsewhere");
    let third = upload_to(&v3, &elsewhere, &["--parent", &snap2, "--parent-image", v2.to_str().unwrap()]);
    assert_eq!(
        (third["blocks_sent"].as_u64(), third["blocks_inherited"].as_u64()),
        (Some(1), Some(3)),
        "{third}"
    );
    let snap3 = third["snapshot_id"].as_str().unwrap().to_string();
    read_back(&snap3, &v3);
    assert_eq!(own_snapshots(&emulator).await.len(), 3);

    // EBS bills the first version for its 4 blocks and each later one for what it changed.
    let cost = run(emulator.cli().args(["cost", "--exact", "--output", "json"])).success().json();
    let exact = &cost["exact"];
    let billed: Vec<(String, Option<String>, u64)> = exact["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["snapshot"].as_str().unwrap().to_string(),
                b["previous"].as_str().map(str::to_string),
                b["blocks"].as_u64().unwrap(),
            )
        })
        .collect();
    for expected in [
        (snap1.clone(), None, 4),
        (snap2.clone(), Some(snap1.clone()), 3),
        (snap3.clone(), Some(snap2.clone()), 1),
    ] {
        assert!(billed.contains(&expected), "{expected:?} in {billed:?}");
    }
    assert_eq!(exact["billed_gib"].as_f64(), Some(8.0 * 0.5 / 1024.0), "{cost}");
    assert_eq!(exact["requests"], 3, "one page a snapshot: {cost}");
    assert_eq!(cost["total_gib"], 3, "full sizes stay beside the billed ones");
    assert!(cost["warnings"].as_array().unwrap().is_empty(), "{cost}");
}

#[tokio::test]
async fn a_parent_that_cannot_be_one_is_refused_before_any_block_is_sent() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir = scratch("bad-parent");
    let small = write_image(&dir, "small.raw", 2 * BLOCK, &[0]);
    let refused = |parent: &str, extra: &[&str]| {
        let mut args = vec!["upload", small.to_str().unwrap(), "--parent", parent];
        args.extend_from_slice(extra);
        run(emulator.cli().args(&args)).failure().stderr
    };
    // A 2 GiB snapshot cannot be the parent of a 1 GiB one: a volume only grows.
    let big = support::new_snapshot(&ec2, 2, "a 2 GiB disk").await;
    let shrunk = refused(&big, &[]);
    assert!(shrunk.contains("it is 2 GiB and this image makes a 1 GiB snapshot"), "{shrunk}");
    // A parent whose blocks are known nowhere.
    let parent = run(emulator.cli().args(["upload", small.to_str().unwrap(), "--output", "json"]))
        .success()
        .json()["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ebs = aws_sdk_ebs::Client::new(&emulator.config(REGION).await);
    let pending = ebs.start_snapshot().volume_size(1).send().await.unwrap().snapshot_id.unwrap();
    let unfinished = refused(&pending, &[]);
    assert!(unfinished.contains("not completed"), "{unfinished}");
    let missing = refused("snap-0123456789abcdef0", &[]);
    assert!(missing.contains("no such snapshot"), "{missing}");
    let alias = refused(&parent, &["--kms-key", "alias/ebs"]);
    assert!(alias.contains("not a KMS key ARN") && alias.contains("describe-key"), "{alias}");
    let encrypted = refused(&parent, &["--kms-key", "arn:aws:kms:eu-west-1:123456789012:key/k"]);
    assert!(encrypted.contains("drop --kms-key"), "{encrypted}");
    let misused = |args: &[&str]| {
        let run = run(emulator.cli().arg("upload").arg(&small).args(args));
        assert_eq!(run.status.code(), Some(2), "a usage error: {}", run.stderr);
        run.stderr
    };
    assert!(misused(&["--parent-ami", "ami-0123456789abcdef0"]).contains("--register"));
    assert!(misused(&["--register", "--parent", &parent, "--parent-ami", "ami-0123456789abcdef0"])
        .contains("cannot be used with"));
    assert!(misused(&["--parent-image", "old.raw"]).contains("--parent"));
    assert_eq!(own_snapshots(&emulator).await.len(), 3, "nothing was started");
}

#[tokio::test]
async fn an_unencrypted_parent_under_encryption_by_default_is_refused_before_any_block_is_sent() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir = scratch("unencrypted-parent");
    let v1 = write_image(&dir, "v1.raw", 2 * BLOCK, &[0]);
    let v2 = write_image(&dir, "v2.raw", 2 * BLOCK, &[0, 1]);
    let parent = run(emulator.cli().args(["upload", v1.to_str().unwrap(), "--output", "json"]))
        .success()
        .json()["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    ec2.enable_ebs_encryption_by_default().send().await.unwrap();

    let proxy = emulator.proxied(support::faults::Faults::new(0.0, 0));
    let refused = run(proxy.cli().args(["upload", v2.to_str().unwrap(), "--parent", &parent])).failure();
    assert!(
        refused.stderr.contains("it is unencrypted, and this account encrypts new EBS snapshots by default"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--encrypted") && refused.stderr.contains("without --parent"),
        "{}",
        refused.stderr
    );
    let tally = proxy.tally();
    assert!(
        !tally.operations.iter().any(|o| o.starts_with("POST /snapshots")),
        "no StartSnapshot: {tally:?}"
    );
    assert_eq!(blocks_put(&tally), 0);
    assert_eq!(own_snapshots(&emulator).await.len(), 1, "nothing was started");
}

/// The operations of PutSnapshotBlock requests a proxy saw.
fn blocks_put(tally: &support::faults::Tally) -> usize {
    tally.operations.iter().filter(|o| o.starts_with("PUT /snapshots/")).count()
}

#[tokio::test]
async fn without_manifest_or_image_the_parent_is_read_back_and_still_only_changes_are_sent() {
    let emulator = Emulator::start();
    let dir = scratch("read-back");
    let v1 = write_image(&dir, "v1.raw", 8 * BLOCK, &[0, 1, 3]);
    let first = run(emulator.cli().args([
        "upload",
        v1.to_str().unwrap(),
        "--manifest-dir",
        dir.join("a").to_str().unwrap(),
        "--output",
        "json",
    ]))
    .success()
    .json();
    let snap1 = first["snapshot_id"].as_str().unwrap().to_string();
    let v2 = dir.join("v2.raw");
    std::fs::copy(&v1, &v2).unwrap();
    edit(&v2, 3, 0x99);

    let proxy = emulator.proxied(support::faults::Faults::new(0.0, 1));
    let manifests = dir.join("b");
    let args = [
        "upload",
        v2.to_str().unwrap(),
        "--parent",
        &snap1,
        "--manifest-dir",
        manifests.to_str().unwrap(),
        "--output",
        "json",
    ];
    let dry = run(proxy.cli().args(args).arg("--dry-run")).success().json();
    assert!(
        dry.to_string().contains("a full read of the parent"),
        "the dry run says what reading it costs: {dry}"
    );
    let second = run(proxy.cli().args(args)).success().json();
    let tally = proxy.tally();
    let reads = tally
        .operations
        .iter()
        .filter(|o| o.starts_with("GET /snapshots/") && o.contains("/blocks/"))
        .count();
    assert_eq!(
        reads, 3,
        "each block the parent holds read once, none by the dry run: {:?}",
        tally.operations
    );
    assert_eq!(blocks_put(&tally), 1, "only the changed block is sent");
    assert_eq!(
        (second["blocks_sent"].as_u64(), second["blocks_inherited"].as_u64()),
        (Some(1), Some(2)),
        "{second}"
    );
    let back = dir.join("back.raw");
    run(emulator.cli().args(["download", second["snapshot_id"].as_str().unwrap(), back.to_str().unwrap()]))
        .success();
    assert_same_disk(&v2, &back);
}

#[tokio::test]
async fn an_upload_chain_of_amis_names_each_parent_and_lineage_shows_it() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir = scratch("parent-ami");
    let manifests = dir.join("manifests");
    let upload = |image: &Path, name: &str, extra: &[&str]| {
        let mut args = vec![
            "upload",
            image.to_str().unwrap(),
            "--register",
            "--name",
            name,
            "--manifest-dir",
            manifests.to_str().unwrap(),
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        run(emulator.cli().args(&args)).success().json()
    };
    let v1 = write_image(&dir, "v1.raw", 4 * BLOCK, &[0, 2]);
    let first = upload(&v1, "node-v1", &[]);
    let ami1 = first["image_id"].as_str().unwrap().to_string();
    edit(&v1, 2, 0x5a);
    let second = upload(&v1, "node-v2", &["--parent-ami", &ami1]);
    let (ami2, snap2) = (second["image_id"].as_str().unwrap(), second["snapshot_id"].as_str().unwrap());
    assert_eq!(
        (second["blocks_sent"].as_u64(), second["blocks_inherited"].as_u64()),
        (Some(1), Some(1)),
        "{second}"
    );
    assert_eq!(second["parent"], first["snapshot_id"], "the parent is the first AMI's root snapshot");

    let image = ec2.describe_images().image_ids(ami2).send().await.unwrap().images()[0].clone();
    let tag = |tags: &[aws_sdk_ec2::types::Tag], key: &str| {
        tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string)
    };
    assert_eq!(tag(image.tags(), "gio-ami:parent-ami").as_deref(), Some(ami1.as_str()));
    let snapshot = ec2.describe_snapshots().snapshot_ids(snap2).send().await.unwrap().snapshots()[0].clone();
    assert_eq!(
        tag(snapshot.tags(), "gio-ami:parent-snapshot"),
        first["snapshot_id"].as_str().map(str::to_string)
    );

    let lineage = run(emulator.cli().args(["lineage", ami2, "--output", "json"])).success().json();
    assert!(lineage.to_string().contains(&ami1), "{lineage}");
}

#[tokio::test]
async fn a_stalled_block_fails_the_upload_naming_it_and_deletes_the_snapshot() {
    let emulator = Emulator::start();
    let dir = scratch("stall");
    let image = write_image(&dir, "disk.raw", 4 * BLOCK, &[1]);
    let stalling =
        support::faults::Faults::new(1.0, 3).only(&["PUT /snapshots"]).kinds(&[support::faults::Fault::Slow]);
    let proxy = emulator.proxied(stalling);
    let failed = run(proxy.cli().args(["upload", image.to_str().unwrap()]).env("AWS_MAX_ATTEMPTS", "2"))
        .failure()
        .stderr;
    assert!(failed.contains("block 1 of snap-") && failed.contains("after 2 attempts"), "{failed}");
    assert!(failed.contains("was deleted"), "{failed}");
    assert_eq!(blocks_put(&proxy.tally()), 2, "two attempts, no more");
    assert_eq!(own_snapshots(&emulator).await.len(), 0, "nothing billable left");
}

#[tokio::test]
async fn an_encrypted_upload_sends_its_zero_blocks_too_and_its_ami_launches() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir = scratch("encrypted");
    let image = write_image(&dir, "disk.raw", 4 * BLOCK, &[0, 2]);
    let key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let uploaded = run(emulator.cli().args([
        "upload",
        image.to_str().unwrap(),
        "--kms-key",
        key,
        "--register",
        "--name",
        "sealed",
        "--output",
        "json",
    ]))
    .success()
    .json();
    // An encrypted snapshot's unwritten blocks read as random data, not zeros: all of them go.
    assert_eq!(
        (uploaded["blocks_sent"].as_u64(), uploaded["blocks_skipped"].as_u64()),
        (Some(2048), Some(0)),
        "{uploaded}"
    );
    let snapshot_id = uploaded["snapshot_id"].as_str().unwrap();
    assert_eq!(stored_blocks(&emulator, snapshot_id).await.len(), 2048);
    let snapshot =
        ec2.describe_snapshots().snapshot_ids(snapshot_id).send().await.unwrap().snapshots()[0].clone();
    assert_eq!((snapshot.encrypted(), snapshot.kms_key_id()), (Some(true), Some(key)));

    let ami = uploaded["image_id"].as_str().unwrap();
    let launched = ec2
        .run_instances()
        .image_id(ami)
        .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = launched.instances()[0].instance_id().unwrap();
    let described = ec2.describe_instances().instance_ids(instance).send().await.unwrap();
    let state = described.reservations()[0].instances()[0].state().and_then(|s| s.name()).cloned();
    assert!(
        matches!(
            state,
            Some(
                aws_sdk_ec2::types::InstanceStateName::Running
                    | aws_sdk_ec2::types::InstanceStateName::Pending
            )
        ),
        "{state:?}"
    );
    let image = ec2.describe_images().image_ids(ami).send().await.unwrap().images()[0].clone();
    assert_eq!(image.block_device_mappings()[0].ebs().and_then(|e| e.encrypted()), Some(true));
}

/// Issue 34: an archived snapshot is a full copy, and archiving one a later snapshot still
/// references frees nothing in the standard tier (Archiving guidelines): `cost` says archiving the
/// unused parent of a running child costs more, where it used to promise a saving.
#[tokio::test]
async fn cost_says_archiving_the_parent_of_a_running_incremental_child_costs_more() {
    let emulator = Emulator::start();
    let dir = scratch("archive-loss");
    let upload = |image: &Path, name: &str, extra: &[&str]| {
        let mut args =
            vec!["upload", image.to_str().unwrap(), "--register", "--name", name, "--output", "json"];
        args.extend_from_slice(extra);
        run(emulator.cli().args(&args)).success().json()
    };
    let disk = write_image(&dir, "v1.raw", 8 * BLOCK, &[0, 1, 2, 3, 4, 5]);
    let first = upload(&disk, "node-v1", &[]);
    let (parent_ami, parent) = (first["image_id"].as_str().unwrap(), first["snapshot_id"].as_str().unwrap());
    edit(&disk, 2, 0x5a);
    let second = upload(&disk, "node-v2", &["--parent-ami", parent_ami]);
    let (child_ami, child) = (second["image_id"].as_str().unwrap(), second["snapshot_id"].as_str().unwrap());
    assert_eq!(second["blocks_sent"].as_u64(), Some(1), "an incremental child: {second}");
    // The cluster prod runs the child; nothing runs the parent, an archive candidate.
    support::node_running(&emulator, "prod", child_ami).await;
    std::fs::write(dir.join("gio-ami.toml"), support::spec("cost").replace("ami-12345678", child_ami))
        .unwrap();

    let cost =
        run(emulator.cli().current_dir(&dir).args(["cost", "--exact", "--output", "json"])).success().json();
    assert_eq!(cost["unused_amis"], serde_json::json!([parent_ami]), "{cost}");
    let archiving = cost["archiving"].as_array().unwrap();
    assert_eq!(archiving.len(), 1, "{cost}");
    let held = 6.0 * BLOCK as f64 / (1u64 << 30) as f64;
    assert_eq!(archiving[0]["snapshot"], parent);
    assert_eq!(archiving[0]["referenced_by"], child, "{cost}");
    assert_eq!(archiving[0]["archived_gib"].as_f64(), Some(held), "the full copy: all 6 blocks");
    assert_eq!(archiving[0]["freed_gib"].as_f64(), Some(0.0), "the child keeps them billed");
    let saves = cost["archiving_unused_saves_usd_per_month"].as_f64().unwrap();
    assert!(saves < 0.0 && (saves + held * 0.0125).abs() < 1e-12, "{cost}");

    let table = run(emulator.cli().current_dir(&dir).args(["cost", "--exact"])).success();
    assert!(
        table.stdout.contains("would cost") && table.stdout.contains("USD/month more"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains(&format!("{child}, a later snapshot of its lineage")), "{}", table.stdout);
}
