//! The terminal's implementation of the library's progress trait: a spinner with phase lines on
//! a terminal, one plain line per phase otherwise (CI logs), nothing with `-q`. Counts (bytes of
//! a transfer, copies of an AMI) turn the spinner into a bar; off a terminal they show nothing,
//! so a log gets the phase lines and the final result instead of a stream of updates.

use gio_ami::core::progress::{Progress, Unit};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the spinner moves: fast enough to look alive, slow enough to cost nothing.
const TICK: Duration = Duration::from_millis(120);

pub struct Terminal {
    bar: Option<ProgressBar>,
    plain: bool,
    started: Instant,
}

impl Terminal {
    pub fn new(quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (!quiet && tty).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(spinner_style());
            bar.enable_steady_tick(TICK);
            bar
        });
        Self { bar, plain: !quiet && !tty, started: Instant::now() }
    }
}

impl Progress for Terminal {
    /// Each phase line carries the time since the command began.
    fn phase(&self, message: &str) {
        let line = format!("[{:>6.1}s] {message}", self.started.elapsed().as_secs_f64());
        if let Some(bar) = &self.bar {
            bar.println(line);
            bar.set_message(message.to_string());
        } else if self.plain {
            eprintln!("{line}");
        }
    }

    fn count_started(&self, total: u64, unit: Unit) {
        if let Some(bar) = &self.bar {
            let amounts = match unit {
                Unit::Bytes => "{bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                Unit::Items => "{pos}/{len}",
            };
            let template = format!("{{spinner}} [{{elapsed:>4}}] {{msg}} [{{bar:30}}] {amounts}");
            bar.set_style(
                ProgressStyle::with_template(&template).expect("valid template").progress_chars("=> "),
            );
            bar.set_length(total);
            bar.set_position(0);
        }
    }

    fn counted(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn count_ended(&self) {
        if let Some(bar) = &self.bar {
            bar.set_style(spinner_style());
            bar.unset_length();
        }
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} [{elapsed:>4}] {msg}").expect("valid template")
}
