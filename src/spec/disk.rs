//! Extra EBS disks: the `--disk` syntax, the spec's `[[disks]]`, and the limits AWS enforces,
//! checked before any call so a bad disk costs nothing.
//!
//! Limits are those of the EBS user guide ("Amazon EBS volume types"), as of 2026.

use crate::core::choice::{self, Choice};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

pub use crate::core::kinds::VolumeType;

/// One extra EBS disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = aliases)]
pub struct Disk {
    /// /dev/sd[b-z] or /dev/xvd[b-z].
    pub device: String,
    /// GiB. Optional only for a disk made from a snapshot, which then keeps the snapshot's size.
    #[serde(default, alias = "size_gib", skip_serializing_if = "Option::is_none")]
    pub size_gib: Option<i32>,
    #[serde(default, rename = "type")]
    #[schemars(schema_with = "choice::schema::<VolumeType>")]
    pub volume_type: VolumeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    #[serde(default, alias = "kms", skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default = "yes")]
    pub delete_on_termination: bool,
    #[serde(default, alias = "snapshot", skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
}

fn yes() -> bool {
    true
}

/// The spec takes the `--disk` spellings `kms` and `snapshot` too (serde aliases, which the
/// derived schema does not list): its schema accepts them as the same fields.
fn aliases(schema: &mut schemars::Schema) {
    if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for (alias, field) in [("kms", "kms_key_id"), ("snapshot", "snapshot_id")] {
            if let Some(same) = properties.get(field).cloned() {
                properties.insert(alias.into(), same);
            }
        }
    }
}

/// The EBS limits of each type.
impl VolumeType {
    /// Size range in GiB (CreateVolume's supported sizes per type).
    fn sizes(self) -> (i32, i32) {
        match self {
            VolumeType::Gp2 => (1, 16_384),
            VolumeType::Gp3 => (1, 65_536),
            VolumeType::Io1 => (4, 16_384),
            VolumeType::Io2 => (4, 65_536),
            VolumeType::St1 | VolumeType::Sc1 => (125, 16_384),
            VolumeType::Standard => (1, 1_024),
        }
    }

    /// Provisioned IOPS range and the most IOPS per GiB, where the type takes an IOPS setting.
    fn iops(self) -> Option<(i32, i32, i32)> {
        match self {
            VolumeType::Gp3 => Some((3_000, 80_000, 500)),
            VolumeType::Io1 => Some((100, 64_000, 50)),
            VolumeType::Io2 => Some((100, 256_000, 1_000)),
            _ => None,
        }
    }
}

impl FromStr for VolumeType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        VolumeType::from_name(s).ok_or_else(|| {
            format!("unknown volume type `{s}` (allowed: {})", choice::allowed::<VolumeType>())
        })
    }
}

impl Disk {
    /// A disk with every default (gp3, deleted with the instance), to fill in.
    pub fn new(device: &str) -> Disk {
        Disk {
            device: device.to_string(),
            size_gib: None,
            volume_type: VolumeType::default(),
            iops: None,
            throughput: None,
            encrypted: false,
            kms_key_id: None,
            delete_on_termination: true,
            snapshot_id: None,
        }
    }
}

/// gp3 throughput range in MiB/s, and the most MiB/s per provisioned IOPS.
const GP3_THROUGHPUT: (i32, i32) = (125, 2_000);
const GP3_MIBS_PER_IOPS: f64 = 0.25;

/// Nitro instances have 28 attachment slots shared by volumes and network interfaces; an AMI with
/// more EBS volumes than 27 could not launch with even one network interface.
pub const MAX_VOLUMES: usize = 27;

pub const DISK_SYNTAX: &str = "DEVICE=SIZE[:TYPE][:iops=N][:throughput=N][:encrypted][:kms=KEY]\
[:delete-on-termination=false], or DEVICE=snap-ID[:SIZE][:…] for a disk made from a snapshot; \
e.g. /dev/xvdb=50, /dev/xvdc=100:io2:iops=4000, /dev/xvdd=snap-0123abcd:200";

pub use crate::spec::error::DiskError;

impl FromStr for Disk {
    type Err = DiskError;

