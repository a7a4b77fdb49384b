//! Kinds several layers name: an AMI's architecture and boot mode, an EBS volume's type, the
//! base's family and variant, a build's engine and how it provisions the builder, an SSM parameter's data type. Each is spelled as AWS and the spec spell
//! it (`Choice::name`); `Reported` holds such a value as AWS reports it, known to us or not.

use crate::core::choice::{choice_enum, Choice};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::Deref;

choice_enum! {
    #[derive(PartialOrd, Ord, Hash, Serialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum Arch {
        X86_64 = "x86_64",
        Arm64 = "arm64",
    }
}

choice_enum! {
    pub enum BootMode {
        Uefi = "uefi",
        LegacyBios = "legacy-bios",
    }
}

choice_enum! {
    /// Serde names the spec's `type` values (its error lists them as serde does, see
    /// docs/errors.md); they are the `Choice` names, which a test holds them to.
    #[derive(Default, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum VolumeType {
        Gp2 = "gp2",
        /// The default: same price as gp2 for a baseline of 3,000 IOPS and 125 MiB/s at any size.
        #[default]
        Gp3 = "gp3",
        Io1 = "io1",
        Io2 = "io2",
        St1 = "st1",
        Sc1 = "sc1",
        Standard = "standard",
    }
}

choice_enum! {
    /// The EKS-optimized AMIs a build can start from.
    pub enum Family {
        Al2 = "al2",
        Al2023 = "al2023",
        Bottlerocket = "bottlerocket",
    }
}

choice_enum! {
    /// The flavour of an EKS-optimized AMI: plain, or with NVIDIA's GPU drivers.
    #[derive(PartialOrd, Ord, Hash, Serialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum Variant {
        Standard = "standard",
        Nvidia = "nvidia",
    }
}

/// One AMI of a release set: its architecture and variant, as the `gio-ami:arch` and
/// `gio-ami:variant` tags and a parameter's `{arch}` and `{variant}` spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
pub struct Member {
    pub arch: Arch,
    pub variant: Variant,
}

impl Member {
    /// What tells this member's AMI name from its siblings' (`<release>-arm64-standard`).
    pub fn suffix(self) -> String {
        format!("{}-{}", self.arch.name(), self.variant.name())
    }

    /// `template` (a cluster's parameter) with this member's `{arch}` and `{variant}`.
    pub fn fill(self, template: &str) -> String {
        template.replace("{arch}", self.arch.name()).replace("{variant}", self.variant.name())
    }

    /// Whether `set`'s members differ in what `placeholder` names (`arch`, `variant`); `None` when
    /// it names neither.
    pub fn differ(set: &[Member], placeholder: &str) -> Option<bool> {
        let first = set.first()?;
        match placeholder {
            "arch" => Some(set.iter().any(|m| m.arch != first.arch)),
            "variant" => Some(set.iter().any(|m| m.variant != first.variant)),
            _ => None,
        }
    }

    /// The AMIs a release of `set` has: one per member, or one that is no member without a set.
    pub fn each(set: &[Member]) -> Vec<Option<Member>> {
        match set.is_empty() {
            true => vec![None],
            false => set.iter().copied().map(Some).collect(),
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.arch.name(), self.variant.name())
    }
}

choice_enum! {
    /// What builds the AMI: gio-ami itself on a builder instance, real `packer build` on the
    /// rendered template, or gio-ami on this machine with no instance at all (offline).
    #[derive(Serialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum Engine {
        Native = "native",
        Packer = "packer",
        Offline = "offline",
    }
}

choice_enum! {
    /// An Amazon Inspector finding's severity (its CVSS range), lowest first: what an AMI's scan
    /// results report and Allowed AMIs' scan-result criteria limit.
    /// https://docs.aws.amazon.com/inspector/latest/user/findings-understanding-severity.html
    #[derive(PartialOrd, Ord, Serialize, JsonSchema, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Severity {
        Informational = "informational",
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
}

choice_enum! {
    /// How the builder gets its scripts: in its user data, or by SSM Run Command.
    pub enum ProvisionVia {
        UserData = "user-data",
        Ssm = "ssm",
    }
}

choice_enum! {
    /// How SSM validates a parameter's value (Parameter data types in Parameter Store). A
    /// parameter keeps `aws:ec2:image` (or `aws:ssm:integration`) for life: SSM changes neither
    /// to nor from them.
    pub enum DataType {
        /// The default: no validation.
        Text = "text",
        /// An AMI id the account can launch, validated after PutParameter answers.
        Image = "aws:ec2:image",
        Integration = "aws:ssm:integration",
    }
}

impl fmt::Display for VolumeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value as AWS reports it (a state, a type): one we know, or one AWS added after this
/// release, kept as AWS spelled it so that it prints, serializes and goes back to AWS unchanged
/// instead of failing the command that read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported<T> {
    Known(T),
    Unknown(String),
}

impl<T: Choice> Reported<T> {
    pub fn as_str(&self) -> &str {
        match self {
            Reported::Known(value) => value.name(),
            Reported::Unknown(name) => name,
        }
    }
}

/// What AWS left out reads as an empty name, as the listings have always shown it.
impl<T> Default for Reported<T> {
    fn default() -> Self {
        Reported::Unknown(String::new())
    }
}

impl<T: Choice> From<T> for Reported<T> {
    fn from(value: T) -> Self {
        Reported::Known(value)
    }
}

impl<T: Choice> From<&str> for Reported<T> {
    fn from(name: &str) -> Self {
        T::from_name(name).map_or_else(|| Reported::Unknown(name.to_string()), Reported::Known)
    }
}

impl<T: Choice> PartialEq<T> for Reported<T> {
    fn eq(&self, other: &T) -> bool {
        matches!(self, Reported::Known(value) if value == other)
    }
}

/// Reads as the name, so listings and assertions treat it as the text AWS sent.
impl<T: Choice> Deref for Reported<T> {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<T: Choice> fmt::Display for Reported<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: Choice> Serialize for Reported<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A name, known to this release or not: any string.
impl<T> JsonSchema for Reported<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Reported".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

/// Read back from the name it was written as (an archived AMI's record), known to us or not.
impl<'de, T: Choice> Deserialize<'de> for Reported<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Reported::from(String::deserialize(deserializer)?.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_volume_types_as_choice_does() {
        for &kind in VolumeType::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
            assert_eq!(serde_json::from_value::<VolumeType>(kind.name().into()).unwrap(), kind);
        }
    }

    #[test]
    fn a_reported_value_keeps_the_name_it_came_with() {
        let known = Reported::<Arch>::from("arm64");
        assert_eq!(known, Reported::Known(Arch::Arm64));
        assert!(known == Arch::Arm64 && known != Arch::X86_64);
        let unknown = Reported::<Arch>::from("riscv64");
        assert_eq!(unknown, Reported::Unknown("riscv64".into()));
        assert!(unknown != Arch::Arm64);
        assert_eq!(serde_json::to_value(&unknown).unwrap(), "riscv64");
        assert_eq!(Reported::<BootMode>::from(BootMode::LegacyBios).to_string(), "legacy-bios");
        assert_eq!(Reported::<Arch>::default().as_str(), "");
    }
}
