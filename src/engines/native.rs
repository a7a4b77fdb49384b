//! The native build engine: no SSH, no inbound network. The builder instance runs the
//! provisioning scripts from its user data (or SSM Run Command) and powers itself off; the
//! engine then snapshots, images, tags and cleans up. On any error, Ctrl-C or SIGTERM it removes
//! everything the build created before returning; `gc` covers a build killed outright.

use super::{
    builder_tags, image_tags, new_build_id, tag_image, wait_image, Building, Built, Phases, IMAGE_TIMEOUT,
};
use crate::aws::base::Base;
use crate::aws::inventory::{self, SnapshotState};
use crate::aws::tagging;
use crate::aws::Aws;
use crate::change::{self, Status};
use crate::core::error::Service;
use crate::core::iam::{optional, Permission, Resource, Scope};
use crate::core::kinds::ProvisionVia;
use crate::core::poll;
use crate::core::progress::Progress;
use crate::core::tags::{self, Tags};
use crate::engines::leftovers;
use crate::error::{Error, Result};
use crate::spec::disk::Disk;
use crate::spec::{self, Loaded};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataOptionsRequest, InstanceStateName, InstanceType, ResourceType, ShutdownBehavior,
    VolumeType,
};
use aws_sdk_ssm::types::{CommandInvocationStatus, InstanceInformationStringFilter, PingStatus};
use base64::Engine;
use std::path::Path;
use std::time::{Duration, Instant};

/// A native build: the builder instance and the AMI made of it.
pub const IAM: &[Permission] = &[
    Permission::new(Service::Ec2, "RunInstances"),
    Permission::new(Service::Ec2, "DescribeInstances"),
    Permission::new(Service::Ec2, "GetConsoleOutput"),
    Permission::new(Service::Ec2, "CreateSnapshot"),
    Permission::new(Service::Ec2, "CreateImage"),
];
/// Removing the builder and pre-snapshots once the release is made: without it the build still
/// succeeds, warns, and leaves them (billed) to `gio-ami gc`.
pub const CLEAN_UP: [Permission; 2] = optional(
    [
        Permission::new(Service::Ec2, "TerminateInstances").tagged(Resource::Instance, tags::BUILD_ID),
        Permission::new(Service::Ec2, "DeleteSnapshot").tagged(Resource::Snapshot, tags::BUILD_ID),
    ],
    "clean up of the builder until gc",
);
/// Provisioning through SSM Run Command (`build.provision_via = "ssm"`), after which the engine
/// powers the builder off itself.
pub const SSM: &[Permission] = &[
    Permission::new(Service::Ssm, "DescribeInstanceInformation"),
    Permission::new(Service::Ssm, "SendCommand"),
    Permission::new(Service::Ssm, "GetCommandInvocation"),
    Permission::new(Service::Ec2, "StopInstances"),
];
/// Launching with `build.iam_instance_profile`: EC2 checks that the caller may pass its role
/// (IAM roles for Amazon EC2: "Permissions required to launch an instance with a role").
pub const PASS_ROLE: &[Permission] =
    &[Permission::new(Service::Iam, "PassRole").on(Scope::RolesPassedTo("ec2.amazonaws.com"))];

/// EC2 refuses user data over 16 KiB (before base64).
const USER_DATA_MAX: usize = 16 * 1024;
/// How long an AWS call already sent may take to land; calls that create answer in seconds.
const IN_FLIGHT_SETTLE: Duration = Duration::from_secs(3);
/// What the guest prints on its console when a script fails, before powering off anyway.
const FAILURE_MARKER: &str = "gio-ami: provisioning FAILED";

