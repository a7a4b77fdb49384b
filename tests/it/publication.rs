//! What a publication writes when SSM does not take the value: a parameter Terraform made as
//! `text` (SSM changes no data type to aws:ec2:image), a write that fails. The AMI's
//! `gio-ami:clusters` mark records a publication that happened, so it is never made then.

use crate::support;

use aws_sdk_ssm::types::ParameterType;
use std::path::PathBuf;
use support::faults::{Fault, Faults};
use support::{register_root_image, run, Emulator, PARAMETER, REGION};

fn project(test: &str) -> PathBuf {
    let dir = support::scratch(&format!("publication-{test}"));
    support::write_cluster_spec(&dir);
    dir
}

async fn ssm(emulator: &Emulator) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&emulator.config(REGION).await)
}

/// The AMI's `gio-ami:clusters` tag, if it has one.
async fn mark(emulator: &Emulator, ami: &str) -> Option<String> {
    let image = support::own_image(&emulator.ec2().await, ami).await.unwrap();
    let tag = image.tags().iter().find(|t| t.key() == Some("gio-ami:clusters"));
    tag.and_then(|t| t.value()).map(str::to_string)
}

#[tokio::test]
async fn publishing_over_a_text_parameter_refuses_marks_nothing_and_works_once_it_is_made_again() {
    let emulator = Emulator::start();
    let dir = project("text");
    let ami = register_root_image(&emulator.ec2().await, "gio-node-1").await;
    let ssm = ssm(&emulator).await;
    // What Terraform's aws_ssm_parameter makes unless told otherwise: data type text.
    ssm.put_parameter()
        .name(PARAMETER)
        .value("ami-00000000")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();

    let refused =
        run(emulator.cli().current_dir(&dir).args(["publish", &ami, "--cluster", "prod"])).failure();
    assert!(refused.stderr.contains(&format!("{PARAMETER} has data type `text`")), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!("aws ssm delete-parameter --name {PARAMETER}")),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("data_type = \"aws:ec2:image\""), "{}", refused.stderr);
    let held = ssm.get_parameter().name(PARAMETER).send().await.unwrap().parameter.unwrap();
    assert_eq!((held.value(), held.version(), held.data_type()), (Some("ami-00000000"), 1, Some("text")));
    assert_eq!(mark(&emulator, &ami).await, None, "nothing published, nothing marked");

    // The fix the error names: made again, the parameter takes the AMI, and the AMI its mark.
    ssm.delete_parameter().name(PARAMETER).send().await.unwrap();
    run(emulator.cli().current_dir(&dir).args(["publish", &ami, "--cluster", "prod"])).success();
    let held = ssm.get_parameter().name(PARAMETER).send().await.unwrap().parameter.unwrap();
    assert_eq!(
        (held.value(), held.data_type()),
        (Some(ami.as_str()), Some("aws:ec2:image")),
        "stored on exit"
    );
    assert_eq!(mark(&emulator, &ami).await.as_deref(), Some("prod"));
}

#[tokio::test]
async fn a_failed_parameter_write_skips_the_mark() {
    let emulator = Emulator::start();
    let dir = project("failed-write");
    let ami = register_root_image(&emulator.ec2().await, "gio-node-1").await;
    let proxy = emulator.proxied(Faults::new(1.0, 7).only(&["PutParameter"]).kinds(&[Fault::Unavailable]));

    let failed =
        run(proxy.cli().current_dir(&dir).args(["publish", &ami, "--cluster", "prod", "--output", "json"]))
            .failure();
    let report = failed.json();
    let (put, tag) = (&report["outcomes"][0], &report["outcomes"][1]);
    assert_eq!((put["action"].as_str(), tag["action"].as_str()), (Some("put_parameter"), Some("tag_image")));
    assert!(put["status"]["failed"].is_string(), "{put}");
    assert_eq!(tag["status"]["skipped"], format!("not attempted: put {PARAMETER} failed"), "{tag}");
    assert_eq!(failed.json()["summary"]["skipped"], 1);
    assert!(ssm(&emulator).await.get_parameter().name(PARAMETER).send().await.is_err(), "nothing written");
    assert_eq!(mark(&emulator, &ami).await, None, "the mark waits for the parameter");

    run(emulator.cli().current_dir(&dir).args(["publish", &ami, "--cluster", "prod"])).success();
    assert_eq!(mark(&emulator, &ami).await.as_deref(), Some("prod"), "a re-run finishes the job");
}
