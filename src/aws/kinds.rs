//! Our kinds and states as the SDK's types. The SDK spells each value as AWS does, and so do our
//! names (`Choice::name`), so the name is the bridge both ways: a value the SDK knows and we do
//! not stays `Reported::Unknown` as spelled, and goes back to AWS unchanged.

use crate::aws::inventory::{ImageState, InstanceState, SnapshotState};
use crate::core::choice::Choice;
use crate::core::kinds::{Arch, BootMode, Reported, VolumeType};
use aws_sdk_ec2::types as ec2;

/// What AWS reports, as ours.
macro_rules! from_sdk {
    ($($sdk:ty => $kind:ty),+ $(,)?) => {$(
        impl From<&$sdk> for Reported<$kind> {
            fn from(value: &$sdk) -> Self {
                Reported::from(value.as_str())
            }
        }
    )+};
}

/// What we send AWS: ours, or what AWS reported and we pass on.
macro_rules! to_sdk {
    ($($kind:ty => $sdk:ty),+ $(,)?) => {$(
        impl From<$kind> for $sdk {
            fn from(value: $kind) -> Self {
                <$sdk>::from(value.name())
            }
        }

        impl From<&Reported<$kind>> for $sdk {
            fn from(value: &Reported<$kind>) -> Self {
                <$sdk>::from(value.as_str())
            }
        }
    )+};
}

from_sdk! {
    ec2::ImageState => ImageState,
    ec2::SnapshotState => SnapshotState,
    // CompleteSnapshot's status: the snapshot's state, as the EBS direct APIs report it.
    aws_sdk_ebs::types::Status => SnapshotState,
    ec2::InstanceStateName => InstanceState,
    ec2::ArchitectureValues => Arch,
    ec2::BootModeValues => BootMode,
    ec2::VolumeType => VolumeType,
}

to_sdk! {
    Arch => ec2::ArchitectureValues,
    BootMode => ec2::BootModeValues,
    VolumeType => ec2::VolumeType,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Debug;

    /// Every value of ours is one the SDK knows by that name, and comes back from the SDK as
    /// itself; a name the SDK has not heard of comes back unknown, as spelled.
    fn bridges<T, S>(sdk_names: &[&str])
    where
        T: Choice + Debug,
        S: for<'a> From<&'a str>,
        Reported<T>: for<'a> From<&'a S>,
    {
        for &value in T::ALL {
            assert!(sdk_names.contains(&value.name()), "{value:?}: the SDK has no `{}`", value.name());
            assert_eq!(Reported::from(&S::from(value.name())), Reported::Known(value));
        }
        let later = S::from("added-next-year");
        assert_eq!(Reported::<T>::from(&later), Reported::Unknown("added-next-year".into()));
    }

    #[test]
    fn every_kind_and_state_crosses_the_sdk_and_back() {
        bridges::<ImageState, ec2::ImageState>(ec2::ImageState::values());
        bridges::<SnapshotState, ec2::SnapshotState>(ec2::SnapshotState::values());
        bridges::<InstanceState, ec2::InstanceStateName>(ec2::InstanceStateName::values());
        bridges::<Arch, ec2::ArchitectureValues>(ec2::ArchitectureValues::values());
        bridges::<BootMode, ec2::BootModeValues>(ec2::BootModeValues::values());
        bridges::<VolumeType, ec2::VolumeType>(ec2::VolumeType::values());
    }

    #[test]
    fn what_we_send_is_what_was_reported() {
        assert_eq!(ec2::ArchitectureValues::from(Arch::X86_64), ec2::ArchitectureValues::X8664);
        assert_eq!(ec2::BootModeValues::from(BootMode::LegacyBios), ec2::BootModeValues::LegacyBios);
        assert_eq!(ec2::VolumeType::from(VolumeType::Io2), ec2::VolumeType::Io2);
        let failed = Reported::<SnapshotState>::from(&aws_sdk_ebs::types::Status::Error);
        assert_eq!(failed, Reported::Known(SnapshotState::Error));
        // A boot mode we do not take on the command line still goes back to RegisterImage.
        let preferred = Reported::<BootMode>::from(&ec2::BootModeValues::UefiPreferred);
        assert_eq!(preferred.as_str(), "uefi-preferred");
        assert_eq!(ec2::BootModeValues::from(&preferred), ec2::BootModeValues::UefiPreferred);
    }
}