/// Builds the spec's AMI. On failure or interruption, removes what this build created first.
pub async fn build(
    aws: &Aws,
    loaded: &Loaded,
    building: &Building,
    progress: &dyn Progress,
) -> Result<Built> {
    let build_id = new_build_id();
    // Held until the clean-up below is done: the binary lets an interrupted run finish it.
    let handling = aws.interruption().handle();
    let mut run =
        Run { aws, loaded, building, build_id: build_id.clone(), phases: Phases::new(aws, progress) };
    let outcome = tokio::select! {
        // An interruption that came before the build started ends it before it launches anything.
        biased;
        signal = handling.interrupted() => Err(Error::Interrupted { signal }),
        built = run.steps() => built,
    };
    let failure = match outcome {
        Ok(built) => return Ok(built),
        Err(e) => e,
    };
    progress.phase("cleaning up what this build created");
    let cleanup = match clean_up(aws, &build_id).await {
        Ok(outcomes) => cleanup_summary(&outcomes),
        Err(e) => format!("the clean-up could not list the build's resources ({e})"),
    };
    drop(handling);
    Err(Error::BuildFailed { cause: Box::new(failure), build_id, cleanup })
}

/// Removes everything tagged with the build id, twice: a creation call in flight when the
/// signal came (RunInstances, CreateImage) can land after the first pass has listed the build's
/// resources, and the second pass catches it.
async fn clean_up(aws: &Aws, build_id: &str) -> Result<Vec<change::Outcome>> {
    let mut outcomes = leftovers::clean_persistently(aws, build_id, None).await?;
    tokio::time::sleep(IN_FLIGHT_SETTLE).await;
    let late = leftovers::clean_persistently(aws, build_id, None).await?;
    outcomes.extend(late);
    Ok(outcomes)
}

fn cleanup_summary(outcomes: &[change::Outcome]) -> String {
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.status {
            Status::Failed(why) => Some(format!("{} ({why})", o.action.id())),
            _ => None,
        })
        .collect();
    let removed: Vec<&str> = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Done | Status::AlreadyGone))
        .map(|o| o.action.id())
        .collect();
    let mut text = if removed.is_empty() {
        "nothing had been created yet".to_string()
    } else {
        format!("removed {}", removed.join(", "))
    };
    if !failed.is_empty() {
        text.push_str(&format!(
            "; could NOT remove {}: run `gio-ami gc` once AWS answers again",
            failed.join(", ")
        ));
    }
    text
}

struct Run<'a> {
    aws: &'a Aws,
    loaded: &'a Loaded,
    building: &'a Building,
    build_id: String,
    phases: Phases<'a>,
}

