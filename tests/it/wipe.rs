//! `wipe`: AMIs and the snapshots behind them go; an AMI anything uses stays, and the error
//! names the user; a snapshot another AMI maps stays; a re-run finishes a half-done wipe.

use crate::support;

use aws_sdk_ec2::types::{Filter, RequestLaunchTemplateData, Tag};
use support::{run, Emulator, REGION};

/// An AMI of ours with a root and a data snapshot (20 GiB each): (AMI, [root, data]).
async fn ami_with_two_snapshots(ec2: &aws_sdk_ec2::Client, name: &str) -> (String, Vec<String>) {
    let root = support::new_snapshot(ec2, 20, &format!("root of {name}")).await;
    let data = support::new_snapshot(ec2, 20, &format!("data of {name}")).await;
    let ami = support::register_image(ec2, name, &[("/dev/xvda", &root, 20), ("/dev/xvdb", &data, 20)]).await;
    (ami, vec![root, data])
}

async fn ami_exists(ec2: &aws_sdk_ec2::Client, ami: &str) -> bool {
    let images = ec2
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name("image-id").values(ami).build())
        .send()
        .await
        .unwrap();
    !images.images().is_empty()
}

/// Which of these snapshots still exist.
async fn existing(ec2: &aws_sdk_ec2::Client, snapshots: &[String]) -> Vec<String> {
    let found = ec2
        .describe_snapshots()
        .filters(Filter::builder().name("snapshot-id").set_values(Some(snapshots.to_vec())).build())
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> =
        found.snapshots().iter().map(|s| s.snapshot_id().unwrap().to_string()).collect();
    ids.sort_by_key(|id| snapshots.iter().position(|s| s == id));
    ids
}

/// `disks add --chain`: one 5 GiB disk per device, one AMI per disk; the members' ids in order.
fn add_chain(emulator: &Emulator, source: &str, devices: &[&str]) -> Vec<String> {
    let mut args = vec![
        "disks".to_string(),
        "add".into(),
        source.into(),
        "--chain".into(),
        "--output".into(),
        "json".into(),
    ];
    for device in devices {
        args.extend(["--disk".to_string(), format!("{device}=5")]);
    }
    let chain = run(emulator.cli().args(&args)).success().json();
    chain["outcomes"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn dry_run_changes_nothing_then_wipe_removes_the_ami_and_its_snapshots() {
    dry_run_changes_nothing_then_wipe_removes_the_ami_and_its_snapshots_with(Emulator::start()).await;
}

/// The same on an EC2 that shows each change late (a wipe deletes the snapshots of the AMI it just deregistered, which EC2 may still report in use): the first run still finishes.
#[tokio::test]
async fn wipe_removes_the_ami_and_its_snapshots_under_lag() {
    dry_run_changes_nothing_then_wipe_removes_the_ami_and_its_snapshots_with(Emulator::start_lagging(
        support::LAG,
    ))
    .await;
}

async fn dry_run_changes_nothing_then_wipe_removes_the_ami_and_its_snapshots_with(emulator: Emulator) {
    let ec2 = emulator.ec2().await;
    let (ami, snapshots) = ami_with_two_snapshots(&ec2, "gio-node-old").await;

    let dry = run(emulator.cli().args(["wipe", &ami, "--dry-run"])).success();
    assert!(dry.stdout.contains("delete 2 snapshot(s), 40 GiB freed"), "{}", dry.stdout);
    assert!(ami_exists(&ec2, &ami).await);
    assert_eq!(existing(&ec2, &snapshots).await, snapshots);

    let out = run(emulator.cli().args(["wipe", &ami, "--yes", "--output", "json"])).success().json();
    assert!(!ami_exists(&ec2, &ami).await, "the AMI is deregistered");
    assert!(existing(&ec2, &snapshots).await.is_empty(), "both snapshots are deleted");
    assert_eq!(out["applied"], true);
    assert_eq!(out["plan"]["freed_gib"], 40);
    let outcomes: Vec<(String, String)> = out["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_str().unwrap().to_string(), o["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (ami.clone(), "done".into()),
            (snapshots[0].clone(), "done".into()),
            (snapshots[1].clone(), "done".into())
        ]
    );
}

#[tokio::test]
async fn a_snapshot_another_ami_maps_survives() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (old, snapshots) = ami_with_two_snapshots(&ec2, "gio-node-old").await;
    let sibling =
        support::register_image(&ec2, "gio-node-sibling", &[("/dev/xvda", &snapshots[0], 20)]).await;

    let out = run(emulator.cli().args(["wipe", &old, "--yes"])).success();
    assert!(out.stdout.contains(&format!("kept: still used by {sibling}")), "{}", out.stdout);
    assert!(!ami_exists(&ec2, &old).await);
    assert_eq!(existing(&ec2, &snapshots).await, [snapshots[0].clone()], "only the unshared snapshot went");
    assert!(ami_exists(&ec2, &sibling).await);
}

