//! gio-ami: the whole life of custom AMIs for EKS worker nodes.
//!
//! One module per capability; the binary in `main.rs` only parses arguments and wires these
//! together. Nothing here prints except `output`.

pub mod adoption;
pub mod aws;
pub mod base;
pub mod build;
pub mod blocks;
pub mod disk;
pub mod disks;
pub mod download;
pub mod error;
pub mod gc;
pub mod ids;
pub mod image_file;
pub mod inventory;
pub mod lineage;
pub mod output;
pub mod packer;
pub mod plan;
pub mod provenance;
pub mod prune;
pub mod snapshots;
pub mod spec;
pub mod tags;
pub mod usage;
pub mod wipe;
pub mod upload;
pub mod wait;

pub use aws::{Aws, AwsOptions};
pub use error::{Error, Result};
