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
