//! A local disk image into a new EBS snapshot through the EBS direct APIs: StartSnapshot, the
//! blocks in parallel from a bounded pool of workers, CompleteSnapshot. Blocks of zeros are
//! not sent to an unencrypted snapshot (an unwritten block reads as zeros there); an encrypted
//! one gets every block, since its unwritten blocks read as random data. Once StartSnapshot has
//! answered, the caller `abandon`s the snapshot on any failure, so nothing billable is left.

use crate::aws::inventory;
use crate::aws::inventory::SnapshotState;
use crate::aws::Aws;
use crate::change::{self, Action, Status};
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::ids::SnapshotId;
use crate::core::kinds::Reported;
use crate::core::poll;
use crate::core::progress::{Counter, Progress, Unit};
use crate::core::tags::{self, Tags};
use crate::error::{Error, Result};
use crate::transfer::blocks::{self, BLOCK_SIZE, GIB};
use crate::transfer::image_file::ImageFile;
use crate::transfer::manifest::Digests;
use aws_sdk_ebs::config::retry::RetryConfig;
use aws_sdk_ebs::config::timeout::TimeoutConfig;
use aws_sdk_ebs::primitives::ByteStream;
use aws_sdk_ebs::types::{ChecksumAggregationMethod, ChecksumAlgorithm, Tag};
use futures::stream::{self, StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Writing a snapshot through the EBS direct APIs.
pub const IAM: &[Permission] = &[
    Permission::new(Service::Ebs, "StartSnapshot"),
    Permission::new(Service::Ebs, "PutSnapshotBlock"),
    Permission::new(Service::Ebs, "CompleteSnapshot"),
];

/// Whether the account encrypts new EBS volumes by default, which a new snapshot follows.
pub const ENCRYPTION_BY_DEFAULT: Permission = Permission::new(Service::Ec2, "GetEbsEncryptionByDefault");

/// AWS deletes a snapshot still unfinished when StartSnapshot's timeout (in minutes) runs out:
/// the safety net for a run killed without a chance to clean up. AWS allows 10 to 4,320.
const TIMEOUT_MINUTES: (u64, u64) = (60, 4_320);
/// The slowest link the timeout still lets finish (5 MiB/s, a loaded office uplink), so a slow
/// upload is not deleted under its own feet.
const SLOWEST_BYTES_PER_SECOND: u64 = 5 * 1024 * 1024;
/// One block is one request, and 64 workers can provoke throttling bursts that five attempts
/// (the default for other calls) do not always outlast; ten attempts of standard backoff span
/// about a minute. Each attempt is cut at `--timeout`, so a stalled block fails, named, instead
/// of hanging the upload. AWS_MAX_ATTEMPTS, when set, wins.
const BLOCK_ATTEMPTS: u32 = 10;
/// A snapshot turns "completed" some time after CompleteSnapshot, minutes for a large one.
const COMPLETED_TIMEOUT: Duration = Duration::from_secs(1_800);

/// The snapshot an upload makes, decided before any call.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Target {
    /// The image file, as the user named it.
    pub image: String,
    pub bytes: u64,
    pub volume_gib: u64,
    pub blocks: u64,
    pub workers: usize,
    pub timeout_minutes: u64,
    pub kms_key: Option<String>,
    /// Whether the snapshot will be encrypted (a key given, an encrypted parent, or the account's
    /// encryption by default): then blocks of zeros are sent too.
    pub encrypted: bool,
    /// On the snapshot (its description among them), and on an AMI made from it.
    pub tags: Tags,
    /// The snapshot this one starts from (StartSnapshot ParentSnapshotId): it holds the
    /// parent's blocks, and only the blocks whose content differs are sent.
    pub parent: Option<String>,
    /// What the parent holds, block by block (from its manifest or its image).
    #[serde(skip)]
    pub inherits: Digests,
}

