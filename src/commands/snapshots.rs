//! Which snapshots an AMI is made of, read exactly from its block device mappings (two calls,
//! whatever the account holds). Orphans are `aws::orphans`.

use super::line::OrgArgs;
use super::shown::{placed, short_time, where_read};
use super::{parse_all, reach, Context};
use crate::aws::inventory::{self, Image, Snapshot};
use crate::aws::org::Located;
use crate::aws::orphans::{self, Origin, Orphan};
use crate::aws::Aws;
use crate::core::clock::Timestamp;
use crate::core::ids::AmiId;
use crate::core::kinds::{Reported, VolumeType};
use crate::core::show::{Cell, Draw, Table, Text};
use crate::error::Result;
use schemars::JsonSchema;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// AMI ids (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required_unless_present = "orphans", conflicts_with = "orphans")]
    pub amis: Vec<String>,

    /// List self-owned snapshots that no AMI of this account references (with [accounts]:
    /// of every configured account and region).
    #[arg(long)]
    pub orphans: bool,

    #[command(flatten)]
    pub org: OrgArgs,
}

/// What `--output json` prints: the snapshots behind AMIs, or with `--orphans` the orphans.
pub type Report = super::Either<Behind, Orphans>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy snapshots`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    &[crate::aws::inventory::DESCRIBE_IMAGES, crate::aws::inventory::DESCRIBE_SNAPSHOTS],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    if args.orphans {
        let spec = reach::optional_spec(&args.org.spec)?;
        let org = reach::reach(&ctx.options, spec.as_ref(), &args.org, &ctx.regions).await?;
        let orphans = org.rows(|place| orphans::orphans(&place.aws)).await?;
        ctx.ui.warn(&orphans.warnings);
        return Ok(ctx.ui.show(&Orphans { orphans: orphans.rows, scope: org.scope() })?);
    }
    let amis = parse_all::<AmiId>(&args.amis)?;
    let aws = Aws::connect(&ctx.options).await?;
    Ok(ctx.ui.show(&Behind(behind(&aws, &amis).await?))?)
}

/// One device of an AMI and the snapshot behind it, if that snapshot still exists.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct DeviceSnapshot {
    pub device: String,
    pub snapshot_id: String,
    pub volume_type: Option<Reported<VolumeType>>,
    /// `None` when the snapshot was deleted while the AMI still maps it.
    pub snapshot: Option<Snapshot>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AmiSnapshots {
    pub image: Image,
    pub devices: Vec<DeviceSnapshot>,
}

/// The snapshots behind each AMI given, as `snapshots AMI…` prints them.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Behind(pub Vec<AmiSnapshots>);

/// The snapshots no AMI uses, and where they were looked for.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Orphans {
    pub orphans: Vec<Located<Orphan>>,
    #[serde(skip)]
    pub scope: String,
}

/// The snapshots behind each AMI: DescribeImages, then DescribeSnapshots for all their ids at
/// once, so the cost does not grow with the account's snapshot count.
pub async fn behind(aws: &Aws, amis: &[AmiId]) -> Result<Vec<AmiSnapshots>> {
    let images = inventory::own_images_by_id(aws, amis).await?;
    let ids: Vec<String> = images.iter().flat_map(|image| image.snapshot_ids().map(str::to_string)).collect();
    let snapshots = inventory::snapshots_by_id(aws, &ids).await?;
    Ok(images.into_iter().map(|image| join_devices(image, &snapshots)).collect())
}

fn join_devices(image: Image, snapshots: &[Snapshot]) -> AmiSnapshots {
    let devices = image
        .mappings
        .iter()
        .filter_map(|m| {
            let snapshot_id = m.snapshot_id.clone()?;
            Some(DeviceSnapshot {
                device: m.device.clone(),
                snapshot: snapshots.iter().find(|s| s.id == snapshot_id.as_str()).cloned(),
                volume_type: m.volume_type.clone(),
                snapshot_id,
            })
        })
        .collect();
    AmiSnapshots { image, devices }
}

impl Text for Behind {
    fn text(&self, draw: &dyn Draw) -> String {
        self.0
            .iter()
            .map(|ami| {
                let mut table =
                    Table::new(&["DEVICE", "SNAPSHOT", "GiB", "TYPE", "STATE", "STARTED", "DESCRIPTION"]);
                for device in &ami.devices {
                    let snapshot = device.snapshot.as_ref();
                    table.row(vec![
                        Cell::new(&device.device),
                        Cell::new(&device.snapshot_id),
                        Cell::number(snapshot.map(|s| s.size_gib.to_string()).unwrap_or_default()),
                        Cell::new(device.volume_type.as_deref().unwrap_or("-")),
                        Cell::new(snapshot.map_or("deleted", |s| s.state.as_str())),
                        Cell::new(short_time(
                            snapshot.and_then(|s| s.started.as_ref()).map(Timestamp::as_str),
                        )),
                        Cell::new(snapshot.map_or("", |s| s.description.as_str())),
                    ]);
                }
                let heading = format!("{} ({})", ami.image.id, ami.image.name);
                match ami.devices.is_empty() {
                    true => format!("{heading}: no EBS snapshots (instance-store only)\n"),
                    false => format!("{heading}\n{}\n", draw.table(&table)),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Text for Orphans {
    fn text(&self, draw: &dyn Draw) -> String {
        if self.orphans.is_empty() {
            return format!("No orphan snapshots: every snapshot of {} backs an AMI.\n", self.scope);
        }
        let mut table =
            placed(&self.orphans, &["SNAPSHOT", "GiB", "STATE", "STARTED", "MADE FOR", "DESCRIPTION"]);
        for located in &self.orphans {
            let orphan = &located.item;
            let s = &orphan.snapshot;
            table.row(where_read(
                located,
                vec![
                    Cell::new(&s.id),
                    Cell::number(s.size_gib),
                    Cell::new(&s.state),
                    Cell::new(short_time(s.started.as_ref().map(Timestamp::as_str))),
                    Cell::new(made_for(&orphan.origin)),
                    Cell::new(&s.description),
                ],
            ));
        }
        let gib: i64 = self.orphans.iter().map(|o| i64::from(o.item.snapshot.size_gib)).sum();
        format!(
            "{}\n{} orphan snapshot(s), {gib} GiB billed until deleted.\n",
            draw.table(&table),
            self.orphans.len()
        )
    }
}

fn made_for(origin: &Origin) -> String {
    match origin {
        Origin::CreateImage { ami, instance, .. } => format!("{ami} (CreateImage of {instance})"),
        Origin::CopyImage { ami, source_ami } => format!("{ami} (copy of {source_ami})"),
        Origin::Unknown => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::{image, snapshot};

    #[test]
    fn a_deleted_snapshot_still_shows_its_device() {
        let image = image(
            "ami-00000001",
            "2026-01-01T00:00:00.000Z",
            &[("/dev/xvda", "snap-00000001", 8), ("/dev/xvdb", "snap-00000002", 50)],
        );
        let joined = join_devices(image, &[snapshot("snap-00000002", 50)]);
        assert_eq!(joined.devices.len(), 2);
        assert!(joined.devices[0].snapshot.is_none());
        assert_eq!(joined.devices[1].snapshot.as_ref().unwrap().id, "snap-00000002");
    }

    #[test]
    fn made_for_names_the_ami_and_how() {
        let origin = Origin::CreateImage { ami: "ami-1".into(), instance: "i-2".into(), volume: None };
        assert_eq!(made_for(&origin), "ami-1 (CreateImage of i-2)");
        assert_eq!(made_for(&Origin::Unknown), "-");
    }
}
