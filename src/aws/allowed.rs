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

use crate::aws::inventory::Image;
use crate::aws::org::Org;
use crate::aws::Aws;
use crate::core::clock;
use crate::core::error::{Result, Service};
use aws_sdk_ec2::types::ImageCriterion;
use serde::Serialize;

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
    }
}

impl Settings {
    pub fn judge(&self, subject: &Subject<'_>, now: i64) -> Verdict {
        if self.state == State::Disabled {
            return Verdict::Unrestricted;
        }
        let matching: Vec<&Criterion> =
            self.criteria.iter().filter(|c| c.matches_but_deprecation(subject, now)).collect();
        let allowed_now = matching.iter().any(|c| match (c.max_days_since_deprecated, subject.deprecated) {
            (Some(days), Some(at)) => now - at <= days * DAY,
            _ => true,
        });
        if !allowed_now {
            return Verdict::NotAllowed;
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

impl Criterion {
    fn matches_but_deprecation(&self, subject: &Subject<'_>, now: i64) -> bool {
        let any = |values: &[String], test: &dyn Fn(&str) -> bool| {
            values.is_empty() || values.iter().any(|v| test(v))
        };
        any(&self.providers, &|p| p == subject.owner)
            && any(&self.names, &|pattern| wildcard(pattern, subject.name))
            && any(&self.product_codes, &|code| subject.product_codes.iter().any(|c| c == code))
            && self
                .max_days_since_created
                .is_none_or(|days| subject.created.is_some_and(|at| now - at <= days * DAY))
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
                    let verdict = settings.judge(&Subject::of(image), now);
                    if let Some(concern) = concern(account, &image.id, settings.state, verdict) {
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
    }
}

impl<'a> Subject<'a> {
    /// An AMI as its owner describes it (gio-ami's AMIs carry no Marketplace product codes).
    pub fn of(image: &'a crate::aws::inventory::Image) -> Self {
        Subject {
            owner: &image.owner,
            name: &image.name,
            product_codes: &[],
            created: image.created.as_deref().and_then(clock::parse),
            deprecated: image.deprecation_time.as_deref().and_then(clock::parse),
        }
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