#[tokio::test]
async fn a_locked_snapshot_survives_a_wipe_and_is_named_with_its_lock() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (ami, snapshots) = ami_with_two_snapshots(&ec2, "gio-node-locked").await;
    ec2.lock_snapshot()
        .snapshot_id(&snapshots[1])
        .lock_mode(aws_sdk_ec2::types::LockMode::Governance)
        .lock_duration(7)
        .send()
        .await
        .unwrap();

    let out = run(emulator.cli().args(["wipe", &ami, "--yes", "--output", "json"])).success().json();
    let kept = out["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == snapshots[1].as_str())
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(kept["action"], "refuse", "{out}");
    assert!(kept["why"].as_str().unwrap().contains("locked in governance mode"), "{out}");
    assert!(!ami_exists(&ec2, &ami).await, "the AMI itself goes");
    assert_eq!(
        existing(&ec2, &snapshots).await,
        [snapshots[1].clone()],
        "the unlocked snapshot went, the locked one stayed"
    );
}

/// Given an AMI with a user arranged by `arrange`, wipe refuses, names the user, changes nothing.
async fn refuses_while_used(arrange: impl AsyncFnOnce(&Emulator, &str), named: &[&str]) {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (ami, snapshots) = ami_with_two_snapshots(&ec2, "gio-node-live").await;
    arrange(&emulator, &ami).await;

    let out = run(emulator.cli().args(["wipe", &ami, "--yes"])).failure();
    for name in named {
        assert!(out.stderr.contains(name), "the error names {name}:\n{}", out.stderr);
    }
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert!(ami_exists(&ec2, &ami).await, "the AMI survives");
    assert_eq!(existing(&ec2, &snapshots).await, snapshots, "its snapshots survive");

    run(emulator.cli().args(["wipe", &ami, "--yes", "--force"])).success();
    assert!(!ami_exists(&ec2, &ami).await, "--force wipes it anyway");
}

