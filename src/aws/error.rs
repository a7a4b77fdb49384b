//! SDK failures as the library's errors: which ones are the caller's credentials, which are
//! the network, which are a refusal by AWS (kept with its code, so callers can treat some codes
//! as outcomes).

use crate::core::error::Service;
use crate::error::Error;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::error::Error as StdError;

/// Characters of an unreadable answer's body quoted in the error: enough to tell a proxy's
/// HTML page or a load balancer's text from AWS, short enough for one paragraph.
const BODY_EXCERPT: usize = 120;

impl Error {
    /// Classifies an SDK failure so the user reads the fix, not the SDK's internals.
    pub fn from_sdk<E>(
        service: Service,
        operation: &'static str,
        endpoint: String,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        if let Some(cause) = find_cause::<CredentialsError>(&err) {
            // A role the provider could not assume: STS's own code and words say why.
            let refused = find_cause::<AssumeRoleError>(cause)
                .and_then(|e| Some(format!("{}: {}", e.code()?, e.message().unwrap_or_default())));
            return Error::NoCredentials {
                profile: String::new(),
                detail: refused.unwrap_or_else(|| chain(cause)),
            };
        }
        match &err {
            SdkError::ServiceError(refused) => match refused.err().code() {
                Some(code) => {
                    let message = refused.err().message().unwrap_or_default().to_string();
                    if service == Service::Ebs && unauthorized_account(refused.raw()) {
                        return Error::NotOwnSnapshot { operation, message };
                    }
                    classify_code(service, operation, code.to_string(), message)
                }
                // No AWS error in the answer: what the user can act on is who answered, and how.
                None => unreadable(operation, endpoint, refused.raw()),
            },
            SdkError::TimeoutError(_) => Error::Timeout { endpoint, operation, detail: chain(&err) },
            SdkError::DispatchFailure(failure) if failure.is_timeout() => {
                Error::Timeout { endpoint, operation, detail: chain(&err) }
            }
            SdkError::DispatchFailure(_) => Error::Unreachable { endpoint, operation, detail: chain(&err) },
            _ => Error::Sdk { operation, detail: chain(&err) },
        }
    }

    /// Names the profile in a credentials error, which the SDK error itself does not know.
    pub fn with_profile(self, profile: Option<&str>) -> Self {
        match (self, profile) {
            (Error::NoCredentials { detail, .. }, Some(p)) => {
                Error::NoCredentials { profile: format!(" for profile `{p}`"), detail }
            }
            (other, _) => other,
        }
    }
}

fn classify_code(service: Service, operation: &'static str, code: String, message: String) -> Error {
    match code.as_str() {
        "AuthFailure"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "RequestExpired" => Error::BadCredentials { code, message },
        c if c.starts_with("AccessDenied") || c == "UnauthorizedOperation" => {
            Error::AccessDenied { service, operation, code, message }
        }
        _ => Error::Api { operation, code, message },
    }
}

/// An EBS direct refusal of the snapshot itself rather than of the caller's permissions: its
/// AccessDeniedException says `"Reason": "UNAUTHORIZED_ACCOUNT"` (EBS API reference,
/// AccessDeniedException), as for a public snapshot or another account's, which the EBS direct
/// APIs do not read ("Public snapshots are not supported", EBS direct APIs FAQ).
fn unauthorized_account(answer: &HttpResponse) -> bool {
    let body = answer.body().bytes().unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|json| json.get("Reason").and_then(|r| r.as_str()) == Some("UNAUTHORIZED_ACCOUNT"))
}

fn unreadable(operation: &'static str, endpoint: String, answer: &HttpResponse) -> Error {
    let body = answer.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
    let body: String =
        body.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(BODY_EXCERPT).collect();
    Error::Unreadable {
        operation,
        endpoint,
        status: answer.status().as_u16(),
        body: if body.is_empty() { "an empty body".into() } else { format!("`{body}`") },
    }
}

