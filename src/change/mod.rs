//! Plan → apply for everything that deletes: a plan is a list of typed actions with reasons,
//! computed purely from an inventory (printable with `--dry-run`); apply carries it out in safe
//! order with bounded concurrency, and counts "already gone" as done so a re-run finishes a
//! half-done job.

pub mod retire;

use crate::aws::Aws;
use crate::core::clock;
use crate::core::error::Error;
use crate::core::tags;
use futures::stream::{self, StreamExt};
use serde::Serialize;

/// Deletions in flight at once: enough to finish a large wipe quickly, few enough to stay under
/// EC2's mutating-call throttle (which also serves the account's other tools).
pub const CONCURRENCY: usize = 8;
/// EnableImageDeprecation refuses a DeprecateAt in the past, and rounds seconds to the nearest
/// minute (which can round a time just ahead of now into the past). "Deprecate from now" goes
/// out as the first whole minute at least this far ahead: room for the request to travel and for
/// this machine's clock to run a little behind AWS's.
const DEPRECATION_MARGIN_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    TerminateInstance { id: String, why: String },
    DeregisterImage { id: String, name: String, why: String },
    /// The first lifecycle stage before deletion: the AMI stays (and can be re-enabled) but
    /// nothing can launch it.
    DisableImage { id: String, name: String, why: String },
    /// The gentlest stage: the AMI is deprecated from `deprecate_at` (seconds since the epoch,
    /// shown as UTC): hidden from listings of other accounts, still launchable by id.
    DeprecateImage {
        id: String,
        name: String,
        #[serde(serialize_with = "utc")]
        deprecate_at: i64,
        why: String,
    },
    DeleteSnapshot { id: String, size_gib: i32, why: String },
    /// An AMI derived from one the plan deregisters gets its nearest surviving ancestor as
    /// `gio-ami:parent-ami`, so its chain stays whole for `lineage` and `wipe --chain`.
    Relink { id: String, parent: String, why: String },
    /// Something the plan will not touch, and why (in use, shared with another AMI, …).
    Refuse { id: String, why: String },
}

impl Action {
    pub fn id(&self) -> &str {
        match self {
            Action::TerminateInstance { id, .. }
            | Action::DeregisterImage { id, .. }
            | Action::DisableImage { id, .. }
            | Action::DeprecateImage { id, .. }
            | Action::DeleteSnapshot { id, .. }
            | Action::Relink { id, .. }
            | Action::Refuse { id, .. } => id,
        }
    }

    /// What the action does, in one word, for tables.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::TerminateInstance { .. } => "terminate",
            Action::DeregisterImage { .. } => "deregister",
            Action::DisableImage { .. } => "disable",
            Action::DeprecateImage { .. } => "deprecate",
            Action::DeleteSnapshot { .. } => "delete",
            Action::Relink { .. } => "relink",
            Action::Refuse { .. } => "keep",
        }
    }

    pub fn why(&self) -> &str {
        match self {
            Action::TerminateInstance { why, .. }
            | Action::DeregisterImage { why, .. }
            | Action::DisableImage { why, .. }
            | Action::DeprecateImage { why, .. }
            | Action::DeleteSnapshot { why, .. }
            | Action::Relink { why, .. }
            | Action::Refuse { why, .. } => why,
        }
    }

    /// The action as it goes out at `now`: a deprecation time that a long confirmation let come
    /// too close moves to the earliest one AWS still accepts, and the outcome shows the new one.
    fn as_sent(&self, now: i64) -> Action {
        match self {
            Action::DeprecateImage { id, name, deprecate_at, why } => Action::DeprecateImage {
                id: id.clone(),
                name: name.clone(),
                deprecate_at: (*deprecate_at).max(earliest_deprecation(now)),
                why: why.clone(),
            },
            other => other.clone(),
        }
    }

    /// Instances go first (they hold volumes), then images (they hold snapshots), then
    /// snapshots: AWS refuses each deletion while the previous kind still holds it. Links are
    /// mended first, so that a wipe stopped half-way never leaves a chain cut.
    fn stage(&self) -> u8 {
        match self {
            Action::TerminateInstance { .. } | Action::Relink { .. } => 0,
            Action::DeregisterImage { .. } | Action::DisableImage { .. } | Action::DeprecateImage { .. } => 1,
            Action::DeleteSnapshot { .. } => 2,
            Action::Refuse { .. } => 3,
        }
    }
}

/// The earliest deprecation time to send at `now` (see DEPRECATION_MARGIN_SECS): what
/// "deprecate from now" means.
pub fn earliest_deprecation(now: i64) -> i64 {
    (now + DEPRECATION_MARGIN_SECS + 59).div_euclid(60) * 60
}