    /// Parses the `--disk` syntax (see `DISK_SYNTAX`) and validates the result.
    fn from_str(input: &str) -> Result<Disk, DiskError> {
        let err = |why: String| DiskError(format!("--disk `{input}`: {why}. Syntax: {DISK_SYNTAX}"));
        let (device, rest) =
            input.split_once('=').ok_or_else(|| err("no `=` between the device and its size".into()))?;
        let mut parts = rest.split(':');
        let source = parts.next().unwrap_or_default();
        let mut disk = Disk::new(device);
        if source.starts_with("snap-") {
            disk.snapshot_id = Some(source.to_string());
        } else {
            disk.size_gib = Some(number(source, "size in GiB").map_err(err)?);
        }
        for part in parts {
            match part.split_once('=') {
                None if part == "encrypted" => disk.encrypted = true,
                None if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() => {
                    if disk.size_gib.is_some() {
                        return Err(err(format!("size given twice (`{part}`)")));
                    }
                    disk.size_gib = Some(number(part, "size in GiB").map_err(err)?);
                }
                None => disk.volume_type = part.parse().map_err(err)?,
                Some(("iops", n)) => disk.iops = Some(number(n, "iops").map_err(err)?),
                Some(("throughput", n)) => disk.throughput = Some(number(n, "throughput").map_err(err)?),
                Some(("size", n)) => disk.size_gib = Some(number(n, "size in GiB").map_err(err)?),
                Some(("type", t)) => disk.volume_type = t.parse().map_err(err)?,
                Some(("kms", key)) if !key.is_empty() => {
                    disk.kms_key_id = Some(key.to_string());
                    disk.encrypted = true;
                }
                Some(("encrypted", b)) => disk.encrypted = boolean(b).map_err(err)?,
                Some(("delete-on-termination", b)) => disk.delete_on_termination = boolean(b).map_err(err)?,
                Some((key, _)) => {
                    return Err(err(format!(
                        "unknown option `{key}` (allowed: iops, throughput, size, type, kms, \
                         encrypted, delete-on-termination)"
                    )))
                }
            }
        }
        disk.validate().map_err(|e| DiskError(format!("--disk `{input}`: {}", e.0)))?;
        Ok(disk)
    }
}

fn number(text: &str, what: &str) -> Result<i32, String> {
    text.parse().map_err(|_| format!("`{text}` is not a whole number ({what})"))
}

fn boolean(text: &str) -> Result<bool, String> {
    match text {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(format!("`{text}` is not true or false")),
    }
}

impl Disk {
    /// Checks what can be checked without AWS: the device name and the type's limits.
    pub fn validate(&self) -> Result<(), DiskError> {
        check_device(&self.device)?;
        let t = self.volume_type;
        match (self.size_gib, &self.snapshot_id) {
            (None, None) => return Err(DiskError(format!("{}: a size in GiB is needed", self.device))),
            (Some(size), _) => {
                let (min, max) = t.sizes();
                if !(min..=max).contains(&size) {
                    return Err(DiskError(format!(
                        "{}: {size} GiB is outside {min}..{max} GiB, the range of {t} volumes",
                        self.device
                    )));
                }
            }
            (None, Some(_)) => {}
        }
        self.check_iops()?;
        self.check_throughput()
    }

