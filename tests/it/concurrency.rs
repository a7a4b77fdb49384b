//! The same mutating command, started by several processes at once (two CI jobs, a script run
//! twice): they converge to one outcome. Each process exits 0, or 1 with one clear error, and
//! the emulator holds what one run leaves: never a second AMI of a name, a second copy in a
//! region, or a parameter on anything but the published AMI.

use crate::support;

use aws_sdk_ec2::types::Filter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{finish, register_root_image, run, Emulator, Run, PARAMETER, REGION};

/// How many processes race: more than two finds races a pair might miss; each is a gio-ami
/// process on a machine of two cores.
const RACERS: usize = 3;

/// Starts RACERS processes of `make()` at once, then waits for all of them.
fn race(make: impl Fn() -> Command) -> Vec<Run> {
    let children: Vec<_> = (0..RACERS)
        .map(|_| make().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start gio-ami"))
        .collect();
    children.into_iter().map(finish).collect()
}

/// Every racer succeeded, or failed cleanly: exit 1 and one `error: ` paragraph.
fn each_finished_or_failed_cleanly(runs: &[Run]) {
    for run in runs {
        if !run.status.success() {
            assert_eq!(run.status.code(), Some(1), "stderr:\n{}", run.stderr);
            let error = run
                .stderr
                .lines()
                .find(|l| l.starts_with("error: "))
                .unwrap_or_else(|| panic!("no error line:\n{}", run.stderr));
            assert!(error.len() > "error: ".len() + 10, "an error that says nothing: {error}");
        }
    }
    assert!(
        runs.iter().any(|r| r.status.success()),
        "every racer failed:\n{}",
        runs.iter().map(|r| r.stderr.as_str()).collect::<Vec<_>>().join("\n---\n")
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("race-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn image_ids(ec2: &aws_sdk_ec2::Client, name: Option<&str>) -> Vec<String> {
    let mut request = ec2.describe_images().owners("self");
    if let Some(name) = name {
        request = request.filters(Filter::builder().name("name").values(name).build());
    }
    request.send().await.unwrap().images().iter().filter_map(|i| i.image_id()).map(str::to_string).collect()
}

async fn snapshot_ids(ec2: &aws_sdk_ec2::Client) -> Vec<String> {
    let snapshots = ec2.describe_snapshots().owner_ids("self").send().await.unwrap();
    snapshots.snapshots().iter().filter_map(|s| s.snapshot_id()).map(str::to_string).collect()
}

#[tokio::test]
async fn racing_wipes_remove_the_ami_and_its_snapshots_once() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let doomed = register_root_image(&ec2, "gio-node-old").await;
    let kept = register_root_image(&ec2, "gio-node-new").await;
    let runs = race(|| {
        let mut cli = emulator.cli();
        cli.args(["wipe", &doomed, "--yes"]);
        cli
    });
    each_finished_or_failed_cleanly(&runs);
    assert_eq!(
        image_ids(&ec2, None).await,
        std::slice::from_ref(&kept),
        "the other AMI stays, the wiped one is gone"
    );
    let images = ec2.describe_images().image_ids(&kept).send().await.unwrap();
    let kept_snapshot =
        images.images()[0].block_device_mappings()[0].ebs().unwrap().snapshot_id().unwrap().to_string();
    assert_eq!(snapshot_ids(&ec2).await, [kept_snapshot], "the wiped AMI's snapshot is gone");
}

#[tokio::test]
async fn racing_disks_add_with_one_name_makes_one_ami() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let source = register_root_image(&ec2, "gio-node-1.31").await;
    let runs = race(|| {
        let mut cli = emulator.cli();
        cli.args(["disks", "add", &source, "--disk", "/dev/xvdb=50", "--name", "gio-node-with-data"]);
        cli
    });
    each_finished_or_failed_cleanly(&runs);
    let made = image_ids(&ec2, Some("gio-node-with-data")).await;
    assert_eq!(made.len(), 1, "one AMI of that name: {made:?}");
    assert_eq!(image_ids(&ec2, None).await.len(), 2, "the source and the one new AMI");
    // A new empty disk needs no snapshot: both AMIs share the root's.
    assert_eq!(snapshot_ids(&ec2).await.len(), 1);
}

#[tokio::test]
async fn racing_publishes_leave_the_parameter_on_the_ami() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let dir = scratch("publish");
    support::write_cluster_spec(&dir);
    let first = register_root_image(&ec2, "gio-node-1").await;
    let second = register_root_image(&ec2, "gio-node-2").await;
    run(emulator.cli().current_dir(&dir).args(["publish", &first, "--cluster", "prod"])).success();
    let runs = race(|| {
        let mut cli = emulator.cli();
        cli.current_dir(&dir).args(["publish", &second, "--cluster", "prod"]);
        cli
    });
    each_finished_or_failed_cleanly(&runs);
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    let history = ssm.get_parameter_history().name(PARAMETER).send().await.unwrap();
    let mut values: Vec<&str> = history.parameters().iter().filter_map(|p| p.value()).collect();
    // Each racer may write the value (a repeated PutParameter is a new version, as on AWS).
    values.dedup();
    assert_eq!(values, [first.as_str(), second.as_str()], "the parameter moved once, to the published AMI");
    let image = ec2.describe_images().image_ids(&second).send().await.unwrap();
    let clusters =
        image.images()[0].tags().iter().find(|t| t.key() == Some("gio-ami:clusters")).and_then(|t| t.value());
    assert_eq!(clusters, Some("prod"), "the AMI records the cluster once");
}

#[tokio::test]
async fn racing_copies_make_one_copy_per_region() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let ami = register_root_image(&ec2, "gio-node-7").await;
    run(emulator.cli().args(["adopt", &ami, "--contact", "ops@example.org"])).success();
    let regions = ["us-east-1", "ap-southeast-2"];
    let runs = race(|| {
        let mut cli = emulator.cli();
        cli.args(["copy", &ami, "--to", regions[0], "--to", regions[1]]);
        cli
    });
    each_finished_or_failed_cleanly(&runs);
    for region in regions {
        let there = aws_sdk_ec2::Client::new(&emulator.config(region).await);
        let copies = image_ids(&there, None).await;
        assert_eq!(copies.len(), 1, "{region}: one copy, not one per racer: {copies:?}");
        assert_eq!(snapshot_ids(&there).await.len(), 1, "{region}: the copy's one snapshot");
    }
    assert_eq!(image_ids(&ec2, None).await, [ami], "the source untouched");
}
