//! How the library reports progress without owning a terminal: slow operations call this trait,
//! and the binary decides what to draw (a spinner, plain log lines, nothing with `-q`).

/// What a counter counts, so a renderer can show bytes as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Items,
}

/// Progress of one slow command. Every method has a silent default, so a library caller that
/// wants no progress passes `&Silent`.
pub trait Progress: Sync {
    /// A new phase begins ("launching the builder", "waiting for snap-… to complete").
    fn phase(&self, _message: &str) {}
    /// A count of `total` units begins (bytes of a transfer, copies of an AMI).
    fn count_started(&self, _total: u64, _unit: Unit) {}
    /// `n` more units are done.
    fn counted(&self, _n: u64) {}
    /// The count is over (finished or abandoned).
    fn count_ended(&self) {}
    /// The slow step is over: what was drawn for it goes.
    fn finish(&self) {}
}

/// Shows nothing.
pub struct Silent;

impl Progress for Silent {}

/// One of several concurrent operations (a release set's builds) drawing through one progress:
/// its phases name it.
pub struct Prefixed<'a> {
    pub inner: &'a dyn Progress,
    pub prefix: &'a str,
}

impl Progress for Prefixed<'_> {
    fn phase(&self, message: &str) {
        self.inner.phase(&format!("{}: {message}", self.prefix));
    }
    fn count_started(&self, total: u64, unit: Unit) {
        self.inner.count_started(total, unit);
    }
    fn counted(&self, n: u64) {
        self.inner.counted(n);
    }
    fn count_ended(&self) {
        self.inner.count_ended();
    }
}

/// A running count; shared by the workers of a transfer, and ended when dropped, however the
/// transfer ends.
pub struct Counter<'a> {
    progress: &'a dyn Progress,
}

impl<'a> Counter<'a> {
    pub fn start(progress: &'a dyn Progress, total: u64, unit: Unit) -> Self {
        progress.count_started(total, unit);
        Counter { progress }
    }

    pub fn add(&self, n: u64) {
        self.progress.counted(n);
    }
}

impl Drop for Counter<'_> {
    fn drop(&mut self) {
        self.progress.count_ended();
    }
}
