//! Wall-clock time as the tag scheme writes it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch: what deadline tags and age policies compare.
pub fn now_epoch() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