async fn launch_template(emulator: &Emulator, first_ami: &str, then: &str) -> String {
    let ec2 = emulator.ec2().await;
    let template = ec2
        .create_launch_template()
        .launch_template_name("nodes")
        .launch_template_data(RequestLaunchTemplateData::builder().image_id(first_ami).build())
        .send()
        .await
        .unwrap();
    let id = template.launch_template().unwrap().launch_template_id().unwrap().to_string();
    ec2.create_launch_template_version()
        .launch_template_id(&id)
        .launch_template_data(RequestLaunchTemplateData::builder().image_id(then).build())
        .send()
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn an_instance_not_terminated_keeps_its_ami() {
    // A builder launched from the AMI (and imaged), then stopped rather than terminated.
    refuses_while_used(
        async |emulator, ami| {
            let ec2 = emulator.ec2().await;
            let (instance, _) = support::image_instance_with_extra_disk(&ec2, ami, "builder").await;
            ec2.stop_instances().instance_ids(instance).send().await.unwrap();
        },
        &["instance i-", "(stopped)"],
    )
    .await;
}

#[tokio::test]
async fn an_old_launch_template_version_keeps_its_ami() {
    // Version 1 (the default) launches the AMI; version 2 (latest) does not: still in use.
    refuses_while_used(
        async |emulator, ami| {
            launch_template(emulator, ami, "ami-0123456789abcdef0").await;
        },
        &["launch template nodes (lt-", "version 1"],
    )
    .await;
}

#[tokio::test]
async fn an_auto_scaling_group_override_keeps_its_ami() {
    refuses_while_used(
        async |emulator, ami| {
            let template = launch_template(emulator, "ami-0123456789abcdef0", ami).await;
            let autoscaling = aws_sdk_autoscaling::Client::new(&emulator.config(REGION).await);
            use aws_sdk_autoscaling::types::{
                LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification, MixedInstancesPolicy,
            };
            let spec = |version: &str| {
                LaunchTemplateSpecification::builder().launch_template_id(&template).version(version).build()
            };
            autoscaling
                .create_auto_scaling_group()
                .auto_scaling_group_name("workers")
                .min_size(0)
                .max_size(1)
                .availability_zones(format!("{REGION}a"))
                .mixed_instances_policy(
                    MixedInstancesPolicy::builder()
                        .launch_template(
                            LaunchTemplate::builder()
                                .launch_template_specification(spec("1"))
                                .overrides(
                                    LaunchTemplateOverrides::builder()
                                        .instance_type("t3.large")
                                        .launch_template_specification(spec("$Latest"))
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
        },
        &["Auto Scaling group workers (mixed-instances override, launch template nodes", "version 2"],
    )
    .await;
}

#[tokio::test]
async fn a_launch_configuration_keeps_its_ami() {
    refuses_while_used(
        async |emulator, ami| {
            let autoscaling = aws_sdk_autoscaling::Client::new(&emulator.config(REGION).await);
            autoscaling
                .create_launch_configuration()
                .launch_configuration_name("legacy")
                .image_id(ami)
                .instance_type("t3.medium")
                .send()
                .await
                .unwrap();
            autoscaling
                .create_auto_scaling_group()
                .auto_scaling_group_name("legacy-workers")
                .launch_configuration_name("legacy")
                .min_size(0)
                .max_size(1)
                .availability_zones(format!("{REGION}a"))
                .send()
                .await
                .unwrap();
        },
        &["launch configuration legacy", "Auto Scaling group legacy-workers"],
    )
    .await;
}

#[tokio::test]
async fn an_eks_nodegroup_keeps_its_ami_through_its_launch_template() {
    refuses_while_used(
        async |emulator, ami| {
            let template = launch_template(emulator, ami, "ami-0123456789abcdef0").await;
            let eks = aws_sdk_eks::Client::new(&emulator.config(REGION).await);
            let role = "arn:aws:iam::123456789012:role/eks";
            eks.create_cluster()
                .name("prod")
                .role_arn(role)
                .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
                .send()
                .await
                .unwrap();
            eks.create_nodegroup()
                .cluster_name("prod")
                .nodegroup_name("workers")
                .node_role(role)
                .subnets("subnet-12345678")
                .launch_template(
                    aws_sdk_eks::types::LaunchTemplateSpecification::builder()
                        .id(template)
                        .version("1")
                        .build(),
                )
                .send()
                .await
                .unwrap();
        },
        &["EKS nodegroup prod/workers (launch template nodes"],
    )
    .await;
}

#[tokio::test]
async fn an_ssm_parameter_holding_the_id_keeps_its_ami() {
    refuses_while_used(
        async |emulator, ami| {
            let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
            ssm.put_parameter()
                .name("/gio/eks/prod/node-ami")
                .value(ami)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .send()
                .await
                .unwrap();
        },
        &["SSM parameter /gio/eks/prod/node-ami"],
    )
    .await;
}

/// Only DescribeImageReferences sees Image Builder recipes: gio-ami's own scans do not.
#[tokio::test]
async fn an_image_builder_recipe_only_describe_image_references_reports_keeps_its_ami() {
    refuses_while_used(
        async |emulator, ami| {
            let arn = emulator.fixture(&["image-recipe", "--ami", ami, "--name", "golden-nodes"]);
            assert!(arn.trim().ends_with("image-recipe/golden-nodes/1.0.0"), "{arn}");
        },
        &[
            "imagebuilder:ImageRecipe",
            "image-recipe/golden-nodes/1.0.0",
            "reported by DescribeImageReferences",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_rerun_after_a_half_done_wipe_finishes_it() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (done, done_snapshots) = ami_with_two_snapshots(&ec2, "gio-node-a").await;
    let (todo, todo_snapshots) = ami_with_two_snapshots(&ec2, "gio-node-b").await;
    // What a run killed after deregistering `done` leaves: its snapshots marked, one deleted.
    ec2.create_tags()
        .set_resources(Some(done_snapshots.clone()))
        .tags(Tag::builder().key(format!("gio-ami:wiped-ami:{done}")).value("").build())
        .send()
        .await
        .unwrap();
    ec2.deregister_image().image_id(&done).send().await.unwrap();
    ec2.delete_snapshot().snapshot_id(&done_snapshots[0]).send().await.unwrap();

    let out = run(emulator.cli().args(["wipe", &done, &todo, "--yes"])).success();
    assert!(out.stdout.contains("already deregistered"), "{}", out.stdout);
    assert!(existing(&ec2, &done_snapshots).await.is_empty(), "the left-over snapshot is deleted");
    assert!(!ami_exists(&ec2, &todo).await);
    assert!(existing(&ec2, &todo_snapshots).await.is_empty());

    // Once more: everything is gone, and that is success.
    run(emulator.cli().args(["wipe", &done, &todo, "--yes"])).success();
}

#[tokio::test]
async fn a_chain_member_keeps_shared_snapshots_and_wipe_chain_removes_the_whole_chain() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (source, snapshots) = ami_with_two_snapshots(&ec2, "gio-node-base").await;
    let members = add_chain(&emulator, &source, &["/dev/xvdc", "/dev/xvdd"]);
    assert_eq!(members.len(), 2);

    // The source alone: every member still maps its snapshots.
    let out = run(emulator.cli().args(["wipe", &source, "--yes"])).success();
    assert!(out.stdout.contains("wipe --chain"), "the plan points at --chain:\n{}", out.stdout);
    assert!(!ami_exists(&ec2, &source).await);
    assert_eq!(existing(&ec2, &snapshots).await, snapshots, "shared snapshots survive");
    assert!(ami_exists(&ec2, &members[0]).await && ami_exists(&ec2, &members[1]).await);

    // Everything derived from it: each snapshot deleted once, after its last AMI.
    let out =
        run(emulator.cli().args(["wipe", "--chain", &source, "--yes", "--output", "json"])).success().json();
    assert!(!ami_exists(&ec2, &members[0]).await && !ami_exists(&ec2, &members[1]).await);
    assert!(existing(&ec2, &snapshots).await.is_empty());
    let deletions =
        out["outcomes"].as_array().unwrap().iter().filter(|o| o["action"] == "delete_snapshot").count();
    assert_eq!(deletions, 2);
}

#[tokio::test]
async fn wiping_the_middle_of_a_chain_relinks_what_follows_so_the_chain_stays_whole() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (source, _) = ami_with_two_snapshots(&ec2, "gio-node-base").await;
    let members = add_chain(&emulator, &source, &["/dev/xvdc", "/dev/xvdd", "/dev/xvde"]);

    let out = run(emulator.cli().args(["wipe", &members[1], "--yes"])).success();
    assert!(
        out.stdout
            .contains(&format!("its parent {} goes: the chain continues from {}", members[1], members[0])),
        "{}",
        out.stdout
    );
    let lineage = run(emulator.cli().args(["lineage", &source, "--output", "json"])).success().json();
    let ids: Vec<&str> = lineage.as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [source.as_str(), members[0].as_str(), members[2].as_str()]);

    run(emulator.cli().args(["wipe", "--chain", &source, "--yes"])).success();
    for ami in [&source, &members[0], &members[2]] {
        assert!(!ami_exists(&ec2, ami).await, "{ami} is part of the chain");
    }
    assert!(
        ec2.describe_snapshots().owner_ids("self").send().await.unwrap().snapshots().is_empty(),
        "nothing left behind"
    );
}

#[tokio::test]
async fn a_shared_ami_is_wiped_with_a_warning_that_use_elsewhere_is_invisible() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    // Made days ago, older than an image usage report's lag: its zero holds.
    emulator.set_clock("-4d");
    let (ami, snapshots) = ami_with_two_snapshots(&ec2, "gio-node-shared").await;
    emulator.set_clock("0");
    ec2.modify_image_attribute()
        .image_id(&ami)
        .launch_permission(
            aws_sdk_ec2::types::LaunchPermissionModifications::builder()
                .add(aws_sdk_ec2::types::LaunchPermission::builder().user_id("111122223333").build())
                .build(),
        )
        .send()
        .await
        .unwrap();

    let out = support::run_past_usage_reports(&emulator, emulator.cli().args(["wipe", &ami, "--yes"]))
        .await
        .success();
    assert!(out.stdout.contains("shared with 111122223333"), "{}", out.stdout);
    assert!(!ami_exists(&ec2, &ami).await);
    assert!(existing(&ec2, &snapshots).await.is_empty());
}

#[tokio::test]
async fn an_ami_deregistered_by_another_tool_gets_its_snapshots_deleted() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let base = support::register_root_image(&ec2, "gio-node-base").await;
    let (_, built) = support::image_instance_with_extra_disk(&ec2, &base, "gio-node-built").await;
    let image = ec2.describe_images().image_ids(&built).send().await.unwrap().images()[0].clone();
    let snapshots: Vec<String> = image
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
        .collect();
    assert_eq!(snapshots.len(), 2);
    // The usual half-job: `aws ec2 deregister-image` and nothing more.
    ec2.deregister_image().image_id(&built).send().await.unwrap();

    let out = run(emulator.cli().args(["wipe", &built, "--yes"])).success();
    assert!(out.stdout.contains("left behind"), "{}", out.stdout);
    assert!(existing(&ec2, &snapshots).await.is_empty(), "CreateImage's snapshots for it are deleted");
    assert!(ami_exists(&ec2, &base).await, "the base it was built from stays");
}

#[tokio::test]
async fn a_protected_ami_is_refused_even_with_force_until_its_protection_and_cooldown_are_over() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let (ami, _) = ami_with_two_snapshots(&ec2, "gio-node-prod").await;
    let protected =
        run(emulator.cli().args(["protect", &ami, "--cooldown", "--output", "json"])).success().json();
    assert_eq!(protected["outcomes"][0]["status"], "done", "{protected}");
    let again =
        run(emulator.cli().args(["protect", &ami, "--cooldown", "--output", "json"])).success().json();
    assert_eq!(again["outcomes"][0]["status"], "reused", "protecting twice changes nothing: {again}");

    for force in [false, true] {
        let mut args = vec!["wipe", ami.as_str(), "--yes"];
        if force {
            args.push("--force");
        }
        let refused = run(emulator.cli().args(&args)).failure();
        assert!(
            refused.stdout.contains(&format!("gio-ami protect --unprotect {ami}")),
            "force={force}: {}",
            refused.stdout
        );
    }
    let prune = run(emulator.cli().args([
        "prune",
        "--release-prefix",
        "gio-node-",
        "--keep",
        "0",
        "--yes",
        "--output",
        "json",
    ]))
    .success()
    .json();
    assert!(prune.to_string().contains("protected from deregistration"), "{prune}");
    assert!(ami_exists(&ec2, &ami).await);

    // Lifted, the protection still holds for its 24-hour cooldown.
    run(emulator.cli().args(["protect", &ami, "--unprotect", "--yes"])).success();
    let cooling = run(emulator.cli().args(["wipe", &ami, "--yes"])).failure();
    assert!(cooling.stdout.contains("protected from deregistration until"), "{}", cooling.stdout);
    emulator.set_clock("25h");
    let wiped = run(emulator.cli().args(["wipe", &ami, "--yes"]));
    emulator.set_clock("0");
    wiped.success();
    assert!(!ami_exists(&ec2, &ami).await, "the cooldown over, the wipe goes through");
}
