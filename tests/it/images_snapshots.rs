//! The user's story for `images` and `snapshots`, against the emulator.

use crate::support;

use serde_json::Value;
use support::{run, Emulator};

fn snapshot_ids_of(image: &aws_sdk_ec2::types::Image) -> Vec<String> {
    image.block_device_mappings().iter().filter_map(|m| m.ebs()?.snapshot_id().map(str::to_string)).collect()
}

async fn describe(ec2: &aws_sdk_ec2::Client, ami: &str) -> aws_sdk_ec2::types::Image {
    ec2.describe_images().image_ids(ami).send().await.unwrap().images()[0].clone()
}

#[tokio::test]
async fn a_fresh_account_has_no_images_and_no_orphans() {
    let emulator = Emulator::start();
    let table = run(emulator.cli().arg("images")).success();
    assert!(table.stdout.contains("No AMIs owned by this account"), "{}", table.stdout);
    let json = run(emulator.cli().args(["images", "--output", "json"])).success();
    assert_eq!(json.json(), Value::Array(vec![]));
    let orphans = run(emulator.cli().args(["snapshots", "--orphans", "--output", "json"])).success();
    assert_eq!(orphans.json(), Value::Array(vec![]));
}

#[tokio::test]
async fn images_lists_an_imaged_builder_with_both_snapshots_newest_first() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    // Creation dates have one-second resolution: make "newer" unambiguous.
    let then = emulator.backdated(1);
    let base = support::register_root_image(&ec2, "gio-base").await;
    drop(then);
    let (_instance, ami) = support::image_instance_with_extra_disk(&ec2, &base, "gio-node-1").await;

    let listed = run(emulator.cli().args(["images", "--output", "json"])).success().json();
    let images = listed.as_array().unwrap();
    assert_eq!(images.len(), 2, "{listed:#}");
    assert_eq!(images[0]["id"], ami, "the newer image comes first");
    assert_eq!(images[1]["id"], base);
    let mapped: Vec<&str> = images[0]["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["snapshot_id"].as_str().unwrap())
        .collect();
    assert_eq!(mapped, snapshot_ids_of(&describe(&ec2, &ami).await));
    assert_eq!(mapped.len(), 2, "root and the extra disk");

    let table = run(emulator.cli().arg("images")).success().stdout;
    for expected in ["gio-node-1", ami.as_str(), "available", "58"] {
        assert!(table.contains(expected), "missing {expected} in:\n{table}");
    }
}

#[tokio::test]
async fn snapshots_are_exactly_the_mapped_ones_with_their_devices() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let base = support::register_root_image(&ec2, "gio-base").await;
    let (instance, ami) = support::image_instance_with_extra_disk(&ec2, &base, "gio-node-1").await;
    // Unrelated snapshots in the account must not show up.
    support::register_root_image(&ec2, "unrelated").await;

    let out = run(emulator.cli().args(["snapshots", &ami, "--output", "json"])).success().json();
    let devices = out[0]["devices"].as_array().unwrap();
    let image = describe(&ec2, &ami).await;
    let expected: Vec<(String, String)> = image
        .block_device_mappings()
        .iter()
        .map(|m| (m.device_name().unwrap().to_string(), m.ebs().unwrap().snapshot_id().unwrap().to_string()))
        .collect();
    let got: Vec<(String, String)> = devices
        .iter()
        .map(|d| (d["device"].as_str().unwrap().to_string(), d["snapshot_id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, expected);
    let sizes: Vec<i64> = devices.iter().map(|d| d["snapshot"]["size_gib"].as_i64().unwrap()).collect();
    assert_eq!(sizes, [8, 50]);
    let description = devices[1]["snapshot"]["description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("Created by CreateImage({instance}) for {ami}")),
        "{description}"
    );

    let table = run(emulator.cli().args(["snapshots", &ami])).success().stdout;
    for (device, snapshot) in &expected {
        assert!(table.contains(device.as_str()) && table.contains(snapshot.as_str()), "{table}");
    }
}

#[tokio::test]
async fn a_deregistered_image_leaves_orphans_that_name_it() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let base = support::register_root_image(&ec2, "gio-base").await;
    let (_instance, ami) = support::image_instance_with_extra_disk(&ec2, &base, "gio-node-1").await;
    let snapshots = snapshot_ids_of(&describe(&ec2, &ami).await);
    ec2.deregister_image().image_id(&ami).send().await.unwrap();

    let out = run(emulator.cli().args(["snapshots", "--orphans", "--output", "json"])).success().json();
    let mut orphans: Vec<&str> =
        out.as_array().unwrap().iter().map(|o| o["snapshot"]["id"].as_str().unwrap()).collect();
    orphans.sort();
    let mut expected: Vec<&str> = snapshots.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(orphans, expected, "exactly the deregistered image's snapshots; the base's root is in use");
    for orphan in out.as_array().unwrap() {
        assert_eq!(orphan["origin"]["kind"], "create_image");
        assert_eq!(orphan["origin"]["ami"], ami.as_str());
    }
    let table = run(emulator.cli().args(["snapshots", "--orphans"])).success().stdout;
    assert!(table.contains(&format!("{ami} (CreateImage of")), "{table}");
    assert!(table.contains("2 orphan snapshot(s), 58 GiB"), "{table}");
}

#[tokio::test]
async fn images_pages_through_more_than_one_page() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let base = support::register_root_image(&ec2, "gio-base").await;
    let root = snapshot_ids_of(&describe(&ec2, &base).await).remove(0);
    // 1,000 is the largest page DescribeImages gives: 1,050 images need two pages.
    let names: Vec<String> = (0..1049).map(|n| format!("gio-page-{n:04}")).collect();
    futures::future::join_all(names.chunks(50).map(|chunk| {
        let ec2 = ec2.clone();
        let root = root.clone();
        async move {
            for name in chunk {
                ec2.register_image()
                    .name(name)
                    .root_device_name("/dev/xvda")
                    .block_device_mappings(support::ebs_mapping("/dev/xvda", Some(&root), 8))
                    .send()
                    .await
                    .unwrap();
            }
        }
    }))
    .await;
    let out = run(emulator.cli().args(["images", "--output", "json"])).success().json();
    let mut ids: Vec<&str> = out.as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1050);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1050, "no image listed twice across pages");
}

