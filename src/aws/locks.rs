//! Snapshot locks (LockSnapshot): a locked snapshot cannot be deleted until its lock ends, in
//! governance mode until someone with the permission unlocks it, in compliance mode not even by
//! the account's root user once the cool-off is over. Plans keep such snapshots and say why.
//! https://docs.aws.amazon.com/ebs/latest/userguide/ebs-snapshot-lock.html

use crate::aws::{timestamp, Aws};
use crate::core::clock::Timestamp;
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::error::Result;
use aws_sdk_ec2::types::LockState;
use serde::Serialize;
use std::fmt;

/// `of`: the snapshot locks that make a deletion fail.
pub const IAM: Permission = Permission::new(Service::Ec2, "DescribeLockedSnapshots");

/// DescribeLockedSnapshots takes the ids of one page of snapshots at a time; 200 matches the
/// other EC2 look-ups.
const IDS_PER_CALL: usize = 200;

/// How a snapshot is locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Unlockable by a user allowed UnlockSnapshot.
    Governance,
    /// Still unlockable until the cool-off ends.
    ComplianceCooloff,
    /// Nobody can unlock it before it expires.
    Compliance,
    /// A state newer than gio-ami: treated as locked.
    Other(String),
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Governance => f.write_str("governance mode (`aws ec2 unlock-snapshot` can lift it)"),
            Mode::ComplianceCooloff => {
                f.write_str("compliance mode, still in its cool-off (`aws ec2 unlock-snapshot` can lift it)")
            }
            Mode::Compliance => f.write_str("compliance mode (nobody can lift it)"),
            Mode::Other(state) => write!(f, "lock state `{state}`"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lock {
    pub snapshot: String,
    pub mode: Mode,
    /// When the lock expires, as EC2 reports it.
    pub until: Option<Timestamp>,
}

impl Lock {
    /// Why a plan keeps the snapshot.
    pub fn reason(&self) -> String {
        let until = self.until.as_ref().map_or(String::new(), |until| format!(" until {until}"));
        format!("kept: locked in {}{until}", self.mode)
    }
}

/// The locks in force on these snapshots (expired ones are no locks).
pub async fn of(aws: &Aws, snapshots: &[String]) -> Result<Vec<Lock>> {
    let mut locks = Vec::new();
    for chunk in snapshots.chunks(IDS_PER_CALL) {
        let mut token = None;
        loop {
            let page = aws
                .ec2()
                .describe_locked_snapshots()
                .set_snapshot_ids(Some(chunk.to_vec()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws.error("DescribeLockedSnapshots", Service::Ec2, e))?;
            locks.extend(page.snapshots().iter().filter_map(|s| {
                let mode = match s.lock_state()? {
                    LockState::Expired => return None,
                    LockState::Governance => Mode::Governance,
                    LockState::ComplianceCooloff => Mode::ComplianceCooloff,
                    LockState::Compliance => Mode::Compliance,
                    other => Mode::Other(other.as_str().to_string()),
                };
                let until = timestamp(s.lock_expires_on());
                Some(Lock { snapshot: s.snapshot_id()?.to_string(), mode, until })
            }));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(locks)
}
