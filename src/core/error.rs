//! The AWS services errors are named by. The library's errors themselves are `crate::error`:
//! they carry the errors of the layers above this one (the spec's, Packer's), so they cannot live
//! at the bottom.

/// The AWS service an operation belongs to. Its name is both the IAM action prefix an
/// AccessDenied names (`ssm:PutParameter`: the Service Authorization Reference,
/// https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html)
/// and the endpoint's (`ssm.eu-west-1.amazonaws.com`). The Recycle Bin's listings and restores
/// of AMIs and snapshots are EC2 actions (`ec2:ListImagesInRecycleBin`); its retention rules are
/// `rbin:`. The EBS direct APIs are `ebs:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Ec2,
    Ebs,
    Ssm,
    Rbin,
    Eks,
    AutoScaling,
    Sts,
    Iam,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::Ebs => "ebs",
            Service::Ssm => "ssm",
            Service::Rbin => "rbin",
            Service::Eks => "eks",
            Service::AutoScaling => "autoscaling",
            Service::Sts => "sts",
            Service::Iam => "iam",
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
