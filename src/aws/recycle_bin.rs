//! The Recycle Bin: retention rules (the `rbin` service) that keep a deregistered AMI or a
//! deleted snapshot restorable for a number of days, and the EC2 calls that list and restore
//! what they kept. A resource matching no rule is deleted for good the moment it goes.
//! https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin.html

use crate::aws::{Aws, LOOKUP_CONCURRENCY};
use crate::core::clock;
use crate::core::error::{Error, Result, Service};
use crate::core::tags::{self, Tags};
use aws_sdk_ec2::types::Filter;
use aws_sdk_rbin::types::{ResourceTag, ResourceType, RetentionPeriod, RetentionPeriodUnit, RuleStatus, Tag};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::BTreeMap;

/// The tag every AMI and snapshot gio-ami makes carries (any value): what the rules
/// `recycle-bin` writes are scoped to, so they keep gio-ami's releases and nothing else.
pub const SCOPE_TAG: &str = tags::RELEASE;

const SECONDS_PER_DAY: i64 = 86_400;

/// What a retention rule keeps: AMIs or snapshots (the bin's other kind, volumes, gio-ami
/// never deletes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub id: String,
    pub binned: Binned,
    pub days: i32,
    pub description: String,
    /// A tag-level rule keeps what has any of these; a Region-level one (none) keeps everything
    /// but what has one of `exclude`.
    pub include: Vec<TagMatch>,
    pub exclude: Vec<TagMatch>,
    /// Only an available rule retains; a new one is pending for a moment.
    pub available: bool,
    /// Locked rules cannot be changed or deleted until unlocked (and the unlock delay is over).
    pub locked: bool,
}

impl Rule {
    pub fn retains(&self, tags: &Tags) -> bool {
        self.available
            && if self.include.is_empty() {
                !self.exclude.iter().any(|t| t.matches(tags))
            } else {
                self.include.iter().any(|t| t.matches(tags))
            }
    }

    /// The rule `recycle-bin` writes: tag-level, on gio-ami's tag alone.
    pub fn is_gio_amis(&self) -> bool {
        self.exclude.is_empty() && self.include == [TagMatch { key: SCOPE_TAG.to_string(), value: None }]
    }
}

/// Whether a deletion can be undone, as a plan shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum Fate {
    /// Restorable until `until` (RFC 3339), kept by `rule`.
    Kept { rule: String, days: i32, until: String },
    /// No rule keeps it: the deletion is final.
    Final,
}

impl Fate {
    /// "If a resource matches more than one retention rule upon deletion, then the retention rule
    /// with the longest retention period takes precedence" (recycle-bin-factors).
    pub fn of(rules: &[Rule], binned: Binned, tags: &Tags, now: i64) -> Fate {
        rules.iter().filter(|r| r.binned == binned && r.retains(tags)).max_by_key(|r| r.days).map_or(
            Fate::Final,
            |r| Fate::Kept {
                rule: r.id.clone(),
                days: r.days,
                until: clock::rfc3339(now + i64::from(r.days) * SECONDS_PER_DAY),
            },
        )
    }

    /// The clause a plan's reason ends with.
    pub fn clause(&self) -> String {
        match self {
            Fate::Kept { rule, days, until } => {
                format!("the Recycle Bin keeps it until {until} (rule {rule}, {days} days)")
            }
            Fate::Final => "final: no Recycle Bin rule keeps it".to_string(),
        }
    }
}

/// Every retention rule of the Region for AMIs and for snapshots, with the tags they match
/// (ListRules gives no tags: one GetRule per rule).
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
            Ok(Rule {
                days: rule.retention_period().map_or(0, |p| p.retention_period_value()),
                description: rule.description().unwrap_or_default().to_string(),
                include: rule.resource_tags().iter().map(TagMatch::of).collect(),
                exclude: rule.exclude_resource_tags().iter().map(TagMatch::of).collect(),
                available: rule.status() == Some(&RuleStatus::Available),
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

/// An AMI or snapshot in the bin, and when it leaves it for good.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InBin {
    pub id: String,
    /// The AMI's name; a snapshot's description.
    pub name: String,
    pub exit: Option<String>,
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
                    exit: i
                        .recycle_bin_exit_time()
                        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
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
                exit: s
                    .recycle_bin_exit_time()
                    .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
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
        assert_eq!(Fate::of(&rules, Binned::Snapshot, &Tags::new(), 0), Fate::Final);
    }

    #[test]
    fn only_a_rule_on_gio_amis_tag_alone_is_gio_amis() {
        assert!(rule("a", Binned::Image, 7, &[(SCOPE_TAG, None)], &[]).is_gio_amis());
        assert!(!rule("b", Binned::Image, 7, &[(SCOPE_TAG, Some("r1"))], &[]).is_gio_amis());
        assert!(!rule("c", Binned::Image, 7, &[], &[]).is_gio_amis());
    }
}
