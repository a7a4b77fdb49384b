//! SSM parameters the clusters read their AMI from: the value now, and every value they held
//! with the time it was written (GetParameterHistory), from which rollbacks and soak times come.

use crate::aws::Aws;
use crate::core::error::{Result, Service};

/// GetParameterHistory answers at most 50 versions a page.
const HISTORY_PAGE_SIZE: i32 = 50;

/// One version of a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: i64,
    pub value: String,
    /// When it was written, seconds since the epoch; `None` if SSM did not say.
    pub written: Option<i64>,
}

/// The parameter's value, or `None` when it does not exist.
pub async fn current_value(aws: &Aws, name: &str) -> Result<Option<String>> {
    match aws.ssm().get_parameter().name(name).send().await {
        Ok(output) => Ok(output.parameter().and_then(|p| p.value()).map(str::to_string)),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(None),
        Err(e) => Err(aws.error("GetParameter", Service::Ssm, e)),
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
        Version { version, value: value.into(), written: Some(written) }
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
