//! The tag scheme in the SDK's shapes: TagSpecifications on create calls, Tag lists for CreateTags.

use crate::aws::Aws;
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::tags::Tags;
use crate::error::Result;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

/// `create`, and the tags a change writes on AMIs and snapshots.
pub const CREATE_TAGS: Permission = Permission::new(Service::Ec2, "CreateTags");
pub const DELETE_TAGS: Permission = Permission::new(Service::Ec2, "DeleteTags");

pub fn specification(resource: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder().resource_type(resource).set_tags(Some(to_sdk(tags))).build()
}

pub fn to_sdk(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Writes `tags` on every resource in one CreateTags call (which overwrites values in place).
pub async fn create(aws: &Aws, resources: Vec<String>, tags: &Tags) -> Result<()> {
    aws.ec2()
        .create_tags()
        .set_resources(Some(resources))
        .set_tags(Some(to_sdk(tags)))
        .send()
        .await
        .map_err(|e| aws.error("CreateTags", Service::Ec2, e))?;
    Ok(())
}
