//! What the releases cost to keep: snapshot storage per release and in total, the snapshots no
//! AMI references (billed for nothing), and the AMIs no cluster runs (candidates for `wipe`).

use crate::aws::Aws;
use crate::aws::clusters;
use crate::spec::clusters::Cluster;
use crate::core::error::Result;
use crate::aws::inventory::{self, Image, Snapshot};
use crate::aws::orphans::find_orphans;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// EBS snapshot storage, standard tier, in most regions (USD per GB-month, 2024 price list).
pub const DEFAULT_PRICE_PER_GIB_MONTH: f64 = 0.05;
pub const UPPER_BOUND_NOTE: &str = "EBS bills snapshots by the blocks they changed since the previous snapshot of the \
     same volume, so the sizes here (full volume sizes) are an upper bound of the bill.";

#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub region: String,
    pub price_per_gib_month: f64,
    pub note: &'static str,
    /// Largest first.
    pub releases: Vec<ReleaseCost>,
    pub orphans: Vec<OrphanCost>,
    /// AMIs none of the clusters runs; `None` when no cluster is configured in this region, or
    /// when what one of them runs could not be read (see `warnings`): then nobody can tell.
    pub unused_amis: Option<Vec<String>>,
    pub total_gib: i64,
    pub total_usd_per_month: f64,
    pub orphan_gib: i64,
    /// What the report could not tell: one per cluster whose look-up failed.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseCost {
    /// The release tag, or the AMI name of an AMI that is no release.
    pub release: String,
    pub amis: Vec<String>,
    pub snapshots: usize,
    pub gib: i64,
    pub usd_per_month: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrphanCost {
    pub snapshot: String,
    pub gib: i64,
    pub usd_per_month: f64,
}

/// Pure: the bill from a listing. A snapshot shared by several AMIs of one release (disk
/// chains share their parent's) counts once in it; the total counts every snapshot once.
pub fn report(
    region: &str,
    images: &[Image],
    snapshots: Vec<Snapshot>,
    running: Option<&HashSet<String>>,
    price: f64,
) -> Cost {
    let size: HashMap<&str, i64> = snapshots.iter().map(|s| (s.id.as_str(), i64::from(s.size_gib))).collect();
    let usd = |gib: i64| gib as f64 * price;
    let mut groups: BTreeMap<&str, (Vec<String>, HashSet<&str>)> = BTreeMap::new();
    for image in images {
        let (amis, snapshot_ids) = groups.entry(image.release().unwrap_or(&image.name)).or_default();
        amis.push(image.id.clone());
        snapshot_ids.extend(image.snapshot_ids().filter(|id| size.contains_key(id)));
    }
    let mut releases: Vec<ReleaseCost> = groups
        .into_iter()
        .map(|(release, (amis, snapshot_ids))| {
            let gib = snapshot_ids.iter().map(|id| size[id]).sum();
            ReleaseCost { release: release.to_string(), amis, snapshots: snapshot_ids.len(), gib, usd_per_month: usd(gib) }
        })
        .collect();
    releases.sort_by(|a, b| b.gib.cmp(&a.gib).then_with(|| a.release.cmp(&b.release)));
    let total_gib: i64 = size.values().sum();
    let orphans: Vec<OrphanCost> = find_orphans(images, snapshots)
        .into_iter()
        .map(|o| {
            let gib = i64::from(o.snapshot.size_gib);
            OrphanCost { snapshot: o.snapshot.id, gib, usd_per_month: usd(gib) }
        })
        .collect();
    Cost {
        region: region.to_string(),
        price_per_gib_month: price,
        note: UPPER_BOUND_NOTE,
        unused_amis: running.map(|running| {
            images.iter().filter(|i| !running.contains(&i.id)).map(|i| i.id.clone()).collect()
        }),
        orphan_gib: orphans.iter().map(|o| o.gib).sum(),
        releases,
        orphans,
        total_gib,
        total_usd_per_month: usd(total_gib),
        warnings: Vec::new(),
    }
}

/// One listing of AMIs, one of snapshots, and the usage of the clusters of this region.
pub async fn gather(aws: &Aws, clusters: &[Cluster], price: f64) -> Result<Cost> {
    let images = inventory::own_images(aws).await?;
    let snapshots = inventory::own_snapshots(aws).await?;
    let here: Vec<&str> = clusters.iter().filter(|c| c.region == aws.region()).map(|c| c.name.as_str()).collect();
    let observed = if here.is_empty() { None } else { Some(clusters::running_amis(aws, &here).await) };
    let warnings = observed.as_ref().map(|o| o.warnings("which AMIs are unused is unknown")).unwrap_or_default();
    // An AMI the readable clusters do not run may still run in the unread one.
    let running = observed
        .filter(|o| o.unread.is_empty())
        .map(|o| o.running.into_values().flatten().collect::<HashSet<_>>());
    Ok(Cost { warnings, ..report(aws.region(), &images, snapshots, running.as_ref(), price) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::{image, snapshot};
    use crate::core::tags;

    #[test]
    fn shared_snapshots_count_once_and_orphans_are_listed() {
        let mut parent = image("ami-0000000a", "1", &[("/dev/xvda", "snap-0000000a", 8)]);
        parent.tags.insert(tags::RELEASE.into(), "r1".into());
        let mut child = image("ami-0000000b", "2", &[("/dev/xvda", "snap-0000000a", 8), ("/dev/xvdb", "snap-0000000b", 50)]);
        child.tags.insert(tags::RELEASE.into(), "r1".into());
        let other = image("ami-0000000c", "3", &[("/dev/xvda", "snap-0000000c", 10)]);
        let snapshots = vec![snapshot("snap-0000000a", 8), snapshot("snap-0000000b", 50), snapshot("snap-0000000c", 10), snapshot("snap-0000000d", 100)];
        let running = HashSet::from(["ami-0000000b".to_string()]);
        let cost = report("eu-west-1", &[parent, child, other], snapshots, Some(&running), 0.05);
        assert_eq!(cost.releases[0], ReleaseCost { release: "r1".into(), amis: vec!["ami-0000000a".into(), "ami-0000000b".into()], snapshots: 2, gib: 58, usd_per_month: 58.0 * 0.05 });
        assert_eq!(cost.releases[1].release, "name-of-ami-0000000c");
        assert_eq!((cost.total_gib, cost.orphan_gib), (168, 100));
        assert!((cost.total_usd_per_month - 8.4).abs() < 1e-9);
        assert_eq!(cost.orphans[0].snapshot, "snap-0000000d");
        assert_eq!(cost.unused_amis, Some(vec!["ami-0000000a".to_string(), "ami-0000000c".to_string()]));
    }

    #[test]
    fn without_clusters_nobody_claims_an_ami_is_unused() {
        let cost = report("eu-west-1", &[image("ami-0000000a", "1", &[])], Vec::new(), None, 0.05);
        assert_eq!(cost.unused_amis, None);
    }
}
