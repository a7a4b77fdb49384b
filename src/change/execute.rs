//! How apply carries out one action: which AWS call it is (`call`, one arm per action, each
//! saying only the call and its arguments), and what every call shares, written once
//! (`execute`): errors classified by `Aws::error`, the documented consistency lags waited out,
//! "already gone" counted as a deletion's goal reached, and the outcome's status.

use super::{Action, Status};
use crate::aws::consistency::{self, Lag};
use crate::aws::inventory::Grantees;
use crate::aws::{parameters, recycle_bin, tagging, Aws};
use crate::core::error::Service;
use crate::core::iam::{Permission, Resource};
use crate::core::ids::AmiId;
use crate::core::tags;
use crate::error::Error;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    LaunchPermission, LaunchPermissionModifications, OperationType, PermissionGroup, SnapshotAttributeName,
    Tag, TargetStorageTier,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::collections::HashSet;
use std::future::Future;

// The call each action makes. The destructive ones are granted only on what gio-ami manages,
// by its tags: EC2 authorizes them against the image's or snapshot's `aws:ResourceTag/${TagKey}`.
pub const TERMINATE_BUILDER: Permission =
    Permission::new(Service::Ec2, "TerminateInstances").tagged(Resource::Instance, tags::BUILD_ID);
pub const DEREGISTER_RELEASE: Permission =
    Permission::new(Service::Ec2, "DeregisterImage").tagged(Resource::Image, tags::RELEASE);
pub const DEREGISTER_LEFTOVER: Permission =
    Permission::new(Service::Ec2, "DeregisterImage").tagged(Resource::Image, tags::BUILD_ID);
pub const DELETE_RELEASE_SNAPSHOT: Permission =
    Permission::new(Service::Ec2, "DeleteSnapshot").tagged(Resource::Snapshot, tags::RELEASE);
pub const DELETE_LEFTOVER_SNAPSHOT: Permission =
    Permission::new(Service::Ec2, "DeleteSnapshot").tagged(Resource::Snapshot, tags::BUILD_ID);
pub const PROTECT: Permission = Permission::new(Service::Ec2, "EnableImageDeregistrationProtection");
pub const UNPROTECT: Permission = Permission::new(Service::Ec2, "DisableImageDeregistrationProtection")
    .tagged(Resource::Image, tags::RELEASE);
pub const DISABLE: Permission =
    Permission::new(Service::Ec2, "DisableImage").tagged(Resource::Image, tags::RELEASE);
pub const ENABLE: Permission = Permission::new(Service::Ec2, "EnableImage");
pub const DEPRECATE: Permission = Permission::new(Service::Ec2, "EnableImageDeprecation");
pub const SHARE_IMAGE: Permission = Permission::new(Service::Ec2, "ModifyImageAttribute");
pub const SHARE_SNAPSHOT: Permission = Permission::new(Service::Ec2, "ModifySnapshotAttribute");
pub const ARCHIVE: Permission =
    Permission::new(Service::Ec2, "ModifySnapshotTier").tagged(Resource::Snapshot, tags::RELEASE);
pub const UNARCHIVE: Permission = Permission::new(Service::Ec2, "RestoreSnapshotTier");

/// Carries out `action`. `deregistered`: the AMIs this apply deregistered, whose snapshots EC2
/// may still report in use by them for a while (`aws::consistency`).
pub(super) async fn execute(aws: &Aws, action: &Action, deregistered: &HashSet<String>) -> Status {
    let result = match action {
        Action::Refuse { .. } => return Status::Refused,
        Action::Reuse { .. } => return Status::Reused,
        Action::DeleteSnapshot { .. } | Action::ArchiveSnapshot { .. } => {
            consistency::outlast(Lag::HeldByDeregistered(deregistered), || call(aws, action)).await
        }
        _ => call(aws, action).await,
    };
    match result {
        Ok(()) => Status::Done,
        Err(e) if is_gone(&e) && action.gone_is_done() => Status::AlreadyGone,
        Err(e) => Status::Failed((&e).into()),
    }
}

