//! The archive tier of EBS snapshots, and the record that lets an archived release come back.
//!
//! "You can't archive snapshots that are associated with an Amazon EBS-backed AMI", so a release
//! is archived by keeping its registration (the AMI as DescribeImages showed it: name, boot
//! settings, mappings, tags) in an SSM parameter, deregistering the AMI and archiving its
//! snapshots, each tagged with the AMI it belonged to. Unarchiving restores the snapshots to the
//! standard tier (up to 72 hours), then registers the AMI again from the record.
//! https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-archive.html

use crate::aws::inventory::Image;
use crate::aws::{timestamp, Aws};
use crate::core::clock::{self, Timestamp};
use crate::core::error::Service;
use crate::core::iam::{Permission, Scope};
use crate::core::tags;
use crate::error::{Error, Result};
use aws_sdk_ec2::types::{Filter, StorageTier, TieringOperationStatus};
use aws_sdk_ssm::types::{ParameterTier, Tag};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The archive records under RECORD_PATH: `records`, `write_record`, `delete_record`.
pub const READ_RECORDS: Permission =
    Permission::new(Service::Ssm, "GetParameters").on(Scope::ParametersUnder(RECORD_PATH));
pub const WRITE_RECORD: Permission =
    Permission::new(Service::Ssm, "PutParameter").on(Scope::ParametersUnder(RECORD_PATH));
pub const DELETE_RECORD: Permission =
    Permission::new(Service::Ssm, "DeleteParameter").on(Scope::ParametersUnder(RECORD_PATH));
/// `tiers` and `in_flight`.
pub const TIERS: Permission = Permission::new(Service::Ec2, "DescribeSnapshotTierStatus");

/// Where the records live: one parameter per archived AMI, named after it.
pub const RECORD_PATH: &str = "/gio-ami/archived/";
/// GetParameters takes at most 10 names a call.
const NAMES_PER_CALL: usize = 10;
/// EC2 caps the values of one filter at 200.
const IDS_PER_FILTER: usize = 200;

pub fn record_name(ami: &str) -> String {
    format!("{RECORD_PATH}{ami}")
}

/// Where a snapshot stands between the tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tier", rename_all = "snake_case")]
pub enum Tier {
    /// Usable: never archived, or restored for good.
    Standard,
    /// Being archived: still usable until it completes.
    Archiving,
    Archived,
    /// Coming back from the archive (up to 72 hours).
    Restoring {
        since: Option<Timestamp>,
    },
    /// Back for a while: it returns to the archive at `until`.
    Restored {
        until: Option<Timestamp>,
    },
}

impl Tier {
    /// The snapshot can back an AMI now.
    pub fn usable(&self) -> bool {
        matches!(self, Tier::Standard | Tier::Restored { .. })
    }
}

/// The tier of each of these snapshots (DescribeSnapshotTierStatus); a snapshot it does not
/// list has never been tiered.
pub async fn tiers(aws: &Aws, snapshots: &[String]) -> Result<HashMap<String, Tier>> {
    let mut tiers: HashMap<String, Tier> = snapshots.iter().map(|s| (s.clone(), Tier::Standard)).collect();
    for chunk in snapshots.chunks(IDS_PER_FILTER) {
        let filter = Filter::builder().name("snapshot-id").set_values(Some(chunk.to_vec())).build();
        let mut pages = aws.ec2().describe_snapshot_tier_status().filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws.error("DescribeSnapshotTierStatus", Service::Ec2, e))?;
            for status in page.snapshot_tier_statuses() {
                let Some(id) = status.snapshot_id() else { continue };
                let tier = match status.last_tiering_operation_status() {
                    Some(TieringOperationStatus::ArchivalInProgress) => Tier::Archiving,
                    Some(
                        TieringOperationStatus::TemporaryRestoreInProgress
                        | TieringOperationStatus::PermanentRestoreInProgress,
                    ) => Tier::Restoring { since: timestamp(status.last_tiering_start_time()) },
                    _ if status.storage_tier() == Some(&StorageTier::Archive) => Tier::Archived,
                    Some(TieringOperationStatus::TemporaryRestoreCompleted) => {
                        Tier::Restored { until: timestamp(status.restore_expiry_time()) }
                    }
                    _ => Tier::Standard,
                };
                tiers.insert(id.to_string(), tier);
            }
        }
    }
    Ok(tiers)
}

