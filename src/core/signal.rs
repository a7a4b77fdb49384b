//! Ctrl-C and SIGTERM as a value long operations can race against, so they clean up first.

use std::future::Future;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Resolves when the user interrupts (Ctrl-C) or the system asks the process to stop
/// (SIGTERM), naming which: long operations race their work against it to clean up first.
///
/// The handlers are installed when this is called, not when the future is first polled: a
/// signal that comes between the call and the race (while the work announces itself) is
/// caught, not left to end the process the default way with nothing cleaned up. A handler that
/// fails to install never resolves: the signal then ends the process the default way, which is
/// no reason to stop the work. Needs the Tokio runtime.
pub fn interrupted() -> impl Future<Output = &'static str> {
    let ctrl_c = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        tokio::select! {
            () = received(ctrl_c) => "Ctrl-C",
            () = received(term) => "SIGTERM",
        }
    }
}

async fn received(handler: std::io::Result<Signal>) {
    match handler {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
