//! gio-ami: the whole life of custom AMIs for EKS worker nodes.
//!
//! One module per capability; the binary in `main.rs` only parses arguments and wires these
//! together. Nothing here prints except `output`.

pub mod adoption;
pub mod aws;
pub mod base;
pub mod blocks;
pub mod build;
pub mod clusters;
pub mod copy;
pub mod cost;
pub mod disk;
pub mod disks;
pub mod download;
pub mod error;
pub mod gc;
pub mod history;
pub mod ids;
pub mod image_file;
pub mod inventory;
pub mod lineage;
pub mod output;
pub mod packer;
pub mod plan;
pub mod provenance;
pub mod prune;
pub mod publish;
pub mod share;
pub mod snapshots;
pub mod spec;
pub mod tags;
pub mod upload;
pub mod usage;
pub mod wait;
pub mod wipe;

pub use aws::{Aws, AwsOptions};
pub use error::{Error, Result};
