//! Wall-clock time as the tag scheme writes it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch: what deadline tags and age policies compare.
pub fn now_epoch() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Seconds since the epoch as UTC, `2026-12-01T22:40:00Z`: how AWS writes times, and what
/// plans show.
pub fn rfc3339(epoch: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch.max(0) as u64)).to_string()
}

/// A UTC time as AWS writes it (`2026-12-03T05:00:00.000Z`) in seconds since the epoch, or
/// `None` for anything else.
pub fn parse(text: &str) -> Option<i64> {
    Timestamp::parse(text).map(|t| t.epoch())
}

/// A time AWS reported (an AMI's creation, last launch, deprecation…), read once where the SDK
/// hands it over. It keeps AWS's own spelling beside the instant: DescribeImages writes
/// `2026-12-01T22:40:00.000Z` and the SDK's timestamps `2026-12-01T22:40:00Z`, and reports show
/// the time as AWS gave it. Ordered by instant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    at: SystemTime,
    text: String,
}

impl Timestamp {
    /// An RFC 3339 UTC time (`2026-12-03T05:00:00Z`, with or without fractions of a second), or
    /// `None` for anything else.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let at = humantime::parse_rfc3339(text).ok()?;
        Some(Timestamp { at, text: text.to_string() })
    }

    /// Whole seconds since the epoch: what ages and deadlines compare.
    pub fn epoch(&self) -> i64 {
        self.at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    }

    /// As AWS wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;

    fn from_str(text: &str) -> Result<Timestamp, String> {
        Timestamp::parse(text).ok_or_else(|| format!("`{text}` is not an RFC 3339 UTC time"))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// In JSON, AWS's spelling: an RFC 3339 date-time.
impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "date-time" })
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `duration` in whole days within `range`, or the error naming `what` it is and an `example`
/// (Recycle Bin retentions and temporary restores count days).
pub fn whole_days(
    duration: Duration,
    range: std::ops::RangeInclusive<i32>,
    what: &'static str,
    example: &'static str,
) -> crate::error::Result<i32> {
    let secs = duration.as_secs();
    let days = i32::try_from(secs / 86_400).unwrap_or(i32::MAX);
    if !secs.is_multiple_of(86_400) || duration.subsec_nanos() != 0 || !range.contains(&days) {
        return Err(crate::error::Error::WholeDays {
            what,
            // As typed, in days or hours: humantime would spell 400d as years and months.
            given: match secs {
                _ if duration.subsec_nanos() != 0 => humantime::format_duration(duration).to_string(),
                s if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
                s if s.is_multiple_of(3_600) => format!("{}h", s / 3_600),
                _ => humantime::format_duration(duration).to_string(),
            },
            low: *range.start(),
            high: *range.end(),
            example,
        });
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    #[test]
    fn aws_times_read_back() {
        assert_eq!(super::parse("2026-12-01T22:40:00.000Z"), Some(1_796_164_800));
        assert_eq!(super::parse(&super::rfc3339(1_796_164_800)), Some(1_796_164_800));
        assert_eq!(super::parse("yesterday"), None);
    }

    #[test]
    fn a_timestamp_keeps_the_spelling_aws_gave() {
        use super::Timestamp;
        for text in ["2026-12-01T22:40:00.000Z", "2026-12-01T22:40:00Z"] {
            let t = Timestamp::parse(text).unwrap();
            assert_eq!((t.epoch(), t.to_string()), (1_796_164_800, text.to_string()));
            assert_eq!(serde_json::to_value(&t).unwrap(), text);
            assert_eq!(serde_json::from_value::<Timestamp>(text.into()).unwrap(), t);
        }
        assert!(serde_json::from_value::<Timestamp>("soon".into()).is_err());
    }

    #[test]
    fn timestamps_order_by_instant() {
        let t = |text: &str| super::Timestamp::parse(text).unwrap();
        assert!(t("2026-12-01T22:40:00.5Z") > t("2026-12-01T22:40:00.000Z"));
        assert!(t("2026-12-02T00:00:00Z") > t("2026-12-01T23:59:59.999Z"));
    }
}
