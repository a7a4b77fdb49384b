//! The integration tests: one binary, so the harness (`support`), the SDK and gio-ami's library
//! compile and link once instead of once per file. Each module is one user story area and starts
//! its own emulators through `support`; `cargo test --test it wipe::` runs one area.

// Stories told step by step may run longer than the library's functions may.
#![allow(clippy::too_many_lines)]

mod support;

mod accounts;
mod archive;
mod bad_input;
mod build;
mod concurrency;
mod conventions;
mod copy_share_cost;
mod disks;
mod dry_run;
mod errors;
mod faults;
mod guards;
mod history;
mod iam;
mod images_snapshots;
mod kill;
mod offline;
mod packer;
mod prune;
mod publication;
mod recycle_bin;
mod reports;
mod rollout;
mod sets;
mod upload;
mod wipe;
