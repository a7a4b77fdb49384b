//! What EC2 tells an AMI's owner about its use in accounts gio-ami cannot enter: an image usage
//! report (CreateImageUsageReport), which counts, per account, the instances and launch
//! templates that reference the AMI. EC2 builds it asynchronously, so a plan waits a bounded
//! time; the report is deleted once read (EC2 would keep it 30 days).

use crate::aws::Aws;
use crate::core::clock;
use crate::core::error::{Error, Result};
use crate::core::poll;
use crate::core::tags;
use aws_sdk_ec2::types::{
    ImageUsageResourceTypeOptionRequest, ImageUsageResourceTypeRequest, ResourceType, Tag, TagSpecification,
};
use std::time::Duration;

/// How long a plan waits for a report before the use it would show stays unchecked (a
/// warning, as without it): EC2 gives no bound, and a wipe should not hang on it.
pub const WAIT: Duration = Duration::from_secs(120);
/// Every version of a launch template, as gio-ami's own scans read them (10,000 is the most
/// the report takes; 20 by default).
const VERSION_DEPTH: &str = "10000";

/// Resources of one kind in one account that reference the AMI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub account_id: String,
    /// `ec2:Instance` or `ec2:LaunchTemplate`.
    pub resource_type: String,
    pub count: i64,
}

/// Use of `ami` in `accounts` (every account it is shared with when `None`), as a report of
/// EC2's counts it; only counts above zero.
pub async fn counts(aws: &Aws, ami: &str, accounts: Option<&[String]>) -> Result<Vec<Count>> {
    let ec2 = aws.ec2();
    // EC2 keeps one pending report per AMI: one a killed run left is waited for, not duplicated.
    let earlier = ec2
        .describe_image_usage_reports()
        .image_ids(ami)
        .send()
        .await
        .map_err(|e| aws.error("DescribeImageUsageReports", "ec2", e))?;
    let left = earlier.image_usage_reports().iter().find(|r| {
        r.tags().iter().any(|t| t.key() == Some(tags::CREATED_AT))
            && matches!(r.state(), Some("pending" | "available"))
            && r.account_ids() == accounts.unwrap_or_default()
    });
    let report = match left.and_then(|r| r.report_id()) {
        Some(report) => report.to_string(),
        None => create(aws, ami, accounts).await?,
    };
    let read = async {
        poll::until(
            aws.interruption(),
            &format!("the image usage report {report} of {ami}"),
            poll::LOCAL_CHANGE,
            WAIT,
            || async {
                let described = ec2
                    .describe_image_usage_reports()
                    .report_ids(&report)
                    .send()
                    .await
                    .map_err(|e| aws.error("DescribeImageUsageReports", "ec2", e))?;
                match described
                    .image_usage_reports()
                    .first()
                    .and_then(|r| r.state().map(|s| (s, r.state_reason())))
                {
                    Some(("available", _)) => Ok(Some(())),
                    Some(("failed" | "error", why)) => Err(Error::Api {
                        operation: "DescribeImageUsageReports",
                        code: "ReportFailed".into(),
                        message: why.unwrap_or_default().into(),
                    }),
                    _ => Ok(None),
                }
            },
        )
        .await?;
        let mut counts = Vec::new();
        let mut pages = ec2.describe_image_usage_report_entries().report_ids(&report).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws.error("DescribeImageUsageReportEntries", "ec2", e))?;
            counts.extend(
                page.image_usage_report_entries().iter().filter(|e| e.usage_count().unwrap_or(0) > 0).map(
                    |e| Count {
                        account_id: e.account_id().unwrap_or_default().to_string(),
                        resource_type: e.resource_type().unwrap_or_default().to_string(),
                        count: e.usage_count().unwrap_or(0),
                    },
                ),
            );
        }
        Ok(counts)
    };
    let counts = read.await;
    // Read or not, the report has served: a failed delete only leaves it to EC2's 30 days.
    let _ = ec2.delete_image_usage_report().report_id(&report).send().await;
    counts
}

/// A report over instances and every launch template version, tagged as gio-ami's.
async fn create(aws: &Aws, ami: &str, accounts: Option<&[String]>) -> Result<String> {
    let depth = ImageUsageResourceTypeOptionRequest::builder()
        .option_name("version-depth")
        .option_values(VERSION_DEPTH)
        .build();
    let tag = Tag::builder().key(tags::CREATED_AT).value(clock::rfc3339(clock::now_epoch())).build();
    let created = aws
        .ec2()
        .create_image_usage_report()
        .image_id(ami)
        .resource_types(ImageUsageResourceTypeRequest::builder().resource_type("ec2:Instance").build())
        .resource_types(
            ImageUsageResourceTypeRequest::builder()
                .resource_type("ec2:LaunchTemplate")
                .resource_type_options(depth)
                .build(),
        )
        .set_account_ids(accounts.map(<[String]>::to_vec))
        .tag_specifications(
            TagSpecification::builder().resource_type(ResourceType::ImageUsageReport).tags(tag).build(),
        )
        .send()
        .await
        .map_err(|e| aws.error("CreateImageUsageReport", "ec2", e))?;
    Ok(created.report_id().unwrap_or_default().to_string())
}
