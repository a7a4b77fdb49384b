//! Allowed AMIs: an account's per-Region setting that hides and refuses AMIs its image
//! criteria do not match. An AMI shared into such an account is useless there, and one that is
//! allowed may stop being so once deprecated; gio-ami reads the setting (GetAllowedImagesSettings)
//! and judges the AMI before sharing or publishing into the account, because the consumer's
//! `ImageAllowed` is only visible after the fact, from inside that account.
//!
//! The rules (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-allowed-amis.html): an AMI
//! is allowed when it matches any criterion; it matches a criterion when it matches every
//! parameter the criterion sets; it matches a parameter when it matches any of its values. The
//! account's own AMIs are not subject to it.
//!
//! Two parameters look at more than the AMI's name, owner and dates (ImageCriterion,
//! https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImageCriterion.html), and both are
//! judged from what the owner's DescribeImages reports, which is what the consumer sees too:
//! - ImageWatermarks: "An AMI is allowed if it carries at least one watermark that satisfies an
//!   ImageWatermarkFilter. A watermark satisfies a filter when all specified fields in the
//!   ImageWatermarkFilter match the corresponding values on the watermark of the AMI."
//! - ScanResultCondition (Amazon Inspector's results): "AMIs that Amazon Inspector has not scanned
//!   are not allowed when you specify this condition"; a scanned one meets it when its highest
//!   severity and the days since a fix became available (per severity) are within the limits.
//!   Scan results change with every scan, so an AMI such a criterion allows today may be refused
//!   tomorrow: gio-ami cannot predict that it stays allowed, and says so instead of "allowed".
//!   What the AMI's data leaves open (a time AWS did not report, a severity newer than gio-ami)
//!   is not guessed either way: the prediction is "cannot predict".

use crate::aws::inventory::{Image, ScanResults, Watermark};
use crate::aws::org::Org;
use crate::aws::Aws;
use crate::core::clock::{self, Timestamp};
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::kinds::{Reported, Severity};
use crate::error::Result;
use aws_sdk_ec2::types::{ImageCriterion, ImageWatermarkFilterResponse, ScanResultCondition};
use serde::Serialize;
use std::collections::BTreeMap;

/// The Allowed AMIs settings: without them the check is skipped, with a warning.
pub const IAM: Permission =
    Permission::new(Service::Ec2, "GetAllowedImagesSettings").optional("allowed AMIs check");

const DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// No restriction.
    Disabled,
    /// AMIs that match no criterion cannot be found or launched.
    Enabled,
    /// The criteria are evaluated and reported, nothing is refused.
    AuditMode,
}

/// One ImageCriterion, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criterion {
    /// Account ids, or the aliases amazon / aws-marketplace / aws-backup-vault / none.
    pub providers: Vec<String>,
    /// Name patterns with `*` and `?`.
    pub names: Vec<String>,
    pub product_codes: Vec<String>,
    pub max_days_since_created: Option<i64>,
    pub max_days_since_deprecated: Option<i64>,
    pub watermarks: Vec<WatermarkFilter>,
    pub scan: Option<ScanCondition>,
}

/// One ImageWatermarkFilter: the fields it sets must all match one watermark of the AMI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatermarkFilter {
    /// `accountId:name`, with `*` and `?`.
    pub key: Option<String>,
    /// With `*` and `?`.
    pub source_region: Option<String>,
    pub max_days_since_source_image_created: Option<i64>,
    pub max_days_since_watermarked: Option<i64>,
}

/// A ScanResultCondition: limits on Amazon Inspector's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanCondition {
    pub max_days_since_scan: Option<i64>,
    /// The highest severity allowed, "whether or not a fix is available".
    pub max_severity: Option<Reported<Severity>>,
    /// Per severity, the most days since a fix became available for a finding of it.
    pub max_days_since_fix: BTreeMap<Severity, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub state: State,
    pub criteria: Vec<Criterion>,
}

