//! The Recycle Bin: retention rules (the `rbin` service) that keep a deregistered AMI or a
//! deleted snapshot restorable for a number of days, and the EC2 calls that list and restore
//! what they kept. A resource matching no rule is deleted for good the moment it goes.
//! https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin.html

use crate::aws::{timestamp, Aws, LOOKUP_CONCURRENCY};
use crate::core::clock::{self, Timestamp};
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::tags::{self, Tags};
use crate::error::{Error, Result};
use aws_sdk_ec2::types::Filter;
use aws_sdk_rbin::types::{ResourceTag, ResourceType, RetentionPeriod, RetentionPeriodUnit, RuleStatus, Tag};
use futures::stream::{self, StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// `rules`: the retention rules that say whether a deletion can be undone.
pub const RULES: [Permission; 3] = [
    Permission::new(Service::Rbin, "ListRules"),
    Permission::new(Service::Rbin, "GetRule"),
    Permission::new(Service::Rbin, "ListTagsForResource"),
];
/// `create_rule`, `update_rule`.
pub const WRITE_RULES: &[Permission] =
    &[Permission::new(Service::Rbin, "CreateRule"), Permission::new(Service::Rbin, "UpdateRule")];
/// What is in the bin (`images_in_bin`, `snapshots_in_bin`, `snapshots_tagged`) and its restores.
pub const RESTORE: &[Permission] = &[
    Permission::new(Service::Ec2, "ListImagesInRecycleBin"),
    Permission::new(Service::Ec2, "ListSnapshotsInRecycleBin"),
    Permission::new(Service::Ec2, "DescribeTags"),
    Permission::new(Service::Ec2, "RestoreImageFromRecycleBin"),
    Permission::new(Service::Ec2, "RestoreSnapshotFromRecycleBin"),
];

/// The tag every AMI and snapshot gio-ami makes carries (any value): what the rules
/// `recycle-bin` writes are scoped to, so they keep gio-ami's releases and nothing else.
pub const SCOPE_TAG: &str = tags::RELEASE;

const SECONDS_PER_DAY: i64 = 86_400;

/// What a retention rule keeps: AMIs or snapshots (the bin's other kind, volumes, gio-ami
/// never deletes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Binned {
    Image,
    Snapshot,
}

impl Binned {
    pub const ALL: [Binned; 2] = [Binned::Image, Binned::Snapshot];

    pub fn resource_type(self) -> ResourceType {
        match self {
            Binned::Image => ResourceType::Ec2Image,
            Binned::Snapshot => ResourceType::EbsSnapshot,
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Binned::Image => "AMIs",
            Binned::Snapshot => "snapshots",
        }
    }
}

/// A tag a rule matches: the key, with this value or (None) any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TagMatch {
    pub key: String,
    pub value: Option<String>,
}

impl TagMatch {
    fn of(tag: &ResourceTag) -> TagMatch {
        TagMatch {
            key: tag.resource_tag_key().to_string(),
            value: tag.resource_tag_value().filter(|v| !v.is_empty()).map(str::to_string),
        }
    }