impl Target {
    /// The snapshot of an image of `bytes`, sent by `workers` at once.
    pub fn new(image: String, bytes: u64, workers: usize, kms_key: Option<String>, tags: Tags) -> Target {
        Target {
            image,
            bytes,
            volume_gib: blocks::volume_gib(bytes),
            blocks: blocks::block_count(bytes),
            workers,
            timeout_minutes: timeout_minutes(bytes),
            encrypted: kms_key.is_some(),
            kms_key,
            tags,
            parent: None,
            inherits: Digests::new(),
        }
    }

    /// Starts from `parent`, whose blocks are `inherits`.
    pub fn on(self, parent: String, inherits: Digests) -> Target {
        Target { parent: Some(parent), inherits, ..self }
    }

    /// The blocks to look at: the image's, and any block of the parent past its end (data the new
    /// snapshot must not inherit); with encryption, the whole volume, whose unwritten blocks
    /// would read as random data past the image's end.
    fn extent(&self) -> u64 {
        if self.encrypted {
            return self.volume_gib * GIB / BLOCK_SIZE as u64;
        }
        let past_parent = self.inherits.keys().next_back().map_or(0, |last| last + 1);
        self.blocks.max(past_parent)
    }
}

/// What became of the blocks of an upload.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// PutSnapshotBlock calls that succeeded.
    pub sent: u64,
    /// Blocks the parent already held with this content: not sent.
    pub inherited: u64,
    /// Blocks of zeros where the parent (if any) held none, to an unencrypted snapshot: not sent.
    pub zero: u64,
    /// What the new snapshot holds, for its manifest.
    pub holds: Digests,
}

/// One block's fate.
enum Fate {
    Zero,
    Inherited([u8; 32]),
    /// Sent, with its digest and whether the snapshot now holds it (a block of zeros sent over
    /// the parent's data, to an unencrypted snapshot, reads the same as no block).
    Sent([u8; 32], bool),
}

/// Long enough for the slowest link we accept, never shorter than an hour.
fn timeout_minutes(bytes: u64) -> u64 {
    let (least, most) = TIMEOUT_MINUTES;
    (bytes / SLOWEST_BYTES_PER_SECOND / 60).clamp(least, most)
}

/// Starts the snapshot; from its answer on, a failure must `abandon` it.
pub async fn start(aws: &Aws, target: &Target) -> Result<String> {
    let tags = target.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    let output = aws
        .ebs()
        .start_snapshot()
        .volume_size(target.volume_gib as i64)
        .description(target.tags[tags::DESCRIPTION].clone())
        .set_tags(Some(tags))
        // Makes the SDK's own retries of StartSnapshot idempotent: a lost answer must not leave
        // a second, forgotten snapshot behind.
        .client_token(client_token(target))
        .timeout(target.timeout_minutes as i32)
        .set_encrypted(target.kms_key.is_some().then_some(true))
        .set_kms_key_arn(target.kms_key.clone())
        .set_parent_snapshot_id(target.parent.clone())
        .send()
        .await
        .map_err(|e| aws.error("StartSnapshot", Service::Ebs, e))?;
    if let Some(size) = output.block_size().filter(|&s| s as usize != BLOCK_SIZE) {
        return Err(Error::Api {
            operation: "StartSnapshot",
            code: "UnexpectedBlockSize".into(),
            message: format!("the service uses {size}-byte blocks; gio-ami only speaks {BLOCK_SIZE}"),
        });
    }
    Ok(output.snapshot_id().unwrap_or_default().to_string())
}

/// Unique per run and image.
fn client_token(target: &Target) -> String {
    let seed =
        format!("{}:{}:{}:{}", target.image, target.tags[tags::CREATED_AT], std::process::id(), target.bytes);
    blocks::encode(&blocks::digest(seed.as_bytes()))[..32].to_string()
}

