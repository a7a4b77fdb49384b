//! SSM parameters the clusters read their AMI from: the value now, and every value they held
//! with the time it was written (GetParameterHistory), from which rollbacks and soak times come;
//! and the write of a new AMI, confirmed once SSM has validated it.

use crate::aws::Aws;
use crate::core::choice::Choice;
use crate::core::error::Service;
use crate::core::iam::{Permission, Scope};
use crate::core::kinds::{DataType, Reported};
use crate::core::poll;
use crate::error::{Error, Result};
use aws_sdk_ssm::types::ParameterType;
use std::time::Duration;

/// Reading a cluster's parameter (`current`, `current_value`).
pub const CURRENT: Permission = Permission::new(Service::Ssm, "GetParameter").on(Scope::ClusterParameters);
/// Its history (`history`): what a rollback goes back to, how long a release soaked.
pub const HISTORY: Permission =
    Permission::new(Service::Ssm, "GetParameterHistory").on(Scope::ClusterParameters);
/// `put_ami`.
pub const WRITE: Permission = Permission::new(Service::Ssm, "PutParameter").on(Scope::ClusterParameters);

/// GetParameterHistory answers at most 50 versions a page.
const HISTORY_PAGE_SIZE: i32 = 50;
/// How long the version a PutParameter of an `aws:ec2:image` value answered may take to exist:
/// SSM validates the value after answering, and drops it if it refuses it, saying so only
/// through EventBridge (PutParameter, DataType). The reference gives no duration; the
/// validation is one DescribeImages on AWS's side, which answers within seconds, so half a
/// minute (15 looks) leaves room for a slow moment, and a version still missing then was
/// dropped.
pub const VALIDATION_WAIT: Duration = Duration::from_secs(30);

/// One version of a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: i64,
    pub value: String,
    /// When it was written, seconds since the epoch; `None` if SSM did not say.
    pub written: Option<i64>,
    pub data_type: Reported<DataType>,
}

/// A parameter as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub value: String,
    pub data_type: Reported<DataType>,
}

/// What SSM reports as a parameter's data type: `text` when it says nothing ("The default is
/// text", Parameter).
fn data_type(reported: Option<&str>) -> Reported<DataType> {
    reported.map_or(Reported::Known(DataType::Text), Reported::from)
}

/// The parameter's value and data type, or `None` when it does not exist.
pub async fn current(aws: &Aws, name: &str) -> Result<Option<Held>> {
    match aws.ssm().get_parameter().name(name).send().await {
        Ok(output) => Ok(output
            .parameter()
            .and_then(|p| Some(Held { value: p.value()?.to_string(), data_type: data_type(p.data_type()) }))),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(None),
        Err(e) => Err(aws.error("GetParameter", Service::Ssm, e)),
    }
}

/// The parameter's value, or `None` when it does not exist.
pub async fn current_value(aws: &Aws, name: &str) -> Result<Option<String>> {
    Ok(current(aws, name).await?.map(|held| held.value))
}

/// Writes `ami` as the parameter's new version (data type `aws:ec2:image`), then reads that
/// version back until it holds the AMI: SSM's HTTP 200 does not say the value was stored
/// ("a successful HTTP 200 response does not guarantee that your parameter was successfully
/// created or updated", PutParameter, DataType). A version still missing after
/// VALIDATION_WAIT was dropped by the validation: `ParameterNotStored`.
/// https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html
pub async fn put_ami(aws: &Aws, name: &str, ami: &str, description: &str) -> Result<()> {
    let version = aws
        .ssm()
        .put_parameter()
        .name(name)
        .value(ami)
        .r#type(ParameterType::String)
        .data_type(DataType::Image.name())
        .description(description)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| aws.error("PutParameter", Service::Ssm, e))?
        .version();
    let selector = format!("{name}:{version}");
    let stored = poll::until(
        aws.interruption(),
        &format!("version {version} of {name} to hold {ami}"),
        poll::LOCAL_CHANGE,
        VALIDATION_WAIT,
        || async {
            match aws.ssm().get_parameter().name(&selector).send().await {
                Ok(output) => Ok(Some(output.parameter().and_then(|p| p.value()) == Some(ami))),
                Err(e)
                    if e.as_service_error().is_some_and(|s| {
                        s.is_parameter_not_found() || s.is_parameter_version_not_found()
                    }) =>
                {
                    Ok(None)
                }
                Err(e) => Err(aws.error("GetParameter", Service::Ssm, e)),
            }
        },
    )
    .await;
    let dropped = || Error::ParameterNotStored {
        parameter: name.to_string(),
        ami: ami.to_string(),
        version,
        waited: VALIDATION_WAIT,
    };
    match stored {
        Ok(true) => Ok(()),
        // A version is written once: holding another value, it is not ours (never seen on AWS).
        Ok(false) | Err(Error::WaitTimeout { .. }) => Err(dropped()),
        Err(e) => Err(e),
    }
}

/// Every version the parameter has had, oldest first; empty when it does not exist.
pub async fn history(aws: &Aws, name: &str) -> Result<Vec<Version>> {
    let mut pages =
        aws.ssm().get_parameter_history().name(name).max_results(HISTORY_PAGE_SIZE).into_paginator().send();
    let mut versions = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => versions.extend(page.parameters().iter().filter_map(|p| {
                Some(Version {
                    version: p.version(),
                    value: p.value()?.to_string(),
                    written: p.last_modified_date().map(|d| d.secs()),
                    data_type: data_type(p.data_type()),
                })
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => break,
            Err(e) => return Err(aws.error("GetParameterHistory", Service::Ssm, e)),
        }
    }
    versions.sort_by_key(|v| v.version);
    Ok(versions)
}

/// Since when the parameter has held its current value without a break: the oldest version of
/// the newest run of equal values (publishing the same AMI again does not restart a soak).
pub fn held_since(history: &[Version]) -> Option<&Version> {
    let current = history.last()?;
    history.iter().rev().take_while(|v| v.value == current.value).last()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: i64, value: &str, written: i64) -> Version {
        Version { version, value: value.into(), written: Some(written), data_type: DataType::Image.into() }
    }

    #[test]
    fn a_value_is_held_since_the_first_write_of_its_last_run() {
        let history = [v(1, "a", 10), v(2, "b", 20), v(3, "b", 30)];
        assert_eq!(held_since(&history).map(|v| v.written), Some(Some(20)));
        let changed_back = [v(1, "b", 10), v(2, "a", 20), v(3, "b", 30)];
        assert_eq!(
            held_since(&changed_back).map(|v| v.version),
            Some(3),
            "a soak restarts when the value changed in between"
        );
        assert_eq!(held_since(&[]), None);
    }
}