    fn matches(&self, tags: &Tags) -> bool {
        tags.get(&self.key).is_some_and(|v| self.value.as_ref().is_none_or(|want| want == v))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Rule {
    pub id: String,
    pub binned: Binned,
    pub days: i32,
    pub description: String,
    /// A tag-level rule keeps what has any of these; a Region-level one (none) keeps everything
    /// but what has one of `exclude`.
    pub include: Vec<TagMatch>,
    pub exclude: Vec<TagMatch>,
    /// GetRule's Status: "Only retention rules that are in the available state retain resources".
    pub available: bool,
    /// When it was made (epoch seconds), where it says so: gio-ami's rules carry CREATED_AT.
    pub created: Option<i64>,
    /// Locked rules cannot be changed or deleted until unlocked (and the unlock delay is over).
    pub locked: bool,
}

/// "When you create your first retention rule, it can take up to 30 minutes for the rule to become
/// active" (https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin-working-with-rules.html):
/// until then a deletion it matches may be final, whatever the rule says of itself.
pub const ACTIVATION_SECS: i64 = 30 * 60;

impl Rule {
    /// Whether it would retain a deleted resource with these tags, once active.
    pub fn matches(&self, tags: &Tags) -> bool {
        if self.include.is_empty() {
            !self.exclude.iter().any(|t| t.matches(tags))
        } else {
            self.include.iter().any(|t| t.matches(tags))
        }
    }

    /// None when it retains now; else by when it surely does: a rule still `pending`, or made less
    /// than ACTIVATION_SECS ago (whether GetRule says `pending` meanwhile is not documented), may not
    /// yet. Of a pending rule of unknown age, only that it is active within the activation time.
    pub fn active_by(&self, now: i64) -> Option<i64> {
        let settled = self.created.map(|created| created + ACTIVATION_SECS);
        match (self.available, settled) {
            (true, Some(at)) if at > now => Some(at),
            (true, _) => None,
            (false, Some(at)) if at > now => Some(at),
            (false, _) => Some(now + ACTIVATION_SECS),
        }
    }

    /// The rule `recycle-bin` writes: tag-level, on gio-ami's tag alone.
    pub fn is_gio_amis(&self) -> bool {
        self.exclude.is_empty() && self.include == [TagMatch { key: SCOPE_TAG.to_string(), value: None }]
    }
}

/// Whether a deletion can be undone, as a plan shows it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum Fate {
    /// Restorable until `until` (RFC 3339), kept by `rule`.
    Kept { rule: String, days: i32, until: String },
    /// Only a rule that may not be active yet matches: a deletion before `active_by` (RFC 3339)
    /// may be final.
    Unsure { rule: String, days: i32, active_by: String },
    /// No rule keeps it: the deletion is final.
    Final,
}

impl Fate {
    /// "If a resource matches more than one retention rule upon deletion, then the retention rule
    /// with the longest retention period takes precedence" (recycle-bin-factors); of those, only
    /// an active one is counted on (`Rule::active_by`).
    pub fn of(rules: &[Rule], binned: Binned, tags: &Tags, now: i64) -> Fate {
        let matching = || rules.iter().filter(move |r| r.binned == binned && r.matches(tags));
        if let Some(r) = matching().filter(|r| r.active_by(now).is_none()).max_by_key(|r| r.days) {
            return Fate::Kept {
                rule: r.id.clone(),
                days: r.days,
                until: clock::rfc3339(now + i64::from(r.days) * SECONDS_PER_DAY),
            };
        }
        matching().filter_map(|r| Some((r, r.active_by(now)?))).min_by_key(|(r, at)| (*at, -r.days)).map_or(
            Fate::Final,
            |(r, at)| Fate::Unsure { rule: r.id.clone(), days: r.days, active_by: clock::rfc3339(at) },
        )
    }

    /// A restore can bring it back.
    pub fn kept(&self) -> bool {
        matches!(self, Fate::Kept { .. })
    }