impl Run<'_> {
    fn phase(&mut self, name: &str) {
        self.phases.start(name);
    }

    async fn steps(&mut self) -> Result<Built> {
        let spec = &self.loaded.spec;
        let aws = self.aws;
        let building = self.building;
        let Building { base, provenance, name, .. } = building;
        let user_data = user_data(self.loaded)?;

        self.phase(&format!("launching the builder from {} ({})", base.image.id, base.image.name));
        let instance = self.launch(base, name, &user_data).await?;

        let timeout = spec.timeout();
        self.phase(&format!(
            "waiting for {instance} to provision itself and power off (timeout {})",
            humantime::format_duration(timeout)
        ));
        // One budget for the guest's whole work, however many waits it takes.
        let deadline = Instant::now() + timeout;
        if spec.provision_via() == ProvisionVia::Ssm {
            self.provision_via_ssm(&instance, deadline).await?;
        }
        wait_for_guest(aws, &instance, left(deadline)).await?;

        let volumes = instance_volumes(aws, &instance).await?;
        if spec.build.pre_snapshot {
            self.phase(&format!("pre-snapshotting {} volume(s)", volumes.len()));
            self.pre_snapshot(&volumes, name).await?;
        }

        self.phase(&format!("creating the image {name}"));
        let image_tags = image_tags(spec, &self.build_id, base, provenance);
        let ami = create_image(aws, &instance, name, spec, &image_tags).await?;
        let image = wait_image(aws, &ami).await?;

        self.phase("tagging the release");
        let snapshots: Vec<String> = image.snapshot_ids().map(str::to_string).collect();
        let release = Tags::from([(tags::RELEASE.to_string(), building.release.clone())]);
        tag_image(aws, &ami, &snapshots, &release).await?;

        self.phase("removing the builder and pre-snapshots");
        // Everything of this build but the release: by tag rather than by the ids we saw, so a
        // snapshot created twice by a retried CreateSnapshot (no ClientToken) goes too.
        // The release is made: a failed clean-up is gc's to finish, not a failed build.
        match leftovers::clean_persistently(aws, &self.build_id, Some((ami.as_str(), name.as_str()))).await {
            Ok(outcomes) if !change::succeeded(&outcomes) => tracing::warn!("{}", cleanup_summary(&outcomes)),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("could not list build {}'s leftovers ({e}): run `gio-ami gc`", self.build_id)
            }
        }
        Ok(Built::new(&mut self.phases, base.clone(), self.build_id.clone(), ami, name.clone(), snapshots))
    }

    fn build_tags(&self) -> Tags {
        Tags::from([(tags::BUILD_ID.to_string(), self.build_id.clone())])
    }

    async fn launch(&self, base: &Base, name: &str, user_data: &str) -> Result<String> {
        let spec = &self.loaded.spec;
        let build = &spec.build;
        let t = builder_tags(&self.build_id, &format!("gio-ami builder: {name}"), spec);
        let mut mappings: Vec<BlockDeviceMapping> = Vec::new();
        if let (Some(size), Some(root)) = (build.root_size_gib, &base.image.root_device) {
            mappings.push(
                BlockDeviceMapping::builder()
                    .device_name(root)
                    .ebs(EbsBlockDevice::builder().volume_size(size).delete_on_termination(true).build())
                    .build(),
            );
        }
        mappings.extend(spec.disks.iter().map(launch_mapping));
        let output = self
            .aws
            .ec2()
            .run_instances()
            .image_id(&base.image.id)
            .instance_type(InstanceType::from(build.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .client_token(&self.build_id)
            .set_block_device_mappings(Some(mappings))
            .user_data(base64::engine::general_purpose::STANDARD.encode(user_data))
            .instance_initiated_shutdown_behavior(ShutdownBehavior::Stop)
            .metadata_options(
                InstanceMetadataOptionsRequest::builder().http_tokens(HttpTokensState::Required).build(),
            )
            .set_subnet_id(build.subnet.clone())
            .set_security_group_ids(build.security_group.clone().map(|g| vec![g]))
            .set_iam_instance_profile(
                build
                    .iam_instance_profile
                    .as_ref()
                    .map(|p| IamInstanceProfileSpecification::builder().name(p).build()),
            )
            .tag_specifications(tagging::specification(ResourceType::Instance, &t))
            .tag_specifications(tagging::specification(ResourceType::Volume, &t))
            .send()
            .await
            .map_err(|e| self.aws.error("RunInstances", Service::Ec2, e))?;
        Ok(output.instances().first().and_then(|i| i.instance_id()).unwrap_or_default().to_string())
    }

    /// SSM mode: the instance boots plain; once its agent has registered, the scripts arrive
    /// by Run Command, and the engine powers the builder off when they all succeeded.
    async fn provision_via_ssm(&self, instance: &str, deadline: Instant) -> Result<()> {
        let aws = self.aws;
        // SendCommand to an instance whose agent has not registered yet fails (InvalidInstanceId).
        poll::until(
            aws.interruption(),
            &format!("the builder {instance} to register with Systems Manager"),
            poll::LOCAL_CHANGE,
            left(deadline),
            || async {
                let filter = InstanceInformationStringFilter::builder()
                    .key("InstanceIds")
                    .values(instance)
                    .build()
                    .expect("key and values are set");
                // Every page: AWS does not say that a filtered answer fits in the first one.
                let nodes = aws
                    .ssm()
                    .describe_instance_information()
                    .filters(filter)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| aws.error("DescribeInstanceInformation", Service::Ssm, e))?;
                if nodes.iter().any(|n| n.ping_status() == Some(&PingStatus::Online)) {
                    return Ok(Some(()));
                }
                // Systems Manager lists no stopped or terminated node: not online, the builder may not
                // have registered yet, or may be down, which no wait mends.
                let state = match describe_instance(aws, instance).await {
                    Ok(found) => found.and_then(|i| i.state().and_then(|s| s.name().cloned())),
                    // EC2 may not know an instance for a moment after RunInstances answered.
                    Err(e) if e.code() == Some("InvalidInstanceID.NotFound") => None,
                    Err(e) => return Err(e),
                };
                match state {
                    Some(
                        down @ (InstanceStateName::Stopping
                        | InstanceStateName::Stopped
                        | InstanceStateName::ShuttingDown
                        | InstanceStateName::Terminated),
                    ) => Err(Error::Provision { message: ssm_never_registered(instance, down.as_str()) }),
                    _ => Ok(None),
                }
            },
        )
        .await?;
        let script =
            format!("set -eEuo pipefail\n{}echo 'gio-ami: provisioning done'\n", script_runs(self.loaded)?);
        let sent = aws
            .ssm()
            .send_command()
            .instance_ids(instance)
            .document_name("AWS-RunShellScript")
            .parameters("commands", vec![script])
            .parameters("executionTimeout", vec![left(deadline).as_secs().max(1).to_string()])
            .comment(format!("gio-ami build {}", self.build_id))
            .send()
            .await
            .map_err(|e| aws.error("SendCommand", Service::Ssm, e))?;
        let command = sent.command().and_then(|c| c.command_id()).unwrap_or_default().to_string();
        poll::until(
            aws.interruption(),
            &format!("the provisioning scripts on {instance} (command {command})"),
            poll::LOCAL_CHANGE,
            left(deadline),
            || async {
                let invocation = match aws
                    .ssm()
                    .get_command_invocation()
                    .command_id(&command)
                    .instance_id(instance)
                    .send()
                    .await
                {
                    Ok(invocation) => invocation,
                    // Invocations appear a moment after SendCommand answers.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_invocation_does_not_exist()) => {
                        return Ok(None)
                    }
                    Err(e) => return Err(aws.error("GetCommandInvocation", Service::Ssm, e)),
                };
                match invocation.status() {
                    Some(CommandInvocationStatus::Success) => Ok(Some(())),
                    None
                    | Some(
                        CommandInvocationStatus::Pending
                        | CommandInvocationStatus::InProgress
                        | CommandInvocationStatus::Delayed,
                    ) => Ok(None),
                    Some(other) => Err(Error::Provision {
                        message: ssm_failure(
                            instance,
                            &command,
                            other.as_str(),
                            invocation.standard_error_content(),
                        ),
                    }),
                }
            },
        )
        .await?;
        aws.ec2()
            .stop_instances()
            .instance_ids(instance)
            .send()
            .await
            .map_err(|e| aws.error("StopInstances", Service::Ec2, e))?;
        Ok(())
    }

    async fn pre_snapshot(&self, volumes: &[(String, String)], name: &str) -> Result<()> {
        let mut ids = Vec::new();
        for (device, volume) in volumes {
            let mut t = self.build_tags();
            t.insert("Name".into(), format!("gio-ami pre-snapshot: {name} {device}"));
            let snapshot = self
                .aws
                .ec2()
                .create_snapshot()
                .volume_id(volume)
                .description(format!("gio-ami pre-snapshot of {device} for {name}"))
                .tag_specifications(tagging::specification(ResourceType::Snapshot, &t))
                .send()
                .await
                .map_err(|e| self.aws.error("CreateSnapshot", Service::Ec2, e))?;
            ids.push(snapshot.snapshot_id().unwrap_or_default().to_string());
        }
        wait_snapshots(self.aws, &ids).await
    }
}

