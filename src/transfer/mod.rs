//! Moving disk contents between local files and EBS snapshots through the EBS direct APIs:
//! block maths, image files (raw, or converted with qemu-img), and the block-level download.

pub mod blocks;
pub mod download;
pub mod image_file;