/// "Concurrent snapshot archives per account: 25" and "concurrent snapshot restores per account: 5"
/// (EBS snapshot archive quotas,
/// https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-archive-considerations.html): AWS
/// refuses one more ModifySnapshotTier (or RestoreSnapshotTier) while that many are in progress,
/// whoever started them.
pub const ARCHIVES_AT_ONCE: usize = 25;
pub const RESTORES_AT_ONCE: usize = 5;

/// The account's tierings in progress, as the quotas count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InFlight {
    pub archives: usize,
    pub restores: usize,
}

/// Counts the account's archives and restores in progress (DescribeSnapshotTierStatus, filtered
/// by `last-tiering-operation`).
pub async fn in_flight(aws: &Aws) -> Result<InFlight> {
    let filter = Filter::builder()
        .name("last-tiering-operation")
        .set_values(Some(
            [
                TieringOperationStatus::ArchivalInProgress,
                TieringOperationStatus::TemporaryRestoreInProgress,
                TieringOperationStatus::PermanentRestoreInProgress,
            ]
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        ))
        .build();
    let mut counted = InFlight::default();
    let mut pages = aws.ec2().describe_snapshot_tier_status().filters(filter).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeSnapshotTierStatus", Service::Ec2, e))?;
        for status in page.snapshot_tier_statuses() {
            match status.last_tiering_operation_status() {
                Some(TieringOperationStatus::ArchivalInProgress) => counted.archives += 1,
                Some(
                    TieringOperationStatus::TemporaryRestoreInProgress
                    | TieringOperationStatus::PermanentRestoreInProgress,
                ) => counted.restores += 1,
                _ => {}
            }
        }
    }
    Ok(counted)
}

/// The records of these AMIs, where there are any.
pub async fn records(aws: &Aws, amis: &[String]) -> Result<BTreeMap<String, Image>> {
    let mut found = BTreeMap::new();
    for chunk in amis.chunks(NAMES_PER_CALL) {
        let names: Vec<String> = chunk.iter().map(|a| record_name(a)).collect();
        let answer = aws
            .ssm()
            .get_parameters()
            .set_names(Some(names))
            .send()
            .await
            .map_err(|e| aws.error("GetParameters", Service::Ssm, e))?;
        for parameter in answer.parameters() {
            let (Some(name), Some(value)) = (parameter.name(), parameter.value()) else { continue };
            let image: Image = serde_json::from_str(value)
                .map_err(|e| Error::BadArchiveRecord { parameter: name.to_string(), why: e.to_string() })?;
            found.insert(image.id.to_string(), image);
        }
    }
    Ok(found)
}

/// Keeps the AMI's registration; a record already there (an earlier run's) is kept as it is.
pub async fn write_record(aws: &Aws, image: &Image) -> Result<()> {
    let value = serde_json::to_string(image)
        .map_err(|e| Error::Sdk { operation: "PutParameter", detail: e.to_string() })?;
    let tag = |key: &str, value: &str| {
        Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|e| Error::Sdk { operation: "PutParameter", detail: e.to_string() })
    };
    let written = aws
        .ssm()
        .put_parameter()
        .name(record_name(image.id.as_str()))
        .description(format!("gio-ami: how to register {} ({}) again, archived", image.id, image.name))
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        // Standard (4 KB) fits a release with a few disks; a larger record goes advanced.
        .tier(ParameterTier::IntelligentTiering)
        .tags(tag(tags::ARCHIVED_AMI, image.id.as_str())?)
        .tags(tag(tags::CREATED_AT, &clock::rfc3339(clock::now_epoch()))?)
        .send()
        .await;
    match written {
        Ok(_) => Ok(()),
        Err(e) => match aws.error("PutParameter", Service::Ssm, e) {
            already if already.code() == Some("ParameterAlreadyExists") => Ok(()),
            other => Err(other),
        },
    }
}

/// The record's job is done once the AMI is registered again.
pub async fn delete_record(aws: &Aws, ami: &str) -> Result<()> {
    match aws.ssm().delete_parameter().name(record_name(ami)).send().await {
        Ok(_) => Ok(()),
        Err(e) => match aws.error("DeleteParameter", Service::Ssm, e) {
            gone if gone.code() == Some("ParameterNotFound") => Ok(()),
            other => Err(other),
        },
    }
}
