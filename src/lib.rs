//! gio-ami: the whole life of custom AMIs for EKS worker nodes.
//!
//! Layers, each importing only the ones below it (ARCHITECTURE.md has the map): `commands` (the
//! command line: one module per verb, from its arguments to its report) → `engines` (ways to
//! make an AMI) and `transfer` (EBS direct blocks) → `change` (plan → apply) → `aws` (context
//! and typed read model) → `spec` (gio-ami.toml, `--disk`) → `core` (ids, tags, progress,
//! polling). `error` is outside the layers: every layer returns it, and it carries each layer's
//! own errors. The library owns no terminal: the binary's `cli` implements `commands::Ui`
//! (tables, JSON, questions, progress).

pub mod aws;
pub mod change;
pub mod commands;
pub mod core;
pub mod engines;
pub mod error;
pub mod spec;
pub mod transfer;

pub use crate::aws::{Aws, AwsOptions};
pub use crate::error::{Error, Result};
