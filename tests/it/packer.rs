//! Packer interop against the real thing: Debian's `packer` (installed by scripts/setup) renders,
//! validates and builds through `custom_endpoint_ec2` against the emulator; gio-ami's packer
//! engine and `adopt --packer-manifest` are checked by reading the AMIs back.

use crate::support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{bare_cli, run, Emulator, REGION};

/// The packer engine's spec, with one extra disk.
const SPEC: &str = "packer-al2023-extra-disk";

fn spec_dir(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("packer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gio-ami.toml"), text).unwrap();
    std::fs::write(dir.join("provision.sh"), "#!/bin/bash\necho provisioning\n").unwrap();
    dir
}

/// `packer` with the credentials and region of a user of the emulator (the rendered template
/// names the endpoint itself).
fn packer(dir: &Path) -> Command {
    let mut command = Command::new("packer");
    command
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("CHECKPOINT_DISABLE", "1")
        .env_remove("AWS_PROFILE");
    command
}

fn succeeds(command: &mut Command) -> String {
    let out = support::output(command);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{command:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

async fn image(ec2: &aws_sdk_ec2::Client, ami: &str) -> aws_sdk_ec2::types::Image {
    let out = ec2.describe_images().image_ids(ami).send().await.unwrap();
    out.images()[0].clone()
}

fn tags_of(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect()
}

async fn snapshot_tags(ec2: &aws_sdk_ec2::Client, id: &str) -> BTreeMap<String, String> {
    let out = ec2.describe_snapshots().snapshot_ids(id).send().await.unwrap();
    tags_of(out.snapshots()[0].tags())
}

#[tokio::test]
async fn the_packer_engine_builds_the_spec_with_its_extra_disk_and_tags_the_release() {
    let emulator = Emulator::start();
    let dir = spec_dir("engine", &support::spec(SPEC));
    let built = run(emulator
        .cli()
        .args(["build", dir.join("gio-ami.toml").to_str().unwrap(), "--output", "json"])
        .env("GIO_AMI_AUTHOR", "Ada"))
    .success();
    assert!(
        built.stderr.contains("packer: Launching a source AWS instance"),
        "one line per step:\n{}",
        built.stderr
    );
    let json = built.json();
    let ami = json["ami"].as_str().unwrap();
    let name = json["name"].as_str().unwrap();
    assert!(name.starts_with("gio-node-1.31-") && name.ends_with("-1"), "{name}");

    let ec2 = emulator.ec2().await;
    let image = image(&ec2, ami).await;
    assert_eq!(image.name(), Some(name));
    let disk = image
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name() == Some("/dev/xvdb"))
        .expect("the extra disk");
    assert_eq!(disk.ebs().unwrap().volume_size(), Some(20));
    let tags = tags_of(image.tags());
    assert_eq!(tags["gio-ami:release"], name);
    assert_eq!(tags["gio-ami:author"], "Ada");
    assert_eq!(tags["gio-ami:contact"], "ops@example.org");
    assert_eq!(tags["gio-ami:build-id"], json["build_id"].as_str().unwrap());
    assert_eq!(tags["gio-ami:base-ami"], json["base_ami"].as_str().unwrap());
    assert_eq!(tags["team"], "platform");
    let snapshots = json["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 2, "root and /dev/xvdb");
    for snapshot in snapshots {
        assert_eq!(snapshot_tags(&ec2, snapshot.as_str().unwrap()).await["gio-ami:release"], name);
    }
    let instances = ec2.describe_instances().send().await.unwrap();
    let live: Vec<_> = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
        .collect();
    assert!(live.is_empty(), "packer left its builder: {live:?}");

    // A second build the same day gets the next number, not a collision.
    let again =
        run(emulator.cli().args(["build", dir.join("gio-ami.toml").to_str().unwrap(), "--output", "json"]))
            .success();
    assert!(again.json()["name"].as_str().unwrap().ends_with("-2"));
}

#[tokio::test]
async fn a_rendered_hcl_template_validates_builds_with_packer_and_its_manifest_is_adopted() {
    let emulator = Emulator::start();
    let dir = spec_dir("hcl", &support::spec(SPEC));
    let rendered =
        run(emulator.cli().current_dir(&dir).args(["packer", "render", "--format", "hcl", "-o", "out"]))
            .success();
    assert_eq!(rendered.stdout.trim(), "out/template.pkr.hcl");
    let out = dir.join("out");
    succeeds(packer(&out).args(["validate", "template.pkr.hcl"]));
    let log = succeeds(packer(&out).args(["build", "-machine-readable", "template.pkr.hcl"]));
    let artifact = log.lines().find(|l| l.contains(",artifact,0,id,")).expect("an artifact line");
    assert!(artifact.contains(",amazon-ebs.gio-ami,artifact,0,id,eu-west-1:ami-"), "{artifact}");
    let ami = artifact.rsplit(':').next().unwrap();

    let ec2 = emulator.ec2().await;
    let tags = tags_of(image(&ec2, ami).await.tags());
    assert_eq!(
        tags["gio-ami:release"],
        image(&ec2, ami).await.name().unwrap(),
        "packer tags the release itself"
    );

    // The team's history starts with this Packer-made AMI: adopt fills what packer did not know.
    ec2.delete_tags().resources(ami).send().await.unwrap();
    let adopted = run(emulator.cli().args([
        "adopt",
        "--packer-manifest",
        out.join("manifest.json").to_str().unwrap(),
        "--author",
        "Grace",
        "--contact",
        "platform@example.org",
        "--output",
        "json",
    ]))
    .success();
    assert_eq!(adopted.json()["adopted"][0]["ami"], ami);
    let image = image(&ec2, ami).await;
    let tags = tags_of(image.tags());
    assert_eq!(tags["gio-ami:release"], image.name().unwrap());
    assert_eq!(tags["gio-ami:author"], "Grace");
    assert_eq!(tags["gio-ami:contact"], "platform@example.org");
    assert!(tags["gio-ami:created-at"].starts_with("20"), "{tags:?}");
    for mapping in image.block_device_mappings() {
        let snapshot = mapping.ebs().unwrap().snapshot_id().unwrap();
        assert_eq!(snapshot_tags(&ec2, snapshot).await["gio-ami:author"], "Grace");
    }

    // Adopting again writes nothing.
    let again = run(emulator.cli().args(["adopt", ami, "--output", "json"])).success();
    assert_eq!(again.json()["adopted"][0]["tags"], serde_json::json!({}));
}

#[tokio::test]
async fn a_json_template_builds_with_plain_packer_build() {
    let emulator = Emulator::start();
    let dir = spec_dir("json", &support::spec(SPEC));
    run(emulator.cli().current_dir(&dir).args(["packer", "render", "-o", "out"])).success();
    let out = dir.join("out");
    succeeds(packer(&out).args(["validate", "template.json"]));
    // Two builds in the same second must not collide on the AMI name.
    let first = packer(&out)
        .args(["build", "-machine-readable", "template.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let second = succeeds(packer(&out).args([
        "build",
        "-machine-readable",
        "-var",
        "instance_type=t3.xlarge",
        "template.json",
    ]));
    let first = support::output_of(first);
    assert!(first.status.success(), "the first build failed:\n{}", String::from_utf8_lossy(&first.stdout));
    assert!(second.contains(",amazon-ebs,artifact,0,id,eu-west-1:ami-"), "{second}");
    let ec2 = emulator.ec2().await;
    let images = ec2.describe_images().owners("self").send().await.unwrap();
    assert_eq!(images.images().len(), 2, "both builds registered their AMI");
}

#[test]
fn a_missing_packer_says_how_to_install_it() {
    let emulator = Emulator::start();
    let dir = spec_dir("missing", &support::spec(SPEC));
    let failed = run(emulator
        .cli()
        .args(["build", dir.join("gio-ami.toml").to_str().unwrap()])
        .env("PATH", "/nonexistent"))
    .failure();
    assert!(failed.stderr.contains("apt-get install packer"), "{}", failed.stderr);
}

#[test]
fn an_emulator_template_refuses_remote_provisioning_scripts() {
    let dir = spec_dir(
        "scripts",
        &support::with_keys(&support::spec(SPEC), "build", "provision = [\"provision.sh\"]"),
    );
    let failed =
        run(bare_cli().current_dir(&dir).args(["packer", "render", "--endpoint", "http://127.0.0.1:1"]))
            .failure();
    assert!(failed.stderr.contains("communicator = \"none\""), "{}", failed.stderr);
    assert!(!dir.join("template.json").exists());
}

/// Rendered templates for a few specs, compared as parsed JSON with `tests/golden/packer/`
/// (GOLDEN_UPDATE=1 rewrites them after an intended change).
#[test]
fn rendered_templates_match_the_golden_files() {
    for name in ["al2023-extra-disk", "explicit-ami-scripts-root-size", "bottlerocket-arm64-io2"] {
        let dir = spec_dir(name, &support::spec(&format!("packer-{name}")));
        run(bare_cli().current_dir(&dir).args(["packer", "render", "--region", "eu-west-1"])).success();
        let got: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("template.json")).unwrap()).unwrap();
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/packer/{name}.json"));
        if std::env::var_os("GOLDEN_UPDATE").is_some() {
            std::fs::write(&golden, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        }
        let want: Value = serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
        assert_eq!(got, want, "{name}: rendered template differs from {}", golden.display());
    }
}