/// The one call (or short sequence) that makes `action` happen.
async fn call(aws: &Aws, action: &Action) -> Result<(), Error> {
    let ec2 = aws.ec2();
    match action {
        Action::TerminateInstance { id, .. } => {
            ec2_call(aws, "TerminateInstances", ec2.terminate_instances().instance_ids(id.as_str()).send())
                .await
        }
        Action::DeregisterImage { id, .. } => {
            ec2_call(aws, "DeregisterImage", ec2.deregister_image().image_id(id.as_str()).send()).await
        }
        Action::ProtectImage { id, enable: true, cooldown, .. } => {
            let request =
                ec2.enable_image_deregistration_protection().image_id(id.as_str()).with_cooldown(*cooldown);
            ec2_call(aws, "EnableImageDeregistrationProtection", request.send()).await
        }
        Action::ProtectImage { id, .. } => {
            let request = ec2.disable_image_deregistration_protection().image_id(id.as_str());
            ec2_call(aws, "DisableImageDeregistrationProtection", request.send()).await
        }
        Action::DisableImage { id, record, .. } => disable(aws, id, record).await,
        Action::EnableImage { id, disabled, granted, record, .. } => {
            enable(aws, id, *disabled, granted, record).await
        }
        Action::DeprecateImage { id, deprecate_at, .. } => {
            let at = aws_smithy_types::DateTime::from_secs(*deprecate_at);
            let request = ec2.enable_image_deprecation().image_id(id.as_str()).deprecate_at(at);
            ec2_call(aws, "EnableImageDeprecation", request.send()).await
        }
        Action::Relink { id, parent, .. } => {
            let link = tags::Tags::from([(tags::PARENT_AMI.to_string(), parent.to_string())]);
            tagging::create(aws, vec![id.to_string()], &link).await
        }
        Action::TagImage { id, snapshots, tags, .. } => {
            let resources = std::iter::once(id.to_string()).chain(snapshots.iter().map(ToString::to_string));
            tagging::create(aws, resources.collect(), tags).await
        }
        Action::DeleteSnapshot { id, .. } => {
            ec2_call(aws, "DeleteSnapshot", ec2.delete_snapshot().snapshot_id(id.as_str()).send()).await
        }
        Action::ModifyLaunchPermission { id, with, add, .. } => modify_launch(aws, id, with, *add).await,
        // OperationType + UserIds: the form of the API every EC2 implementation reads (AWS
        // takes it and the CreateVolumePermission structure alike).
        Action::ModifyCreateVolumePermission { id, accounts, add, .. } => {
            let request = ec2
                .modify_snapshot_attribute()
                .snapshot_id(id.as_str())
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .operation_type(if *add { OperationType::Add } else { OperationType::Remove })
                .set_user_ids(Some(accounts.clone()));
            ec2_call(aws, "ModifySnapshotAttribute", request.send()).await
        }
        Action::PutParameter { id, value, description, .. } => {
            parameters::put_ami(aws, id, value.as_str(), description).await
        }
        Action::RestoreSnapshot { id, .. } => recycle_bin::restore_snapshot(aws, id.as_str()).await,
        Action::RestoreImage { id, .. } => recycle_bin::restore_image(aws, id.as_str()).await,
        Action::ArchiveSnapshot { id, .. } => {
            let request =
                ec2.modify_snapshot_tier().snapshot_id(id.as_str()).storage_tier(TargetStorageTier::Archive);
            ec2_call(aws, "ModifySnapshotTier", request.send()).await
        }
        Action::RestoreFromArchive { id, temporary_days, .. } => {
            let request = ec2
                .restore_snapshot_tier()
                .snapshot_id(id.as_str())
                .set_temporary_restore_days(*temporary_days)
                .set_permanent_restore(temporary_days.is_none().then_some(true));
            ec2_call(aws, "RestoreSnapshotTier", request.send()).await
        }
        Action::RetainInRecycleBin { id, binned, days, previous, .. } => match previous {
            None => recycle_bin::create_rule(aws, *binned, *days).await,
            Some(_) => recycle_bin::update_rule(aws, id, *days).await,
        },
        // Nothing to call: `execute` answers them before any call.
        Action::Refuse { .. } | Action::Reuse { .. } => Ok(()),
    }
}

/// One EC2 request sent, its answer dropped (an action's outcome is its status), its error
/// classified under `operation`.
async fn ec2_call<T, E>(
    aws: &Aws,
    operation: &'static str,
    request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<(), Error>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    request.await.map(drop).map_err(|e| aws.error(operation, Service::Ec2, e))
}

/// Grants or revokes launching `id` to `with`, in one ModifyImageAttribute.
async fn modify_launch(aws: &Aws, id: &AmiId, with: &Grantees, add: bool) -> Result<(), Error> {
    let permissions: Vec<LaunchPermission> = with
        .accounts
        .iter()
        .map(|a| LaunchPermission::builder().user_id(a).build())
        .chain(with.organizations.iter().map(|o| LaunchPermission::builder().organization_arn(o).build()))
        .chain(with.units.iter().map(|u| LaunchPermission::builder().organizational_unit_arn(u).build()))
        .chain(with.public.then(|| LaunchPermission::builder().group(PermissionGroup::All).build()))
        .collect();
    let modifications = if add {
        LaunchPermissionModifications::builder().set_add(Some(permissions))
    } else {
        LaunchPermissionModifications::builder().set_remove(Some(permissions))
    };
    let request =
        aws.ec2().modify_image_attribute().image_id(id.as_str()).launch_permission(modifications.build());
    ec2_call(aws, "ModifyImageAttribute", request.send()).await
}

/// Records who may launch `id`, then disables it: a disable whose record failed does not happen,
/// so no grant is ever lost unrecorded. Both steps can be repeated.
async fn disable(aws: &Aws, id: &AmiId, record: &tags::Tags) -> Result<(), Error> {
    if !record.is_empty() {
        tagging::create(aws, vec![id.to_string()], record).await?;
    }
    ec2_call(aws, "DisableImage", aws.ec2().disable_image().image_id(id.as_str()).send()).await
}

/// Enables `id` (when still disabled), grants back what its disabling recorded, and only then
/// forgets the record: a run stopped half-way is finished by the next, which finds the AMI
/// available and the record still there.
async fn enable(
    aws: &Aws,
    id: &AmiId,
    disabled: bool,
    granted: &Grantees,
    record: &[String],
) -> Result<(), Error> {
    if disabled {
        ec2_call(aws, "EnableImage", aws.ec2().enable_image().image_id(id.as_str()).send()).await?;
    }
    if !granted.is_empty() {
        modify_launch(aws, id, granted, true).await?;
    }
    if !record.is_empty() {
        let keys = record.iter().map(|k| Tag::builder().key(k).build()).collect();
        let request = aws.ec2().delete_tags().resources(id.as_str()).set_tags(Some(keys));
        ec2_call(aws, "DeleteTags", request.send()).await?;
    }
    Ok(())
}

/// The codes EC2 answers for a resource that no longer exists: a deletion's goal reached.
pub(crate) fn is_gone(error: &Error) -> bool {
    matches!(
        error.code(),
        Some(
            "InvalidInstanceID.NotFound"
                | "InvalidAMIID.NotFound"
                | "InvalidAMIID.Unavailable"
                | "InvalidSnapshot.NotFound"
        )
    )
}
