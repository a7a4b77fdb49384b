//! Every mutating command's `--dry-run --output json` against one emulator: the report has the
//! shared shape (plan, applied, outcomes, summary), and the emulator holds exactly what it held
//! before. One emulator serves every story (each makes its own resources): one test starts it once and
//! runs the stories in turn.

use crate::support;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use support::{
    account_state, assert_unapplied_report, register_root_image, run, write_image, Emulator, BLOCK, REGION,
};

const FRIEND: &str = "111122223333";
const OTHER_REGION: &str = "us-east-1";

type Story = for<'a> fn(&'a Emulator) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs `args` as a dry run in `dir`, and checks the report's shape (its schema too) and that
/// nothing changed.
async fn dry_run(emulator: &Emulator, dir: Option<&PathBuf>, args: &[&str]) -> serde_json::Value {
    let before = account_state(emulator).await;
    let mut command = emulator.cli();
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = run(command.args(args).args(["--dry-run", "--output", "json"])).success();
    support::reports::assert_valid(args[0], &out.stdout);
    let report = out.json();
    assert_unapplied_report(&report);
    assert_eq!(account_state(emulator).await, before, "{args:?} --dry-run changed the emulator");
    report
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dry-run-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A project whose cluster prod publishes to support::PARAMETER.
fn project() -> PathBuf {
    let dir = scratch("project");
    std::fs::write(dir.join("gio-ami.toml"), support::spec("dry-run-project")).unwrap();
    dir
}

fn actions(report: &serde_json::Value) -> Vec<String> {
    report["plan"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect()
}

fn wipe(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let ami = register_root_image(&emulator.ec2().await, "dry-wipe").await;
        let report = dry_run(emulator, None, &["wipe", &ami]).await;
        assert_eq!(actions(&report), ["deregister_image", "delete_snapshot"]);
        assert_eq!(report["plan"]["freed_gib"], 8);
    })
}

fn prune(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let ec2 = emulator.ec2().await;
        register_root_image(&ec2, "dry-prune-1").await;
        register_root_image(&ec2, "dry-prune-2").await;
        let report =
            dry_run(emulator, None, &["prune", "--release-prefix", "dry-prune-", "--keep", "1"]).await;
        assert_eq!(report["summary"]["planned"], 2, "one AMI and its snapshot: {report}");
    })
}

fn gc(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        dry_run(emulator, None, &["gc"]).await;
    })
}

fn disks_add(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let source = register_root_image(&emulator.ec2().await, "dry-disks").await;
        let report = dry_run(emulator, None, &["disks", "add", &source, "--disk", "/dev/xvdb=5"]).await;
        assert_eq!(actions(&report), ["register_image"]);
        // Once registered, a re-run's plan reuses it, and says so before anything happens.
        let made =
            run(emulator.cli().args(["disks", "add", &source, "--disk", "/dev/xvdb=5", "--output", "json"]))
                .success()
                .json();
        let again = dry_run(emulator, None, &["disks", "add", &source, "--disk", "/dev/xvdb=5"]).await;
        assert_eq!(again["plan"]["actions"][0]["action"], "reuse");
        assert_eq!(again["plan"]["actions"][0]["id"], made["outcomes"][0]["id"]);
        assert!(
            again["plan"]["actions"][0]["why"].as_str().unwrap().contains("made by this step: reused"),
            "{again}"
        );
    })
}

fn upload_register(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let image = write_image(&scratch("upload"), "dry-upload.raw", 2 * BLOCK, &[0]);
        let report = dry_run(emulator, None, &["upload", image.to_str().unwrap(), "--register"]).await;
        assert_eq!(actions(&report), ["upload_snapshot", "register_image"]);
    })
}

fn share(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let ami = register_root_image(&emulator.ec2().await, "dry-share").await;
        let report = dry_run(emulator, None, &["share", &ami, "--account", FRIEND]).await;
        assert_eq!(actions(&report), ["modify_create_volume_permission", "modify_launch_permission"]);
        let unshare = dry_run(emulator, None, &["share", &ami, "--account", FRIEND, "--unshare"]).await;
        assert_eq!(unshare["plan"]["grant"], false);
        let org: serde_json::Value = serde_json::from_str(&emulator.fixture(&["organization"])).unwrap();
        let with_org =
            dry_run(emulator, None, &["share", &ami, "--org", org["organization"].as_str().unwrap()]).await;
        assert_eq!(actions(&with_org), ["modify_launch_permission"]);
    })
}

