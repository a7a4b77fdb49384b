//! Bad input gets one clear paragraph naming the fix, exit code 1, and never a panic.

use crate::support;

use support::{bare_cli, run, Emulator, REGION};

#[test]
fn a_malformed_ami_id_fails_before_any_call() {
    // No endpoint, no credentials: the id is refused before AWS is needed.
    let out = run(bare_cli().args(["snapshots", "ami-12345"])).failure();
    assert!(out.stderr.contains("`ami-12345` is not an AMI id"), "{}", out.stderr);
    assert!(out.stderr.contains("gio-ami images"), "names where to find ids: {}", out.stderr);
}

#[test]
fn no_region_names_the_flag_and_the_variable() {
    let out = run(bare_cli().arg("images").env("AWS_ACCESS_KEY_ID", "x").env("AWS_SECRET_ACCESS_KEY", "y"))
        .failure();
    assert!(out.stderr.contains("no AWS region is configured"), "{}", out.stderr);
    assert!(out.stderr.contains("--region") && out.stderr.contains("AWS_REGION"), "{}", out.stderr);
}

#[test]
fn a_broken_spec_is_named_once_by_every_command_that_reads_it() {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("errors-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/invalid/no-base.toml");
    std::fs::copy(spec, dir.join("gio-ami.toml")).unwrap();
    for command in [&["check"][..], &["publish", "ami-12345678", "--cluster", "prod"], &["cost"]] {
        let out = run(bare_cli().current_dir(&dir).args(command)).failure();
        let said = "gio-ami.toml:1:1: spec: missing field `base`";
        assert_eq!(out.stderr.matches(said).count(), 1, "{command:?}: {}", out.stderr);
    }
}

#[test]
fn a_misspelled_region_is_refused() {
    let out = run(bare_cli().args(["images", "--region", "eu-wset"])).failure();
    assert!(out.stderr.contains("`eu-wset` is not an AWS region name"), "{}", out.stderr);
}

#[test]
fn missing_credentials_say_how_to_provide_them() {
    let emulator = Emulator::start();
    let mut command = emulator.cli();
    command.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    let out = run(command.arg("images")).failure();
    assert!(out.stderr.contains("no AWS credentials were found"), "{}", out.stderr);
    assert!(out.stderr.contains("AWS_ACCESS_KEY_ID") && out.stderr.contains("--profile"), "{}", out.stderr);
}

#[test]
fn an_unknown_profile_is_named() {
    let emulator = Emulator::start();
    let mut command = emulator.cli();
    command.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    let out = run(command.args(["images", "--profile", "nosuch"])).failure();
    assert!(out.stderr.contains("nosuch"), "{}", out.stderr);
}

#[test]
fn an_unreachable_endpoint_is_named() {
    let mut command = bare_cli();
    command
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_REGION", REGION);
    let out = run(command.arg("images")).failure();
    assert!(out.stderr.contains("cannot reach http://127.0.0.1:9"), "{}", out.stderr);
    assert!(out.stderr.contains("AWS_ENDPOINT_URL"), "{}", out.stderr);
}

#[tokio::test]
async fn an_ami_from_another_region_is_not_found_here_and_the_region_is_named() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    let ami = support::register_root_image(&ec2, "gio-base").await;
    let out = run(emulator.cli().args(["snapshots", &ami, "--region", "us-east-1"])).failure();
    assert!(out.stderr.contains(&format!("AMI {ami} was not found in us-east-1")), "{}", out.stderr);
    assert!(out.stderr.contains("--region"), "{}", out.stderr);
}

#[tokio::test]
async fn unknown_amis_are_all_named() {
    let emulator = Emulator::start();
    let out =
        run(emulator.cli().args(["snapshots", "ami-0000000000000000a", "ami-0000000000000000b"])).failure();
    assert!(
        out.stderr.contains("AMIs ami-0000000000000000a, ami-0000000000000000b were not found in eu-west-1"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn someone_elses_ami_is_refused_with_its_owner() {
    let emulator = Emulator::start();
    let ec2 = emulator.ec2().await;
    // The seeded EKS-optimized images belong to Amazon's EKS account, as in AWS.
    let foreign = ec2.describe_images().owners("602401143452").send().await.unwrap().images()[0]
        .image_id()
        .unwrap()
        .to_string();
    let out = run(emulator.cli().args(["snapshots", &foreign])).failure();
    assert!(out.stderr.contains(&format!("{foreign} belongs to account 602401143452")), "{}", out.stderr);
}