/// Sends every block of `image` whose content the snapshot would not otherwise hold (blocks of
/// data, and with a parent, blocks that differ from the parent's, zeros included), then
/// completes it.
pub async fn send(
    aws: &Aws,
    target: &Target,
    image: &ImageFile,
    snapshot: &str,
    progress: &dyn Progress,
) -> Result<Sent> {
    let transfer = Counter::start(progress, target.bytes, Unit::Bytes);
    let fates: Vec<(u64, Fate)> = stream::iter(0..target.extent())
        .map(|index| send_block(aws, target, image, snapshot, index, &transfer))
        .buffer_unordered(target.workers)
        .try_collect()
        .await?;
    let mut sent = Sent::default();
    let mut written = BTreeMap::new();
    for (index, fate) in fates {
        match fate {
            Fate::Zero => sent.zero += 1,
            Fate::Inherited(digest) => {
                sent.inherited += 1;
                sent.holds.insert(index, digest);
            }
            Fate::Sent(digest, held) => {
                sent.sent += 1;
                written.insert(index, digest);
                if held {
                    sent.holds.insert(index, digest);
                }
            }
        }
    }
    complete(aws, snapshot, &written).await?;
    Ok(sent)
}

async fn send_block(
    aws: &Aws,
    target: &Target,
    image: &ImageFile,
    snapshot: &str,
    index: u64,
    transfer: &Counter<'_>,
) -> Result<(u64, Fate)> {
    // Reading 512 KiB from the page cache and hashing it take about a millisecond: cheaper
    // inline on the runtime's threads than handed to a blocking pool.
    let image_bytes = image.size.saturating_sub(index * BLOCK_SIZE as u64).min(BLOCK_SIZE as u64);
    // A hole of a sparse image is zeros without reading or hashing it: most of a root volume.
    let (block, digest) = if image.is_hole(index) {
        (vec![0; BLOCK_SIZE], *blocks::ZERO_DIGEST)
    } else {
        let block = image.block(index)?;
        let digest = blocks::digest(&block);
        (block, digest)
    };
    let zero = digest == *blocks::ZERO_DIGEST;
    let fate = match target.inherits.get(&index) {
        // An unwritten block of an unencrypted snapshot reads as zeros, and so does one the
        // parent lacks.
        None if zero && !target.encrypted => Fate::Zero,
        Some(held) if *held == digest => Fate::Inherited(digest),
        _ => {
            put_block(aws, snapshot, index, block, &digest).await?;
            Fate::Sent(digest, !zero || target.encrypted)
        }
    };
    transfer.add(image_bytes);
    Ok((index, fate))
}

async fn put_block(aws: &Aws, snapshot: &str, index: u64, block: Vec<u8>, digest: &[u8; 32]) -> Result<()> {
    let attempts = crate::aws::attempts(BLOCK_ATTEMPTS);
    let attempt = aws.attempt_timeout();
    let bounded = TimeoutConfig::builder()
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * attempts + crate::aws::BACKOFF_ALLOWANCE)
        .build();
    aws.ebs()
        .put_snapshot_block()
        .snapshot_id(snapshot)
        .block_index(index as i32)
        .data_length(BLOCK_SIZE as i32)
        .checksum(blocks::encode(digest))
        .checksum_algorithm(ChecksumAlgorithm::ChecksumAlgorithmSha256)
        .block_data(ByteStream::from(block))
        .customize()
        .config_override(
            aws_sdk_ebs::config::Builder::default()
                .retry_config(RetryConfig::standard().with_max_attempts(attempts))
                .timeout_config(bounded),
        )
        .send()
        .await
        .map_err(|e| Error::BlockFailed {
            snapshot: snapshot.to_string(),
            block: index,
            attempts,
            seconds: attempt.as_secs(),
            why: Box::new(aws.error("PutSnapshotBlock", Service::Ebs, e)),
        })?;
    Ok(())
}

async fn complete(aws: &Aws, snapshot: &str, digests: &BTreeMap<u64, [u8; 32]>) -> Result<()> {
    let output = aws
        .ebs()
        .complete_snapshot()
        .snapshot_id(snapshot)
        .changed_blocks_count(digests.len() as i32)
        .checksum(blocks::linear_checksum(digests.values()))
        .checksum_algorithm(ChecksumAlgorithm::ChecksumAlgorithmSha256)
        .checksum_aggregation_method(ChecksumAggregationMethod::ChecksumAggregationLinear)
        .send()
        .await
        .map_err(|e| aws.error("CompleteSnapshot", Service::Ebs, e))?;
    match output.status().map(Reported::<SnapshotState>::from) {
        Some(Reported::Known(SnapshotState::Error)) => Err(Error::Api {
            operation: "CompleteSnapshot",
            code: "SnapshotError".into(),
            message: format!("{snapshot} went into state `error` after its blocks were sent"),
        }),
        _ => Ok(()),
    }
}