/// What the setting makes of an AMI in the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The setting is disabled there.
    Unrestricted,
    /// Allowed now; once deprecated, refused after this many days (`None`: never).
    Allowed { days_after_deprecation: Option<i64> },
    /// No criterion matches it.
    NotAllowed,
    /// gio-ami cannot tell whether the account allows it, now or for long.
    CannotPredict { why: Unpredictable },
}

/// Why a verdict cannot be predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unpredictable {
    /// Only criteria on Amazon Inspector's scan results allow it, and the next scan can change
    /// them.
    ScanResults,
    /// A criterion compares something the AMI's description leaves out (a watermark's time, a
    /// severity newer than gio-ami).
    Unreported,
}

/// How a criterion meets an AMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    Unknown,
}

impl Match {
    fn of(yes: bool) -> Self {
        if yes {
            Match::Yes
        } else {
            Match::No
        }
    }

    /// Every part: any No refuses, else any Unknown leaves it open.
    fn all(parts: impl IntoIterator<Item = Match>) -> Self {
        parts.into_iter().fold(Match::Yes, |all, part| match (all, part) {
            (Match::No, _) | (_, Match::No) => Match::No,
            (Match::Unknown, _) | (_, Match::Unknown) => Match::Unknown,
            _ => Match::Yes,
        })
    }

    /// Any one: a Yes allows, else any Unknown leaves it open.
    fn any(parts: impl IntoIterator<Item = Match>) -> Self {
        parts.into_iter().fold(Match::No, |any, part| match (any, part) {
            (Match::Yes, _) | (_, Match::Yes) => Match::Yes,
            (Match::Unknown, _) | (_, Match::Unknown) => Match::Unknown,
            _ => Match::No,
        })
    }
}

/// The AMI being judged, from the owner's DescribeImages.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub owner: &'a str,
    pub name: &'a str,
    pub product_codes: &'a [String],
    /// Epoch seconds.
    pub created: Option<i64>,
    pub deprecated: Option<i64>,
    pub watermarks: &'a [Watermark],
    /// `None`: Amazon Inspector has not scanned it.
    pub scan: Option<&'a ScanResults>,
}

/// The region's Allowed AMIs setting of the account `aws` acts in.
pub async fn settings(aws: &Aws) -> Result<Settings> {
    let output = aws
        .ec2()
        .get_allowed_images_settings()
        .send()
        .await
        .map_err(|e| aws.error("GetAllowedImagesSettings", Service::Ec2, e))?;
    let state = match output.state() {
        Some("enabled") => State::Enabled,
        Some("audit-mode") => State::AuditMode,
        _ => State::Disabled,
    };
    Ok(Settings { state, criteria: output.image_criteria().iter().map(criterion).collect() })
}

fn criterion(c: &ImageCriterion) -> Criterion {
    Criterion {
        providers: c.image_providers().to_vec(),
        names: c.image_names().to_vec(),
        product_codes: c.marketplace_product_codes().to_vec(),
        max_days_since_created: c
            .creation_date_condition()
            .and_then(|d| d.maximum_days_since_created())
            .map(i64::from),
        max_days_since_deprecated: c
            .deprecation_time_condition()
            .and_then(|d| d.maximum_days_since_deprecated())
            .map(i64::from),
        watermarks: c.image_watermarks().iter().map(watermark_filter).collect(),
        scan: c.scan_result_condition().map(scan_condition),
    }
}

fn watermark_filter(f: &ImageWatermarkFilterResponse) -> WatermarkFilter {
    WatermarkFilter {
        key: f.watermark_key().map(str::to_string),
        source_region: f.source_image_region().map(str::to_string),
        max_days_since_source_image_created: f.maximum_days_since_source_image_created().map(i64::from),
        max_days_since_watermarked: f.maximum_days_since_watermark_created().map(i64::from),
    }
}