    /// The clause a plan's reason ends with.
    pub fn clause(&self) -> String {
        match self {
            Fate::Kept { rule, days, until } => {
                format!("the Recycle Bin keeps it until {until} (rule {rule}, {days} days)")
            }
            Fate::Unsure { rule, days, active_by } => format!(
                "may be final until {} UTC: rule {rule} ({days} days) is new, and a first Recycle Bin rule takes up to 30 minutes to become active",
                hh_mm(active_by)
            ),
            Fate::Final => "final: no Recycle Bin rule keeps it".to_string(),
        }
    }
}

/// "HH:MM" of an RFC 3339 time, rounded up to the minute (the moment it is safe, not before).
fn hh_mm(rfc3339: &str) -> String {
    clock::parse(rfc3339)
        .map_or_else(|| rfc3339.to_string(), |at| clock::rfc3339((at + 59) / 60 * 60)[11..16].to_string())
}

/// Every retention rule of the Region for AMIs and for snapshots, with the tags they match
/// (ListRules gives no tags: one GetRule per rule) and when they were made where they say so
/// (their own tags: one ListTagsForResource per rule; rules are few, 250 at most).
pub async fn rules(aws: &Aws) -> Result<Vec<Rule>> {
    let mut ids = Vec::new();
    for binned in Binned::ALL {
        let mut pages = aws.rbin().list_rules().resource_type(binned.resource_type()).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws.error("ListRules", Service::Rbin, e))?;
            ids.extend(page.rules().iter().filter_map(|r| r.identifier()).map(|id| (binned, id.to_string())));
        }
    }
    stream::iter(ids)
        .map(|(binned, id)| async move {
            let rule = aws
                .rbin()
                .get_rule()
                .identifier(&id)
                .send()
                .await
                .map_err(|e| aws.error("GetRule", Service::Rbin, e))?;
            let rule_tags = aws
                .rbin()
                .list_tags_for_resource()
                .resource_arn(rule.rule_arn().unwrap_or_default())
                .send()
                .await
                .map_err(|e| aws.error("ListTagsForResource", Service::Rbin, e))?;
            let created = rule_tags
                .tags()
                .iter()
                .find(|t| t.key() == tags::CREATED_AT)
                .and_then(|t| clock::parse(t.value()));
            Ok(Rule {
                days: rule.retention_period().map_or(0, |p| p.retention_period_value()),
                description: rule.description().unwrap_or_default().to_string(),
                include: rule.resource_tags().iter().map(TagMatch::of).collect(),
                exclude: rule.exclude_resource_tags().iter().map(TagMatch::of).collect(),
                available: rule.status() == Some(&RuleStatus::Available),
                created,
                locked: rule.lock_state().is_some_and(|s| s.as_str() != "unlocked"),
                id,
                binned,
            })
        })
        .buffered(LOOKUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Makes gio-ami's rule for `binned`: tag-level on SCOPE_TAG (any value), itself tagged.
pub async fn create_rule(aws: &Aws, binned: Binned, days: i32) -> Result<()> {
    let built =
        |e: aws_sdk_rbin::error::BuildError| Error::Sdk { operation: "CreateRule", detail: e.to_string() };
    aws.rbin()
        .create_rule()
        .resource_type(binned.resource_type())
        .retention_period(retention(days).map_err(built)?)
        .description(format!("gio-ami: keeps wiped gio-ami {} restorable (`gio-ami restore`)", binned.noun()))
        .resource_tags(ResourceTag::builder().resource_tag_key(SCOPE_TAG).build().map_err(built)?)
        .tags(
            Tag::builder()
                .key(tags::CREATED_AT)
                .value(clock::rfc3339(clock::now_epoch()))
                .build()
                .map_err(built)?,
        )
        .send()
        .await
        .map(drop)
        .map_err(|e| aws.error("CreateRule", Service::Rbin, e))
}

/// Gives rule `id` a retention of `days`; what it matches stays.
pub async fn update_rule(aws: &Aws, id: &str, days: i32) -> Result<()> {
    let period =
        retention(days).map_err(|e| Error::Sdk { operation: "UpdateRule", detail: e.to_string() })?;
    aws.rbin()
        .update_rule()
        .identifier(id)
        .retention_period(period)
        .send()
        .await
        .map(drop)
        .map_err(|e| aws.error("UpdateRule", Service::Rbin, e))
}

fn retention(days: i32) -> std::result::Result<RetentionPeriod, aws_sdk_rbin::error::BuildError> {
    RetentionPeriod::builder()
        .retention_period_value(days)
        .retention_period_unit(RetentionPeriodUnit::Days)
        .build()
}

/// RestoreSnapshotFromRecycleBin: the snapshot back in the account, `recovering` for a while.
pub async fn restore_snapshot(aws: &Aws, id: &str) -> Result<()> {
    aws.ec2()
        .restore_snapshot_from_recycle_bin()
        .snapshot_id(id)
        .send()
        .await
        .map(drop)
        .map_err(|e| aws.error("RestoreSnapshotFromRecycleBin", Service::Ec2, e))
}

/// RestoreImageFromRecycleBin: the AMI back as it was, once all its snapshots are.
pub async fn restore_image(aws: &Aws, id: &str) -> Result<()> {
    aws.ec2()
        .restore_image_from_recycle_bin()
        .image_id(id)
        .send()
        .await
        .map(drop)
        .map_err(|e| aws.error("RestoreImageFromRecycleBin", Service::Ec2, e))
}

/// A restore's answer for what the bin no longer holds (the codes EC2 gives an unknown id).
pub fn not_in_bin(error: &Error) -> bool {
    matches!(error.code(), Some("InvalidSnapshot.NotFound" | "InvalidAMIID.NotFound"))
}

/// An AMI or snapshot in the bin, and when it leaves it for good.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InBin {
    pub id: String,
    /// The AMI's name; a snapshot's description.
    pub name: String,
    pub exit: Option<Timestamp>,
}

