//! `disks add` and `lineage`: new AMIs from an AMI's snapshots plus new volumes, no instance.

use crate::support;

use aws_sdk_ec2::types::{BootModeValues, Filter, ImdsSupportValues, InstanceType, TpmSupportValues};
use serde_json::Value;
use support::{run, Emulator};

async fn image(ec2: &aws_sdk_ec2::Client, ami: &str) -> aws_sdk_ec2::types::Image {
    ec2.describe_images().image_ids(ami).send().await.unwrap().images()[0].clone()
}

fn tag<'a>(image: &'a aws_sdk_ec2::types::Image, key: &str) -> Option<&'a str> {
    image.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// (device, snapshot, size, type, iops) of every mapping, in order.
/// Device, snapshot, size, volume type and IOPS of one mapping.
type Row = (String, Option<String>, i32, String, Option<i32>);

fn mappings(image: &aws_sdk_ec2::types::Image) -> Vec<Row> {
    image
        .block_device_mappings()
        .iter()
        .map(|m| {
            let ebs = m.ebs().unwrap();
            (
                m.device_name().unwrap().to_string(),
                ebs.snapshot_id().map(str::to_string),
                ebs.volume_size().unwrap(),
                ebs.volume_type().unwrap().as_str().to_string(),
                ebs.iops(),
            )
        })
        .collect()
}

async fn own_image_count(ec2: &aws_sdk_ec2::Client) -> usize {
    ec2.describe_images().owners("self").send().await.unwrap().images().len()
}

#[tokio::test]
async fn add_disks_keeps_the_source_and_adds_volumes_that_launch() {
    add_disks_keeps_the_source_and_adds_volumes_that_launch_with(Emulator::start()).await;
}

/// The same on an EC2 that shows each change late (the new AMI is not found by id for a moment): the first run still finishes.
#[tokio::test]
async fn add_disks_under_lag() {
    add_disks_keeps_the_source_and_adds_volumes_that_launch_with(Emulator::start_lagging(support::LAG)).await;
}

async fn add_disks_keeps_the_source_and_adds_volumes_that_launch_with(emulator: Emulator) {
    let ec2 = emulator.ec2().await;
    let source = support::register_root_image(&ec2, "gio-node-1.31").await;
    let root = mappings(&image(&ec2, &source).await).remove(0);

    let out = run(emulator
        .cli()
        .args([
            "disks",
            "add",
            &source,
            "--disk",
            "/dev/xvdb=50",
            "--disk",
            "/dev/xvdc=100:io2:iops=4000",
            "--output",
            "json",
        ])
        .env("GIO_AMI_AUTHOR", "Ada <ada@example.org>"))
    .success()
    .json();
    let new = out["outcomes"][0]["id"].as_str().unwrap().to_string();
    let registered = image(&ec2, &new).await;
    assert_eq!(
        mappings(&registered),
        vec![
            root.clone(),
            ("/dev/xvdb".into(), None, 50, "gp3".into(), Some(3000)), // gp3's baseline, as AWS reports it
            ("/dev/xvdc".into(), None, 100, "io2".into(), Some(4000)),
        ],
        "the source's root snapshot is reused, the new volumes are empty"
    );
    assert_eq!(registered.name(), Some("gio-node-1.31-xvdb-xvdc"));
    assert_eq!(registered.root_device_name(), Some("/dev/xvda"));
    assert_eq!(registered.ena_support(), Some(true));
    assert_eq!(registered.architecture().map(|a| a.as_str()), Some("x86_64"));
    assert_eq!(tag(&registered, "gio-ami:parent-ami"), Some(source.as_str()));
    assert_eq!(tag(&registered, "gio-ami:release"), Some("gio-node-1.31-xvdb-xvdc"));
    assert_eq!(tag(&registered, "gio-ami:author"), Some("Ada <ada@example.org>"));
    assert!(tag(&registered, "gio-ami:created-at").is_some_and(|t| t.starts_with("20")));

    // A machine launched from it gets every volume.
    let reservation = ec2
        .run_instances()
        .image_id(&new)
        .instance_type(InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = reservation.instances()[0].instance_id().unwrap();
    let volumes = ec2
        .describe_volumes()
        .filters(Filter::builder().name("attachment.instance-id").values(instance).build())
        .send()
        .await
        .unwrap();
    let mut sizes: Vec<i32> = volumes.volumes().iter().map(|v| v.size().unwrap()).collect();
    sizes.sort();
    assert_eq!(sizes, [8, 50, 100]);
}

#[tokio::test]
async fn boot_settings_are_carried_over() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let plain = support::register_root_image(&ec2, "plain").await;
    let root = mappings(&image(&ec2, &plain).await).remove(0).1.unwrap();
    let source = ec2
        .register_image()
        .name("uefi-node")
        .root_device_name("/dev/xvda")
        .architecture(aws_sdk_ec2::types::ArchitectureValues::Arm64)
        .virtualization_type("hvm")
        .ena_support(true)
        .sriov_net_support("simple")
        .boot_mode(BootModeValues::Uefi)
        .tpm_support(TpmSupportValues::V20)
        .imds_support(ImdsSupportValues::V20)
        .block_device_mappings(support::ebs_mapping("/dev/xvda", Some(&root), 8))
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    let out =
        run(emulator.cli().args(["disks", "add", &source, "--disk", "/dev/xvdb=10", "--output", "json"]))
            .success()
            .json();
    let new = image(&ec2, out["outcomes"][0]["id"].as_str().unwrap()).await;
    assert_eq!(new.architecture().map(|a| a.as_str()), Some("arm64"));
    assert_eq!(new.boot_mode(), Some(&BootModeValues::Uefi));
    assert_eq!(new.tpm_support(), Some(&TpmSupportValues::V20));
    assert_eq!(new.imds_support(), Some(&ImdsSupportValues::V20));
    assert_eq!(new.sriov_net_support(), Some("simple"));
}