fn find_cause<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The SDK's top-level messages ("dispatch failure") say little; the causes say what happened.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        next = e.source();
    }
    // Some causes span lines (the credential chain lists every provider); keep one paragraph.
    parts.join(": ").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_codes_map_to_actionable_errors() {
        let denied =
            classify_code(Service::Ec2, "DescribeImages", "UnauthorizedOperation".into(), "no".into());
        assert!(matches!(denied, Error::AccessDenied { service: Service::Ec2, .. }));
        assert!(denied.to_string().contains("IAM permission ec2:DescribeImages "), "{denied}");
        let auth = classify_code(Service::Ec2, "DescribeImages", "AuthFailure".into(), "bad".into());
        assert!(matches!(auth, Error::BadCredentials { .. }));
        let other = classify_code(Service::Ec2, "DescribeImages", "InvalidParameterValue".into(), "x".into());
        assert_eq!(other.code(), Some("InvalidParameterValue"));
    }

    /// Issue 34: every denial named `ec2:`, e.g. `ec2:PutParameter`, an action that does not exist.
    #[test]
    fn a_denial_names_the_action_of_the_service_the_call_went_to() {
        let cases = [
            (Service::Ssm, "PutParameter", "AccessDeniedException", "ssm:PutParameter"),
            (Service::Ebs, "StartSnapshot", "AccessDeniedException", "ebs:StartSnapshot"),
            (Service::Rbin, "ListRules", "AccessDeniedException", "rbin:ListRules"),
            (Service::Eks, "ListNodegroups", "AccessDeniedException", "eks:ListNodegroups"),
            (
                Service::AutoScaling,
                "DescribeAutoScalingGroups",
                "AccessDenied",
                "autoscaling:DescribeAutoScalingGroups",
            ),
            (Service::Sts, "GetCallerIdentity", "AccessDenied", "sts:GetCallerIdentity"),
            (Service::Ec2, "ListImagesInRecycleBin", "UnauthorizedOperation", "ec2:ListImagesInRecycleBin"),
        ];
        for (service, operation, code, action) in cases {
            let denied = classify_code(service, operation, code.into(), "denied".into());
            assert!(matches!(denied, Error::AccessDenied { service: s, .. } if s == service), "{denied:?}");
            assert!(denied.to_string().contains(&format!("IAM permission {action} on")), "{denied}");
            assert!(!denied.to_string().contains("ec2:") || service == Service::Ec2, "{denied}");
        }
    }

    #[test]
    fn a_denied_sdk_call_keeps_its_service() {
        use aws_sdk_ssm::operation::put_parameter::PutParameterError;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let err = PutParameterError::generic(
            ErrorMetadata::builder().code("AccessDeniedException").message("not authorized").build(),
        );
        let raw = HttpResponse::new(400.try_into().unwrap(), SdkBody::from("{}"));
        let denied = Error::from_sdk(
            Service::Ssm,
            "PutParameter",
            "http://127.0.0.1:9".into(),
            SdkError::service_error(err, raw),
        );
        assert!(matches!(denied, Error::AccessDenied { service: Service::Ssm, .. }), "{denied:?}");
        assert!(denied.to_string().contains("ssm:PutParameter"), "{denied}");
    }

    #[test]
    fn ebs_refusing_another_accounts_snapshot_is_no_missing_permission() {
        use aws_sdk_ebs::operation::list_snapshot_blocks::ListSnapshotBlocksError;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let refused = |reason: &str| {
            let err = ListSnapshotBlocksError::generic(
                ErrorMetadata::builder().code("AccessDeniedException").message("no").build(),
            );
            let body = format!(r#"{{"Message": "no", "Reason": "{reason}"}}"#);
            let raw = HttpResponse::new(403.try_into().unwrap(), SdkBody::from(body));
            Error::from_sdk(
                Service::Ebs,
                "ListSnapshotBlocks",
                "http://127.0.0.1:9".into(),
                SdkError::service_error(err, raw),
            )
        };
        let foreign = refused("UNAUTHORIZED_ACCOUNT");
        assert!(matches!(foreign, Error::NotOwnSnapshot { .. }), "{foreign:?}");
        assert!(foreign.to_string().contains("Copy it into this account first"), "{foreign}");
        assert!(matches!(refused("DEPENDENCY_ACCESS_DENIED"), Error::AccessDenied { .. }));
    }

    #[test]
    fn an_answer_without_an_aws_error_names_the_status_and_the_endpoint() {
        use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsError;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let answer = |body: &'static str| {
            let err = ListNodegroupsError::generic(ErrorMetadata::builder().build());
            let raw = HttpResponse::new(500.try_into().unwrap(), SdkBody::from(body));
            Error::from_sdk(
                Service::Eks,
                "ListNodegroups",
                "http://127.0.0.1:9".into(),
                SdkError::service_error(err, raw),
            )
            .to_string()
        };
        let html = answer("<html>\n  <b>Internal Server Error</b></html>");
        assert!(html.starts_with("ListNodegroups failed: http://127.0.0.1:9 answered HTTP 500 with `<html> <b>Internal Server Error</b></html>`"), "{html}");
        assert!(!html.contains("Unknown"), "{html}");
        assert!(answer("").contains("HTTP 500 with an empty body"));
    }

    #[test]
    fn profile_is_named_in_credentials_errors() {
        let err =
            Error::NoCredentials { profile: String::new(), detail: "none".into() }.with_profile(Some("prod"));
        assert!(err.to_string().contains("for profile `prod`"));
    }
}