/// ListImagesInRecycleBin takes at most 20 ids a call.
const IMAGE_IDS_PER_CALL: usize = 20;

/// These AMIs, where they are in the bin.
pub async fn images_in_bin(aws: &Aws, ids: &[String]) -> Result<Vec<InBin>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(IMAGE_IDS_PER_CALL) {
        let mut pages = aws
            .ec2()
            .list_images_in_recycle_bin()
            .set_image_ids(Some(chunk.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws.error("ListImagesInRecycleBin", Service::Ec2, e))?;
            found.extend(page.images().iter().filter_map(|i| {
                Some(InBin {
                    id: i.image_id()?.to_string(),
                    name: i.name().unwrap_or_default().to_string(),
                    exit: timestamp(i.recycle_bin_exit_time()),
                })
            }));
        }
    }
    Ok(found)
}

/// Every snapshot in the bin (the listing takes no tag filter; ids are matched by the caller).
pub async fn snapshots_in_bin(aws: &Aws) -> Result<Vec<InBin>> {
    let mut found = Vec::new();
    let mut pages = aws.ec2().list_snapshots_in_recycle_bin().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("ListSnapshotsInRecycleBin", Service::Ec2, e))?;
        found.extend(page.snapshots().iter().filter_map(|s| {
            Some(InBin {
                id: s.snapshot_id()?.to_string(),
                name: s.description().unwrap_or_default().to_string(),
                exit: timestamp(s.recycle_bin_exit_time()),
            })
        }));
    }
    Ok(found)
}

/// The snapshots carrying this tag key, wherever they are: DescribeTags also answers for
/// resources in the bin ("you can only view it, restore it, or modify its tags").
/// Key → the snapshots carrying it, for any of these keys (one listing per 200 keys).
pub async fn snapshots_tagged(aws: &Aws, keys: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chunk in keys.chunks(FILTER_VALUES_MAX) {
        let mut pages = aws
            .ec2()
            .describe_tags()
            .filters(Filter::builder().name("key").set_values(Some(chunk.to_vec())).build())
            .filters(Filter::builder().name("resource-type").values("snapshot").build())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws.error("DescribeTags", Service::Ec2, e))?;
            for tag in page.tags() {
                if let (Some(key), Some(id)) = (tag.key(), tag.resource_id()) {
                    found.entry(key.to_string()).or_default().push(id.to_string());
                }
            }
        }
    }
    for ids in found.values_mut() {
        ids.sort();
        ids.dedup();
    }
    Ok(found)
}

