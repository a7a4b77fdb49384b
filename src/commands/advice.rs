//! The command-line advice of an error: which flag or command gets past it. The library's errors
//! say what went wrong in its own words; the verbs own the arguments, so the flags are named
//! here, and the binary adds them when it prints an error.

use crate::error::Error;

/// What follows an error's message.
#[derive(Debug, Clone, PartialEq)]
pub enum Advice {
    /// A sentence of its own, after the message.
    Sentence(String),
    /// The end of the message's last sentence (`, or pass --force …`), which takes its place.
    Continues(String),
}

/// The advice for an error of `verb` anywhere in a chain of causes (the library's error, or a
/// spec error a verb returned as it is); none for an error the flags do not get past.
pub fn advice(err: &(dyn std::error::Error + 'static), verb: &str) -> Option<Advice> {
    if let Some(crate::spec::Error::NoPromotionSource { cluster }) = err.downcast_ref() {
        return Some(Advice::Continues(format!(
            ": pass --from CLUSTER, or add promote_from = \"staging\" (say) to [clusters.{cluster}] in \
             gio-ami.toml."
        )));
    }
    use Advice::{Continues, Sentence};
    Some(match err.downcast_ref::<Error>()? {
        Error::Spec(spec) => return advice(spec, verb),
        Error::InvalidRegion(_) => Sentence("Pass a real one with --region, or set AWS_REGION.".into()),
        Error::NoRegion => Sentence(
            "Pass --region (e.g. --region eu-west-1), set AWS_REGION, or set `region` in the profile \
             of ~/.aws/config."
                .into(),
        ),
        Error::NotSharedWithCluster { ami, account, .. } => {
            Continues(format!(": `gio-ami share {ami} --account {account}`."))
        }
        Error::InUse(_) => Continues(
            ", or pass --force to wipe an AMI in use anyway; a protected AMI stays protected even \
             then, and a snapshot another AMI still maps is kept."
                .into(),
        ),
        Error::NotAllowed { .. } => Continues(", or pass --force to go on anyway.".into()),
        Error::GoneForGood(_) => Continues(
            "; a Recycle Bin rule (`gio-ami recycle-bin --retain 7d`) keeps later wipes restorable.".into(),
        ),
        Error::NotConfirmed(_) => Sentence("Pass --yes to skip the question.".into()),
        Error::NothingToRollBack { cluster, .. } => {
            Sentence(format!("Publish a specific AMI instead: `gio-ami publish AMI_ID --cluster {cluster}`."))
        }
        Error::InvalidKmsKey(_) => Continues(", e.g. --kms-key us-east-1=alias/ami-copies".into()),
        Error::Exists { .. } => Continues("; pass --force to overwrite it".into()),
        Error::NoCredentials { .. } | Error::BadCredentials { .. } | Error::AmiNotOwned { .. } => {
            Sentence("--profile NAME (or AWS_PROFILE) picks a profile of ~/.aws/config.".into())
        }
        Error::Unreachable { .. } | Error::AmiNotFound { .. } | Error::SnapshotNotFound { .. } => {
            Sentence("--region (or AWS_REGION) picks the region.".into())
        }
        Error::Timeout { .. } => Sentence(
            "--timeout sets how long one request may take; --region (or AWS_REGION) picks the region.".into(),
        ),
        Error::AccessDenied { .. } | Error::Incomplete { denied: Some(_), .. } => {
            Sentence(format!("`gio-ami iam-policy {verb}` prints the least IAM policy `{verb}` needs."))
        }
        Error::BadManifest { .. } => Sentence("--parent-image names that image.".into()),
        Error::BlockFailed { .. } => Sentence(
            "--timeout sets how long one request may take, --workers how many blocks are in flight.".into(),
        ),
        Error::UploadAbandoned { why, .. } => return advice(why.as_ref(), verb),
        Error::NoClusters { .. } => Continues(", or name one with --cluster".into()),
        _ => return None,
    })
}

/// `message` (an error's text, its causes before it) with the advice of `err`, its last cause,
/// for a run of `verb`.
pub fn with_advice(message: String, err: &(dyn std::error::Error + 'static), verb: &str) -> String {
    match advice(err, verb) {
        None => message,
        Some(Advice::Sentence(sentence)) => format!("{message} {sentence}"),
        Some(Advice::Continues(rest)) => format!("{}{rest}", message.strip_suffix('.').unwrap_or(&message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error as a user reads it: its message, then its advice.
    fn explain(err: &Error) -> String {
        with_advice(err.to_string(), err, "wipe")
    }

    #[test]
    fn advice_continues_the_message_or_follows_it() {
        let in_use = Error::InUse("ami-1: running".into());
        assert_eq!(
            in_use.to_string(),
            "refusing to wipe ami-1: running. Nothing was changed. Stop using it first (or fix the look-up)."
        );
        assert_eq!(
            explain(&in_use),
            "refusing to wipe ami-1: running. Nothing was changed. Stop using it first (or fix the look-up), \
             or pass --force to wipe an AMI in use anyway; a protected AMI stays protected even then, and a \
             snapshot another AMI still maps is kept."
        );
        assert_eq!(
            explain(&Error::NotConfirmed("wipe")),
            "nothing was changed: the wipe was not confirmed. Pass --yes to skip the question."
        );
        let promote = Error::from(crate::spec::Error::NoPromotionSource { cluster: "prod".into() });
        assert!(explain(&promote).ends_with("from: pass --from CLUSTER, or add promote_from = \"staging\" (say) to [clusters.prod] in gio-ami.toml."), "{}", explain(&promote));
    }

    #[test]
    fn access_denied_names_the_action_and_the_policy_of_the_command() {
        let denied = Error::AccessDenied {
            service: crate::core::error::Service::Ec2,
            operation: "DeregisterImage",
            code: "UnauthorizedOperation".into(),
            message: "no".into(),
        };
        let printed = with_advice(denied.to_string(), &denied, "prune");
        assert!(printed.contains("ec2:DeregisterImage"), "{printed}");
        assert!(
            printed.ends_with("`gio-ami iam-policy prune` prints the least IAM policy `prune` needs."),
            "{printed}"
        );
    }

    #[test]
    fn library_messages_name_no_flag() {
        let errors = [
            Error::InvalidRegion("eu-wset".into()),
            Error::NoRegion,
            Error::InUse("ami-1".into()),
            Error::NotAllowed { reasons: vec!["r".into()] },
            Error::GoneForGood("ami-1".into()),
            Error::NotConfirmed("wipe"),
            Error::NothingToRollBack { cluster: "c".into(), parameter: "/p".into() },
            Error::InvalidKmsKey("x".into()),
            Error::Exists { path: "p".into() },
            Error::NoClusters { spec: "s".into() },
            Error::NotSharedWithCluster { ami: "ami-1".into(), account: "a".into(), cluster: "c".into() },
            crate::spec::Error::NoPromotionSource { cluster: "c".into() }.into(),
            Error::NoCredentials { profile: String::new(), detail: "d".into() },
            Error::BadCredentials { code: "c".into(), message: "m".into() },
            Error::Unreachable { endpoint: "e".into(), operation: "DescribeImages", detail: "d".into() },
            Error::Timeout { endpoint: "e".into(), operation: "DescribeImages", detail: "d".into() },
            Error::AmiNotFound { ids: vec!["ami-1".into()], region: "r".into() },
            Error::AmiNotOwned { id: "ami-1".into(), owner: "o".into() },
            Error::SnapshotNotFound { id: "snap-1".into(), region: "r".into() },
            Error::BadManifest { path: "p".into(), why: "w".into() },
        ];
        for err in errors {
            assert!(!err.to_string().contains("--"), "{err}");
            assert!(explain(&err).contains("--"), "{}", explain(&err));
        }
        // Advice or not, what a step's outcome says (a registration's name clash) names no flag.
        let taken = Error::NameTaken { name: "n".into(), id: "ami-1".into() };
        assert!(!explain(&taken).contains("--"), "{taken}");
    }

    #[test]
    /// What the binary prints is, word for word, what these errors said before their advice moved
    /// here.
    fn printed_as_before() {
        let cases: Vec<(Error, &str)> = vec![
            (Error::InvalidRegion("eu-wset".into()), "`eu-wset` is not an AWS region name (they look like eu-west-1 or us-gov-west-1). Pass a real one with --region, or set AWS_REGION."),
            (Error::NoRegion, "no AWS region is configured. Pass --region (e.g. --region eu-west-1), set AWS_REGION, or set `region` in the profile of ~/.aws/config."),
            (Error::NotSharedWithCluster { ami: "ami-1".into(), account: "a".into(), cluster: "c".into() }, "ami-1 is not visible in account `a`, where cluster `c` runs: SSM refuses an aws:ec2:image parameter whose AMI the account cannot launch. Share it first: `gio-ami share ami-1 --account a`."),
            (Error::NotAllowed { reasons: vec!["r.".into()] }, "the Allowed AMIs settings where it would go refuse it, or could not be read: r. Fix what is named (that account's image criteria, in EC2 > Allowed AMIs, or the role gio-ami assumes there), or pass --force to go on anyway."),
            (Error::GoneForGood("ami-1".into()), "nothing can bring back ami-1: see the plan for why. Whatever else was asked has been restored; a Recycle Bin rule (`gio-ami recycle-bin --retain 7d`) keeps later wipes restorable."),
            (Error::NothingToRollBack { cluster: "c".into(), parameter: "/p".into() }, "nothing to roll back to: the history of /p (cluster `c`) holds no value other than the current one. Publish a specific AMI instead: `gio-ami publish AMI_ID --cluster c`."),
            (Error::InvalidKmsKey("x".into()), "`x` is not REGION=KEY: name the region whose copy the key encrypts, e.g. --kms-key us-east-1=alias/ami-copies"),
            (Error::Exists { path: "gio-ami.toml".into() }, "gio-ami.toml exists; pass --force to overwrite it"),
            (
                Error::NoClusters { spec: "gio-ami.toml".into() },
                "no clusters to look at: add [clusters.NAME] tables to gio-ami.toml, or name one with --cluster",
            ),
            (crate::spec::Error::NoPromotionSource { cluster: "c".into() }.into(), "cluster `c` has no cluster to take releases from: pass --from CLUSTER, or add promote_from = \"staging\" (say) to [clusters.c] in gio-ami.toml."),
        ];
        for (err, text) in cases {
            assert_eq!(explain(&err), text);
        }
    }
}
