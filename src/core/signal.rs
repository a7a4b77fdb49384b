//! Ctrl-C and SIGTERM as a value long operations can race against, so they clean up first.

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
