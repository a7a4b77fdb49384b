//! Deregistration protection: an AMI production runs can be made impossible to deregister (by
//! gio-ami or anyone else) until the protection is lifted, and with a cooldown, for 24 hours
//! after that. Enabling a protection already on, or lifting one already off, is a reuse.
//! https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-deregistration-protection.html

use crate::aws::inventory::{Image, Protection};
use crate::change::{Action, Kind, Plan};

/// What the user asked: protect (with a cooldown or not), or lift the protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Protect { cooldown: bool },
    Unprotect,
}

/// One action per AMI: the change, or a reuse when it already is as wanted. Pure.
pub fn plan(images: &[Image], want: Want) -> Plan {
    let actions = images.iter().map(|image| action(image, want)).collect();
    Plan { actions, ..Plan::default() }
}

/// The one action that leaves `image` protected as wanted (`promote` adds it to a publication).
pub fn action(image: &Image, want: Want) -> Action {
    let (id, name) = (image.id.clone(), image.name.clone());
    let reuse = |why: String| Action::Reuse { id: image.id.to_string(), kind: Kind::Image, why };
    match (&image.protection, want) {
        (Protection::Enabled { cooldown: now }, Want::Protect { cooldown }) if *now == cooldown => {
            reuse("already protected".into())
        }
        (Protection::Disabled, Want::Unprotect) => reuse("not protected".into()),
        (Protection::CoolingDown { until }, Want::Unprotect) => {
            reuse(format!("protection already lifted; its cooldown holds until {until}"))
        }
        (_, Want::Protect { cooldown }) => Action::ProtectImage {
            id,
            name,
            enable: true,
            cooldown,
            why: if cooldown {
                "nobody can deregister it, and once unprotected not for 24 more hours".into()
            } else {
                "nobody can deregister it until it is unprotected".into()
            },
        },
        (protection, Want::Unprotect) => Action::ProtectImage {
            id,
            name,
            enable: false,
            cooldown: false,
            why: match protection {
                Protection::Enabled { cooldown: true } => {
                    "it stays protected for 24 hours (its cooldown), then can be deregistered".into()
                }
                _ => "it can be deregistered again".into(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    fn with(protection: Protection) -> Image {
        Image { protection, ..image("ami-0000000a", "2026-01-01", &[]) }
    }

    #[test]
    fn each_ami_changes_once_and_a_cooldown_is_said() {
        let protect = Want::Protect { cooldown: false };
        assert!(matches!(
            action(&with(Protection::Disabled), protect),
            Action::ProtectImage { enable: true, cooldown: false, .. }
        ));
        assert!(matches!(
            action(&with(Protection::Enabled { cooldown: false }), protect),
            Action::Reuse { .. }
        ));
        assert!(matches!(
            action(&with(Protection::Enabled { cooldown: false }), Want::Protect { cooldown: true }),
            Action::ProtectImage { enable: true, cooldown: true, .. }
        ));
        assert!(matches!(action(&with(Protection::Disabled), Want::Unprotect), Action::Reuse { .. }));
        let lifted = action(&with(Protection::Enabled { cooldown: true }), Want::Unprotect);
        assert!(
            matches!(&lifted, Action::ProtectImage { enable: false, .. })
                && lifted.why().contains("24 hours"),
            "{lifted:?}"
        );
        let cooling = action(
            &with(Protection::CoolingDown { until: "2026-12-03T05:00:00Z".parse().unwrap() }),
            Want::Unprotect,
        );
        assert!(cooling.why().contains("until 2026-12-03T05:00:00Z"));
    }

    /// The values AWS documents: `enabled-without-cooldown` when no cooldown was asked for (the
    /// AWS CLI's enable-image-deregistration-protection example), `disabled` after disabling
    /// (its disable example), `enabled-with-cooldown` with one.
    #[test]
    fn describe_images_values_parse() {
        assert_eq!(
            Protection::parse(Some("enabled-without-cooldown")),
            Protection::Enabled { cooldown: false }
        );
        assert_eq!(Protection::parse(Some("disabled")), Protection::Disabled);
        assert_eq!(
            Protection::parse(Some("disabled after 2026-12-03T05:21:37.000Z")),
            Protection::CoolingDown { until: "2026-12-03T05:21:37.000Z".parse().unwrap() }
        );
        assert_eq!(Protection::parse(Some("enabled-with-cooldown")), Protection::Enabled { cooldown: true });
        assert_eq!(Protection::parse(None), Protection::Disabled);
        assert!(
            Protection::parse(Some("enabled-forever")).refusal("ami-1").is_some(),
            "an unknown value protects"
        );
    }
}