fn scan_condition(c: &ScanResultCondition) -> ScanCondition {
    let fixes = [
        (Severity::Informational, c.max_days_since_informational_fix_available()),
        (Severity::Low, c.max_days_since_low_fix_available()),
        (Severity::Medium, c.max_days_since_medium_fix_available()),
        (Severity::High, c.max_days_since_high_fix_available()),
        (Severity::Critical, c.max_days_since_critical_fix_available()),
    ];
    ScanCondition {
        max_days_since_scan: c.max_days_since_last_finding_scan().map(i64::from),
        max_severity: c.maximum_severity_label().map(|s| Reported::from(s.as_str())),
        max_days_since_fix: fixes
            .into_iter()
            .filter_map(|(severity, days)| Some((severity, i64::from(days?))))
            .collect(),
    }
}

impl Settings {
    pub fn judge(&self, subject: &Subject<'_>, now: i64) -> Verdict {
        if self.state == State::Disabled {
            return Verdict::Unrestricted;
        }
        let judged: Vec<(&Criterion, Match)> =
            self.criteria.iter().map(|c| (c, c.matches_but_deprecation(subject, now))).collect();
        let matching: Vec<&Criterion> =
            judged.iter().filter(|(_, m)| *m == Match::Yes).map(|(c, _)| *c).collect();
        let tolerated: Vec<&Criterion> = matching
            .iter()
            .copied()
            .filter(|c| match (c.max_days_since_deprecated, subject.deprecated) {
                (Some(days), Some(at)) => now - at <= days * DAY,
                _ => true,
            })
            .collect();
        if tolerated.is_empty() {
            return match judged.iter().any(|(_, m)| *m == Match::Unknown) {
                true => Verdict::CannotPredict { why: Unpredictable::Unreported },
                false => Verdict::NotAllowed,
            };
        }
        // Scan results change with each scan: an AMI only they allow may be refused after the next.
        if tolerated.iter().all(|c| c.scan.is_some()) {
            return Verdict::CannotPredict { why: Unpredictable::ScanResults };
        }
        // The criterion that tolerates a deprecation longest decides; one without a deprecation
        // condition tolerates it for ever.
        let days_after_deprecation = matching
            .iter()
            .map(|c| c.max_days_since_deprecated)
            .try_fold(0, |most, days| days.map(|d| most.max(d)));
        Verdict::Allowed { days_after_deprecation }
    }
}

/// Whether `at` is at most `days` old at `now`; unknown when AWS gave no time.
fn within(days: Option<i64>, at: Option<&Timestamp>, now: i64) -> Match {
    match (days, at) {
        (None, _) => Match::Yes,
        (Some(days), Some(at)) => Match::of(now - at.epoch() <= days * DAY),
        (Some(_), None) => Match::Unknown,
    }
}

impl Criterion {
    fn matches_but_deprecation(&self, subject: &Subject<'_>, now: i64) -> Match {
        let any = |values: &[String], test: &dyn Fn(&str) -> bool| {
            values.is_empty() || values.iter().any(|v| test(v))
        };
        let plain = any(&self.providers, &|p| p == subject.owner)
            && any(&self.names, &|pattern| wildcard(pattern, subject.name))
            && any(&self.product_codes, &|code| subject.product_codes.iter().any(|c| c == code))
            && self
                .max_days_since_created
                .is_none_or(|days| subject.created.is_some_and(|at| now - at <= days * DAY));
        let watermarks = match self.watermarks.is_empty() {
            true => Match::Yes,
            false => Match::any(self.watermarks.iter().flat_map(|filter| {
                subject.watermarks.iter().map(move |watermark| filter.matches(watermark, now))
            })),
        };
        let scan = self.scan.as_ref().map_or(Match::Yes, |condition| condition.matches(subject.scan, now));
        Match::all([Match::of(plain), watermarks, scan])
    }
}

