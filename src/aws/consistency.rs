//! EC2's eventual consistency: the refusals that only mean "not yet", and the one bounded retry
//! that outlasts them.
//!
//! "The Amazon EC2 API follows an eventual consistency model ... the result of an API command you
//! run ... might not be immediately visible to all subsequent commands you run"; the fix AWS gives
//! is to retry "using an exponential backoff algorithm ... starting with a couple of seconds of
//! wait time" (<https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>).
//! Only the documented, recognisable cases are retried (`Lag`); every other refusal is an answer
//! and comes back at once, so a snapshot really in use is still refused quickly.

use crate::error::{Error, Result};
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

/// The first wait: "a couple of seconds" is the EC2 guide's own starting point.
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// Each wait doubles the previous one (exponential backoff, as the guide asks).
const GROWTH: u32 = 2;
/// Waits before giving up: 2 + 4 + 8 + 16 = 30 s in all. The lags seen in practice after a
/// DeregisterImage are seconds (boto/boto#3019 hit it in 1 run of 5, and Packer's retry of it
/// rarely waits long: hashicorp/packer#8598); half a minute outlasts them while a run that
/// does hit a longer lag still ends well within a minute, failing as before with "re-run
/// finishes the job".
const WAITS: u32 = 4;

/// A refusal that is EC2 not having caught up with an earlier call of this run.
#[derive(Debug, Clone, Copy)]
pub enum Lag<'a> {
    /// `InvalidSnapshot.InUse` naming an AMI this run has deregistered: right after
    /// DeregisterImage, DeleteSnapshot and ModifySnapshotTier may still find the AMI holding
    /// its snapshots (boto/boto#3019). In use by any other AMI is a real refusal.
    HeldByDeregistered(&'a HashSet<String>),
}

impl Lag<'_> {
    /// Whether `error` is this lag rather than an answer.
    pub fn explains(&self, error: &Error) -> bool {
        match (self, error) {
            (Lag::HeldByDeregistered(deregistered), Error::Api { code, message, .. })
                if code == "InvalidSnapshot.InUse" =>
            {
                holder(message).is_some_and(|ami| deregistered.contains(ami))
            }
            _ => false,
        }
    }
}

/// The AMI an InUse refusal names: EC2 says "The snapshot snap-… is currently in use by ami-…".
fn holder(message: &str) -> Option<&str> {
    let (_, after) = message.split_once(" in use by ")?;
    let ami = after.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).next()?;
    ami.starts_with("ami-").then_some(ami)
}

/// The waits between attempts, in order.
fn waits() -> impl Iterator<Item = Duration> {
    (0..WAITS).map(|n| FIRST_WAIT * GROWTH.pow(n))
}

/// Runs `call`, and again after each wait while it fails with what `lag` explains; any other
/// outcome, or the last attempt's, is the answer.
pub async fn outlast<T, F, Fut>(lag: Lag<'_>, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut waits = waits();
    loop {
        match call().await {
            Err(e) if lag.explains(&e) => match waits.next() {
                Some(wait) => {
                    tracing::debug!(%e, ?wait, "EC2 has not caught up yet; trying again");
                    tokio::time::sleep(wait).await;
                }
                None => return Err(e),
            },
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tokio::time::Instant;

    fn in_use(ami: &str) -> Error {
        Error::Api {
            operation: "DeleteSnapshot",
            code: "InvalidSnapshot.InUse".into(),
            message: format!("The snapshot snap-0123 is currently in use by {ami}"),
        }
    }

    #[test]
    fn only_an_in_use_naming_an_ami_this_run_deregistered_is_lag() {
        let deregistered = HashSet::from(["ami-0aa".to_string()]);
        let lag = Lag::HeldByDeregistered(&deregistered);
        assert!(lag.explains(&in_use("ami-0aa")));
        assert!(!lag.explains(&in_use("ami-0bb")), "another AMI really maps it");
        let unnamed = Error::Api {
            operation: "DeleteSnapshot",
            code: "InvalidSnapshot.InUse".into(),
            message: "in use".into(),
        };
        assert!(!lag.explains(&unnamed), "no AMI named: nothing says it is the one we deregistered");
        let gone = Error::Api {
            operation: "DeleteSnapshot",
            code: "InvalidSnapshot.NotFound".into(),
            message: "The snapshot snap-0123 is currently in use by ami-0aa".into(),
        };
        assert!(!lag.explains(&gone));
    }

    #[test]
    fn waits_double_from_a_couple_of_seconds_and_stay_well_under_a_minute() {
        let all: Vec<u64> = waits().map(|w| w.as_secs()).collect();
        assert_eq!(all, [2, 4, 8, 16]);
        assert!(waits().sum::<Duration>() < Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lag_is_outlasted_and_an_answer_comes_back_at_once() {
        let deregistered = HashSet::from(["ami-0aa".to_string()]);
        let lag = Lag::HeldByDeregistered(&deregistered);
        let started = Instant::now();
        let calls = Cell::new(0);
        let done = outlast(lag, || async {
            calls.set(calls.get() + 1);
            if calls.get() < 3 {
                Err(in_use("ami-0aa"))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(done.unwrap(), 7);
        assert_eq!(started.elapsed(), Duration::from_secs(2 + 4));

        let started = Instant::now();
        let refused = outlast(lag, || async { Err::<(), _>(in_use("ami-0bb")) }).await;
        assert!(refused.is_err());
        assert_eq!(started.elapsed(), Duration::ZERO, "a real refusal is not retried");

        let calls = Cell::new(0);
        let stuck = outlast(lag, || async {
            calls.set(calls.get() + 1);
            Err::<(), _>(in_use("ami-0aa"))
        })
        .await;
        assert_eq!(stuck.unwrap_err().code(), Some("InvalidSnapshot.InUse"));
        assert_eq!(calls.get(), 1 + WAITS as usize, "bounded");
    }
}
