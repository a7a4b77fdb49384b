//! Resource ids checked at the edge, so a typo fails before any API call with a message that
//! names the typo (AWS would answer a less helpful `InvalidAMIID.Malformed`).

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! resource_id {
    ($name:ident, $prefix:literal, $what:literal, $example:literal) => {
        /// Deserialized from what gio-ami wrote itself (a record, a manifest): taken as it is.
        #[derive(
            Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// An id AWS handed back (a listing, a call's answer): AWS's word, taken as it is.
            /// What people type goes through `parse`, which names a typo.
            pub fn from_aws(id: impl Into<String>) -> Self {
                Self(id.into())
            }
        }

        /// Fixtures spell ids short (`"ami-1".into()`); the product parses what people type and
        /// takes AWS's word for what it hands back (`from_aws`).
        #[cfg(test)]
        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_string())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == &other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        /// Maps and sets keyed by id are looked up by the text AWS answers with.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(input: &str) -> Result<Self, Error> {
                if is_resource_id(input, $prefix) {
                    Ok(Self(input.to_string()))
                } else {
                    Err(Error::InvalidId {
                        input: input.to_string(),
                        what: $what,
                        prefix: $prefix,
                        example: $example,
                    })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

resource_id!(AmiId, "ami", "an AMI", "ami-0abc1234def567890");
resource_id!(SnapshotId, "snap", "a snapshot", "snap-0abc1234def567890");
resource_id!(InstanceId, "i", "an instance", "i-0abc1234def567890");

/// EC2 ids are a prefix, a dash and 8 (older resources) or 17 lowercase hex digits.
fn is_resource_id(input: &str, prefix: &str) -> bool {
    let Some(hex) = input.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('-')) else {
        return false;
    };
    matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The AMIs asked for, each once, in the order first given: `wipe a b a` is about two.
pub fn distinct(amis: &[AmiId]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    amis.iter().map(ToString::to_string).filter(|id| seen.insert(id.clone())).collect()
}

/// Region names are `<area>-<place>-<n>` (eu-west-1, us-gov-west-1, ap-southeast-5). A typo
/// would otherwise surface later as a DNS failure for a host the user never typed.
pub fn check_region(region: &str) -> Result<(), Error> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts[0].len() == 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        && parts[1..parts.len() - 1].iter().all(|p| p.bytes().all(|b| b.is_ascii_lowercase()));
    if well_formed {
        Ok(())
    } else {
        Err(Error::InvalidRegion(region.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_short_and_long_ids() {
        assert!("ami-12345678".parse::<AmiId>().is_ok());
        assert!("ami-0abc1234def567890".parse::<AmiId>().is_ok());
        assert!("snap-0abc1234def567890".parse::<SnapshotId>().is_ok());
    }

    #[test]
    fn rejects_typos_with_a_message_naming_them() {
        for bad in [
            "",
            "ami-",
            "ami-123",
            "ami-0ABC1234DEF567890",
            "ami-0abc1234def56789g",
            "snap-0abc1234def567890",
            " ami-12345678",
            "ami_12345678",
        ] {
            let err = bad.parse::<AmiId>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}` is not an AMI id")), "{err}");
        }
        let err = "ami-12345678".parse::<SnapshotId>().unwrap_err().to_string();
        assert!(err.contains("is not a snapshot id"), "{err}");
        let err = "ami-12345678".parse::<InstanceId>().unwrap_err().to_string();
        assert!(err.contains("is not an instance id"), "{err}");
        assert!("i-0abc1234def567890".parse::<InstanceId>().is_ok());
    }

    #[test]
    fn ids_from_aws_serialize_as_the_bare_string() {
        let id = AmiId::from_aws("ami-1");
        assert_eq!(serde_json::to_value(&id).unwrap(), "ami-1");
        assert!(id == *"ami-1" && id.as_ref() == "ami-1");
    }

    #[test]
    fn region_names() {
        for ok in ["eu-west-1", "us-gov-west-1", "ap-southeast-5", "cn-north-1"] {
            assert!(check_region(ok).is_ok(), "{ok}");
        }
        for bad in ["", "eu-west", "euwest1", "EU-WEST-1", "eu-west-x", "eu--1", "europe-west-1"] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }
}
