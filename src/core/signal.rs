//! Ctrl-C and SIGTERM as one value for the whole run, so no interruption is ever lost.
//!
//! The binary installs the handlers once, first thing, and feeds every signal into one
//! `Interruption` that the whole run shares (`AwsOptions` carries it into every `Aws`). It is a
//! state, not an event: an operation that starts after the signal sees it at once, and every
//! long wait (`core::poll::until`, a build's guest, an upload, a copy, a usage report) ends on
//! the first Ctrl-C. Handlers installed per operation, as before, left windows where a signal
//! was either fatal (none installed yet: nothing cleaned up) or swallowed (Tokio keeps a
//! handler for the rest of the process once one was made, and a signal that came while no
//! listener was subscribed reached nobody: a build kept waiting for its guest).
//!
//! An operation that cleans up after itself holds a `Handling` while it runs; the binary ends a
//! run whose interruption nobody handles at once (`Interruption::unhandled`), which is what the
//! signal's default action did, so a command that has no clean-up of its own still stops.

use std::fmt;
use std::sync::Arc;
use tokio::sync::watch;

/// What asked the run to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: the user pressed Ctrl-C.
    CtrlC,
    /// SIGTERM: the system (or a CI runner) asked the process to end.
    Term,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::CtrlC => "Ctrl-C",
            Stop::Term => "SIGTERM",
        })
    }
}

#[derive(Debug, Default)]
struct State {
    stop: Option<Stop>,
    /// Operations that clean up on interruption and are running now.
    handlers: usize,
    /// Whether one was running when the stop came: the run then ends by itself, with its
    /// clean-up's report, and nothing ends it from outside.
    handled: bool,
}

/// The run's interruption: cloned into whatever waits, set once by the binary's handlers.
/// A fresh one (`default`) is never interrupted unless told, which is what a library caller
/// without signal handling and the unit tests get.
#[derive(Clone, Debug, Default)]
pub struct Interruption(Arc<watch::Sender<State>>);

impl Interruption {
    /// Records a request to stop. The first one is the run's; later ones change nothing here
    /// (the binary decides what a second Ctrl-C means).
    pub fn interrupt(&self, stop: Stop) {
        self.0.send_if_modified(|state| {
            let first = state.stop.is_none();
            if first {
                state.stop = Some(stop);
                state.handled = state.handlers > 0;
            }
            first
        });
    }

    /// The request to stop, if one came.
    pub fn stop(&self) -> Option<Stop> {
        self.0.borrow().stop
    }

    /// Resolves once the run is interrupted: at once when it already was, however long ago.
    pub async fn interrupted(&self) -> Stop {
        self.first(|state| state.stop).await
    }

    /// Declares that the caller cleans up when interrupted: while the returned guard lives, the
    /// binary lets the run finish its clean-up instead of ending it.
    pub fn handle(&self) -> Handling {
        self.0.send_modify(|state| state.handlers += 1);
        Handling(self.clone())
    }

    /// Resolves once the run is interrupted while no operation that cleans up is running: the
    /// binary then ends the run. An interruption that came during such an operation never
    /// resolves this: the operation ends the run with its clean-up's report, and every wait
    /// after it ends at once.
    pub async fn unhandled(&self) -> Stop {
        self.first(|state| state.stop.filter(|_| !state.handled)).await
    }

    async fn first(&self, wanted: impl Fn(&State) -> Option<Stop>) -> Stop {
        let mut changes = self.0.subscribe();
        loop {
            if let Some(stop) = wanted(&changes.borrow_and_update()) {
                return stop;
            }
            // The sender lives in `self`, so the channel cannot close while this waits.
            if changes.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

/// An operation that cleans up on interruption, running (`Interruption::handle`).
#[derive(Debug)]
pub struct Handling(Interruption);

impl Handling {
    /// The request to stop, if one came already.
    pub fn stop(&self) -> Option<Stop> {
        self.0.stop()
    }

    /// Resolves once the run is interrupted, at once when it already was.
    pub async fn interrupted(&self) -> Stop {
        self.0.interrupted().await
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        (self.0).0.send_modify(|state| state.handlers -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Long enough for a woken task to run on the test's runtime; the clock is paused, so no
    /// test waits for it.
    const A_WHILE: Duration = Duration::from_secs(3600);

    async fn resolves<T>(future: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::time::timeout(A_WHILE, future).await.ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_before_the_operation_starts_still_interrupts_it() {
        let interruption = Interruption::default();
        interruption.interrupt(Stop::CtrlC);
        // The operation starts (subscribes) only now: the signal must not have been spent.
        let handling = interruption.handle();
        assert_eq!(resolves(handling.interrupted()).await, Some(Stop::CtrlC));
        assert_eq!(resolves(interruption.interrupted()).await, Some(Stop::CtrlC));
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_during_a_wait_ends_it() {
        let interruption = Interruption::default();
        let waiting = tokio::spawn({
            let interruption = interruption.clone();
            async move { interruption.interrupted().await }
        });
        tokio::task::yield_now().await;
        interruption.interrupt(Stop::Term);
        assert_eq!(resolves(waiting).await.map(Result::unwrap), Some(Stop::Term));
    }

    #[tokio::test(start_paused = true)]
    async fn no_signal_no_interruption() {
        let interruption = Interruption::default();
        assert_eq!(resolves(interruption.interrupted()).await, None);
        assert_eq!(interruption.stop(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_request_to_stop_is_the_runs() {
        let interruption = Interruption::default();
        interruption.interrupt(Stop::Term);
        interruption.interrupt(Stop::CtrlC);
        assert_eq!(interruption.stop(), Some(Stop::Term));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_cleaning_up_when_interrupted_is_left_to_end_itself() {
        let interruption = Interruption::default();
        let handling = interruption.handle();
        interruption.interrupt(Stop::CtrlC);
        assert_eq!(resolves(interruption.unhandled()).await, None, "the operation is cleaning up");
        // Its clean-up done, the operation returns its report: that, not a bare "interrupted",
        // is what the run ends with.
        drop(handling);
        assert_eq!(resolves(interruption.unhandled()).await, None);
        assert_eq!(resolves(interruption.interrupted()).await, Some(Stop::CtrlC));
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_between_operations_ends_the_run() {
        let interruption = Interruption::default();
        drop(interruption.handle());
        let ended = tokio::spawn({
            let interruption = interruption.clone();
            async move { interruption.unhandled().await }
        });
        tokio::task::yield_now().await;
        interruption.interrupt(Stop::Term);
        assert_eq!(resolves(ended).await.map(Result::unwrap), Some(Stop::Term));
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_handling_a_signal_ends_the_run_at_once() {
        let interruption = Interruption::default();
        interruption.interrupt(Stop::CtrlC);
        assert_eq!(resolves(interruption.unhandled()).await, Some(Stop::CtrlC));
    }
}
