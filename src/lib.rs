//! gio-ami: the whole life of custom AMIs for EKS worker nodes.
//!
//! One module per capability; the binary in `main.rs` only parses arguments and wires these
//! together. Nothing here prints except `output`.

pub mod adoption;
pub mod aws;
pub mod base;
pub mod build;
pub mod disk;
pub mod disks;
pub mod error;
pub mod gc;
pub mod ids;
pub mod inventory;
pub mod lineage;
pub mod output;
pub mod packer;
pub mod plan;
pub mod provenance;
pub mod snapshots;
pub mod spec;
pub mod tags;

pub use aws::{Aws, AwsOptions};
pub use error::{Error, Result};
