//! Who may launch an AMI across a disable and a re-enable. AWS's DisableImage "removes all launch
//! permissions from the AMI", and after EnableImage the accounts, organizations and OUs "that lost
//! access to the AMI when it was disabled do not regain access automatically"
//! (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImage.html,
//! https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/disable-an-ami.html). So a disable first
//! writes them on the AMI (`record`), and `gio-ami enable` grants them back (`plan`) and then
//! removes that record.

use crate::aws::inventory::{Grantees, Image, ImageState};
use crate::change::{Action, Kind, Plan};
use crate::core::tags::{Tags, LAUNCH_GRANTS};

/// EC2 tag values: at most 256 Unicode characters; tags: at most 50 per resource
/// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions).
const TAG_VALUE_MAX: usize = 256;
const TAGS_PER_RESOURCE_MAX: usize = 50;
/// The launch permission group of a public AMI, as ModifyImageAttribute names it.
const PUBLIC_GROUP: &str = "all";

fn key(chunk: usize) -> String {
    match chunk {
        1 => LAUNCH_GRANTS.to_string(),
        n => format!("{LAUNCH_GRANTS}:{n}"),
    }
}

/// The tags that record `grantees` on an AMI that carries `existing` tags: one value while they
/// fit in 256 characters, more keys past that, and the keys of an older, longer record blanked
/// (CreateTags overwrites, so a re-run writes the same). Empty when there is nothing to record
/// nor to overwrite. An error, saying why, when the AMI has no room left for them (50 tags at
/// most): the disable must not happen, or the grants would be lost unrecorded. Pure.
pub fn record(grantees: &Grantees, existing: &Tags) -> Result<Tags, String> {
    let public = grantees.public.then_some(PUBLIC_GROUP);
    let tokens = grantees
        .accounts
        .iter()
        .chain(&grantees.organizations)
        .chain(&grantees.units)
        .map(String::as_str)
        .chain(public);
    let mut chunks: Vec<String> = Vec::new();
    for token in tokens {
        match chunks.last_mut() {
            Some(chunk) if chunk.len() + 1 + token.len() <= TAG_VALUE_MAX => {
                chunk.push(' ');
                chunk.push_str(token);
            }
            _ => chunks.push(token.to_string()),
        }
    }
    let older = recorded(existing).1.len();
    if chunks.is_empty() && older == 0 {
        return Ok(Tags::new());
    }
    let mut written: Tags = (1..=chunks.len().max(older).max(1))
        .map(|n| (key(n), chunks.get(n - 1).cloned().unwrap_or_default()))
        .collect();
    let new = written.keys().filter(|k| !existing.contains_key(*k)).count();
    if existing.len() + new > TAGS_PER_RESOURCE_MAX {
        return Err(format!(
            "its launch permissions ({}) need {new} more tag(s) to be recorded, and it has {} of the {TAGS_PER_RESOURCE_MAX} \
             AWS allows: disabling would lose them for good. Unshare some first (`gio-ami share AMI --unshare …`), or remove \
             tags it does not need",
            grantees.names().join(", "),
            existing.len()
        ));
    }
    written.retain(|k, v| !v.is_empty() || existing.contains_key(k));
    Ok(written)
}

/// What a disable recorded on an AMI: the grantees, and every key of the record (to remove once
/// they are granted back). A token that is no grantee (a hand-edited tag) is left out. Pure.
pub fn recorded(tags: &Tags) -> (Grantees, Vec<String>) {
    let mut grantees = Grantees::default();
    let keys: Vec<String> = (1..).map(key).take_while(|k| tags.contains_key(k)).collect();
    for token in keys.iter().flat_map(|k| tags[k].split_whitespace()) {
        if token == PUBLIC_GROUP {
            grantees.public = true;
        } else if token.len() == 12 && token.bytes().all(|b| b.is_ascii_digit()) {
            grantees.accounts.push(token.to_string());
        } else if token.starts_with("arn:") && token.contains(":organization/") {
            grantees.organizations.push(token.to_string());
        } else if token.starts_with("arn:") && token.contains(":ou/") {
            grantees.units.push(token.to_string());
        }
    }
    (grantees, keys)
}

