//! Polling until AWS reaches a state, bounded so nothing waits forever.

use crate::core::error::{Error, Result};
use std::future::Future;
use std::time::{Duration, Instant};

/// EC2 state changes take seconds to minutes; polling faster only spends the account's API
/// rate, which other tools share.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Calls `check` until it answers `Some`, fails, or `timeout` passes (then `WaitTimeout`
/// names `what`).
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        if started.elapsed() > timeout {
            return Err(Error::WaitTimeout {
                what: what.to_string(),
                waited: timeout,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