impl WatermarkFilter {
    fn matches(&self, watermark: &Watermark, now: i64) -> Match {
        let pattern = |pattern: &Option<String>, value: Option<&str>| match (pattern, value) {
            (None, _) => Match::Yes,
            (Some(pattern), Some(value)) => Match::of(wildcard(pattern, value)),
            (Some(_), None) => Match::Unknown,
        };
        Match::all([
            pattern(&self.key, Some(&watermark.key)),
            pattern(&self.source_region, watermark.source_region.as_deref()),
            within(self.max_days_since_source_image_created, watermark.source_image_created.as_ref(), now),
            within(self.max_days_since_watermarked, watermark.created.as_ref(), now),
        ])
    }
}

impl ScanCondition {
    fn matches(&self, scan: Option<&ScanResults>, now: i64) -> Match {
        let Some(scan) = scan else {
            return Match::No; // "AMIs that Amazon Inspector has not scanned are not allowed"
        };
        // "A scanned AMI that has no findings meets this limit."
        let severity = match (&self.max_severity, &scan.highest_severity) {
            (None, _) | (Some(_), None) => Match::Yes,
            (Some(Reported::Known(limit)), Some(Reported::Known(highest))) => Match::of(highest <= limit),
            _ => Match::Unknown,
        };
        // "A scanned AMI that has no fix-available finding of a given severity meets that
        // severity's day limit."
        let fixes = self.max_days_since_fix.iter().map(|(severity, days)| {
            match scan.fix_available_since.get(severity) {
                None => Match::Yes,
                Some(since) => within(Some(*days), Some(since), now),
            }
        });
        let scanned = within(self.max_days_since_scan, scan.scanned.as_ref(), now);
        Match::all([scanned, severity].into_iter().chain(fixes))
    }
}

/// `*` any run of characters, `?` one character.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What the consumers' settings make of the AMIs (all in the region of `consumers`' places):
/// refusals where a setting is enforced and refuses one (or could not be read), warnings for
/// audit mode and for a deprecation the setting would refuse later.
#[derive(Debug, Default)]
pub struct Checked {
    pub refusals: Vec<String>,
    pub warnings: Vec<String>,
}

pub async fn check(consumers: &Org, images: &[Image]) -> Checked {
    let now = clock::now_epoch();
    let read = consumers.each(|place| settings(&place.aws)).await;
    let mut checked = Checked::default();
    for (place, settings) in read {
        let account = place.account.as_deref().unwrap_or_default();
        match settings {
            Ok(settings) => {
                for image in images {
                    let subject = Subject::of(image);
                    let verdict = settings.judge(&subject, now);
                    if let Some(mut concern) = concern(account, image.id.as_str(), settings.state, verdict) {
                        if verdict == Verdict::NotAllowed {
                            concern.push_str(settings.unmet(&subject));
                        }
                        match (settings.state, verdict) {
                            (State::Enabled, Verdict::NotAllowed) => checked.refusals.push(concern),
                            _ => checked.warnings.push(concern),
                        }
                    }
                }
            }
            Err(error) => checked
                .refusals
                .push(format!("the Allowed AMIs setting of account `{account}` could not be read: {error}")),
        }
    }
    for unreached in &consumers.unreachable {
        checked.refusals.push(format!(
            "the Allowed AMIs setting of account `{}` could not be read: {}",
            unreached.account, unreached.error
        ));
    }
    checked
}

