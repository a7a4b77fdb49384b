//! The local disk image an upload reads: a raw file or a block device as is, or a qcow2, VMDK,
//! VHD or VHDX image converted to raw through `qemu-img` first.

use crate::error::{Error, Result};
use crate::transfer::blocks::BLOCK_SIZE;
use schemars::JsonSchema;
use serde::Serialize;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Raw,
    Qcow2,
    Vmdk,
    /// Virtual PC / Hyper-V VHD (qemu-img calls it `vpc`).
    Vhd,
    Vhdx,
}

impl Format {
    /// The name `qemu-img -f` takes.
    pub fn qemu_name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vmdk => "vmdk",
            Format::Vhd => "vpc",
            Format::Vhdx => "vhdx",
        }
    }
}

/// Recognises an image by its magic bytes: `head` is the file's first bytes, `tail` its last
/// 512 (a fixed VHD is raw data followed by a 512-byte footer). Anything else is raw, which is
/// what disk builders (mkosi, Bottlerocket, `qemu-img -O raw`) produce.
pub fn detect(head: &[u8], tail: &[u8]) -> Format {
    if head.starts_with(b"QFI\xfb") {
        Format::Qcow2
    } else if head.starts_with(b"KDMV") || head.starts_with(b"# Disk DescriptorFile") {
        Format::Vmdk
    } else if head.starts_with(b"vhdxfile") {
        Format::Vhdx
    } else if head.starts_with(b"conectix") || tail.starts_with(b"conectix") {
        Format::Vhd
    } else {
        Format::Raw
    }
}

/// Bytes read to recognise a format: the longest magic is the VMDK descriptor's 21 bytes.
const HEAD_LEN: usize = 64;
const VHD_FOOTER_LEN: u64 = 512;

/// An open raw image, ready to be read block by block from several threads.
pub struct ImageFile {
    pub path: PathBuf,
    /// The format the user handed in (the file read is raw in any case).
    pub format: Format,
    pub size: u64,
    file: File,
    /// The raw conversion of a non-raw image, deleted when the upload is done.
    converted: Option<PathBuf>,
    /// Where the file holds data (offset, end), as the filesystem reports it; blocks outside
    /// read as zeros without reading. None where the filesystem cannot say (all is data).
    data: Option<Vec<(u64, u64)>>,
}

impl ImageFile {
    /// Opens the image; a non-raw one is first converted into a sparse raw file in the temp
    /// directory (`say` hears about it, since a large image takes a while).
    pub fn open(path: &Path, say: impl Fn(&str)) -> Result<ImageFile> {
        let mut file = open_read(path)?;
        let size = size_of(&mut file, path)?;
        let format = detect(
            &read_at(&file, path, 0, HEAD_LEN)?,
            &read_at(&file, path, size.saturating_sub(VHD_FOOTER_LEN), VHD_FOOTER_LEN as usize)?,
        );
        let image = if format == Format::Raw {
            let data = data_extents(&file, size);
            ImageFile { path: path.to_path_buf(), format, size, file, converted: None, data }
        } else {
            say(&format!("converting {} ({}) to raw with qemu-img", path.display(), format.qemu_name()));
            let raw = convert(path, format)?;
            let mut file = open_read(&raw)?;
            let size = size_of(&mut file, &raw)?;
            let data = data_extents(&file, size);
            ImageFile { path: path.to_path_buf(), format, size, file, converted: Some(raw), data }
        };
        // EBS would take it (a 1 GiB snapshot with no blocks), but an empty image is always a
        // build that went wrong, and the upload would hide it.
        if image.size == 0 {
            return Err(Error::EmptyImage { path: path.display().to_string(), format: format.qemu_name() });
        }
        Ok(image)
    }

    /// Block `index`, zero-padded to the block size past the end of the image (PutSnapshotBlock
    /// takes whole blocks only).
    pub fn block(&self, index: u64) -> Result<Vec<u8>> {
        let mut block = vec![0; BLOCK_SIZE];
        let offset = index * BLOCK_SIZE as u64;
        let len = (self.size.saturating_sub(offset)).min(BLOCK_SIZE as u64) as usize;
        self.file.read_exact_at(&mut block[..len], offset).map_err(|e| local_error("read", &self.path, e))?;
        Ok(block)
    }
}

impl ImageFile {
    /// Whether block `index` lies wholly in a hole of the file (it reads as zeros).
    pub fn is_hole(&self, index: u64) -> bool {
        let (start, end) = (index * BLOCK_SIZE as u64, (index + 1) * BLOCK_SIZE as u64);
        self.data.as_ref().is_some_and(|data| !data.iter().any(|&(from, to)| from < end && start < to))
    }
}

