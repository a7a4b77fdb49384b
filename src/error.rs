//! Errors as values. Every variant renders as one paragraph that says what went wrong and how to
//! fix it, because the message is all a user at a terminal (or a CI log) gets. A layer with
//! errors of its own keeps them (`spec::Error`, `engines::packer::PackerError`); this enum
//! carries them as they are, beside the errors every layer shares.

use crate::core::error::Service;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "`{input}` is not {what} id: they look like {example} (\"{prefix}-\" then 8 or 17 \
         lowercase hex digits). Copy ids from `gio-ami images` or the EC2 console."
    )]
    InvalidId { input: String, what: &'static str, prefix: &'static str, example: &'static str },

    #[error("`{0}` is not an AWS region name (they look like eu-west-1 or us-gov-west-1).")]
    InvalidRegion(String),

    #[error("no AWS region is configured.")]
    NoRegion,

    #[error(
        "no AWS credentials were found{profile}. Set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, name a profile of ~/.aws/config, or run `aws sso login` for an \
         SSO profile. ({detail})"
    )]
    NoCredentials { profile: String, detail: String },

    #[error(
        "AWS rejected the credentials ({code}: {message}). They are wrong, expired or for another \
         partition: refresh them (`aws sso login`, new access keys) or use another profile."
    )]
    BadCredentials { code: String, message: String },

    #[error(
        "access denied for {operation} ({code}: {message}). The caller needs the IAM permission \
         {service}:{operation} on these resources."
    )]
    AccessDenied { service: Service, operation: &'static str, code: String, message: String },

    #[error(
        "cannot reach {endpoint} for {operation}: {detail}. Check the network, the region, and \
         AWS_ENDPOINT_URL if you point at an emulator."
    )]
    Unreachable { endpoint: String, operation: &'static str, detail: String },

    #[error(
        "{operation} timed out against {endpoint} ({detail}). The service or the network is slow \
         or unreachable: retry, allow each request longer on a slow link, or check the region \
         and AWS_ENDPOINT_URL."
    )]
    Timeout { endpoint: String, operation: &'static str, detail: String },

    #[error(
        "{} not found in {region} for this account. AMIs are regional: check the id with \
         `gio-ami images`, or look in the region it lives in.",
        plural("AMI", ids)
    )]
    AmiNotFound { ids: Vec<String>, region: String },

    #[error(
        "{id} belongs to account {owner}, not to this one: gio-ami only manages AMIs you own. Use \
         the owning account's credentials, or copy the AMI into yours first."
    )]
    AmiNotOwned { id: String, owner: String },

    #[error(
        "{ami} is not visible in account `{account}`, where cluster `{cluster}` runs: SSM refuses an \
         aws:ec2:image parameter whose AMI the account cannot launch. Share it first."
    )]
    NotSharedWithCluster { ami: String, account: String, cluster: String },

    #[error(
        "SSM parameter {parameter} has data type `{data_type}`, not `aws:ec2:image`, and SSM cannot \
         change a parameter's data type to or from aws:ec2:image (every write of it would fail), while \
         Karpenter and launch templates (`resolve:ssm:`) need an aws:ec2:image parameter. Delete it and \
         create it again with that data type: `aws ssm delete-parameter --name {parameter}`, then publish \
         again (gio-ami creates it as aws:ec2:image); if Terraform manages it, set `data_type = \
         \"aws:ec2:image\"` on its aws_ssm_parameter and have it replaced (`terraform apply -replace=...`)."
    )]
    ParameterNotAmiTyped { parameter: String, data_type: String },

    #[error(
        "SSM answered the write of {ami} to {parameter} (version {version}), but after {waited:?} that \
         version still does not exist: SSM validates an aws:ec2:image value after answering, and drops \
         one it refuses. Likely causes: the account the parameter is in cannot launch {ami} (not shared \
         with it, or not in its Region), its Allowed AMIs settings do not allow it (`aws ec2 \
         get-allowed-images-settings` there), or the writer lacks ec2:DescribeImages. Fix that and publish \
         again; nothing was marked on the AMI."
    )]
    ParameterNotStored { parameter: String, ami: String, version: i64, waited: std::time::Duration },

    /// The spec, or what a command asks of it.
    #[error(transparent)]
    Spec(#[from] crate::spec::Error),

    /// Printing the result failed: a closed pipe (`| head`), a full disk.
    #[error("cannot print the result: {0}")]
    Output(#[from] std::io::Error),

    #[error("cannot write the result as JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// A file the verb writes (a spec, man pages) cannot be written.
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },

    #[error("{path} exists.")]
    Exists { path: String },

    #[error("--region was given {0} times; only `history` reads several regions. Pass one.")]
    Regions(usize),

    #[error(
        "`{command}` is not a gio-ami command that calls AWS, so no policy is written for it. Name \
         some of: {known}; or none, for every command's."
    )]
    UnknownCommand { command: String, known: String },

    #[error("`{0}` calls no AWS API, so it needs no IAM permission and no policy is written for it.")]
    NoPermissionNeeded(String),

    #[error(
        "the spec's accounts ask for different external ids ({}), and one trust policy holds one: \
         write each role's trust policy from a spec that names only its account.",
        .0.join(", ")
    )]
    ExternalIds(Vec<String>),

    #[error("nothing to adopt in {region}: {skipped}")]
    NothingToAdopt { region: String, skipped: String },

    #[error("no clusters to look at: add [clusters.NAME] tables to {spec}.")]
    NoClusters { spec: String },

    #[error("{message}")]
    Base { message: String },

    #[error(
        "the AMI name `{name}` is taken by {id}, which was not made by this step: give the new \
         AMI another name, or wipe {id} first"
    )]
    NameTaken { name: String, id: String },

    #[error(
        "the AMI name `{name}` is taken by {id}, which is disabled (a disabled AMI keeps its name, \
         and nothing launches from it): enable it again with `gio-ami enable {id}` \
         to use it as it is, give the new AMI another name, or wipe {id} first"
    )]
    NameTakenByDisabled { name: String, id: String },

    #[error(
        "{operation} refused its ClientToken {token}: AWS saw it before with other parameters \
         (IdempotentParameterMismatch). gio-ami derives the token from every parameter, so the \
         earlier request came from another gio-ami version or another tool: look for what it made \
         with `gio-ami images` in that region, or retry once AWS has forgotten the token (EC2 \
         keeps tokens for a day or more)."
    )]
    TokenReused { operation: &'static str, token: String },

    #[error(
        "the base AMI {id} ({name}) is disabled, and AWS launches nothing from a disabled AMI: its \
         owner can enable it again with `aws ec2 enable-image --image-id {id}`, or point base.ami \
         at another AMI"
    )]
    BaseDisabled { id: String, name: String },

    #[error("{id} went into state `failed` in AWS: see its StateReason with `aws ec2 describe-images --image-ids {id}`, then wipe it")]
    ImageFailed { id: String },

    #[error("gave up waiting for {what} after {waited:?}; it may still finish: look with `gio-ami images`")]
    WaitTimeout { what: String, waited: std::time::Duration },

    #[error("{message}")]
    Provision { message: String },

    #[error("interrupted by {signal}")]
    Interrupted { signal: crate::core::signal::Stop },

    #[error("the build failed: {cause}\nClean-up of build {build_id}: {cleanup}.")]
    BuildFailed { cause: Box<Error>, build_id: String, cleanup: String },

    #[error("cannot {action} {path}: {detail}. Check the path and its permissions (block devices usually need sudo).")]
    LocalFile { action: &'static str, path: String, detail: String },

    #[error(
        "{path} is a {format} image; converting it to raw needs `qemu-img`, which is not \
         installed. Install it (Debian/Ubuntu: `sudo apt-get install qemu-utils`, Fedora/RHEL: \
         `sudo dnf install qemu-img`, macOS: `brew install qemu`), or pass a raw image."
    )]
    QemuImgMissing { path: String, format: &'static str },

    #[error(
        "{path} is empty (0 bytes{}): an upload of it would make a snapshot with no data, so \
         nothing was sent. Check that the build that writes the image finished (a disk builder \
         that failed can leave an empty file), or pass the image's real path.",
        if *format == "raw" { String::new() } else { format!(" once converted from {format} to raw") }
    )]
    EmptyImage { path: String, format: &'static str },

    #[error("`qemu-img convert` could not read {path} as {format}: {detail}. Check the image with `qemu-img info {path}`.")]
    QemuImgFailed { path: String, format: &'static str, detail: String },

    #[error(
        "snapshot {id} was not found in {region} for this account. Snapshots are regional: check \
         the id with `gio-ami snapshots AMI_ID`, or look in the region it lives in."
    )]
    SnapshotNotFound { id: String, region: String },

    #[error("{why}. {cleanup}")]
    UploadAbandoned { why: Box<Error>, cleanup: String },

    #[error("{path} is not a gio-ami block manifest ({why}): delete it, and upload against the image the parent was uploaded from instead")]
    BadManifest { path: String, why: String },

    #[error(
        "block {block} of {snapshot} was not accepted after {attempts} attempts of up to {seconds} s \
         each ({why}); on a slow or congested link, allow each request longer or send fewer blocks at once"
    )]
    BlockFailed { snapshot: String, block: u64, attempts: u32, seconds: u64, why: Box<Error> },

    #[error(
        "`{input}` is not a KMS key ARN: StartSnapshot takes only a key's ARN \
         (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID), not an alias or a bare key id; \
         `aws kms describe-key --key-id {input} --query KeyMetadata.Arn` prints it"
    )]
    NotAKeyArn { input: String },

    #[error(
        "{operation} refused this snapshot ({message}): the EBS direct APIs read only the account's \
         own snapshots, never a public one or another account's. Copy it into this account first \
         (`aws ec2 copy-snapshot`, or `gio-ami copy` of its AMI) and use the copy."
    )]
    NotOwnSnapshot { operation: &'static str, message: String },

    #[error("{parent} cannot be the parent of this upload: {why}")]
    ParentUnusable { parent: String, why: String },

    #[error(
        "block {block} of {snapshot} arrived with a SHA-256 that does not match its checksum \
         (corrupted in transit): run the download again"
    )]
    ChecksumMismatch { snapshot: String, block: i32 },

    #[error("`{input}` is not a tag: write KEY=VALUE (e.g. --tag team=platform); keys starting with `gio-ami:` or `aws:` are reserved")]
    InvalidTag { input: String },

    #[error("refusing to wipe {0}. Nothing was changed. Stop using it first (or fix the look-up).")]
    InUse(String),

    #[error(
        "could not check whether the AMIs to prune are in use ({0}), so none was touched. Fix \
         the look-up (permissions for it, or retry after throttling), then prune again."
    )]
    Unchecked(String),

    #[error(
        "the {command} did not finish: {failed} of {total} steps failed (first: {first}). Re-run \
         the same command to finish it: what is already gone counts as done."
    )]
    Incomplete {
        /// The verb, as typed (`wipe`, `gc`, `share`, …).
        command: &'static str,
        failed: usize,
        total: usize,
        first: String,
        /// The IAM action AWS denied a step, if one was (the advice names the policy).
        denied: Option<String>,
    },

    #[error("`{0}` is not a tag filter: write KEY=VALUE, e.g. --tag team=platform")]
    InvalidTagFilter(String),

    #[error(
        "{what} of {given} is not possible: AWS counts it in whole days, from {low} to {high}. \
         Pass e.g. {example}."
    )]
    WholeDays { what: &'static str, given: String, low: i32, high: i32, example: &'static str },

    #[error("nothing can bring back {0}: see the plan for why. Whatever else was asked has been restored.")]
    GoneForGood(String),

    #[error(
        "the archive record {parameter} cannot be read ({why}): it is how `unarchive` registers the AMI \
         again. Restore its earlier version (`aws ssm get-parameter-history --name {parameter}`) and \
         put it back, or register the AMI by hand from its snapshots."
    )]
    BadArchiveRecord { parameter: String, why: String },

    #[error("nothing was changed: the {0} was not confirmed.")]
    NotConfirmed(&'static str),
    /// Packer, as the packer engine and `adopt` run and read it.
    #[error(transparent)]
    Packer(#[from] crate::engines::packer::PackerError),

    #[error(transparent)]
    Offline(#[from] crate::engines::guestfs::GuestfsError),

    #[error(
        "this machine has no user cache directory to keep base images in (no $HOME or \
         $XDG_CACHE_HOME): set GIO_AMI_CACHE_DIR (or pass --cache-dir) to a directory with room \
         for the base's root volume"
    )]
    NoCacheDir,

    #[error(
        "{path} no longer matches its manifest (block {block} differs): it was dropped from the \
         cache and is read from EBS again on the next run (`gio-ami cache prune` trims the cache)"
    )]
    CacheCorrupt { path: String, block: u64 },

    #[error(
        "cannot act in account `{account}`: assuming {role} failed ({detail}). The role's trust \
         policy must let this caller assume it (with the external id, if it asks for one): fix the \
         trust policy, or accounts.{account}.role_arn / external_id in gio-ami.toml."
    )]
    Unassumable { account: String, role: String, detail: String },

    #[error(
        "the Allowed AMIs settings where it would go refuse it, or could not be read: {}. Fix what \
         is named (that account's image criteria, in EC2 > Allowed AMIs, or the role gio-ami \
         assumes there).",
        reasons.iter().map(|r| r.trim_end_matches('.')).collect::<Vec<_>>().join("; ")
    )]
    NotAllowed { reasons: Vec<String> },

    #[error(
        "`{asked}` is not a verb with JSON output, so it has no report schema. Name one of: {}.",
        verbs.join(", ")
    )]
    UnknownReport { asked: String, verbs: Vec<String> },

    #[error("`gio-ami {verb}` prints no JSON ({instead}), so it has no report schema. Name a verb with --output json.")]
    NoReport { verb: String, instead: String },

    #[error(
        "{id} is `{state}`, not `available`: a cluster cannot launch nodes from it. Wait for it \
         (`gio-ami images`), or publish another AMI."
    )]
    NotAvailable { id: String, state: String },

    #[error(
        "{id} lives in {region} but cluster `{cluster}` runs in {cluster_region}, where it cannot \
         be launched. Copy it there first (`gio-ami copy {id} --to {cluster_region}`) and publish \
         the copy with --region {cluster_region}."
    )]
    WrongRegion { id: String, region: String, cluster: String, cluster_region: String },

    #[error(
        "no AMI of release `{release}` in {region}: name a release `gio-ami history` lists there, \
         or pass --region where it is."
    )]
    ReleaseNotFound { release: String, region: String },

    #[error(
        "release `{release}` has no {} AMI, which gio-ami.toml's [[variants]] make: publishing the \
         rest would leave the cluster's nodes of that variant on another release. Run `gio-ami \
         build` again (it builds only what is missing), then publish.",
        missing.join(", ")
    )]
    SetIncomplete { release: String, missing: Vec<String> },

    #[error(
        "cluster `{cluster}`'s ssm_parameter {parameter} is {why}. Make the parameter a template \
         of `{{arch}}` and `{{variant}}` beside [[variants]] in gio-ami.toml (`gio-ami check` \
         checks it), or publish an AMI built from this spec."
    )]
    ParameterNotPerVariant { cluster: String, parameter: String, why: String },

    #[error(
        "nothing to roll back to: the history of {parameter} (cluster `{cluster}`) holds no value \
         other than the current one."
    )]
    NothingToRollBack { cluster: String, parameter: String },

    #[error(
        "nothing was promoted to `{to}`: {}. The plan above shows every gate with what was measured.",
        reasons.join("; ")
    )]
    PromotionRefused { to: String, reasons: Vec<String> },

    #[error(
        "{} behind the recommended EKS-optimized base by more than --fail-if-behind {age}: rebuild \
         on the new base (`gio-ami build`), then publish or promote the new release.",
        match clusters.as_slice() { [one] => format!("cluster `{one}` runs a release"), many => format!("clusters {} run releases", many.join(", ")) }
    )]
    Behind { clusters: Vec<String>, age: String },

    #[error(
        "{} built on a base older than the recommended EKS-optimized one by more than \
         --fail-if-behind {age}: rebuild on the new base (`gio-ami build`).",
        amis.join(", ")
    )]
    AmisBehind { amis: Vec<String>, age: String },

    #[error(
        "`{0}` is not an AWS account id: they are 12 digits (e.g. 111122223333). Look it up with \
         `aws sts get-caller-identity` in that account."
    )]
    InvalidAccount(String),

    #[error(
        "`{input}` is not an {kind} ARN: EC2 takes the whole ARN, not the id, e.g. \
         arn:aws:organizations::111122223333:organization/o-exampleorg1 or \
         arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-example1 \
         (`aws organizations describe-organization` / `list-organizational-units-for-parent` show them)."
    )]
    InvalidOrgArn { input: String, kind: &'static str },

    #[error("`{0}` is not REGION=KEY: name the region whose copy the key encrypts.")]
    InvalidKmsKey(String),

    #[error("{file}: {detail}")]
    Markers { file: String, detail: String },

    #[error("cannot {action} {file}: {detail}. Check the path and its permissions.")]
    File { action: &'static str, file: String, detail: String },

    #[error("{operation} failed: {code}: {message}")]
    Api { operation: &'static str, code: String, message: String },

    #[error(
        "{operation} failed: {endpoint} answered HTTP {status} with {body}, which is no AWS error. \
         The service had a fault, or something else answered for it (a proxy, or AWS_ENDPOINT_URL \
         pointing at the wrong place): retry, and check AWS_ENDPOINT_URL and any proxy in between."
    )]
    Unreadable {
        operation: &'static str,
        endpoint: String,
        status: u16,
        /// An excerpt, or "an empty body".
        body: String,
    },

    #[error("{operation} failed: {detail}")]
    Sdk { operation: &'static str, detail: String },
}

fn plural(noun: &str, ids: &[String]) -> String {
    match ids {
        [one] => format!("{noun} {one} was"),
        many => format!("{noun}s {} were", many.join(", ")),
    }
}

/// `?` on a spec or disk error where the whole library's error is expected.
impl From<crate::spec::SpecError> for Error {
    fn from(error: crate::spec::SpecError) -> Self {
        Error::Spec(error.into())
    }
}

impl From<crate::spec::disk::DiskError> for Error {
    fn from(error: crate::spec::disk::DiskError) -> Self {
        Error::Spec(error.into())
    }
}

impl Error {
    /// The AWS error code behind an API failure, for callers that treat some codes as outcomes
    /// (e.g. "already gone").
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. }
            | Error::AccessDenied { code, .. }
            | Error::BadCredentials { code, .. } => Some(code),
            Error::UploadAbandoned { why, .. } | Error::BlockFailed { why, .. } => why.code(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_every_id_and_the_region() {
        let one =
            Error::AmiNotFound { ids: vec!["ami-12345678".into()], region: "eu-west-1".into() }.to_string();
        assert!(one.starts_with("AMI ami-12345678 was not found in eu-west-1"), "{one}");
        let two = Error::AmiNotFound {
            ids: vec!["ami-12345678".into(), "ami-87654321".into()],
            region: "eu-west-1".into(),
        }
        .to_string();
        assert!(two.starts_with("AMIs ami-12345678, ami-87654321 were not found"), "{two}");
    }
}