/// The builder's own volumes are always deleted with it, whatever the AMI will say: the
/// builder must never leak a volume. The AMI gets the spec's choice at CreateImage.
fn launch_mapping(disk: &Disk) -> BlockDeviceMapping {
    BlockDeviceMapping::builder()
        .device_name(&disk.device)
        .ebs(
            EbsBlockDevice::builder()
                .set_volume_size(disk.size_gib)
                .volume_type(VolumeType::from(disk.volume_type))
                .set_iops(disk.iops)
                .set_throughput(disk.throughput)
                .set_snapshot_id(disk.snapshot_id.clone())
                .set_encrypted(disk.encrypted.then_some(true))
                .set_kms_key_id(disk.kms_key_id.clone())
                .delete_on_termination(true)
                .build(),
        )
        .build()
}

/// The provisioning scripts, read relative to the spec's directory.
fn scripts(loaded: &Loaded) -> Result<Vec<(String, String)>> {
    loaded
        .spec
        .build
        .provision
        .iter()
        .map(|script| {
            let path = loaded.source(Path::new(script));
            std::fs::read_to_string(&path).map(|body| (script.clone(), body)).map_err(|e| Error::Provision {
                message: format!(
                    "cannot read provisioning script {} ({e}); paths in build.provision are \
                         relative to {}",
                    path.display(),
                    loaded.path.display()
                ),
            })
        })
        .collect()
}