#[tokio::test]
async fn a_chain_registers_one_ami_per_disk_and_lineage_shows_it() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let source = support::register_root_image(&ec2, "gio-node").await;
    let out = run(emulator.cli().args([
        "disks",
        "add",
        &source,
        "--chain",
        "--disk",
        "/dev/xvdb=50",
        "--disk",
        "/dev/xvdc=60",
        "--disk",
        "/dev/xvdd=70",
        "--output",
        "json",
    ]))
    .success()
    .json();
    let chain: Vec<String> =
        out["outcomes"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(chain.len(), 3);
    let root = mappings(&image(&ec2, &source).await).remove(0);
    let mut parent = source.clone();
    for (n, ami) in chain.iter().enumerate() {
        let member = image(&ec2, ami).await;
        let maps = mappings(&member);
        assert_eq!(maps.len(), n + 2, "{ami} has the root and {} disks", n + 1);
        assert_eq!(maps[0], root, "every member shares the root snapshot");
        assert_eq!(tag(&member, "gio-ami:parent-ami"), Some(parent.as_str()));
        parent = ami.clone();
    }
    assert_eq!(own_image_count(&ec2).await, 4);

    let tree = run(emulator.cli().args(["lineage", &chain[1], "--output", "json"])).success().json();
    let ids: Vec<&str> = tree.as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [source.as_str(), &chain[0], &chain[1], &chain[2]]);
    assert_eq!(tree[2]["target"], Value::Bool(true));
    let text = run(emulator.cli().args(["lineage", &chain[1]])).success().stdout;
    assert!(text.contains(&format!("{}  gio-node-xvdb-xvdc   ◀", chain[1])), "{text}");
}

#[tokio::test]
async fn dry_run_registers_nothing_and_a_rerun_reuses_what_exists() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let source = support::register_root_image(&ec2, "gio-node").await;
    let plan = run(emulator.cli().args(["disks", "add", &source, "--disk", "/dev/xvdb=50", "--dry-run"]))
        .success()
        .stdout;
    assert!(plan.contains("register `gio-node-xvdb` from") && plan.contains("(new empty volume)"), "{plan}");
    assert_eq!(own_image_count(&ec2).await, 1);

    let first =
        run(emulator.cli().args(["disks", "add", &source, "--disk", "/dev/xvdb=50", "--output", "json"]))
            .success()
            .json();
    let again =
        run(emulator.cli().args(["disks", "add", &source, "--disk", "/dev/xvdb=50", "--output", "json"]))
            .success()
            .json();
    assert_eq!(first["outcomes"][0]["id"], again["outcomes"][0]["id"]);
    assert_eq!(again["outcomes"][0]["status"], "reused", "{again}");
    assert_eq!(own_image_count(&ec2).await, 2);
}