/// EC2 caps the values of one filter at 200.
const FILTER_VALUES_MAX: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        id: &str,
        binned: Binned,
        days: i32,
        include: &[(&str, Option<&str>)],
        exclude: &[(&str, Option<&str>)],
    ) -> Rule {
        let m = |t: &[(&str, Option<&str>)]| {
            t.iter().map(|(k, v)| TagMatch { key: k.to_string(), value: v.map(str::to_string) }).collect()
        };
        Rule {
            id: id.into(),
            binned,
            days,
            description: String::new(),
            include: m(include),
            exclude: m(exclude),
            available: true,
            created: None,
            locked: false,
        }
    }

    fn tagged(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_longest_matching_rule_of_the_kind_keeps_it() {
        let rules = [
            rule("short", Binned::Image, 7, &[(SCOPE_TAG, None)], &[]),
            rule("long", Binned::Image, 30, &[("team", Some("platform"))], &[]),
            rule("snapshots", Binned::Snapshot, 90, &[], &[]),
        ];
        let now = 0;
        let release = tagged(&[(SCOPE_TAG, "r1"), ("team", "platform")]);
        assert_eq!(
            Fate::of(&rules, Binned::Image, &release, now),
            Fate::Kept { rule: "long".into(), days: 30, until: "1970-01-31T00:00:00Z".into() }
        );
        assert!(matches!(
            Fate::of(&rules, Binned::Image, &tagged(&[(SCOPE_TAG, "r1"), ("team", "data")]), now),
            Fate::Kept { days: 7, .. }
        ));
        assert_eq!(Fate::of(&rules, Binned::Image, &tagged(&[("team", "data")]), now), Fate::Final);
    }

    #[test]
    fn a_region_level_rule_keeps_all_but_the_excluded_and_a_pending_rule_keeps_nothing() {
        let mut rules = [rule("all", Binned::Snapshot, 7, &[], &[("scratch", None)])];
        assert!(matches!(Fate::of(&rules, Binned::Snapshot, &Tags::new(), 0), Fate::Kept { .. }));
        assert_eq!(Fate::of(&rules, Binned::Snapshot, &tagged(&[("scratch", "yes")]), 0), Fate::Final);
        assert_eq!(
            Fate::of(&rules, Binned::Image, &Tags::new(), 0),
            Fate::Final,
            "a snapshot rule keeps no AMI"
        );
        rules[0].available = false;
        assert!(matches!(Fate::of(&rules, Binned::Snapshot, &Tags::new(), 0), Fate::Unsure { .. }));
    }

    #[test]
    fn a_rule_younger_than_its_activation_or_pending_may_not_keep_it_yet() {
        let now = 1_800_000_000;
        let mut young = rule("young", Binned::Image, 7, &[(SCOPE_TAG, None)], &[]);
        young.created = Some(now - 600);
        let release = tagged(&[(SCOPE_TAG, "r1")]);
        let fate = Fate::of(std::slice::from_ref(&young), Binned::Image, &release, now);
        assert_eq!(
            fate,
            Fate::Unsure { rule: "young".into(), days: 7, active_by: clock::rfc3339(now + 1200) },
            "available, but made 10 minutes ago"
        );
        assert!(!fate.kept());
        assert!(fate.clause().starts_with("may be final until 08:20 UTC"), "{}", fate.clause());

        let mut old = rule("old", Binned::Image, 3, &[(SCOPE_TAG, None)], &[]);
        old.created = Some(now - ACTIVATION_SECS);
        assert!(
            matches!(
                Fate::of(&[young.clone(), old], Binned::Image, &release, now),
                Fate::Kept { days: 3, .. }
            ),
            "an active rule is counted on, though shorter"
        );

        let mut pending = rule("pending", Binned::Image, 7, &[(SCOPE_TAG, None)], &[]);
        pending.available = false;
        assert_eq!(
            pending.active_by(now),
            Some(now + ACTIVATION_SECS),
            "of unknown age: 30 minutes from now"
        );
        young.created = Some(now - ACTIVATION_SECS - 1);
        assert_eq!(young.active_by(now), None);
    }

    #[test]
    fn only_a_rule_on_gio_amis_tag_alone_is_gio_amis() {
        assert!(rule("a", Binned::Image, 7, &[(SCOPE_TAG, None)], &[]).is_gio_amis());
        assert!(!rule("b", Binned::Image, 7, &[(SCOPE_TAG, Some("r1"))], &[]).is_gio_amis());
        assert!(!rule("c", Binned::Image, 7, &[], &[]).is_gio_amis());
    }
}