#[tokio::test]
async fn tables_fit_the_width_asked_for_without_breaking_ids_and_stay_whole_in_a_pipe() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let base = support::register_root_image(&ec2, "gio-base").await;
    let name = "gio-node-1.31-amazon-linux-2023-x86_64-standard-20261202-with-a-long-release-name-1";
    let (_instance, ami) = support::image_instance_with_extra_disk(&ec2, &base, name).await;
    let ids = snapshot_ids_of(&describe(&ec2, &ami).await);

    let narrow = run(emulator.cli().arg("images").env("COLUMNS", "80")).success().stdout;
    for line in narrow.lines() {
        assert!(line.chars().count() <= 80, "wider than 80 columns:\n{line}\nin:\n{narrow}");
    }
    for id in ids.iter().chain([&ami, &base]) {
        assert!(narrow.contains(id.as_str()), "{id} broken or missing in:\n{narrow}");
    }
    assert!(!narrow.contains('\x1b'), "no escape bytes into a pipe:\n{narrow}");

    // Into a pipe, with no width asked for, each AMI is one line however long.
    let whole = run(emulator.cli().arg("images").env_remove("COLUMNS")).success().stdout;
    let row = whole.lines().find(|l| l.contains(ami.as_str())).unwrap();
    assert!(row.contains(name), "the row was wrapped:\n{whole}");
}

#[tokio::test]
async fn verbose_logs_are_plain_text_when_stderr_is_no_terminal() {
    let emulator = Emulator::start();
    // Piped, as in a CI log; NO_COLOR set to anything must also keep colour out.
    for no_color in [None, Some("1")] {
        let mut command = emulator.cli();
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let out = run(command.args(["-vv", "images"])).success();
        assert!(out.stderr.contains("DEBUG"), "-vv logs every call: {}", out.stderr);
        assert!(!out.stderr.contains("\x1b["), "NO_COLOR={no_color:?}: {:?}", out.stderr.lines().next());
    }
    // --color decides over both: always into the pipe, never even where auto would.
    let always = run(emulator.cli().args(["-vv", "--color", "always", "images"])).success();
    assert!(always.stderr.contains("\x1b["), "{:?}", always.stderr.lines().next());
    let never = run(emulator.cli().args(["-vv", "--color", "never", "images"])).success();
    assert!(!never.stderr.contains("\x1b["), "{:?}", never.stderr.lines().next());
}

/// Issue 34: when one id of a look-up by SnapshotIds is unknown, the ids are looked for again
/// with a filter, which listed every snapshot the caller may see, public ones of every account
/// included, and read one page. It now lists the account's own, page by page.
#[tokio::test]
async fn a_snapshot_look_up_missing_an_id_scans_own_snapshots_only_page_by_page() {
    let emulator = Emulator::start();
    // More than one page of DescribeSnapshots (1,000 at most).
    emulator.fixture(&["snapshots", "--count", "1001"]);
    let proxy = emulator.proxied(support::faults::Faults::new(0.0, 0));
    let missing = "snap-0123456789abcdef0";
    let file = std::env::temp_dir().join(format!("gio-missing-{}.raw", std::process::id()));
    let out = run(proxy.cli().args(["download", missing]).arg(&file)).failure();
    assert!(out.stderr.contains(&format!("snapshot {missing} was not found")), "{}", out.stderr);
    let asked: Vec<String> =
        proxy.tally().queries.into_iter().filter(|q| q.contains("Action=DescribeSnapshots&")).collect();
    assert_eq!(asked.len(), 3, "by id, then the scan's two pages: {asked:#?}");
    assert!(asked[0].contains("SnapshotId.1="), "{}", asked[0]);
    for scan in &asked[1..] {
        assert!(scan.contains("Owner.1=self") && scan.contains("MaxResults=1000"), "{scan}");
        assert!(scan.contains(missing), "{scan}");
    }
    assert!(asked[2].contains("NextToken="), "the second page: {}", asked[2]);
}