#[tokio::test]
async fn adding_a_disk_takes_three_requests_and_a_rerun_reuses_its_ami() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let source = support::register_root_image(&ec2, "gio-node").await;
    let add = |cli: &mut std::process::Command| {
        // The author given, so that nothing asks STS who is calling.
        cli.env("GIO_AMI_AUTHOR", "ana").args([
            "disks",
            "add",
            &source,
            "--disk",
            "/dev/xvdb=50",
            "--output",
            "json",
        ]);
        run(cli).success().json()
    };
    let proxy = emulator.proxied(support::faults::Faults::new(0.0, 0));
    let first = add(&mut proxy.cli());
    assert_eq!(
        proxy.tally().operations,
        ["DescribeImages", "RegisterImage", "DescribeImages"],
        "the source, the new AMI, the new AMI available: no look-up of its name first"
    );
    assert_eq!(first["outcomes"][0]["status"], "done");

    let again = add(&mut emulator.cli());
    assert_eq!(
        again["outcomes"][0]["status"], "reused",
        "RegisterImage's Duplicate, then the holder: {again}"
    );
    assert_eq!(first["outcomes"][0]["id"], again["outcomes"][0]["id"]);
    assert_eq!(own_image_count(&ec2).await, 2, "no second AMI");
}

#[tokio::test]
async fn a_name_a_disabled_ami_keeps_is_reported_as_taken_by_it() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let source = support::register_root_image(&ec2, "gio-node").await;
    let first =
        run(emulator.cli().args(["disks", "add", &source, "--disk", "/dev/xvdb=50", "--output", "json"]))
            .success()
            .json();
    let disabled = first["outcomes"][0]["id"].as_str().unwrap().to_string();
    run(emulator.cli().args([
        "prune",
        "--release-prefix",
        "gio-node-xvdb",
        "--keep",
        "0",
        "--disable",
        "--yes",
    ]))
    .success();

    // AWS keeps a disabled AMI's name taken, and DescribeImages shows it only with IncludeDisabled.
    let again = run(emulator.cli().args(["disks", "add", &source, "--disk", "/dev/xvdb=50"])).failure();
    assert!(
        again.stderr.contains(&format!("`gio-node-xvdb` is taken by {disabled}, which is disabled")),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains(&format!("gio-ami enable {disabled}")), "{}", again.stderr);
}

#[tokio::test]
async fn a_data_disk_from_a_snapshot_is_grown_as_asked() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let source = support::register_root_image(&ec2, "gio-node").await;
    let volume = ec2.create_volume().availability_zone("eu-west-1a").size(30).send().await.unwrap();
    let data = ec2.create_snapshot().volume_id(volume.volume_id().unwrap()).send().await.unwrap();
    let data = data.snapshot_id().unwrap();
    let out = run(emulator.cli().args([
        "disks",
        "add",
        &source,
        "--disk",
        &format!("/dev/xvdd={data}:40"),
        "--output",
        "json",
    ]))
    .success()
    .json();
    let new = image(&ec2, out["outcomes"][0]["id"].as_str().unwrap()).await;
    assert_eq!(mappings(&new)[1], ("/dev/xvdd".into(), Some(data.to_string()), 40, "gp3".into(), Some(3000)));

    let too_small =
        run(emulator.cli().args(["disks", "add", &source, "--disk", &format!("/dev/xvde={data}:10")]))
            .failure();
    assert!(too_small.stderr.contains("10 GiB is smaller than"), "{}", too_small.stderr);
}

#[tokio::test]
async fn bad_disks_are_refused_before_anything_is_registered() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let source = support::register_root_image(&ec2, "gio-node").await;
    for (disk, expected) in [
        ("/dev/xvda=50", "not a data disk device name"),
        ("/dev/xvdb=50:gp3:iops=100", "outside 3000..80000"),
        ("/dev/xvdb=snap-0000000000000000f", "does not exist in this region"),
    ] {
        let out = run(emulator.cli().args(["disks", "add", &source, "--disk", disk])).failure();
        assert!(out.stderr.contains(expected), "{disk}: {}", out.stderr);
    }
    let taken =
        run(emulator.cli().args(["disks", "add", &source, "--disk", "/dev/xvdb=5", "--disk", "/dev/xvdb=6"]))
            .failure();
    assert!(taken.stderr.contains("/dev/xvdb is already used"), "{}", taken.stderr);
    assert_eq!(own_image_count(&ec2).await, 1, "nothing registered");
}