/// What is left of a budget.
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Shell lines that write each provisioning script to a file and run it with bash, in order.
fn script_runs(loaded: &Loaded) -> Result<String> {
    let mut text = String::new();
    for (n, (name, body)) in scripts(loaded)?.iter().enumerate() {
        let marker = format!("GIO_AMI_SCRIPT_{n}_END");
        text.push_str(&format!(
            "echo 'gio-ami: running {name}'\ncat > /tmp/gio-ami-{n}.sh <<'{marker}'\n{body}\n{marker}\nbash /tmp/gio-ami-{n}.sh\n"
        ));
    }
    Ok(text)
}

/// Why a builder went down before its SSM Agent could take the scripts.
fn ssm_never_registered(instance: &str, state: &str) -> String {
    format!(
        "the builder {instance} is {state} and its SSM Agent never registered with Systems Manager, \
         so the provisioning scripts were not sent. Its console output may say why (`aws ec2 \
         get-console-output --instance-id {instance}`); check that the base AMI runs the SSM Agent \
         and that build.iam_instance_profile lets it reach Systems Manager"
    )
}

/// Why a Run Command provisioning failed, with the end of what the scripts wrote to stderr.
fn ssm_failure(instance: &str, command: &str, status: &str, stderr: Option<&str>) -> String {
    let lines: Vec<&str> = stderr.unwrap_or_default().lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" / ");
    let said = if tail.is_empty() { String::new() } else { format!(" Its stderr ends: `{tail}`.") };
    format!(
        "the provisioning scripts ended `{status}` on the builder {instance}.{said} The whole output \
         is in Systems Manager: `aws ssm get-command-invocation --command-id {command} --instance-id {instance}`"
    )
}

/// A bash script that runs each provisioning script in order and powers off either way; a
/// failure is announced on the console so the engine does not image a half-provisioned disk.
pub fn user_data(loaded: &Loaded) -> Result<String> {
    if loaded.spec.provision_via() == ProvisionVia::Ssm {
        return Ok(String::new());
    }
    let mut text = String::from(
        "#!/bin/bash\n# gio-ami builder: provision, then power off so the image can be taken.\n\
         exec > >(tee /var/log/gio-ami-provision.log /dev/console) 2>&1\n",
    );
    text.push_str(&format!(
        "trap 'echo \"{FAILURE_MARKER} (exit $?)\"; shutdown -h now' ERR\nset -eEuo pipefail\n"
    ));
    text.push_str(&script_runs(loaded)?);
    text.push_str("echo 'gio-ami: provisioning done'\nshutdown -h now\n");
    if text.len() > USER_DATA_MAX {
        return Err(Error::Provision {
            message: format!(
                "the provisioning scripts make {} bytes of user data; EC2 takes at most {USER_DATA_MAX}. \
                 Set build.provision_via = \"ssm\" (needs build.iam_instance_profile), or have a short \
                 script fetch the rest",
                text.len()
            ),
        });
    }
    Ok(text)
}

