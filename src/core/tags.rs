//! The tag scheme (DESIGN.md §3): every AMI and snapshot gio-ami creates carries these, so
//! history, lineage and gc can be rebuilt from AWS alone.

use std::collections::BTreeMap;

pub const PREFIX: &str = "gio-ami:";
pub const RELEASE: &str = "gio-ami:release";
pub const CREATED_AT: &str = "gio-ami:created-at";
pub const AUTHOR: &str = "gio-ami:author";
pub const CONTACT: &str = "gio-ami:contact";
pub const DESCRIPTION: &str = "gio-ami:description";
pub const BASE_AMI: &str = "gio-ami:base-ami";
/// The base's name and EKS release version (`1.31.7-20261101`; Bottlerocket: its image version)
/// when the AMI was made, and the variant it was resolved for: what `outdated` compares with the
/// base recommended now, even once the old base is gone.
pub const BASE_NAME: &str = "gio-ami:base-name";
pub const BASE_RELEASE: &str = "gio-ami:base-release";
pub const VARIANT: &str = "gio-ami:variant";
/// On each AMI of a release set (and its snapshots), with `VARIANT`: which of the set it is.
pub const ARCH: &str = "gio-ami:arch";
pub const PARENT_AMI: &str = "gio-ami:parent-ami";
/// On each snapshot of an archived release: the AMI it belonged to, whose registration is kept
/// in SSM (`aws::archive`) until `unarchive` registers it again.
pub const ARCHIVED_AMI: &str = "gio-ami:archived-ami";
/// On an AMI registered again by `unarchive`: the id it had before it was archived.
pub const UNARCHIVED_FROM: &str = "gio-ami:unarchived-from";
/// On a snapshot started from another (StartSnapshot ParentSnapshotId): the previous snapshot of
/// its lineage, which EBS bills it against and `cost --exact` compares it with.
pub const PARENT_SNAPSHOT: &str = "gio-ami:parent-snapshot";
pub const KUBERNETES: &str = "gio-ami:kubernetes";
pub const FAMILY: &str = "gio-ami:family";
pub const CLUSTERS: &str = "gio-ami:clusters";
pub const BUILD_ID: &str = "gio-ami:build-id";
/// What made a release: native, packer or offline.
pub const ENGINE: &str = "gio-ami:engine";
/// On an AMI the offline engine copied into the account (EBS direct reads only the account's
/// own snapshots): the base it is a copy of, so every later build on that base reuses it.
pub const BASE_COPY: &str = "gio-ami:base-copy";
/// On a disabled AMI: who could launch it before (grantees separated by spaces, as AWS spells
/// them: account ids, organization and OU ARNs, `all` for public), since DisableImage takes every
/// launch permission away and EnableImage gives none back (`change::access`). What does not fit
/// in one value continues in `gio-ami:launch-grants:2`, `:3`, …
pub const LAUNCH_GRANTS: &str = "gio-ami:launch-grants";
/// On an uploaded snapshot: the file it was uploaded from, as name, size and modification time,
/// so that a re-run after a crash finds the finished snapshot instead of uploading it again.
pub const UPLOAD_OF: &str = "gio-ami:upload-of";
/// On builder instances: where the build runs and until when, so `gc` can tell a live build
/// from a dead one.
pub const BUILD_HOST: &str = "gio-ami:build-host";
pub const BUILD_PID: &str = "gio-ami:build-pid";
pub const BUILD_DEADLINE: &str = "gio-ami:build-deadline";

pub type Tags = BTreeMap<String, String>;

/// The tags that describe what an AMI *is* and so carry over to an AMI derived from it; where it
/// is published (clusters) and which run made it (build id) do not.
pub fn inherited(tags: &Tags) -> Tags {
    tags.iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && !k.starts_with("gio-ami:build-") && k.as_str() != CLUSTERS)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publication_and_build_tags_are_not_inherited() {
        let tags: Tags = [
            (RELEASE, "r1"),
            (CLUSTERS, "prod"),
            (BUILD_ID, "b1"),
            (CONTACT, "ops@example.org"),
            ("team", "platform"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let kept: Vec<String> = inherited(&tags).into_keys().collect();
        assert_eq!(kept, [CONTACT, RELEASE]);
    }
}