impl Settings {
    /// What the AMI lacks that the criteria ask for, beyond its owner, name and dates: the likely
    /// fix of a refusal, said after it.
    fn unmet(&self, subject: &Subject<'_>) -> &'static str {
        if subject.scan.is_none() && self.criteria.iter().any(|c| c.scan.is_some()) {
            " (criteria with a ScanResultCondition refuse an AMI Amazon Inspector has not scanned: \
             have Inspector scan it, then run this again)"
        } else if subject.watermarks.is_empty() && self.criteria.iter().any(|c| !c.watermarks.is_empty()) {
            " (criteria with ImageWatermarks refuse an AMI that carries no watermark: attach the one \
             they name with AttachImageWatermark)"
        } else {
            ""
        }
    }
}

/// The sentence a plan shows for an AMI in an account, or `None` when nothing is in the way.
pub fn concern(account: &str, ami: &str, state: State, verdict: Verdict) -> Option<String> {
    let mode = match state {
        State::AuditMode => " (audit mode: reported, not enforced)",
        _ => "",
    };
    match verdict {
        Verdict::Unrestricted | Verdict::Allowed { days_after_deprecation: None } => None,
        Verdict::NotAllowed => Some(format!(
            "{ami} is not allowed in account `{account}`{mode}: no image criterion of its Allowed AMIs setting matches it, \
             so it can neither be found nor launched there; add a criterion for this owner or name there"
        )),
        Verdict::Allowed { days_after_deprecation: Some(days) } => Some(format!(
            "{ami} is allowed in account `{account}`{mode}, but once deprecated its Allowed AMIs setting refuses it after {days} day(s)"
        )),
        Verdict::CannotPredict { why: Unpredictable::ScanResults } => Some(format!(
            "cannot predict whether {ami} stays allowed in account `{account}`{mode}: only criteria on \
             Amazon Inspector's scan results allow it today, and its next scan can change them"
        )),
        Verdict::CannotPredict { why: Unpredictable::Unreported } => Some(format!(
            "cannot predict whether {ami} is allowed in account `{account}`{mode}: a criterion of its \
             Allowed AMIs setting compares what the AMI's description does not report (a watermark's \
             time, or a severity newer than gio-ami); check with `aws ec2 describe-images \
             --image-ids {ami}` in that account (ImageAllowed)"
        )),
    }
}

impl<'a> Subject<'a> {
    /// An AMI as its owner describes it (gio-ami's AMIs carry no Marketplace product codes).
    pub fn of(image: &'a crate::aws::inventory::Image) -> Self {
        Subject {
            owner: &image.owner,
            name: &image.name,
            product_codes: &[],
            created: image.created.as_ref().map(Timestamp::epoch),
            deprecated: image.deprecation_time.as_ref().map(Timestamp::epoch),
            watermarks: &image.watermarks,
            scan: image.scan_results.as_ref(),
        }
    }
}

/// Reads the Allowed AMIs setting of each account (in `aws`'s region) the images go to: what
/// it refuses is the refusal returned, or when `forced` a warning; the rest are warnings.
pub async fn gate<'a>(
    aws: &Aws,
    mut accounts: Vec<crate::aws::org::Account>,
    images: impl IntoIterator<Item = &'a Image>,
    warnings: &mut Vec<String>,
    forced: bool,
) -> Option<crate::Error> {
    if accounts.is_empty() {
        return None;
    }
    for account in &mut accounts {
        account.regions = vec![aws.region().to_string()];
    }
    let consumers = Org::connect_all(aws, &accounts).await;
    let images: Vec<Image> = images.into_iter().cloned().collect();
    let checked = check(&consumers, &images).await;
    warnings.extend(checked.warnings);
    match (checked.refusals.is_empty(), forced) {
        (true, _) => None,
        (false, true) => {
            warnings.extend(checked.refusals.into_iter().map(|r| format!("--force, although {r}")));
            None
        }
        (false, false) => Some(crate::Error::NotAllowed { reasons: checked.refusals }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn subject(created_days_ago: i64, deprecated_days_ago: Option<i64>) -> Subject<'static> {
        Subject {
            owner: "111122223333",
            name: "gio-node-1.31-20261201",
            product_codes: &[],
            created: Some(NOW - created_days_ago * DAY),
            deprecated: deprecated_days_ago.map(|d| NOW - d * DAY),
            watermarks: &[],
            scan: None,
        }
    }

    fn enabled(criteria: Vec<Criterion>) -> Settings {
        Settings { state: State::Enabled, criteria }
    }

    #[test]
    fn an_ami_is_allowed_by_any_criterion_that_matches_every_parameter_it_sets() {
        let by_owner =
            Criterion { providers: vec!["amazon".into(), "111122223333".into()], ..Criterion::default() };
        let by_name_and_age = Criterion {
            names: vec!["gio-node-*".into()],
            max_days_since_created: Some(30),
            ..Criterion::default()
        };
        assert_eq!(
            enabled(vec![by_owner.clone()]).judge(&subject(400, None), NOW),
            Verdict::Allowed { days_after_deprecation: None }
        );
        assert_eq!(
            enabled(vec![by_name_and_age.clone()]).judge(&subject(10, None), NOW),
            Verdict::Allowed { days_after_deprecation: None }
        );
        assert_eq!(
            enabled(vec![by_name_and_age.clone()]).judge(&subject(31, None), NOW),
            Verdict::NotAllowed,
            "too old"
        );
        let other = Criterion { providers: vec!["amazon".into()], ..Criterion::default() };
        assert_eq!(enabled(vec![other.clone()]).judge(&subject(1, None), NOW), Verdict::NotAllowed);
        assert_eq!(
            enabled(vec![other, by_owner]).judge(&subject(1, None), NOW),
            Verdict::Allowed { days_after_deprecation: None }
        );
        assert_eq!(
            enabled(Vec::new()).judge(&subject(1, None), NOW),
            Verdict::NotAllowed,
            "no criterion allows nothing"
        );
        let disabled = Settings { state: State::Disabled, criteria: Vec::new() };
        assert_eq!(disabled.judge(&subject(1, None), NOW), Verdict::Unrestricted);
    }

    #[test]
    fn a_deprecation_condition_says_how_long_a_deprecated_ami_stays_allowed() {
        let week = Criterion {
            providers: vec!["111122223333".into()],
            max_days_since_deprecated: Some(7),
            ..Criterion::default()
        };
        let settings = enabled(vec![week.clone()]);
        assert_eq!(
            settings.judge(&subject(1, None), NOW),
            Verdict::Allowed { days_after_deprecation: Some(7) }
        );
        assert_eq!(
            settings.judge(&subject(20, Some(3)), NOW),
            Verdict::Allowed { days_after_deprecation: Some(7) }
        );
        assert_eq!(settings.judge(&subject(20, Some(8)), NOW), Verdict::NotAllowed);
        let month = Criterion { max_days_since_deprecated: Some(30), ..week.clone() };
        assert_eq!(
            enabled(vec![week.clone(), month]).judge(&subject(1, None), NOW),
            Verdict::Allowed { days_after_deprecation: Some(30) }
        );
        let forever = Criterion { names: vec!["gio-node-?.??-*".into()], ..Criterion::default() };
        assert_eq!(
            enabled(vec![week, forever]).judge(&subject(1, Some(100)), NOW),
            Verdict::Allowed { days_after_deprecation: None }
        );
    }

    fn days_ago(days: i64) -> Option<Timestamp> {
        clock::rfc3339(NOW - days * DAY).parse().ok()
    }

    fn ours() -> Criterion {
        Criterion { providers: vec!["111122223333".into()], ..Criterion::default() }
    }

    #[test]
    fn a_watermark_criterion_wants_one_watermark_that_meets_every_field_of_a_filter() {
        let approved = WatermarkFilter {
            key: Some("444455556666:approved*".into()),
            max_days_since_watermarked: Some(30),
            ..WatermarkFilter::default()
        };
        let settings = enabled(vec![Criterion { watermarks: vec![approved], ..ours() }]);
        let mark = |key: &str, days: i64| Watermark {
            key: key.into(),
            source_region: Some("eu-west-1".into()),
            source_image_created: days_ago(days),
            created: days_ago(days),
        };
        let judge =
            |watermarks: &[Watermark]| settings.judge(&Subject { watermarks, ..subject(1, None) }, NOW);
        assert_eq!(judge(&[]), Verdict::NotAllowed, "no watermark");
        assert_eq!(
            judge(&[mark("444455556666:approvedAmi", 3)]),
            Verdict::Allowed { days_after_deprecation: None }
        );
        assert_eq!(judge(&[mark("444455556666:other", 3)]), Verdict::NotAllowed, "another key");
        assert_eq!(judge(&[mark("444455556666:approved", 31)]), Verdict::NotAllowed, "attached too long ago");
        assert_eq!(
            judge(&[mark("444455556666:other", 3), mark("444455556666:approved", 3)]),
            Verdict::Allowed { days_after_deprecation: None },
            "any watermark will do"
        );
        let timeless = Watermark { created: None, ..mark("444455556666:approved", 3) };
        assert_eq!(judge(&[timeless]), Verdict::CannotPredict { why: Unpredictable::Unreported });
    }

    #[test]
    fn a_scan_result_condition_refuses_an_unscanned_ami_and_cannot_promise_a_scanned_one() {
        let condition = ScanCondition {
            max_severity: Some(Severity::Medium.into()),
            max_days_since_fix: BTreeMap::from([(Severity::Critical, 7)]),
            ..ScanCondition::default()
        };
        let settings = enabled(vec![Criterion { scan: Some(condition), ..ours() }]);
        let judge = |scan: Option<&ScanResults>| settings.judge(&Subject { scan, ..subject(1, None) }, NOW);
        assert_eq!(judge(None), Verdict::NotAllowed, "Inspector has not scanned it");
        let clean = ScanResults { scanned: days_ago(1), ..ScanResults::default() };
        let predicted = Verdict::CannotPredict { why: Unpredictable::ScanResults };
        assert_eq!(judge(Some(&clean)), predicted, "allowed today, but the next scan decides");
        let high = ScanResults { highest_severity: Some(Severity::High.into()), ..clean.clone() };
        assert_eq!(judge(Some(&high)), Verdict::NotAllowed, "above the severity limit");
        let fixed_long_ago = ScanResults {
            highest_severity: Some(Severity::Low.into()),
            fix_available_since: BTreeMap::from([(Severity::Critical, days_ago(8).unwrap())]),
            ..clean.clone()
        };
        assert_eq!(judge(Some(&fixed_long_ago)), Verdict::NotAllowed, "a fix left unapplied too long");
        let newer = ScanResults { highest_severity: Some(Reported::Unknown("catastrophic".into())), ..clean };
        assert_eq!(judge(Some(&newer)), Verdict::CannotPredict { why: Unpredictable::Unreported });

        // A criterion that allows it without scan results makes the prediction firm again.
        let both = enabled(vec![settings.criteria[0].clone(), ours()]);
        assert_eq!(both.judge(&subject(1, None), NOW), Verdict::Allowed { days_after_deprecation: None });
        let unscanned = concern("prod", "ami-1", State::Enabled, judge(None)).unwrap()
            + settings.unmet(&subject(1, None));
        assert!(unscanned.contains("Amazon Inspector has not scanned"), "{unscanned}");
        let unsure = concern("prod", "ami-1", State::Enabled, predicted).unwrap();
        assert!(unsure.starts_with("cannot predict whether ami-1 stays allowed"), "{unsure}");
    }

    #[test]
    fn wildcards() {
        for (pattern, text, matches) in [
            ("gio-*", "gio-node", true),
            ("*", "", true),
            ("gio-?", "gio-a", true),
            ("gio-?", "gio-ab", false),
            ("*-node-*-x", "a-node-b-c-x", true),
            ("gio", "gio-node", false),
        ] {
            assert_eq!(wildcard(pattern, text), matches, "{pattern} {text}");
        }
    }

    #[test]
    fn concerns_name_the_account_and_the_mode() {
        let refused = concern("prod", "ami-1", State::Enabled, Verdict::NotAllowed).unwrap();
        assert!(refused.contains("not allowed in account `prod`"), "{refused}");
        let audited = concern("prod", "ami-1", State::AuditMode, Verdict::NotAllowed).unwrap();
        assert!(audited.contains("audit mode"), "{audited}");
        assert!(concern("prod", "ami-1", State::Enabled, Verdict::Allowed { days_after_deprecation: None })
            .is_none());
    }
}