async fn wait_for_guest(aws: &Aws, instance: &str, timeout: Duration) -> Result<()> {
    let what = format!("the builder {instance} to provision itself and power off");
    let console_seen = std::cell::Cell::new(0);
    poll::until(aws.interruption(), &what, poll::LOCAL_CHANGE, timeout, || async {
        let state =
            describe_instance(aws, instance).await?.and_then(|i| i.state().and_then(|s| s.name().cloned()));
        if matches!(state, Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)) {
            return Err(Error::Provision {
                message: format!("the builder {instance} was terminated before it powered off"),
            });
        }
        let stopped = state == Some(InstanceStateName::Stopped);
        if !(stopped || tracing::enabled!(tracing::Level::INFO)) {
            return Ok(None);
        }
        let console = console_output(aws, instance).await?;
        for line in console.lines().skip(console_seen.get()) {
            tracing::info!(target: "gio_ami::console", "{instance}: {line}");
        }
        console_seen.set(console.lines().count());
        if let Some(line) = console.lines().find(|l| stopped && l.contains(FAILURE_MARKER)) {
            return Err(Error::Provision {
                message: format!(
                    "the builder's provisioning failed (`{line}`); its console output says why \
                     (gio-ami build -v streams it)"
                ),
            });
        }
        Ok(stopped.then_some(()))
    })
    .await
}

async fn describe_instance(aws: &Aws, instance: &str) -> Result<Option<aws_sdk_ec2::types::Instance>> {
    let output = aws
        .ec2()
        .describe_instances()
        .instance_ids(instance)
        .send()
        .await
        .map_err(|e| aws.error("DescribeInstances", Service::Ec2, e))?;
    Ok(output.reservations().iter().flat_map(|r| r.instances()).next().cloned())
}

async fn console_output(aws: &Aws, instance: &str) -> Result<String> {
    let output = aws
        .ec2()
        .get_console_output()
        .instance_id(instance)
        .latest(true)
        .send()
        .await
        .map_err(|e| aws.error("GetConsoleOutput", Service::Ec2, e))?;
    let encoded = output.output().unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_default();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// (device, volume id) of every EBS volume attached to the builder.
async fn instance_volumes(aws: &Aws, instance: &str) -> Result<Vec<(String, String)>> {
    Ok(describe_instance(aws, instance)
        .await?
        .iter()
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| Some((m.device_name()?.to_string(), m.ebs()?.volume_id()?.to_string())))
        .collect())
}

async fn wait_snapshots(aws: &Aws, ids: &[String]) -> Result<()> {
    poll::until(
        aws.interruption(),
        &format!("snapshots {} to complete", ids.join(", ")),
        poll::LOCAL_CHANGE,
        IMAGE_TIMEOUT,
        || async {
            let snapshots = inventory::snapshots_by_id(aws, ids).await?;
            if let Some(failed) = snapshots.iter().find(|s| s.state == SnapshotState::Error) {
                return Err(Error::Provision { message: format!("snapshot {} failed", failed.id) });
            }
            Ok((snapshots.len() == ids.len()
                && snapshots.iter().all(|s| s.state == SnapshotState::Completed))
            .then_some(()))
        },
    )
    .await
}

