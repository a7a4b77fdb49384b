//! What EC2 tells an AMI's owner about its use in accounts gio-ami cannot enter: an image usage
//! report (CreateImageUsageReport), which counts, per account, the instances and launch
//! templates that reference the AMI. EC2 builds it asynchronously, so a plan waits a bounded
//! time; the report is deleted once read (EC2 would keep it 30 days), and one still pending
//! when the wait ends is kept for the next run to read.

use crate::aws::Aws;
use crate::core::clock;
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::poll;
use crate::core::progress::Progress;
use crate::core::tags;
use crate::error::{Error, Result};
use aws_sdk_ec2::types::{
    ImageUsageReport, ImageUsageResourceTypeOptionRequest, ImageUsageResourceTypeRequest, ResourceType, Tag,
    TagSpecification,
};
use std::time::Duration;

/// Image usage reports: which other accounts launched an AMI lately. Without them the count is
/// left unknown, with a warning.
pub const IAM: &[Permission] = &[
    Permission::new(Service::Ec2, "CreateImageUsageReport").optional("image usage reports"),
    Permission::new(Service::Ec2, "DescribeImageUsageReports").optional("image usage reports"),
    Permission::new(Service::Ec2, "DescribeImageUsageReportEntries").optional("image usage reports"),
    Permission::new(Service::Ec2, "DeleteImageUsageReport").optional("deleting read usage reports"),
];

/// How long a plan waits for a report before the use it would show stays unchecked (a
/// warning, as without it): as long as AWS's own CLI waits for one, `aws ec2 wait
/// image-usage-report-available` (botocore's ec2 waiters-2.json, ImageUsageReportAvailable: 40
/// looks 15 s apart). EC2 documents no duration; a report still pending then is kept, and the
/// next run reads it instead of starting over.
pub const WAIT: Duration = Duration::from_secs(40 * 15);
/// Between looks at a pending report: a third of the CLI waiter's 15 s, so a plan goes on within
/// seconds of the report being ready, in at most 120 calls over the whole wait.
const POLL: Duration = Duration::from_secs(5);
/// How far back a report may miss use: "Instance activity from the past 24 hours and launch
/// template activity from the past few days might not appear in the report"
/// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/your-ec2-ami-usage.html). "A few days"
/// is read as 3, which also covers a launch lastLaunchedTime shows a day late on top of the
/// report's own 24 hours.
pub const LAG: Duration = Duration::from_secs(3 * 24 * 3600);
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
/// EC2's counts it; only counts above zero. A report an earlier run left (killed, or out of
/// time while EC2 was still building it) is read instead of a new one.
pub async fn counts(
    aws: &Aws,
    ami: &str,
    accounts: Option<&[String]>,
    progress: &dyn Progress,
) -> Result<Vec<Count>> {
    let ec2 = aws.ec2();
    let report = match earlier(aws, ami, accounts).await? {
        Some(report) => report,
        None => create(aws, ami, accounts).await?,
    };
    progress.phase(&format!(
        "waiting for the image usage report {report} of {ami} (EC2 builds it in minutes; up to {} min)",
        WAIT.as_secs() / 60
    ));
    poll::until(
        aws.interruption(),
        &format!("the image usage report {report} of {ami}"),
        POLL,
        WAIT,
        || async {
            let described = ec2
                .describe_image_usage_reports()
                .report_ids(&report)
                .send()
                .await
                .map_err(|e| aws.error("DescribeImageUsageReports", Service::Ec2, e))?;
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
    .await
    .map_err(|e| match e {
        Error::WaitTimeout { what, waited } => Error::WaitTimeout {
            what: format!("{what} (kept: the next run reads it when EC2 has finished)"),
            waited,
        },
        other => other,
    })?;
    let mut counts = Vec::new();
    let mut pages = ec2.describe_image_usage_report_entries().report_ids(&report).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeImageUsageReportEntries", Service::Ec2, e))?;
        counts.extend(
            page.image_usage_report_entries().iter().filter(|e| e.usage_count().unwrap_or(0) > 0).map(|e| {
                Count {
                    account_id: e.account_id().unwrap_or_default().to_string(),
                    resource_type: e.resource_type().unwrap_or_default().to_string(),
                    count: e.usage_count().unwrap_or(0),
                }
            }),
        );
    }
    tidy_up(aws, &report).await;
    Ok(counts)
}

/// Deletes a report that has served. A failed delete only leaves it to EC2, which removes it
/// after 30 days: said, not an error.
async fn tidy_up(aws: &Aws, report: &str) {
    if let Err(e) = aws.ec2().delete_image_usage_report().report_id(report).send().await {
        let e = aws.error("DeleteImageUsageReport", Service::Ec2, e);
        tracing::warn!("image usage report {report} is left for EC2 to remove after 30 days: {e}");
    }
}

/// gio-ami's report of `ami` over these accounts that an earlier run left and is still worth
/// reading: pending (EC2 keeps one pending report per AMI, so waiting for it is the only way
/// on), or available and younger than the wait (a run killed while reading it). An older one
/// counts use long past: it is deleted, and a new one made.
async fn earlier(aws: &Aws, ami: &str, accounts: Option<&[String]>) -> Result<Option<String>> {
    let ec2 = aws.ec2();
    let mut reports = Vec::new();
    let mut pages = ec2.describe_image_usage_reports().image_ids(ami).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeImageUsageReports", Service::Ec2, e))?;
        reports.extend(page.image_usage_reports().iter().cloned());
    }
    let ours = |r: &&ImageUsageReport| {
        r.tags().iter().any(|t| t.key() == Some(tags::CREATED_AT))
            && r.account_ids() == accounts.unwrap_or_default()
    };
    let now = clock::now_epoch();
    let fresh =
        |r: &ImageUsageReport| r.creation_time().is_some_and(|t| now - t.secs() < WAIT.as_secs() as i64);
    let mut found = None;
    for report in reports.iter().filter(ours) {
        let Some(id) = report.report_id() else { continue };
        match report.state() {
            Some("pending") => found = Some(id.to_string()),
            Some("available") if fresh(report) && found.is_none() => found = Some(id.to_string()),
            Some("available") => tidy_up(aws, id).await,
            _ => {}
        }
    }
    Ok(found)
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
        .map_err(|e| aws.error("CreateImageUsageReport", Service::Ec2, e))?;
    Ok(created.report_id().unwrap_or_default().to_string())
}