fn utc<S: serde::Serializer>(epoch: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&clock::rfc3339(*epoch))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Done,
    /// Someone (or an earlier run) deleted it already: the goal is reached.
    AlreadyGone,
    Refused,
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub action: Action,
    pub status: Status,
}

/// Carries out the plan stage by stage; one failure does not stop the others, and is reported.
pub async fn apply(aws: &Aws, actions: &[Action]) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(actions.len());
    for stage in 0..=3 {
        let batch: Vec<&Action> = actions.iter().filter(|a| a.stage() == stage).collect();
        let done: Vec<Outcome> = stream::iter(batch)
            .map(|action| async move {
                let action = action.as_sent(clock::now_epoch());
                Outcome { status: execute(aws, &action).await, action }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        outcomes.extend(done);
    }
    outcomes
}

async fn execute(aws: &Aws, action: &Action) -> Status {
    let ec2 = aws.ec2();
    let result = match action {
        Action::TerminateInstance { id, .. } => ec2
            .terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws.error("TerminateInstances", "ec2", e)),
        Action::DeregisterImage { id, .. } => ec2
            .deregister_image()
            .image_id(id)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws.error("DeregisterImage", "ec2", e)),
        Action::DisableImage { id, .. } => ec2
            .disable_image()
            .image_id(id)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws.error("DisableImage", "ec2", e)),
        Action::DeprecateImage { id, deprecate_at, .. } => ec2
            .enable_image_deprecation()
            .image_id(id)
            .deprecate_at(aws_smithy_types::DateTime::from_secs(*deprecate_at))
            .send()
            .await
            .map(drop)
            .map_err(|e| aws.error("EnableImageDeprecation", "ec2", e)),
        Action::Relink { id, parent, .. } => ec2
            .create_tags()
            .resources(id)
            .tags(aws_sdk_ec2::types::Tag::builder().key(tags::PARENT_AMI).value(parent).build())
            .send()
            .await
            .map(drop)
            .map_err(|e| aws.error("CreateTags", "ec2", e)),
        Action::DeleteSnapshot { id, .. } => ec2
            .delete_snapshot()
            .snapshot_id(id)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws.error("DeleteSnapshot", "ec2", e)),
        Action::Refuse { .. } => return Status::Refused,
    };
    match result {
        Ok(()) => Status::Done,
        Err(e) if is_gone(&e) => Status::AlreadyGone,
        Err(e) => Status::Failed(e.to_string()),
    }
}

fn is_gone(error: &Error) -> bool {
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

/// True when every action reached its goal (refusals are not failures: they were planned).
pub fn succeeded(outcomes: &[Outcome]) -> bool {
    outcomes.iter().all(|o| !matches!(o.status, Status::Failed(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_order_instances_images_snapshots() {
        let snapshot = Action::DeleteSnapshot { id: "snap-1".into(), size_gib: 8, why: String::new() };
        let image = Action::DeregisterImage { id: "ami-1".into(), name: "n".into(), why: String::new() };
        let instance = Action::TerminateInstance { id: "i-1".into(), why: String::new() };
        assert!(instance.stage() < image.stage() && image.stage() < snapshot.stage());
    }

    #[test]
    fn gone_codes_count_as_done() {
        let gone = Error::Api { operation: "DeleteSnapshot", code: "InvalidSnapshot.NotFound".into(), message: String::new() };
        assert!(is_gone(&gone));
        let in_use = Error::Api { operation: "DeleteSnapshot", code: "InvalidSnapshot.InUse".into(), message: String::new() };
        assert!(!is_gone(&in_use));
    }

    #[test]
    fn deprecation_goes_out_on_a_whole_minute_at_least_the_margin_ahead() {
        // 2026-11-25T00:00:00Z, then 1 s and 59 s later.
        let now = 1_795_564_800;
        assert_eq!(earliest_deprecation(now), now + 60);
        assert_eq!(earliest_deprecation(now + 1), now + 120);
        assert_eq!(earliest_deprecation(now + 59), now + 120);
        let planned = Action::DeprecateImage { id: "ami-1".into(), name: "n".into(), deprecate_at: now + 120, why: String::new() };
        assert_eq!(planned.as_sent(now + 30), planned, "still far enough ahead: sent as planned");
        let Action::DeprecateImage { deprecate_at, .. } = planned.as_sent(now + 600) else { unreachable!() };
        assert_eq!(deprecate_at, now + 660, "a long confirmation moves it to the earliest time AWS accepts");
        let json = serde_json::to_value(&planned).unwrap();
        assert_eq!(json["deprecate_at"], "2026-11-25T00:02:00Z");
    }

    #[test]
    fn actions_serialize_with_their_kind() {
        let json = serde_json::to_value(Action::Refuse { id: "ami-1".into(), why: "in use".into() }).unwrap();
        assert_eq!(json, serde_json::json!({"action": "refuse", "id": "ami-1", "why": "in use"}));
    }
}