fn archive(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let (ami, _) = support::tagged_release(&emulator.ec2().await, "dry-archive").await;
        let report = dry_run(emulator, None, &["archive", &ami]).await;
        assert_eq!(actions(&report), ["deregister_image", "archive_snapshot", "archive_snapshot"]);
        // Archived for real, and 7 hours later (the emulator's clock) done: unarchive's dry run.
        run(emulator.cli().args(["archive", &ami, "--yes"])).success();
        emulator.set_clock("7h");
        let unarchive = dry_run(emulator, None, &["unarchive", &ami, "--temporary", "3d"]).await;
        emulator.set_clock("0");
        assert_eq!(actions(&unarchive), ["restore_from_archive", "restore_from_archive"]);
    })
}

/// Last: the rules it writes would keep what the stories before it delete.
fn recycle_bin_and_restore(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let report = dry_run(emulator, None, &["recycle-bin", "--retain", "7d"]).await;
        assert_eq!(actions(&report), ["retain_in_recycle_bin", "retain_in_recycle_bin"]);
        let (ami, _) = support::tagged_release(&emulator.ec2().await, "dry-restore").await;
        run(emulator.cli().args(["recycle-bin", "--retain", "7d"])).success();
        support::recycle_bin_active(emulator).await;
        run(emulator.cli().args(["wipe", &ami, "--yes"])).success();
        let restore = dry_run(emulator, None, &["restore", &ami]).await;
        emulator.set_clock("0");
        assert_eq!(actions(&restore), ["restore_snapshot", "restore_snapshot", "restore_image"]);
    })
}

fn publish_and_rollback(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let dir = project();
        let ec2 = emulator.ec2().await;
        let (first, second) = (
            register_root_image(&ec2, "dry-publish-1").await,
            register_root_image(&ec2, "dry-publish-2").await,
        );
        let report = dry_run(emulator, Some(&dir), &["publish", &first, "--cluster", "prod"]).await;
        assert_eq!(actions(&report), ["put_parameter", "tag_image"]);
        for ami in [&first, &second] {
            run(emulator.cli().current_dir(&dir).args(["publish", ami, "--cluster", "prod"])).success();
        }
        let rollback = dry_run(emulator, Some(&dir), &["publish", "--rollback", "--cluster", "prod"]).await;
        assert_eq!(rollback["plan"]["actions"][0]["value"], first.as_str());
    })
}

fn adopt(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let ami = register_root_image(&emulator.ec2().await, "dry-adopt").await;
        let report = dry_run(emulator, None, &["adopt", &ami, "--contact", "ops@example.org"]).await;
        assert_eq!(actions(&report), ["tag_image"]);
    })
}

fn copy(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let ami = register_root_image(&emulator.ec2().await, "dry-copy").await;
        let report = dry_run(emulator, None, &["copy", &ami, "--to", OTHER_REGION, "--to", REGION]).await;
        assert_eq!(actions(&report), ["copy_image", "reuse"]);
        let there = aws_sdk_ec2::Client::new(&emulator.config(OTHER_REGION).await);
        let images = there.describe_images().owners("self").send().await.unwrap();
        assert!(images.images().is_empty(), "nothing was copied to {OTHER_REGION}");
    })
}

fn build(emulator: &Emulator) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let dir = scratch("build");
        std::fs::write(dir.join("gio-ami.toml"), support::spec("dry-run-build")).unwrap();
        std::fs::write(dir.join("provision.sh"), "#!/bin/sh\necho provisioning\n").unwrap();
        let report = dry_run(emulator, Some(&dir), &["build"]).await;
        assert_eq!(actions(&report), ["build_image"]);
        assert_eq!(report["plan"]["name"], "dry-build-1.31-1");
    })
}

const STORIES: &[(&str, Story)] = &[
    ("wipe", wipe),
    ("prune", prune),
    ("gc", gc),
    ("disks_add", disks_add),
    ("upload_register", upload_register),
    ("share", share),
    ("publish_and_rollback", publish_and_rollback),
    ("adopt", adopt),
    ("copy", copy),
    ("build", build),
    ("archive", archive),
    ("recycle_bin_and_restore", recycle_bin_and_restore),
];

/// One test for every story, against one emulator started for them all (each story makes its own
/// resources, so they cannot see each other's); a failing story is named, and the others still run.
/// `DRY_RUN_STORY=NAME` runs only the stories whose name contains NAME.
#[test]
fn every_mutating_command_dry_run_changes_nothing() {
    let filter = std::env::var("DRY_RUN_STORY").ok();
    let chosen: Vec<&(&str, Story)> =
        STORIES.iter().filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f))).collect();
    let emulator = Emulator::start();
    let mut failed = Vec::new();
    for (name, story) in &chosen {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        if std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(story(&emulator)))).is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "dry-run stories failed: {failed:?}");
}
