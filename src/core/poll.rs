//! The one poller: every wait for AWS to reach a state goes through `until`, bounded so
//! nothing waits forever.
//!
//! Not aws-sdk-ec2's waiters: they start at 15 s and back off to 120 s between looks (a
//! seconds-long local change would wait far longer than it takes), take `failed` but not
//! `invalid` as an image's failure, and cover none of the SSM and build waits.

use crate::core::signal::Interruption;
use crate::error::{Error, Result};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Between looks at a change within one region (an instance powering off, a snapshot
/// completing, an image registering, an agent checking in): these take seconds to minutes,
/// and polling faster only spends the account's API rate, which other tools share.
pub const LOCAL_CHANGE: Duration = Duration::from_secs(2);
/// Between looks at a copy to another region: copies take minutes to hours, so faster polling
/// would only spend API calls (AWS's own `image_available` waiter looks every 15 s).
pub const REGION_COPY: Duration = Duration::from_secs(15);

/// Calls `check` at once, then every `interval`, until it answers `Some`, fails, or `timeout`
/// passes (then `WaitTimeout` names `what`). The run's interruption ends the wait at once, even
/// one that came before it started (`Error::Interrupted`), so the caller's clean-up runs.
pub async fn until<T, F, Fut>(
    interruption: &Interruption,
    what: &str,
    interval: Duration,
    timeout: Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let started = Instant::now();
    let waiting = async {
        loop {
            if let Some(done) = check().await? {
                return Ok(done);
            }
            if started.elapsed() > timeout {
                return Err(Error::WaitTimeout { what: what.to_string(), waited: timeout });
            }
            tokio::time::sleep(interval).await;
        }
    };
    tokio::select! {
        // A signal that came before the first look wins over it: nothing new is asked of AWS.
        biased;
        signal = interruption.interrupted() => Err(Error::Interrupted { signal }),
        done = waiting => done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::signal::Stop;
    use std::cell::Cell;

    const EVERY: Duration = Duration::from_secs(2);

    #[tokio::test(start_paused = true)]
    async fn the_first_look_is_immediate() {
        let started = Instant::now();
        let looked_at = Cell::new(None);
        let done = until(&Interruption::default(), "x", EVERY, Duration::from_secs(60), || async {
            looked_at.set(Some(started.elapsed()));
            Ok(Some(7))
        })
        .await
        .unwrap();
        assert_eq!(done, 7);
        assert_eq!(looked_at.get(), Some(Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn looks_again_every_interval() {
        let started = Instant::now();
        let looks = Cell::new(0);
        until(&Interruption::default(), "x", EVERY, Duration::from_secs(60), || async {
            looks.set(looks.get() + 1);
            Ok((looks.get() == 3).then_some(()))
        })
        .await
        .unwrap();
        assert_eq!(started.elapsed(), 2 * EVERY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_names_what_was_awaited() {
        let timeout = Duration::from_secs(10);
        let looks = Cell::new(0);
        let err = until::<(), _, _>(
            &Interruption::default(),
            "ami-1 to become available",
            EVERY,
            timeout,
            || async {
                looks.set(looks.get() + 1);
                Ok(None)
            },
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("ami-1 to become available"), "{err}");
        match err {
            Error::WaitTimeout { what, waited } => {
                assert_eq!(what, "ami-1 to become available");
                assert_eq!(waited, timeout);
            }
            other => panic!("expected WaitTimeout, got {other:?}"),
        }
        // Looks at 0, 2, ... 12 s: the last is the first past the timeout.
        assert_eq!(looks.get(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_look_ends_the_wait_with_its_error() {
        let looks = Cell::new(0);
        let err =
            until::<(), _, _>(&Interruption::default(), "x", EVERY, Duration::from_secs(60), || async {
                looks.set(looks.get() + 1);
                Err(Error::ImageFailed { id: "ami-1".into() })
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ImageFailed { id } if id == "ami-1"));
        assert_eq!(looks.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_interruption_ends_the_wait_with_its_signal() {
        let interruption = Interruption::default();
        let looks = Cell::new(0);
        let waiting = until::<(), _, _>(&interruption, "x", EVERY, Duration::from_secs(60), || async {
            looks.set(looks.get() + 1);
            if looks.get() == 2 {
                interruption.interrupt(Stop::CtrlC);
            }
            Ok(None)
        });
        let err = waiting.await.unwrap_err();
        assert!(matches!(err, Error::Interrupted { signal: Stop::CtrlC }), "{err:?}");
        assert_eq!(looks.get(), 2, "no look after the signal");
    }

    #[tokio::test(start_paused = true)]
    async fn an_interruption_before_the_wait_starts_still_ends_it() {
        let interruption = Interruption::default();
        interruption.interrupt(Stop::Term);
        let looks = Cell::new(0);
        let err = until::<(), _, _>(&interruption, "x", EVERY, Duration::from_secs(60), || async {
            looks.set(looks.get() + 1);
            Ok(None)
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Interrupted { signal: Stop::Term }), "{err:?}");
        assert_eq!(looks.get(), 0);
    }
}