/// The file's data extents, by SEEK_DATA and SEEK_HOLE; None where the filesystem (or the
/// device) does not support them.
fn data_extents(file: &File, size: u64) -> Option<Vec<(u64, u64)>> {
    use rustix::fs::{seek, SeekFrom};
    let mut extents = Vec::new();
    let mut at = 0;
    while at < size {
        let data = match seek(file, SeekFrom::Data(at)) {
            Ok(data) => data,
            // ENXIO: no data past `at`.
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => return None,
        };
        let hole = seek(file, SeekFrom::Hole(data)).ok()?;
        extents.push((data, hole));
        at = hole;
    }
    Some(extents)
}

impl Drop for ImageFile {
    fn drop(&mut self) {
        if let Some(raw) = &self.converted {
            let _ = std::fs::remove_file(raw);
        }
    }
}

pub fn local_error(action: &'static str, path: &Path, err: std::io::Error) -> Error {
    Error::LocalFile { action, path: path.display().to_string(), detail: err.to_string() }
}

fn open_read(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| local_error("open", path, e))
}

/// A block device's length is where seeking to its end lands; for files it is the same.
fn size_of(file: &mut File, path: &Path) -> Result<u64> {
    file.seek(SeekFrom::End(0)).map_err(|e| local_error("measure", path, e))
}

fn read_at(file: &File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buffer = Vec::with_capacity(len);
    let mut reader = file;
    reader.seek(SeekFrom::Start(offset)).map_err(|e| local_error("read", path, e))?;
    reader.take(len as u64).read_to_end(&mut buffer).map_err(|e| local_error("read", path, e))?;
    Ok(buffer)
}

fn convert(path: &Path, format: Format) -> Result<PathBuf> {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let raw = std::env::temp_dir().join(format!("gio-ami-upload-{}-{stem}.raw", std::process::id()));
    let output = Command::new("qemu-img")
        .args(["convert", "-f", format.qemu_name(), "-O", "raw"])
        .arg(path)
        .arg(&raw)
        .output();
    let failed = |detail: String| Error::QemuImgFailed {
        path: path.display().to_string(),
        format: format.qemu_name(),
        detail,
    };
    match output {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Err(Error::QemuImgMissing { path: path.display().to_string(), format: format.qemu_name() })
        }
        Err(e) => Err(failed(e.to_string())),
        Ok(out) if !out.status.success() => {
            let _ = std::fs::remove_file(&raw);
            Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_string()))
        }
        Ok(_) => Ok(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_magic() {
        assert_eq!(detect(b"QFI\xfb\0\0\0\x03", b""), Format::Qcow2);
        assert_eq!(detect(b"KDMV\x01\0\0\0", b""), Format::Vmdk);
        assert_eq!(detect(b"# Disk DescriptorFile\n", b""), Format::Vmdk);
        assert_eq!(detect(b"vhdxfile", b""), Format::Vhdx);
        assert_eq!(detect(b"conectix", b""), Format::Vhd, "dynamic VHD: footer copy first");
        assert_eq!(detect(&[0; 64], b"conectix\0\0"), Format::Vhd, "fixed VHD: footer last");
        assert_eq!(detect(&[0xeb, 0x63, 0x90], &[0x55, 0xaa]), Format::Raw, "an MBR disk");
        assert_eq!(detect(b"", b""), Format::Raw, "an empty file");
    }

    #[test]
    fn an_empty_image_is_refused_naming_the_file_and_its_size() {
        let path = std::env::temp_dir().join(format!("gio-ami-image-file-empty-{}.raw", std::process::id()));
        std::fs::write(&path, b"").unwrap();
        let opened = ImageFile::open(&path, |_| {});
        std::fs::remove_file(&path).unwrap();
        let err = opened.err().expect("an empty image is refused").to_string();
        assert!(err.starts_with(&format!("{} is empty (0 bytes):", path.display())), "{err}");
    }

    #[test]
    fn the_last_block_is_padded_with_zeros() {
        let path = std::env::temp_dir().join(format!("gio-ami-image-file-test-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; BLOCK_SIZE + 3]).unwrap();
        let image = ImageFile::open(&path, |_| {}).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((image.format, image.size), (Format::Raw, BLOCK_SIZE as u64 + 3));
        assert!(image.block(0).unwrap().iter().all(|&b| b == 7));
        let last = image.block(1).unwrap();
        assert_eq!(last.len(), BLOCK_SIZE);
        assert_eq!(&last[..4], &[7, 7, 7, 0]);
        assert!(last[3..].iter().all(|&b| b == 0));
    }
}
