//! Polling until AWS reaches a state, bounded so nothing waits forever.

use crate::error::{Error, Result};
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

/// Resolves when the user interrupts (Ctrl-C) or the system asks the process to stop
/// (SIGTERM), naming which: long operations race their work against it to clean up first.
///
/// A handler that fails to install never resolves: the signal then ends the process the default
/// way, which is no reason to stop the work.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(_) => std::future::pending().await,
        }
    };
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
                "SIGTERM"
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        signal = ctrl_c => signal,
        signal = term => signal,
    }
}