async fn create_image(
    aws: &Aws,
    instance: &str,
    name: &str,
    spec: &spec::Spec,
    image_tags: &Tags,
) -> Result<String> {
    // The builder deleted every volume on termination; the AMI keeps the spec's wish.
    let kept: Vec<BlockDeviceMapping> = spec
        .disks
        .iter()
        .filter(|d| !d.delete_on_termination)
        .map(|d| {
            BlockDeviceMapping::builder()
                .device_name(&d.device)
                .ebs(EbsBlockDevice::builder().delete_on_termination(false).build())
                .build()
        })
        .collect();
    let output = aws
        .ec2()
        .create_image()
        .instance_id(instance)
        .name(name)
        .set_description(spec.image.description.clone())
        .set_block_device_mappings((!kept.is_empty()).then_some(kept))
        .tag_specifications(tagging::specification(ResourceType::Image, image_tags))
        .tag_specifications(tagging::specification(ResourceType::Snapshot, image_tags))
        .send()
        .await
        .map_err(|e| aws.error("CreateImage", Service::Ec2, e));
    match output {
        Ok(output) => Ok(output.image_id().unwrap_or_default().to_string()),
        // CreateImage takes no ClientToken: when a retry finds the name taken by this very
        // build, the first attempt succeeded and only its answer was lost.
        Err(e) if e.code() == Some("InvalidAMIName.Duplicate") => {
            let ours = inventory::own_images_named(aws, name)
                .await?
                .into_iter()
                .find(|i| i.tags.get(tags::BUILD_ID) == image_tags.get(tags::BUILD_ID));
            ours.map(|i| i.id.into()).ok_or(e)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn loaded(dir: &Path, extra: &str) -> Loaded {
        let text = format!("[image]\nname = \"n-{{k8s}}\"\ncontact = \"x\"\n[base]\nfamily = \"al2023\"\nkubernetes = \"1.31\"\n{extra}");
        let (spec, warnings) = spec::parse("gio-ami.toml", &text).unwrap();
        Loaded { path: dir.join("gio-ami.toml"), spec, warnings }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gio-ami-build-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn user_data_runs_every_script_then_powers_off() {
        let dir = scratch("ud");
        std::fs::write(dir.join("a.sh"), "echo one").unwrap();
        std::fs::write(dir.join("b.sh"), "echo two").unwrap();
        let text = user_data(&loaded(&dir, "[build]\nprovision = [\"a.sh\", \"b.sh\"]\n")).unwrap();
        let a = text.find("echo one").unwrap();
        let b = text.find("echo two").unwrap();
        let off = text.rfind("shutdown -h now").unwrap();
        assert!(a < b && b < off, "{text}");
        assert!(text.contains(FAILURE_MARKER), "a failed script is announced");
    }

    #[test]
    fn a_missing_script_names_its_path() {
        let dir = scratch("missing");
        let err = user_data(&loaded(&dir, "[build]\nprovision = [\"nope.sh\"]\n")).unwrap_err().to_string();
        assert!(err.contains("nope.sh") && err.contains("relative to"), "{err}");
    }

    #[test]
    fn user_data_over_16_kib_is_refused_with_the_way_out() {
        let dir = scratch("big");
        std::fs::write(dir.join("big.sh"), "#".repeat(20_000)).unwrap();
        let err = user_data(&loaded(&dir, "[build]\nprovision = [\"big.sh\"]\n")).unwrap_err().to_string();
        assert!(err.contains("provision_via = \"ssm\""), "{err}");
    }

    #[test]
    fn builder_volumes_always_die_with_the_builder() {
        let disk: Disk = "/dev/xvdb=50:delete-on-termination=false".parse().unwrap();
        let mapping = launch_mapping(&disk);
        assert_eq!(mapping.ebs().unwrap().delete_on_termination(), Some(true));
    }

    #[test]
    fn a_failed_run_command_names_its_status_the_end_of_stderr_and_where_the_rest_is() {
        let stderr = (1..=8).map(|n| format!("line {n}")).collect::<Vec<_>>().join("\n");
        let message = ssm_failure("i-1", "cmd-1", "Failed", Some(&stderr));
        assert!(message.contains("ended `Failed` on the builder i-1"), "{message}");
        assert!(
            message.contains("`line 4 / line 5 / line 6 / line 7 / line 8`") && !message.contains("line 3"),
            "{message}"
        );
        assert!(message.contains("--command-id cmd-1 --instance-id i-1"), "{message}");
        assert!(!ssm_failure("i-1", "cmd-1", "TimedOut", None).contains("stderr"));
    }

    #[test]
    fn build_ids_fit_a_client_token() {
        let id = new_build_id();
        assert!(id.len() <= 64 && id.starts_with('b'), "{id}");
        let set: std::collections::HashSet<String> = (0..3).map(|_| new_build_id()).collect();
        assert_eq!(set.len(), 3, "a set's builds start within one millisecond, each its own id");
    }
}
