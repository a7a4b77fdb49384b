//! The EBS direct APIs' unit of transfer: fixed-size blocks, each with a SHA-256 checksum, and
//! the arithmetic between a disk image's bytes and a snapshot's GiB. Pure, shared by upload and
//! download.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The only block size the EBS direct APIs use (StartSnapshot/ListSnapshotBlocks report it).
pub const BLOCK_SIZE: usize = 512 * 1024;
pub const GIB: u64 = 1024 * 1024 * 1024;
/// Blocks in flight at once by default: coldsnap's default too; the EBS direct APIs allow
/// roughly 1,000 PutSnapshotBlock requests per second per snapshot, so 64 workers of 512 KiB
/// saturate a multi-gigabit link long before the API throttles.
pub const DEFAULT_WORKERS: usize = 64;
/// More workers buy nothing but throttling (and memory: one block buffer each).
pub const MAX_WORKERS: usize = 256;

/// EBS volumes and snapshots are sized in whole GiB; an image is rounded up (never to zero).
pub fn volume_gib(bytes: u64) -> u64 {
    bytes.div_ceil(GIB).max(1)
}

/// Blocks needed to hold `bytes` (the last one is zero-padded on upload).
pub fn block_count(bytes: u64) -> u64 {
    bytes.div_ceil(BLOCK_SIZE as u64)
}

/// A block of zeros is what an unwritten block reads as, so it need not be sent.
pub fn is_zero(block: &[u8]) -> bool {
    // Comparing 16 bytes at a time lets the compiler vectorise the common non-zero exit.
    let (body, tail) = block.as_chunks::<16>();
    body.iter().all(|c| *c == [0u8; 16]) && tail.iter().all(|&b| b == 0)
}

/// The SHA-256 of a block as PutSnapshotBlock wants it: base64 of the digest.
pub fn checksum(block: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(block))
}

/// CompleteSnapshot's LINEAR aggregation: the SHA-256 of every sent block's digest, concatenated
/// in block-index order, base64-encoded. `digests` must be sorted by block index.
pub fn linear_checksum<'a>(digests: impl IntoIterator<Item = &'a [u8; 32]>) -> String {
    let mut hasher = Sha256::new();
    for digest in digests {
        hasher.update(digest);
    }
    STANDARD.encode(hasher.finalize())
}

/// The raw digest of a block, kept per block for the linear checksum.
/// The SHA-256 of a block of zeros.
pub static ZERO_DIGEST: std::sync::LazyLock<[u8; 32]> = std::sync::LazyLock::new(|| digest(&[0; BLOCK_SIZE]));

pub fn digest(block: &[u8]) -> [u8; 32] {
    Sha256::digest(block).into()
}

pub fn encode(digest: &[u8; 32]) -> String {
    STANDARD.encode(digest)
}

/// A digest back from `encode`'s base64; `None` if it is not one.
pub fn decode(encoded: &str) -> Option<[u8; 32]> {
    STANDARD.decode(encoded).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_whole_gib_and_blocks() {
        assert_eq!(volume_gib(0), 1);
        assert_eq!(volume_gib(1), 1);
        assert_eq!(volume_gib(GIB), 1);
        assert_eq!(volume_gib(GIB + 1), 2);
        assert_eq!(block_count(0), 0);
        assert_eq!(block_count(1), 1);
        assert_eq!(block_count(GIB), 2048);
        assert_eq!(block_count(GIB + 1), 2049);
    }

    #[test]
    fn zero_blocks_are_recognised_whatever_the_length() {
        assert!(is_zero(&vec![0; BLOCK_SIZE]));
        assert!(is_zero(&[0; 17]));
        for at in [0, 15, 16, 17, BLOCK_SIZE - 1] {
            let mut block = vec![0; BLOCK_SIZE];
            block[at] = 1;
            assert!(!is_zero(&block), "byte {at}");
        }
    }

    #[test]
    fn checksums_are_base64_sha256() {
        // sha256("") = e3b0c442…b855
        assert_eq!(checksum(b""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(encode(&digest(b"abc")), checksum(b"abc"));
    }

    #[test]
    fn the_linear_checksum_hashes_digests_in_order() {
        let a = digest(b"a");
        let b = digest(b"b");
        let mut joined = a.to_vec();
        joined.extend_from_slice(&b);
        assert_eq!(linear_checksum([&a, &b]), checksum(&joined));
        assert_ne!(linear_checksum([&a, &b]), linear_checksum([&b, &a]));
    }
}
