//! The command line, one module per verb. A verb's module owns its arguments (clap's derive
//! only: nothing here parses argv or touches the terminal), resolves them into a typed request
//! in one step, reads what its plan needs, plans, applies through `change`, and says what its
//! report shows. What verbs share lives here (`Context`, the `Apply` flags, `flow`, `reach`)
//! or a layer below (`change::retire`, `change::publication`, `engines::register`).
//!
//! A new verb is its module and one line in `verbs!` below.

mod flow;
pub mod json;
mod line;
mod reach;
mod shown;

pub mod adopt;
pub mod advice;
pub mod archive;
pub mod base;
pub mod build;
pub mod cache;
pub mod check;
pub mod completions;
pub mod copy;
pub mod cost;
pub mod diff;
pub mod disks;
pub mod download;
pub mod enable;
pub mod gc;
pub mod history;
pub mod iam_policy;
pub mod images;
pub mod init;
pub mod lineage;
pub mod man;
pub mod outdated;
pub mod packer;
pub mod promote;
pub mod protect;
pub mod prune;
pub mod publish;
pub mod recycle_bin;
pub mod restore;
pub mod schema;
pub mod share;
pub mod snapshots;
pub mod unarchive;
pub mod upload;
pub mod wipe;

pub use flow::{execute, on_own_images, parse_all, refuse, write, Mode, NOTHING_CHANGED};
pub use json::{Either, Json, Mutation};
pub use line::{Cli, Colour, Format, HistoryFormat, OrgArgs, Targets, Workers};
pub use shown::{Made, Own, PlacedPlans, PlanShown, Shown};

use crate::core::iam::Permission;
use crate::core::progress::Progress;
use crate::core::show::{Draw, Show};
use crate::AwsOptions;
use futures::future::BoxFuture;

/// What a verb gets from the binary: where AWS is, and the terminal's side.
pub struct Context<'a> {
    /// The global flags, resolved: one region (the first --region), the profile, the timeout,
    /// the run's interruption.
    pub options: AwsOptions,
    /// Every --region given: `history` merges them; the other verbs read one.
    pub regions: Vec<String>,
    pub ui: &'a dyn Ui,
}

/// The binary's side of a run: what the library may not do itself (draw progress, print,
/// ask a person).
pub trait Ui: Sync {
    /// A progress for one slow step: drawn on stderr, or nothing with `-q`. `Progress::finish`
    /// clears it.
    fn progress(&self) -> Box<dyn Progress + Send>;
    /// What a report could not tell, on stderr whatever the format, so that a degraded report
    /// is never mistaken for a complete one.
    fn warn(&self, warnings: &[String]);
    /// A note for the person (where files were written), on stderr.
    fn note(&self, note: &str);
    /// A result on stdout, as a table or JSON as asked.
    fn show(&self, shown: &dyn Show) -> std::io::Result<()>;
    /// How this terminal draws tables, for text a verb composes before it shows it.
    fn drawing(&self) -> &dyn Draw;
    /// Raw bytes on stdout (a completion script).
    fn print(&self, bytes: &[u8]) -> std::io::Result<()>;
    /// Whether a person is there to answer a question.
    fn can_ask(&self) -> bool;
    /// Asks; anything but y/yes is a no.
    fn confirm<'a>(&'a self, question: &'a str) -> BoxFuture<'a, std::io::Result<bool>>;
}