/// Waits until the completed snapshot can back an AMI.
pub async fn wait_completed(aws: &Aws, snapshot: &str) -> Result<()> {
    poll::until(
        aws.interruption(),
        &format!("{snapshot} to complete"),
        poll::LOCAL_CHANGE,
        COMPLETED_TIMEOUT,
        || async {
            let state =
                inventory::snapshots_by_id(aws, &[snapshot.to_string()]).await?.pop().map(|s| s.state);
            match state {
                Some(Reported::Known(SnapshotState::Completed)) => Ok(Some(())),
                Some(Reported::Known(SnapshotState::Error)) => Err(Error::Api {
                    operation: "DescribeSnapshots",
                    code: "SnapshotError".into(),
                    message: format!("{snapshot} went into state `error` after CompleteSnapshot"),
                }),
                _ => Ok(None),
            }
        },
    )
    .await
}

/// Starts the snapshot and runs `finish` on it (its blocks sent, and whatever follows) until it
/// ends or the run is interrupted (Ctrl-C, SIGTERM); on either failure the unfinished snapshot is
/// deleted (`abandon`) and the error says so. The binary lets that clean-up finish. The
/// snapshot's id, and what `finish` made.
pub async fn guarded<T, F>(
    aws: &Aws,
    target: &Target,
    finish: impl FnOnce(String) -> F,
) -> Result<(String, T)>
where
    F: std::future::Future<Output = Result<T>>,
{
    let handling = aws.interruption().handle();
    let snapshot = start(aws, target).await?;
    let finished = tokio::select! {
        biased;
        signal = handling.interrupted() => Err(Error::Interrupted { signal }),
        finished = finish(snapshot.clone()) => finished,
    };
    match finished {
        Ok(made) => Ok((snapshot, made)),
        Err(why) => Err(abandon(aws, &snapshot, target.volume_gib, why).await),
    }
}

/// Deletes the unfinished snapshot and says so in the error.
pub async fn abandon(aws: &Aws, snapshot: &str, volume_gib: u64, why: Error) -> Error {
    let delete = Action::DeleteSnapshot {
        id: SnapshotId::from_aws(snapshot),
        size_gib: volume_gib as i32,
        why: "unfinished upload".into(),
    };
    let cleanup = match &change::apply(aws, &[delete]).await[0].status {
        Status::Done | Status::AlreadyGone => {
            format!("The unfinished snapshot {snapshot} was deleted: nothing is left to pay for.")
        }
        other => format!(
            "Deleting the unfinished snapshot {snapshot} failed too ({other:?}): delete it with \
             `aws ec2 delete-snapshot --snapshot-id {snapshot}` (AWS drops it by itself when \
             its StartSnapshot timeout runs out)."
        ),
    };
    Error::UploadAbandoned { why: Box::new(why), cleanup }
}

/// Whether StartSnapshot encrypts without being asked: an account with EBS encryption by default
/// gets encrypted snapshots, whose unwritten blocks do not read as zeros; `None` when the
/// account would not say.
pub async fn encrypted_by_default(aws: &Aws) -> Option<bool> {
    match aws.ec2().get_ebs_encryption_by_default().send().await {
        Ok(answer) => Some(answer.ebs_encryption_by_default().unwrap_or(false)),
        Err(e) => {
            let e = aws.error("GetEbsEncryptionByDefault", Service::Ec2, e);
            tracing::warn!("{e}: blocks of zeros are sent too, in case new snapshots are encrypted");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_outlasts_a_slow_link() {
        assert_eq!(timeout_minutes(GIB), 60, "never under an hour");
        assert_eq!(timeout_minutes(100 * GIB), 100 * GIB / SLOWEST_BYTES_PER_SECOND / 60);
        assert_eq!(timeout_minutes(u64::MAX), 4_320, "AWS's maximum");
    }
}