    fn check_iops(&self) -> Result<(), DiskError> {
        let t = self.volume_type;
        match (t.iops(), self.iops) {
            (None, Some(_)) => Err(DiskError(format!(
                "{}: {t} volumes take no iops setting (only gp3, io1 and io2 do)",
                self.device
            ))),
            (Some(_), None) if matches!(t, VolumeType::Io1 | VolumeType::Io2) => {
                Err(DiskError(format!("{}: {t} volumes need iops=N (provisioned IOPS)", self.device)))
            }
            (Some((min, max, per_gib)), Some(iops)) => {
                if !(min..=max).contains(&iops) {
                    return Err(DiskError(format!(
                        "{}: iops={iops} is outside {min}..{max}, the range of {t} volumes",
                        self.device
                    )));
                }
                match self.size_gib {
                    Some(size) if iops > size.saturating_mul(per_gib) && iops > min => {
                        Err(DiskError(format!(
                            "{}: iops={iops} is more than {per_gib} per GiB allows on {size} GiB \
                             (at most {}); grow the disk or lower iops",
                            self.device,
                            size.saturating_mul(per_gib)
                        )))
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    fn check_throughput(&self) -> Result<(), DiskError> {
        let Some(throughput) = self.throughput else {
            return Ok(());
        };
        if self.volume_type != VolumeType::Gp3 {
            return Err(DiskError(format!(
                "{}: only gp3 volumes take a throughput setting, not {}",
                self.device, self.volume_type
            )));
        }
        let (min, max) = GP3_THROUGHPUT;
        if !(min..=max).contains(&throughput) {
            return Err(DiskError(format!(
                "{}: throughput={throughput} is outside {min}..{max} MiB/s, the range of gp3 volumes",
                self.device
            )));
        }
        let iops = self.iops.unwrap_or(3_000);
        let most = (f64::from(iops) * GP3_MIBS_PER_IOPS) as i32;
        if throughput > most.max(min) {
            return Err(DiskError(format!(
                "{}: throughput={throughput} MiB/s needs at least {} IOPS on gp3 (0.25 MiB/s per \
                 IOPS); raise iops",
                self.device,
                (f64::from(throughput) / GP3_MIBS_PER_IOPS).ceil() as i32
            )));
        }
        Ok(())
    }
}

/// Extra data disks go on /dev/sd[b-z] or /dev/xvd[b-z] (the root is sda/xvda): names every HVM
/// AMI accepts and that Linux shows predictably.
pub fn check_device(device: &str) -> Result<(), DiskError> {
    let letter = device.strip_prefix("/dev/xvd").or_else(|| device.strip_prefix("/dev/sd"));
    match letter.map(str::as_bytes) {
        Some([b'b'..=b'z']) => Ok(()),
        _ => Err(DiskError(format!(
            "`{device}` is not a data disk device name: use /dev/sd[b-z] or /dev/xvd[b-z] \
             (e.g. /dev/xvdb)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Disk, String> {
        s.parse::<Disk>().map_err(|e| e.0)
    }

    #[test]
    fn size_only_means_gp3_deleted_with_the_instance() {
        let disk = parse("/dev/xvdb=50").unwrap();
        assert_eq!(disk.size_gib, Some(50));
        assert_eq!(disk.volume_type, VolumeType::Gp3);
        assert!(disk.delete_on_termination);
        assert!(!disk.encrypted);
    }

    #[test]
    fn every_option() {
        let disk = parse("/dev/xvdc=100:io2:iops=4000:kms=alias/ebs:delete-on-termination=false").unwrap();
        assert_eq!(disk.volume_type, VolumeType::Io2);
        assert_eq!(disk.iops, Some(4000));
        assert_eq!(disk.kms_key_id.as_deref(), Some("alias/ebs"));
        assert!(disk.encrypted, "a KMS key implies encryption");
        assert!(!disk.delete_on_termination);
        let gp3 = parse("/dev/sdf=500:gp3:iops=6000:throughput=500:encrypted").unwrap();
        assert_eq!((gp3.iops, gp3.throughput, gp3.encrypted), (Some(6000), Some(500), true));
    }

    #[test]
    fn from_a_snapshot_optionally_grown() {
        let kept = parse("/dev/xvdd=snap-0123abcd").unwrap();
        assert_eq!(kept.snapshot_id.as_deref(), Some("snap-0123abcd"));
        assert_eq!(kept.size_gib, None);
        let grown = parse("/dev/xvdd=snap-0123abcd:200").unwrap();
        assert_eq!(grown.size_gib, Some(200));
    }

    #[test]
    fn sizes_are_the_documented_ranges_of_each_type() {
        let fits = |input: &str| parse(input).map(|d| d.size_gib);
        assert_eq!(fits("/dev/xvdb=65536"), Ok(Some(65_536)), "gp3 volumes reach 64 TiB");
        assert_eq!(fits("/dev/xvdb=1"), Ok(Some(1)));
        assert_eq!(fits("/dev/xvdb=16384:gp2"), Ok(Some(16_384)));
        assert_eq!(fits("/dev/xvdb=4:io1:iops=100"), Ok(Some(4)));
        assert_eq!(fits("/dev/xvdb=65536:io2:iops=100"), Ok(Some(65_536)));
        assert_eq!(fits("/dev/xvdb=125:sc1"), Ok(Some(125)));
        assert_eq!(fits("/dev/xvdb=1024:standard"), Ok(Some(1_024)));
    }

    #[test]
    fn errors_name_the_part_that_is_wrong() {
        let cases = [
            ("/dev/xvdb", "no `=`"),
            ("/dev/xvdb=fifty", "`fifty` is not a whole number"),
            ("/dev/xvda=50", "not a data disk device name"),
            ("/dev/nvme1n1=50", "not a data disk device name"),
            ("/dev/xvdb=50:gp4", "unknown volume type `gp4`"),
            ("/dev/xvdb=50:speed=3", "unknown option `speed`"),
            ("/dev/xvdb=0", "outside 1..65536 GiB"),
            ("/dev/xvdb=70000", "outside 1..65536 GiB"),
            ("/dev/xvdb=20000:gp2", "outside 1..16384 GiB"),
            ("/dev/xvdb=3:io1:iops=100", "outside 4..16384 GiB"),
            ("/dev/xvdb=70000:io2:iops=100", "outside 4..65536 GiB"),
            ("/dev/xvdb=2000:standard", "outside 1..1024 GiB"),
            ("/dev/xvdb=50:st1", "outside 125..16384 GiB"),
            ("/dev/xvdb=50:gp3:iops=100", "outside 3000..80000"),
            ("/dev/xvdb=10:gp3:iops=6000", "more than 500 per GiB"),
            ("/dev/xvdb=50:gp2:iops=3000", "take no iops setting"),
            ("/dev/xvdb=50:io2", "need iops=N"),
            ("/dev/xvdb=50:gp2:throughput=200", "only gp3"),
            ("/dev/xvdb=50:gp3:throughput=5000", "outside 125..2000"),
            ("/dev/xvdb=50:gp3:throughput=1000", "needs at least 4000 IOPS"),
            ("/dev/xvdb=50:encrypted=maybe", "not true or false"),
            ("/dev/xvdb=snap-1:20:30", "size given twice"),
        ];
        for (input, expected) in cases {
            let err = parse(input).unwrap_err();
            assert!(err.contains(expected), "{input}: {err}");
            assert!(err.contains(input), "{input}: names the input: {err}");
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for input in [
            "",
            "=",
            ":",
            "==",
            "/dev/xvdb=:",
            "/dev/xvdb=50:",
            "/dev/xvdb=50::",
            "/dev/xvdb=-1",
            "/dev/xvdb=99999999999",
        ] {
            assert!(parse(input).is_err(), "{input}");
        }
    }
}
