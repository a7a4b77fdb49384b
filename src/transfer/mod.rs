//! Moving disk contents between local files and EBS snapshots through the EBS direct APIs:
//! block maths, image files (raw, or converted with qemu-img), the block-level upload into a
//! new snapshot (whole, or against a parent's manifest), the download out of one, and the cache of
//! snapshots kept on this machine.

pub mod billing;
pub mod blocks;
pub mod cache;
pub mod download;
pub mod image_file;
pub mod manifest;
pub mod upload;