/// The flags of a verb that takes something away.
#[derive(Debug, Clone, clap::Args)]
pub struct Apply {
    /// Print the plan, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// The flag of a verb that only adds: it never asks.
#[derive(Debug, Clone, clap::Args)]
pub struct DryRun {
    /// Print the plan, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Declares the verbs: each line is a subcommand (its doc comment is its `--help` summary) and
/// the module whose `Args` it parses, whose `run` it calls, and whose `JSON` says what its
/// `--output json` prints.
macro_rules! verbs {
    ($( $(#[$meta:meta])* $verb:ident($module:ident), )*) => {
        #[derive(Debug, clap::Subcommand)]
        pub enum Verb {
            $( $(#[$meta])* $verb($module::Args), )*
        }

        impl Verb {
            pub async fn run(self, ctx: &Context<'_>) -> crate::Result<()> {
                match self {
                    $( Verb::$verb(args) => $module::run(args, ctx).await, )*
                }
            }

            /// The verb's name as typed.
            pub fn name(&self) -> String {
                match self {
                    $( Verb::$verb(_) => json::kebab(stringify!($verb)), )*
                }
            }
        }

        /// Every verb by its name as typed, with what it prints as JSON (`schema --report`).
        pub fn reports() -> Vec<(String, Json)> {
            vec![ $( (json::kebab(stringify!($verb)), $module::JSON), )* ]
        }

        /// Every verb by its name as typed, with the IAM permissions its AWS calls need
        /// (`iam-policy`).
        pub fn permissions() -> Vec<(String, &'static [&'static [Permission]])> {
            vec![ $( (json::kebab(stringify!($verb)), $module::IAM), )* ]
        }
    };
}

verbs! {
    /// Write a commented gio-ami.toml to start from, and its JSON Schema beside it
    /// (gio-ami.schema.json, which the spec's first line points editors at).
    Init(init),

    /// Validate a spec without touching AWS: errors point at file:line:column and the key.
    Check(check),

    /// Print the current EKS-optimized AMI for a Kubernetes version (SSM public parameters).
    ///
    /// Example: gio-ami base --kubernetes 1.31 --family al2023 --arch arm64
    Base(base),

    /// Build the spec's AMI and print its id.
    ///
    /// The native engine: the builder provisions itself (user data or SSM) and powers off; no
    /// SSH. On any error, Ctrl-C or SIGTERM, everything the build created is removed before
    /// exit; `gio-ami gc` removes what a killed build left.
    ///
    /// The packer engine (--engine packer, or engine = "packer" in the spec) runs real
    /// `packer build` on the template `gio-ami packer render` writes, pinned on the resolved
    /// base; each Packer step is one progress line, its errors are shown with their step, and
    /// the AMI and its snapshots get the same gio-ami:* tags. Ctrl-C stops packer (it removes
    /// its own instance) and reports what remains.
    ///
    /// The offline engine (--engine offline) launches nothing: the base's root snapshot is read
    /// once into the local cache (a base of another account, like Amazon's EKS AMIs, is first
    /// copied into the account, once), a copy is changed on this machine with libguestfs
    /// ([[build.files]], provisioning scripts chrooted in the image, SELinux relabel, freed blocks discarded),
    /// and only the blocks that changed are uploaded, as a child of the base's snapshot. Needs
    /// libguestfs (Debian/Ubuntu: libguestfs-tools). A later build on the same base reads no
    /// block of it again (`gio-ami cache list`).
    ///
    /// Examples:
    ///   gio-ami build
    ///   gio-ami build specs/node.toml --engine packer
    ///   gio-ami build --engine offline --dry-run
    #[command(verbatim_doc_comment)]
    Build(build),

    /// Work with Packer: render the spec as a template teams can keep running with `packer`.
    #[command(subcommand)]
    Packer(packer),

    /// Bring AMIs built without gio-ami (earlier `packer build` runs) into the history.
    ///
    /// Tags each AMI and its snapshots with gio-ami:release (the AMI name), created-at (the
    /// manifest's build time, else the AMI's creation), author, contact and description.
    /// Tags already there stay unless given here, so a re-run changes nothing.
    ///
    /// Examples:
    ///   gio-ami adopt --packer-manifest manifest.json --contact ops@example.org
    ///   gio-ami adopt ami-0abc… ami-0def… --author "Ada <ada@example.org>" --dry-run
    ///   gio-ami adopt ami-0f50e42c76b6fa038 --release gio-node-2 --description "t2.small => t2.medium"
    #[command(verbatim_doc_comment)]
    Adopt(adopt),

    /// Remove what killed builds left behind: builder instances, pre-snapshots, unfinished AMIs
    /// (found by their gio-ami:build-id tag; live builds are never touched).
    Gc(gc),

    /// List the account's own AMIs, newest first, with their snapshots and size (every
    /// configured account and region of gio-ami.toml's [accounts], with ACCOUNT and REGION
    /// columns).
    Images(images),

    /// Show the snapshots behind AMIs (exact, from their mappings), or the orphaned ones.
    ///
    /// `gio-ami snapshots ami-0abc…` reads the AMI's block device mappings and describes exactly
    /// those snapshots: two API calls, whatever the account holds.
    /// `gio-ami snapshots --orphans` lists the account's snapshots that no AMI uses, with the
    /// AMI each was made for (they are billed until deleted).
    Snapshots(snapshots),

    /// Add EBS disks to an AMI without any instance (a new AMI from its snapshots).
    #[command(subcommand)]
    Disks(disks),

    /// Upload a local disk image straight to an EBS snapshot, and optionally register it as
    /// an AMI: no builder instance, no S3 bucket.
    ///
    /// IMAGE is a raw file or a block device; qcow2, VMDK, VHD and VHDX images are converted
    /// to raw with `qemu-img` first. The snapshot is the image's size rounded up to whole GiB.
    /// Blocks of zeros are never sent, so a sparse 20 GiB image with 2 GiB of data uploads
    /// 2 GiB. Ctrl-C or any failure deletes the unfinished snapshot.
    ///
    /// Examples:
    ///   gio-ami upload build/gio-node.raw --name gio-node-1.31-20261125 --register
    ///   gio-ami upload node.qcow2 --register --arch arm64 --disk /dev/xvdb=50:gp3
    ///   gio-ami upload /dev/nbd0 --name scratch --tag team=platform --output json
    ///   gio-ami upload disk.raw --register --dry-run
    #[command(verbatim_doc_comment)]
    Upload(upload),

    /// Write a snapshot's blocks into a local file (sparse): the reverse of `upload`.
    ///
    /// Useful to check an upload byte for byte, or to look inside an AMI's root disk
    /// (`gio-ami snapshots ami-…` names its snapshots; `sudo losetup -fP FILE` mounts it).
    ///
    /// Example:
    ///   gio-ami download snap-0123456789abcdef0 root.raw && cmp root.raw build/gio-node.raw
    #[command(verbatim_doc_comment)]
    Download(download),

    /// Show where an AMI comes from and what was derived from it (gio-ami:parent-ami tags).
    Lineage(lineage),

    /// What changed between two AMIs' root disks: packages added, removed and upgraded, and
    /// files changed (path, size, mode).
    ///
    /// Both roots are read into the local cache (a root already cached is not read again; one
    /// whose lineage is cached reads only the blocks that differ, ListChangedBlocks) and
    /// inspected with libguestfs, never booted. Works for any two AMIs whose root snapshots
    /// this account may read through the EBS direct APIs (its own; copy others' first).
    ///
    /// Examples:
    ///   gio-ami diff ami-0abc… ami-0def…
    ///   gio-ami diff ami-0abc… ami-0def… --output json | jq '.packages.upgraded'
    #[command(verbatim_doc_comment)]
    Diff(diff),

    /// Show or trim the local cache of base images the offline engine and `diff` read.
    #[command(subcommand)]
    Cache(cache),

    /// Deregister AMIs and delete the snapshots behind them, never touching one in use.
    ///
    /// Prints the plan (each AMI, its snapshots, the GiB freed, every refusal and why), asks on a
    /// terminal unless --yes, then applies it. An AMI is refused, and nothing is changed, while
    /// anything uses it: an instance that is not terminated, any version of any launch template,
    /// an Auto Scaling group (launch template, mixed-instances overrides, launch configuration),
    /// an EKS managed nodegroup (through its launch template), an SSM parameter holding its id.
    /// A look-up that fails (say, no eks:ListClusters permission) refuses too. --force wipes
    /// anyway. A snapshot another AMI still maps is never deleted, even with --force.
    ///
    /// Re-running after a failure finishes the job: snapshots are tagged
    /// gio-ami:wiped-ami:AMI before their AMI is deregistered, and "already gone" counts as done.
    ///
    /// Examples:
    ///   gio-ami wipe ami-0abc… --dry-run              # the plan, nothing changed
    ///   gio-ami wipe ami-0abc… ami-0def… --yes        # no question (scripts, CI)
    ///   gio-ami wipe --chain ami-0abc… --yes          # it and every AMI derived from it
    ///   gio-ami wipe ami-0abc… --output json --yes    # plan and outcome per resource
    ///
    /// Undo: while a Recycle Bin rule keeps them, `gio-ami restore AMI_ID` brings the AMI and
    /// its snapshots back (see `gio-ami recycle-bin`).
    #[command(verbatim_doc_comment)]
    Wipe(wipe),

    /// Bring wiped AMIs back from the Recycle Bin, with the snapshots their wipe deleted.
    ///
    /// A wipe can be undone while a Recycle Bin retention rule keeps what it deleted (`gio-ami
    /// recycle-bin --retain 7d` makes such rules; the wipe's plan says, per AMI and snapshot,
    /// until when, or that the deletion is final). The snapshots are found by the
    /// gio-ami:wiped-ami:AMI mark the wipe set on them (or, for an AMI another tool deregistered,
    /// by the description EC2 gave the snapshots it made for it), restored first, then the AMI:
    /// AWS restores an AMI only once all its snapshots are back. It comes back as it was: its
    /// mappings, tags and launch permissions. An AMI no longer in the bin, or one of whose
    /// snapshots is not, is named as gone for good, and the command exits 1 after restoring the
    /// others. An AMI that is already available is left alone, so a re-run finishes the job.
    ///
    /// Examples:
    ///   gio-ami restore ami-0abc… --dry-run           # what would come back, until when
    ///   gio-ami restore ami-0abc… ami-0def…
    #[command(verbatim_doc_comment)]
    Restore(restore),

    /// Make every later wipe undoable: Recycle Bin retention rules for gio-ami's AMIs and snapshots.
    ///
    /// Creates one tag-level retention rule for AMIs and one for snapshots in the region, each
    /// on the gio-ami:release tag every release and its snapshots carry, so that a deregistered
    /// AMI or a deleted snapshot stays in the Recycle Bin for --retain (whole days, 1 to 365)
    /// and `gio-ami restore` can bring it back. Re-running with the same retention changes
    /// nothing; with another it updates the rules (a locked rule is refused). Resources in the
    /// bin are billed as before; other rules of the region are shown, and where one matches
    /// with a longer retention, it wins (AWS applies the longest).
    ///
    /// Examples:
    ///   gio-ami recycle-bin --retain 7d --dry-run
    ///   gio-ami recycle-bin --retain 30d
    #[command(verbatim_doc_comment)]
    RecycleBin(recycle_bin),

    /// Move the snapshots of releases kept only for rollback to the cheaper archive tier.
    ///
    /// AWS archives no snapshot an AMI maps, so each AMI's registration (name, boot settings,
    /// mappings, tags) is first kept in the SSM parameter /gio-ami/archived/AMI_ID and its
    /// snapshots tagged gio-ami:archived-ami; then the AMI is deregistered and its snapshots
    /// archived (ModifySnapshotTier). `gio-ami unarchive AMI_ID` brings it back. An AMI is
    /// refused on the same guards as `wipe` (anything that uses it, an SSM parameter naming it,
    /// deregistration protection), and when another AMI maps one of its snapshots. Archived
    /// snapshots are billed for at least 90 days, and restoring one takes up to 72 hours: the
    /// plan says so. Re-running after a failure finishes the job from the record.
    ///
    /// Examples:
    ///   gio-ami archive ami-0abc… --dry-run
    ///   gio-ami archive ami-0abc… ami-0def… --yes
    #[command(verbatim_doc_comment)]
    Archive(archive),

    /// Bring archived releases back: restore their snapshots, then register the AMI again.
    ///
    /// The first run starts RestoreSnapshotTier for each archived snapshot (AWS takes up to 72
    /// hours) and says so; a run once they are back registers the AMI from the record `archive`
    /// kept, with its name, boot settings, mappings and tags (and gio-ami:unarchived-from: the
    /// id it had), then removes the record. The AMI gets a new id: publish it again where it
    /// should run. --temporary restores the snapshots for that many days only, after which AWS
    /// moves them back to the archive and the AMI stops launching.
    ///
    /// Examples:
    ///   gio-ami unarchive ami-0abc…                   # starts the restore
    ///   gio-ami unarchive ami-0abc…                   # up to 72 hours later: registers it
    ///   gio-ami unarchive ami-0abc… --temporary 7d    # back for a week
    #[command(verbatim_doc_comment)]
    Unarchive(unarchive),

    /// Retention per release family: keep the newest N, wipe (or disable) the older rest.
    ///
    /// A family is the AMIs whose name starts with a --release-prefix, or that carry a --tag.
    /// In each, the newest --keep AMIs stay, and of the others those older than --older-than
    /// go; an AMI any family keeps is kept. What goes passes the same guards as `wipe`: an AMI
    /// in use is never touched (it is listed, with its users), and a snapshot another AMI maps
    /// is kept. Earlier lifecycle stages instead of deletion: --deprecate (EnableImageDeprecation
    /// from now) or --disable (DisableImage: no launches, and AWS removes every launch
    /// permission; gio-ami records them on the AMI first, and `gio-ami enable` gives both back).
    ///
    /// Examples:
    ///   gio-ami prune --release-prefix gio-node- --keep 3 --older-than 90d --dry-run
    ///   gio-ami prune --tag team=platform --keep 5 --yes
    ///   gio-ami prune --release-prefix gio-node- --older-than 30d --deprecate --yes
    ///   gio-ami prune --release-prefix gio-node- --older-than 60d --disable --yes
    #[command(verbatim_doc_comment)]
    Prune(prune),

    /// The release history: one row per release, one column per cluster, kept true from AWS.
    ///
    /// Rows are the AMIs carrying gio-ami:release (built by gio-ami, or adopted), newest first;
    /// a release copied to other regions is one row listing each region's AMI. Columns are the
    /// clusters of gio-ami.toml ([clusters.NAME]), then date, author, contact, description,
    /// region, AMI and parent (disk-chain members). A cluster cell is ● when the cluster runs the
    /// AMI now (its EKS managed nodegroups' launch templates, its instances tagged
    /// eks:cluster-name or kubernetes.io/cluster/NAME), ○ when it was published there before.
    ///
    /// Examples:
    ///   gio-ami history
    ///   gio-ami history --cluster prod
    ///   gio-ami history --region eu-west-1 --region us-east-1 --format csv > releases.csv
    ///   gio-ami history --format markdown --update README.md
    ///
    /// --update replaces only the lines between <!-- gio-ami:history:begin --> and
    /// <!-- gio-ami:history:end --> in the file, and refuses when the markers are missing or
    /// duplicated.
    ///
    /// With [accounts.NAME] tables in gio-ami.toml, every configured account and region is read
    /// (an ACCOUNT column joins REGION), each cluster's column comes from its own account
    /// ([clusters.NAME] account = "..."), and --account NAME narrows the accounts. An account
    /// that cannot be read is a warning; its releases are missing and its clusters show ?.
    #[command(verbatim_doc_comment)]
    History(history),

    /// Publish an AMI to a cluster: its SSM parameter (DataType aws:ec2:image) and history mark.
    ///
    /// The parameter comes from [clusters.NAME] ssm_parameter in gio-ami.toml; Karpenter
    /// (amiSelectorTerms ssmParameter), Terraform (aws_ssm_parameter) and Pulumi
    /// (ssm.getParameter) read it. SSM keeps every earlier value: --rollback publishes the
    /// previous one again. The AMI must be available and in the cluster's region. A cluster in
    /// another account ([clusters.NAME] account) gets the parameter there, through that
    /// account's role, once it can launch the AMI (`gio-ami share AMI --account NAME`).
    ///
    /// Examples:
    ///   gio-ami publish ami-0abc… --cluster prod --dry-run
    ///   gio-ami publish ami-0abc… --cluster prod
    ///   gio-ami publish --rollback --cluster prod
    #[command(verbatim_doc_comment)]
    Publish(publish),

    /// Promote the release one cluster runs to the next (staging -> prod), once it soaked.
    ///
    /// Takes the AMI the source cluster's parameter holds now and writes it into the target's
    /// (DataType aws:ec2:image), with the history mark and, where the target has protect = true,
    /// deregistration protection. Refused, with nothing changed, unless every gate passes: the
    /// source has held it for the soak (from the parameter's history), the source runs it
    /// (nodegroup launch templates, tagged nodes), it is in the target's region (or --copy copies
    /// it first), not disabled, not deprecated, and not already the target's. The plan shows
    /// each gate with what it measured. The source and the soak come from [clusters.TARGET]
    /// promote_from and soak in gio-ami.toml unless given. A target in another account gets
    /// the parameter there; the plan grants that account the AMI first if it cannot launch it.
    ///
    /// Examples:
    ///   gio-ami promote --to prod --dry-run
    ///   gio-ami promote --to prod
    ///   gio-ami promote --to prod --from staging --soak 0s   # an urgent fix, said so in the plan
    #[command(verbatim_doc_comment)]
    Promote(promote),

    /// Which clusters run a node image whose EKS-optimized base has newer releases.
    ///
    /// Per cluster: the releases it runs (observed) and was published, the base each was built
    /// on (recorded in its tags at build and adopt time), the base recommended now for the same
    /// family, Kubernetes version, architecture and variant (the public SSM parameters), the days
    /// between the two and whether the old one is deprecated, the control plane's version and
    /// support status (EKS), and the nodes' version skew. With --fail-if-behind AGE it exits 3
    /// when a cluster runs a release more than AGE behind (0d: any newer base), for a scheduled
    /// job; 1 means it could not tell. Requests grow with clusters, not releases.
    ///
    /// Examples:
    ///   gio-ami outdated
    ///   gio-ami outdated --cluster prod --fail-if-behind 30d
    ///   gio-ami outdated --output json | jq '.clusters[] | {name, behind: [.releases[].behind_days]}'
    ///
    /// A cluster of another [accounts.NAME] is read in that account, through its role.
    #[command(verbatim_doc_comment)]
    Outdated(outdated),

    /// Copy an AMI to other regions, all at once, tagged like the source; waits until the
    /// copies are available and prints their ids. Re-running finds the earlier copies.
    ///
    /// Examples:
    ///   gio-ami copy ami-0abc… --to us-east-1 --to ap-southeast-2
    ///   gio-ami copy ami-0abc… --to us-east-1 --kms-key us-east-1=alias/ami-copies
    #[command(verbatim_doc_comment)]
    Copy(copy),

    /// Share AMIs with other accounts (launch permission and the snapshots'
    /// createVolumePermission), organizations or OUs (launch permission: AWS lets their
    /// members' launches read the snapshots), or take the share back with --unshare. Safe to
    /// repeat.
    ///
    /// Examples:
    ///   gio-ami share ami-0abc… --account 111122223333 --account 444455556666
    ///   gio-ami share ami-0abc… --org arn:aws:organizations::111122223333:organization/o-exampleorg1
    ///   gio-ami share ami-0abc… --ou arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-example1
    ///   gio-ami share ami-0abc… --account 111122223333 --unshare
    #[command(verbatim_doc_comment)]
    Share(share),

    /// Make disabled AMIs launchable again (EnableImage), and grant launch access back to the
    /// accounts, organizations and OUs their disabling took it from (`prune --disable` records
    /// them in the gio-ami:launch-grants tag; AWS does not give them back itself). Safe to repeat.
    ///
    /// Example: gio-ami enable ami-0abc…
    #[command(verbatim_doc_comment)]
    Enable(enable),

    /// Protect AMIs from deregistration (EnableImageDeregistrationProtection), or lift it with
    /// --unprotect. While protected, nobody can deregister them, `wipe --force` included; with
    /// --cooldown, they stay protected 24 hours after the protection is lifted. Safe to repeat.
    ///
    /// Examples:
    ///   gio-ami protect ami-0abc… --cooldown
    ///   gio-ami protect ami-0abc… --unprotect
    #[command(verbatim_doc_comment)]
    Protect(protect),

    /// What the AMIs cost to keep: snapshot GiB and USD per month by release and in total,
    /// orphan snapshots, and AMIs no cluster of gio-ami.toml runs.
    ///
    /// Sizes are full volume sizes; EBS bills the blocks each snapshot changed, so this is an
    /// upper bound.
    ///
    /// Examples:
    ///   gio-ami cost
    ///   gio-ami cost --price 0.0125 --output json
    ///   gio-ami cost --account prod
    ///
    /// With [accounts.NAME] tables in gio-ami.toml: one row per account and region, and the
    /// totals; what the clusters run is read in each cluster's own account.
    #[command(verbatim_doc_comment)]
    Cost(cost),

    /// Print a shell completion script.
    ///
    /// Install it where the shell looks, e.g.:
    ///   gio-ami completions bash > ~/.local/share/bash-completion/completions/gio-ami
    ///   gio-ami completions zsh > ~/.zfunc/_gio-ami        (with fpath+=~/.zfunc)
    ///   gio-ami completions fish > ~/.config/fish/completions/gio-ami.fish
    #[command(verbatim_doc_comment)]
    Completions(completions),

    /// Print the least IAM policy the named commands need (every command's without), generated
    /// from what each command calls.
    ///
    /// Actions are named one by one (no wildcards). Destructive EC2 actions are conditioned on
    /// the gio-ami tags (a role holding the policy cannot touch AMIs gio-ami does not manage);
    /// SSM writes are scoped to the spec's cluster parameters and sts:AssumeRole to its
    /// [accounts] roles. Reads a command can do without (it then warns, or shows `?`) are in
    /// statements of their own whose Sid starts with Optional and says what is lost.
    ///
    /// Examples:
    ///   gio-ami iam-policy build publish          # a CI builder that publishes to staging
    ///   gio-ami iam-policy wipe prune --spec prod.toml
    ///   gio-ami iam-policy --reader               # an [accounts] role in a consumer account
    ///   gio-ami iam-policy --trust arn:aws:iam::123456789012:role/ci   # that role's trust policy
    #[command(verbatim_doc_comment)]
    IamPolicy(iam_policy),

    /// Write one man page per command (gio-ami.1, gio-ami-build.1, gio-ami-disks-add.1, …).
    ///
    /// Read one with `man -l DIR/gio-ami-build.1`, or put DIR on MANPATH (e.g. --out
    /// ~/.local/share/man/man1).
    Man(man),

    /// Print the JSON Schema of gio-ami.toml, for editors (taplo, Even Better TOML) to validate
    /// and complete the spec. `gio-ami init` writes the spec's `#:schema` line and this file.
    ///
    /// With --report VERB, the JSON Schema of what VERB prints with --output json instead, for
    /// scripts: e.g. `gio-ami schema --report wipe`, `gio-ami schema --report disks add`.
    Schema(schema),
}
