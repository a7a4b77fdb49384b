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
    let time = humantime::parse_rfc3339(text).ok()?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64)
}

/// `duration` in whole days within `range`, or the error naming `what` it is and an `example`
/// (Recycle Bin retentions and temporary restores count days).
pub fn whole_days(
    duration: Duration,
    range: std::ops::RangeInclusive<i32>,
    what: &'static str,
    example: &'static str,
) -> crate::core::error::Result<i32> {
    let secs = duration.as_secs();
    let days = i32::try_from(secs / 86_400).unwrap_or(i32::MAX);
    if !secs.is_multiple_of(86_400) || duration.subsec_nanos() != 0 || !range.contains(&days) {
        return Err(crate::core::error::Error::WholeDays {
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
}