/// `gio-ami enable`: each AMI launchable again, by those its disabling took the launch permission
/// from. An AMI neither disabled nor carrying a record is already as wanted. Pure.
pub fn plan(images: &[Image]) -> Plan {
    let mut plan = Plan::default();
    for image in images {
        let (granted, record) = recorded(&image.tags);
        let disabled = image.state == ImageState::Disabled;
        let why = match (disabled, record.is_empty(), granted.is_empty()) {
            (false, true, _) => {
                plan.actions.push(Action::Reuse {
                    id: image.id.to_string(),
                    kind: Kind::Image,
                    why: "not disabled, and no launch permissions recorded to grant back".into(),
                });
                continue;
            }
            (true, true, _) => {
                plan.warnings.push(format!(
                    "{} carries no record of its launch permissions ({LAUNCH_GRANTS}: it was not disabled by gio-ami): \
                     whoever could launch it before does not regain access; `gio-ami share` grants it again",
                    image.id
                ));
                "launchable again; nobody else regains access (nothing recorded)".to_string()
            }
            (true, false, true) => {
                "launchable again; nobody else could launch it when it was disabled".into()
            }
            (true, false, false) => "launchable again, by those its disabling took it from".into(),
            (false, false, _) => "already enabled: granting back what its disabling took away".into(),
        };
        plan.actions.push(Action::EnableImage {
            id: image.id.clone(),
            name: image.name.clone(),
            disabled,
            granted,
            record,
            why,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    const ORG: &str = "arn:aws:organizations::111122223333:organization/o-abc1234567";
    const OU: &str = "arn:aws:organizations::111122223333:ou/o-abc1234567/ou-ab12-cdef5678";

    fn grantees(accounts: usize) -> Grantees {
        Grantees {
            accounts: (0..accounts).map(|n| format!("{:012}", 222_233_330_000u64 + n as u64)).collect(),
            organizations: vec![ORG.into()],
            units: vec![OU.into()],
            public: true,
        }
    }

    #[test]
    fn a_record_reads_back_as_the_grantees_it_recorded() {
        let few = grantees(2);
        let tags = record(&few, &Tags::new()).unwrap();
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[LAUNCH_GRANTS], format!("222233330000 222233330001 {ORG} {OU} all"));
        assert_eq!(recorded(&tags), (few, vec![LAUNCH_GRANTS.to_string()]));
        assert!(record(&Grantees::default(), &Tags::new()).unwrap().is_empty(), "nothing to record");
    }

    #[test]
    fn past_256_characters_the_record_continues_in_more_keys_and_a_shorter_one_blanks_the_rest() {
        let many = grantees(40);
        let tags = record(&many, &Tags::new()).unwrap();
        assert!(tags.len() > 2, "{tags:?}");
        assert!(tags.values().all(|v| v.chars().count() <= TAG_VALUE_MAX));
        assert_eq!(recorded(&tags).0, many);

        let few = grantees(1);
        let shorter = record(&few, &tags).unwrap();
        assert_eq!(shorter.len(), tags.len(), "every older key is overwritten");
        assert!(shorter.iter().skip(1).all(|(_, v)| v.is_empty()), "{shorter:?}");
        let mut after = tags.clone();
        after.extend(shorter);
        assert_eq!(recorded(&after).0, few);
        assert_eq!(recorded(&after).1.len(), tags.len(), "enable removes every key");

        let gone = record(&Grantees::default(), &tags).unwrap();
        assert_eq!(gone.len(), tags.len(), "an empty record still overwrites an older one");
    }

    #[test]
    fn a_record_that_does_not_fit_in_the_50_tags_refuses() {
        let full: Tags = (0..49).map(|n| (format!("team:{n}"), String::new())).collect();
        assert!(record(&grantees(1), &full).is_ok(), "one key fits");
        let why = record(&grantees(40), &full).unwrap_err();
        assert!(why.contains("49 of the 50") && why.contains("--unshare"), "{why}");
    }

    #[test]
    fn enable_grants_back_what_was_recorded_and_an_enabled_ami_without_a_record_is_left_alone() {
        let mut disabled = image("ami-1", "2026-01-01", &[]);
        disabled.state = "disabled".into();
        disabled.tags = record(&grantees(1), &Tags::new()).unwrap();
        let mut unrecorded = image("ami-2", "2026-01-01", &[]);
        unrecorded.state = "disabled".into();
        let mut half_done = image("ami-3", "2026-01-01", &[]);
        half_done.tags = disabled.tags.clone();
        let plan = plan(&[disabled, unrecorded, half_done, image("ami-4", "2026-01-01", &[])]);
        let enabled: Vec<(&str, bool, usize)> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::EnableImage { id, disabled, granted, .. } => {
                    Some((id.as_str(), *disabled, granted.names().len()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(enabled, [("ami-1", true, 4), ("ami-2", true, 0), ("ami-3", false, 4)]);
        assert!(matches!(&plan.actions[3], Action::Reuse { id, .. } if id == "ami-4"));
        assert!(plan.warnings[0].contains("ami-2 carries no record"), "{:?}", plan.warnings);
    }
}
