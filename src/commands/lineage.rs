//! `lineage`: where an AMI comes from and what was derived from it.

use crate::aws::inventory;
use crate::aws::lineage::{lineage, Node};
use crate::aws::Aws;
use crate::core::error::Result;
use crate::core::ids::AmiId;

/// One listing of the account's AMIs, then the tree is computed locally.
pub async fn of(aws: &Aws, target: &AmiId) -> Result<Vec<Node>> {
    let images = inventory::own_images(aws).await?;
    if !images.iter().any(|i| i.id == target.as_str()) {
        // Names the reason (not found, someone else's) the way every command does.
        inventory::own_images_by_id(aws, std::slice::from_ref(target)).await?;
    }
    Ok(lineage(&images, target.as_str()))
}
