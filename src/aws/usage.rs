//! Who uses an AMI: instances, launch template versions, Auto Scaling groups, launch
//! configurations, EKS managed nodegroups, SSM parameters, and other accounts it is shared with;
//! cross-checked with what EC2 itself reports (DescribeImageReferences), which also sees Image
//! Builder recipes.
//!
//! Cleanup tools cause outages by missing one kind of use, so every kind is looked up, and a
//! look-up that fails is kept as a failure (the caller must refuse), never read as "not in use".
//! Fetching (`observe`) is separate from matching (`Observed::uses`), which is pure and tested
//! without a server.

use crate::aws::inventory::{self, InstanceState};
use crate::aws::nodegroups::{self, Nodegroup, TemplateRef};
use crate::aws::org::{Org, Place, PLACES_AT_ONCE};
use crate::aws::{usage_report, Aws, LOOKUP_CONCURRENCY};
use crate::core::choice::Choice;
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::kinds::Reported;
use crate::core::progress::Progress;
use crate::error::{Error, Result};
use aws_sdk_ec2::types::{
    Filter, ImageReferenceOptionName, ImageReferenceResourceType, ResourceTypeOption, ResourceTypeRequest,
};
use futures::stream::{self, StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// What `observe` reads to find every use of an AMI in an account and region; a guard refuses
/// when one fails. The cross-check with EC2's own view is optional: it is skipped with a warning.
pub const IAM: &[Permission] = &[
    Permission::new(Service::Ec2, "DescribeInstances"),
    Permission::new(Service::Ec2, "DescribeLaunchTemplates"),
    Permission::new(Service::Ec2, "DescribeLaunchTemplateVersions"),
    Permission::new(Service::AutoScaling, "DescribeAutoScalingGroups"),
    Permission::new(Service::AutoScaling, "DescribeLaunchConfigurations"),
    Permission::new(Service::Eks, "ListClusters"),
    Permission::new(Service::Eks, "ListNodegroups"),
    Permission::new(Service::Eks, "DescribeNodegroup"),
    Permission::new(Service::Ssm, "DescribeParameters"),
    // Any parameter may hold an AMI id: every one is read.
    Permission::new(Service::Ssm, "GetParameters"),
    Permission::new(Service::Ec2, "DescribeImageReferences").optional("image references cross-check"),
];

/// EC2 caps the values of one filter at 200.
const FILTER_VALUES_MAX: usize = 200;
/// GetParameters takes at most 10 names a call.
const PARAMETERS_PER_CALL: usize = 10;
/// DescribeImageReferences takes at most 10 AMIs a call.
const REFERENCES_PER_CALL: usize = 10;
/// Every version of a launch template, as gio-ami's own scan reads them (AWS checks the 10
/// newest by default; 10,000 is the most it takes).
const REFERENCE_VERSION_DEPTH: &str = "10000";
/// Instance states that still hold (or may again hold) the AMI: everything but `terminated`.
const LIVE_STATES: [InstanceState; 5] = [
    InstanceState::Pending,
    InstanceState::Running,
    InstanceState::ShuttingDown,
    InstanceState::Stopping,
    InstanceState::Stopped,
];

/// One user of one AMI.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Use {
    /// The configured account (`[accounts]`) it was found in; `None`: the caller's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub ami: String,
    #[serde(flatten)]
    pub user: User,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum User {
    Instance {
        id: String,
        state: Reported<InstanceState>,
    },
    LaunchTemplate {
        id: String,
        name: String,
        version: i64,
    },
    AutoScalingGroup {
        name: String,
        via: String,
    },
    LaunchConfiguration {
        name: String,
    },
    Nodegroup {
        cluster: String,
        name: String,
        launch_template: String,
        version: i64,
    },
    SsmParameter {
        name: String,
    },
    /// A reference only DescribeImageReferences reported (an Image Builder recipe, or a resource
    /// gio-ami's own scans missed).
    Referenced {
        resource_type: String,
        arn: String,
    },
    /// Resources of an account gio-ami cannot enter, as an image usage report counts them.
    Counted {
        account_id: String,
        resource_type: String,
        count: i64,
    },
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            User::Instance { id, state } => write!(f, "instance {id} ({state})"),
            User::LaunchTemplate { id, name, version } => {
                write!(f, "launch template {name} ({id}) version {version}")
            }
            User::AutoScalingGroup { name, via } => write!(f, "Auto Scaling group {name} ({via})"),
            User::LaunchConfiguration { name } => write!(f, "launch configuration {name}"),
            User::Nodegroup { cluster, name, launch_template, version } => {
                write!(
                    f,
                    "EKS nodegroup {cluster}/{name} (launch template {launch_template} version {version})"
                )
            }
            User::SsmParameter { name } => write!(f, "SSM parameter {name}"),
            User::Referenced { resource_type, arn } => {
                write!(f, "{resource_type} {arn} (reported by DescribeImageReferences)")
            }
            User::Counted { account_id, resource_type, count } => {
                write!(
                    f,
                    "{count} {resource_type} in account {account_id} (counted by an image usage report)"
                )
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub image: String,
    pub state: Reported<InstanceState>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub default_version: i64,
    pub latest_version: i64,
    /// (version number, the AMI it launches) for every version.
    pub versions: Vec<(i64, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub name: String,
    /// Every launch template the group can launch from, with how (the mixed-instances policy's
    /// overrides included).
    pub templates: Vec<(TemplateRef, &'static str)>,
    pub launch_configuration: Option<String>,
}

/// Everything read from AWS, each look-up kept with its own success or failure.
#[derive(Debug)]
pub struct Observed {
    pub instances: Result<Vec<Instance>>,
    pub templates: Result<Vec<Template>>,
    pub groups: Result<Vec<Group>>,
    /// (name, AMI) of every launch configuration.
    pub launch_configurations: Result<Vec<(String, String)>>,
    pub nodegroups: Result<Vec<Nodegroup>>,
    /// (name, value) of every parameter.
    pub parameters: Result<Vec<(String, String)>>,
    /// AMI → the accounts (or `all`, organizations) it is shared with.
    pub sharing: Result<BTreeMap<String, Vec<String>>>,
    /// What EC2 reports as referencing the AMIs.
    pub references: Result<Vec<Reference>>,
}

/// One resource DescribeImageReferences names as using an AMI.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub ami: String,
    pub resource_type: String,
    pub arn: String,
}

/// What the guards need: the uses found, and the look-ups that could not be made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Usage {
    pub uses: Vec<Use>,
    /// "launch templates: access denied …": each means the answer is unknown.
    pub failures: Vec<String>,
    /// Why the DescribeImageReferences cross-check could not be made (permissions, a partition
    /// without it): gio-ami's own scans still decide, and the plan says so.
    pub cross_check_skipped: Option<String>,
    pub shared: BTreeMap<String, Vec<String>>,
    /// AMI → the grantees an image usage report counted nothing for: each account named that had
    /// no entry, or an organization, an OU or everyone when the report had none at all. Such a
    /// zero may be the report's lag (`usage_report::LAG`), not the absence of use.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unseen: BTreeMap<String, Vec<String>>,
    /// What the plan should say about how use elsewhere was checked.
    pub notes: Vec<String>,
    /// Every SSM parameter as read, (name, value): which AMIs of a release set are published,
    /// the AMIs asked about or not.
    #[serde(skip)]
    pub parameters: Vec<(String, String)>,
}

impl Usage {
    pub fn of<'a>(&'a self, ami: &'a str) -> impl Iterator<Item = &'a User> + 'a {
        self.uses.iter().filter(move |u| u.ami == ami).map(|u| &u.user)
    }

    /// Why the AMI must not go, for the guards: who uses it, and every look-up that could not be
    /// made (which might have found a user). Empty when it is free.
    pub fn reasons(&self, ami: &str) -> Vec<String> {
        let users: Vec<String> = self
            .uses
            .iter()
            .filter(|u| u.ami == ami)
            .map(|u| match &u.account {
                Some(account) => format!("{} in account `{account}`", u.user),
                None => u.user.to_string(),
            })
            .collect();
        let mut reasons: Vec<String> =
            (!users.is_empty()).then(|| format!("in use by {}", users.join(", "))).into_iter().collect();
        if !self.failures.is_empty() {
            reasons.push(format!("could not check whether it is in use ({})", self.failures.join("; ")));
        }
        reasons
    }
}

impl Observed {
    /// Matches what was read against the AMIs asked about. A look-up that failed is a failure
    /// of the usage, named, never "no use".
    pub fn usage(&self, amis: &HashSet<&str>) -> Usage {
        let mut failures = Vec::new();
        let mut readable = |what: &str, error: Option<&Error>| match error {
            Some(error) => {
                failures.push(format!("{what}: {error}"));
                false
            }
            None => true,
        };
        let (templates, configurations) = (or_none(&self.templates), or_none(&self.launch_configurations));
        let mut uses = Vec::new();
        if readable("instances", self.instances.as_ref().err()) {
            uses.extend(instance_uses(or_none(&self.instances), amis));
        }
        if readable("launch templates", self.templates.as_ref().err()) {
            uses.extend(template_uses(templates, amis));
        }
        if readable("launch configurations", self.launch_configurations.as_ref().err()) {
            uses.extend(configurations.iter().filter(|(_, image)| amis.contains(image.as_str())).map(
                |(name, image)| Use {
                    account: None,
                    ami: image.clone(),
                    user: User::LaunchConfiguration { name: name.clone() },
                },
            ));
        }
        if readable("Auto Scaling groups", self.groups.as_ref().err()) {
            for group in or_none(&self.groups) {
                uses.extend(group_uses(group, templates, configurations, amis));
            }
        }
        if readable("EKS nodegroups", self.nodegroups.as_ref().err()) {
            uses.extend(nodegroup_uses(or_none(&self.nodegroups), templates, amis));
        }
        if readable("SSM parameters", self.parameters.as_ref().err()) {
            uses.extend(
                or_none(&self.parameters).iter().filter(|(_, value)| amis.contains(value.trim())).map(
                    |(name, value)| Use {
                        account: None,
                        ami: value.trim().to_string(),
                        user: User::SsmParameter { name: name.clone() },
                    },
                ),
            );
        }
        let mut shared = BTreeMap::new();
        if let (true, Ok(sharing)) =
            (readable("launch permissions", self.sharing.as_ref().err()), &self.sharing)
        {
            shared = sharing
                .iter()
                .filter(|(ami, with)| amis.contains(ami.as_str()) && !with.is_empty())
                .map(|(ami, with)| (ami.clone(), with.clone()))
                .collect();
        }
        let cross_check_skipped = match &self.references {
            Ok(references) => {
                uses.extend(referenced_uses(references, &uses, amis));
                None
            }
            Err(e) => Some(format!("DescribeImageReferences: {e}")),
        };
        let parameters = or_none(&self.parameters).to_vec();
        Usage {
            uses,
            failures,
            shared,
            cross_check_skipped,
            unseen: BTreeMap::new(),
            notes: Vec::new(),
            parameters,
        }
    }
}

/// What was read, or nothing when the read failed (the failure is counted apart).
fn or_none<T>(read: &Result<Vec<T>>) -> &[T] {
    read.as_deref().unwrap_or_default()
}

/// The read asks EC2 for live instances only; a terminated one that still comes back (EC2
/// lists them for about an hour) launches nothing and holds nothing.
fn instance_uses<'a>(instances: &'a [Instance], amis: &'a HashSet<&str>) -> impl Iterator<Item = Use> + 'a {
    instances.iter().filter(|i| i.state != InstanceState::Terminated && amis.contains(i.image.as_str())).map(
        |i| Use {
            account: None,
            ami: i.image.clone(),
            user: User::Instance { id: i.id.clone(), state: i.state.clone() },
        },
    )
}

/// Every version of every launch template that names one of the AMIs.
fn template_uses<'a>(templates: &'a [Template], amis: &'a HashSet<&str>) -> impl Iterator<Item = Use> + 'a {
    templates.iter().flat_map(move |template| {
        template.versions.iter().filter_map(move |(version, image)| {
            let image = image.as_deref().filter(|i| amis.contains(i))?;
            Some(Use {
                account: None,
                ami: image.to_string(),
                user: User::LaunchTemplate {
                    id: template.id.clone(),
                    name: template.name.clone(),
                    version: *version,
                },
            })
        })
    })
}

/// An Auto Scaling group's uses: through its launch templates (the default and the
/// mixed-instances overrides) and its launch configuration.
fn group_uses(
    group: &Group,
    templates: &[Template],
    configurations: &[(String, String)],
    amis: &HashSet<&str>,
) -> Vec<Use> {
    let mut uses = Vec::new();
    for (reference, how) in &group.templates {
        uses.extend(resolve(templates, reference, amis).map(|(template, version, image)| Use {
            account: None,
            ami: image.to_string(),
            user: User::AutoScalingGroup {
                name: group.name.clone(),
                via: format!("{how} {} ({}) version {version}", template.name, template.id),
            },
        }));
    }
    let configuration = group.launch_configuration.as_deref();
    for (name, image) in configurations.iter().filter(|(n, _)| Some(n.as_str()) == configuration) {
        if amis.contains(image.as_str()) {
            uses.push(Use {
                account: None,
                ami: image.clone(),
                user: User::AutoScalingGroup {
                    name: group.name.clone(),
                    via: format!("launch configuration {name}"),
                },
            });
        }
    }
    uses
}

/// EKS managed nodegroups, through their launch templates.
fn nodegroup_uses<'a>(
    nodegroups: &'a [Nodegroup],
    templates: &'a [Template],
    amis: &'a HashSet<&str>,
) -> impl Iterator<Item = Use> + 'a {
    nodegroups.iter().flat_map(move |nodegroup| {
        nodegroup.template.iter().flat_map(move |reference| {
            resolve(templates, reference, amis).map(move |(template, version, image)| Use {
                account: None,
                ami: image.to_string(),
                user: User::Nodegroup {
                    cluster: nodegroup.cluster.clone(),
                    name: nodegroup.name.clone(),
                    launch_template: format!("{} ({})", template.name, template.id),
                    version,
                },
            })
        })
    })
}

/// What DescribeImageReferences reports that gio-ami's own scans did not find.
fn referenced_uses(references: &[Reference], found: &[Use], amis: &HashSet<&str>) -> Vec<Use> {
    references
        .iter()
        .filter(|r| {
            amis.contains(r.ami.as_str()) && !found.iter().any(|u| u.ami == r.ami && names(&u.user, &r.arn))
        })
        .map(|r| Use {
            account: None,
            ami: r.ami.clone(),
            user: User::Referenced { resource_type: r.resource_type.clone(), arn: r.arn.clone() },
        })
        .collect()
}

/// Whether a use found by gio-ami's own scans is the resource an ARN names.
fn names(user: &User, arn: &str) -> bool {
    match user {
        User::Instance { id, .. } => arn.ends_with(&format!(":instance/{id}")),
        User::LaunchTemplate { id, .. } => arn.ends_with(&format!(":launch-template/{id}")),
        // A parameter's ARN holds its name without the leading slash.
        User::SsmParameter { name } => arn.ends_with(&format!(":parameter/{}", name.trim_start_matches('/'))),
        _ => false,
    }
}

/// The template versions a reference launches (`$Latest`, `$Default` or no version, or a
/// number) whose AMI is one of `amis`. A reference to a template that no longer exists launches
/// nothing.
fn resolve<'a>(
    templates: &'a [Template],
    reference: &TemplateRef,
    amis: &'a HashSet<&str>,
) -> impl Iterator<Item = (&'a Template, i64, &'a str)> + 'a {
    let template = templates.iter().find(|t| {
        reference.id.as_deref() == Some(t.id.as_str()) || reference.name.as_deref() == Some(t.name.as_str())
    });
    let version = template.and_then(|t| match reference.version.as_deref() {
        Some("$Latest") => Some(t.latest_version),
        None | Some("$Default") => Some(t.default_version),
        Some(number) => number.parse().ok(),
    });
    template
        .into_iter()
        .flat_map(|t| t.versions.iter().filter_map(move |(v, image)| Some((t, *v, image.as_deref()?))))
        .filter(move |(_, v, image)| Some(*v) == version && amis.contains(image))
}

/// `observe`, unless there is no AMI to ask about (all of them gone already).
pub async fn observe_any(aws: &Aws, amis: &[String]) -> Option<Observed> {
    if amis.is_empty() {
        None
    } else {
        Some(observe(aws, amis).await)
    }
}

/// Use of the caller's AMIs in the configured accounts they are shared with (`shared`: AMI →
/// grantees, as `Usage::shared`), each account read with its own credentials in `region`, the
/// AMIs' region: AWS shows an account only its own instances, templates, groups, nodegroups
/// and parameters. Sharing with an organization, an OU or everyone may reach any configured
/// account, so all are read then. An account that could not be read, or not in `region`, is a
/// failure (the guard refuses); `shared` comes back with the grantees left unchecked.
pub async fn elsewhere(org: &Org, region: &str, shared: &BTreeMap<String, Vec<String>>) -> Usage {
    let amis_for = |id: Option<&str>| -> Vec<String> {
        shared.iter().filter(|(_, with)| reaches(id, with)).map(|(ami, _)| ami.clone()).collect()
    };
    let mut usage = Usage::default();
    let places: Vec<(&Place, Vec<String>)> = org
        .places
        .iter()
        .filter(|p| p.aws.region() == region)
        .map(|p| (p, amis_for(p.account_id.as_deref())))
        .filter(|(_, amis)| !amis.is_empty())
        .collect();
    let read = stream::iter(&places)
        .map(|(place, amis)| async move {
            (
                place,
                observe_consumer(&place.aws, amis).await.usage(&amis.iter().map(String::as_str).collect()),
            )
        })
        .buffered(PLACES_AT_ONCE)
        .collect::<Vec<_>>()
        .await;
    for (place, found) in read {
        let account = place.account.clone().unwrap_or_default();
        usage.uses.extend(found.uses.into_iter().map(|u| Use { account: Some(account.clone()), ..u }));
        usage.failures.extend(found.failures.into_iter().map(|f| format!("account `{account}`: {f}")));
    }
    for unreached in &org.unreachable {
        if !amis_for(unreached.account_id.as_deref()).is_empty() {
            usage.failures.push(format!(
                "account `{}`, which it is shared with: {}",
                unreached.account, unreached.error
            ));
        }
    }
    let mut checked: HashSet<&str> = places.iter().filter_map(|(p, _)| p.account_id.as_deref()).collect();
    checked.extend(org.unreachable.iter().filter_map(|u| u.account_id.as_deref()));
    usage.shared = shared
        .iter()
        .map(|(ami, with)| {
            (ami.clone(), with.iter().filter(|g| !checked.contains(g.as_str())).cloned().collect::<Vec<_>>())
        })
        .filter(|(_, with)| !with.is_empty())
        .collect();
    usage
}

/// Use in the accounts still unchecked (`usage.shared`: no role for them), as EC2 counts it for
/// the owner in an image usage report, one per AMI. A report that cannot be made (permissions,
/// a partition without it, a wait too long) leaves that use unchecked: a note, as without it.
pub async fn count_elsewhere(aws: &Aws, usage: &mut Usage, progress: &dyn Progress) {
    let shared = std::mem::take(&mut usage.shared);
    let counted = stream::iter(&shared)
        .map(|(ami, with)| async move {
            // An organization, an OU or everyone may be any account: the report then covers all.
            let accounts = with.iter().all(|g| is_account_id(g)).then_some(with.as_slice());
            (ami, with, usage_report::counts(aws, ami, accounts, progress).await)
        })
        .buffered(LOOKUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    for (ami, with, counted) in counted {
        match counted {
            Ok(counts) => {
                usage.notes.push(format!(
                    "{ami} is shared with {}: an image usage report counted their instances and launch templates; \
                     other kinds of use there (Auto Scaling groups, nodegroups, SSM parameters) stay invisible from here",
                    with.join(", ")
                ));
                let unseen = unseen(with, &counts);
                if !unseen.is_empty() {
                    usage.unseen.insert(ami.clone(), unseen);
                }
                usage.uses.extend(counts.into_iter().map(|c| Use {
                    account: None,
                    ami: ami.clone(),
                    user: User::Counted {
                        account_id: c.account_id,
                        resource_type: c.resource_type,
                        count: c.count,
                    },
                }));
            }
            Err(e) => {
                usage.notes.push(format!("{ami}: no image usage report could be read ({e})"));
                usage.shared.insert(ami.clone(), with.clone());
            }
        }
    }
}

/// The grantees a report's counts say nothing of: an account without an entry, or an
/// organization, an OU or everyone when there is no entry at all.
fn unseen(with: &[String], counts: &[usage_report::Count]) -> Vec<String> {
    with.iter()
        .filter(|g| match is_account_id(g) {
            true => !counts.iter().any(|c| &c.account_id == *g),
            false => counts.is_empty(),
        })
        .cloned()
        .collect()
}

/// Whether sharing with these grantees may reach the account: named, or an organization, an OU
/// or everyone, which may hold any account.
fn reaches(account_id: Option<&str>, with: &[String]) -> bool {
    with.iter().any(|g| Some(g.as_str()) == account_id || !is_account_id(g))
}

fn is_account_id(grantee: &str) -> bool {
    grantee.len() == 12 && grantee.bytes().all(|b| b.is_ascii_digit())
}

/// What a consumer account runs of AMIs it does not own: every scan but the owner's launch
/// permissions (only the owner may read them) and the references EC2 reports (the owner's
/// own scan cross-checks those).
async fn observe_consumer(aws: &Aws, amis: &[String]) -> Observed {
    scan(aws, amis, false).await
}

/// Reads every kind of user at once; each look-up succeeds or fails on its own.
pub async fn observe(aws: &Aws, amis: &[String]) -> Observed {
    scan(aws, amis, true).await
}

async fn scan(aws: &Aws, amis: &[String], owner: bool) -> Observed {
    let owners_view = async {
        match owner {
            true => futures::join!(sharing(aws, amis), references(aws, amis)),
            false => (Ok(BTreeMap::new()), Ok(Vec::new())),
        }
    };
    let (instances, templates, groups, launch_configurations, nodegroups, parameters, (sharing, references)) = futures::join!(
        instances(aws, amis),
        templates(aws),
        groups(aws),
        launch_configurations(aws),
        nodegroups(aws),
        parameters(aws),
        owners_view,
    );
    Observed {
        instances,
        templates,
        groups,
        launch_configurations,
        nodegroups,
        parameters,
        sharing,
        references,
    }
}

/// What EC2 reports as using the AMIs: every resource type it checks, with live instances only
/// and every launch template version, as gio-ami's own scans read them.
async fn references(aws: &Aws, amis: &[String]) -> Result<Vec<Reference>> {
    let option = |name: ImageReferenceOptionName, values: Vec<String>| {
        ResourceTypeOption::builder().option_name(name).set_option_values(Some(values)).build()
    };
    let live: Vec<String> = LIVE_STATES.iter().map(|s| s.name().to_string()).collect();
    let instances = ResourceTypeRequest::builder()
        .resource_type(ImageReferenceResourceType::Ec2Instance)
        .resource_type_options(option(ImageReferenceOptionName::StateName, live))
        .build();
    let templates = ResourceTypeRequest::builder()
        .resource_type(ImageReferenceResourceType::Ec2LaunchTemplate)
        .resource_type_options(option(
            ImageReferenceOptionName::VersionDepth,
            vec![REFERENCE_VERSION_DEPTH.into()],
        ))
        .build();
    let mut found = Vec::new();
    for chunk in amis.chunks(REFERENCES_PER_CALL) {
        let mut pages = aws
            .ec2()
            .describe_image_references()
            .set_image_ids(Some(chunk.to_vec()))
            .include_all_resource_types(true)
            .resource_types(instances.clone())
            .resource_types(templates.clone())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws.error("DescribeImageReferences", Service::Ec2, e))?;
            found.extend(page.image_references().iter().map(|r| Reference {
                ami: r.image_id().unwrap_or_default().to_string(),
                resource_type: r.resource_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                arn: r.arn().unwrap_or_default().to_string(),
            }));
        }
    }
    Ok(found)
}

async fn instances(aws: &Aws, amis: &[String]) -> Result<Vec<Instance>> {
    let mut found = Vec::new();
    for chunk in amis.chunks(FILTER_VALUES_MAX) {
        let mut pages = aws
            .ec2()
            .describe_instances()
            .filters(Filter::builder().name("image-id").set_values(Some(chunk.to_vec())).build())
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(LIVE_STATES.map(|s| s.name().to_string()).to_vec()))
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws.error("DescribeInstances", Service::Ec2, e))?;
            found.extend(page.reservations().iter().flat_map(|r| r.instances()).map(|i| Instance {
                id: i.instance_id().unwrap_or_default().to_string(),
                image: i.image_id().unwrap_or_default().to_string(),
                state: i.state().and_then(|s| s.name()).map(Reported::from).unwrap_or_default(),
            }));
        }
    }
    Ok(found)
}

/// Every version of every template: a version other than `$Default`/`$Latest` can still be
/// launched by name, and is what an older ASG or nodegroup may pin.
async fn templates(aws: &Aws) -> Result<Vec<Template>> {
    let mut pages = aws.ec2().describe_launch_templates().into_paginator().send();
    let mut templates = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeLaunchTemplates", Service::Ec2, e))?;
        templates.extend(page.launch_templates().iter().map(|t| Template {
            id: t.launch_template_id().unwrap_or_default().to_string(),
            name: t.launch_template_name().unwrap_or_default().to_string(),
            default_version: t.default_version_number().unwrap_or_default(),
            latest_version: t.latest_version_number().unwrap_or_default(),
            versions: Vec::new(),
        }));
    }
    stream::iter(templates)
        .map(|mut template| async move {
            let mut pages = aws
                .ec2()
                .describe_launch_template_versions()
                .launch_template_id(&template.id)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws.error("DescribeLaunchTemplateVersions", Service::Ec2, e))?;
                template.versions.extend(page.launch_template_versions().iter().map(|v| {
                    let image = v.launch_template_data().and_then(|d| d.image_id()).map(str::to_string);
                    (v.version_number().unwrap_or_default(), image)
                }));
            }
            Ok(template)
        })
        .buffered(LOOKUP_CONCURRENCY)
        .try_collect()
        .await
}

async fn groups(aws: &Aws) -> Result<Vec<Group>> {
    let reference = |spec: &aws_sdk_autoscaling::types::LaunchTemplateSpecification| TemplateRef {
        id: spec.launch_template_id().map(str::to_string),
        name: spec.launch_template_name().map(str::to_string),
        version: spec.version().map(str::to_string),
    };
    let mut pages = aws.autoscaling().describe_auto_scaling_groups().into_paginator().send();
    let mut groups = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeAutoScalingGroups", Service::AutoScaling, e))?;
        for group in page.auto_scaling_groups() {
            let mut templates = Vec::new();
            if let Some(spec) = group.launch_template() {
                templates.push((reference(spec), "launch template"));
            }
            if let Some(mixed) = group.mixed_instances_policy().and_then(|p| p.launch_template()) {
                if let Some(spec) = mixed.launch_template_specification() {
                    templates.push((reference(spec), "mixed-instances policy, launch template"));
                }
                for spec in mixed.overrides().iter().filter_map(|o| o.launch_template_specification()) {
                    templates.push((reference(spec), "mixed-instances override, launch template"));
                }
            }
            groups.push(Group {
                name: group.auto_scaling_group_name().unwrap_or_default().to_string(),
                templates,
                launch_configuration: group.launch_configuration_name().map(str::to_string),
            });
        }
    }
    Ok(groups)
}

async fn launch_configurations(aws: &Aws) -> Result<Vec<(String, String)>> {
    let mut pages = aws.autoscaling().describe_launch_configurations().into_paginator().send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeLaunchConfigurations", Service::AutoScaling, e))?;
        found.extend(page.launch_configurations().iter().map(|c| {
            (
                c.launch_configuration_name().unwrap_or_default().to_string(),
                c.image_id().unwrap_or_default().to_string(),
            )
        }));
    }
    Ok(found)
}

async fn nodegroups(aws: &Aws) -> Result<Vec<Nodegroup>> {
    let mut pages = aws.eks().list_clusters().into_paginator().send();
    let mut clusters = Vec::new();
    while let Some(page) = pages.next().await {
        clusters
            .extend(page.map_err(|e| aws.error("ListClusters", Service::Eks, e))?.clusters().iter().cloned());
    }
    let mut found = Vec::new();
    for cluster in clusters {
        found.extend(nodegroups::of_cluster(aws, &cluster).await?);
    }
    Ok(found)
}

/// Every parameter's value, whatever its data type: a plain `String` parameter holding an AMI id
/// feeds a launch as surely as an `aws:ec2:image` one.
async fn parameters(aws: &Aws) -> Result<Vec<(String, String)>> {
    let mut pages = aws.ssm().describe_parameters().into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeParameters", Service::Ssm, e))?;
        names.extend(page.parameters().iter().filter_map(|p| p.name().map(str::to_string)));
    }
    let chunks: Vec<Vec<String>> = names.chunks(PARAMETERS_PER_CALL).map(<[String]>::to_vec).collect();
    let pages: Vec<Vec<(String, String)>> = stream::iter(chunks)
        .map(|chunk| async move {
            let output = aws
                .ssm()
                .get_parameters()
                .set_names(Some(chunk))
                .send()
                .await
                .map_err(|e| aws.error("GetParameters", Service::Ssm, e))?;
            Ok::<_, Error>(
                output
                    .parameters()
                    .iter()
                    .map(|p| {
                        (p.name().unwrap_or_default().to_string(), p.value().unwrap_or_default().to_string())
                    })
                    .collect(),
            )
        })
        .buffered(LOOKUP_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(pages.into_iter().flatten().collect())
}

/// Who else may launch each AMI: use in those accounts is invisible from this one.
async fn sharing(aws: &Aws, amis: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    stream::iter(amis)
        .map(|ami| async move { Ok((ami.clone(), inventory::launch_permissions(aws, ami).await?.names())) })
        .buffered(LOOKUP_CONCURRENCY)
        .try_collect()
        .await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn a_reports_silence_is_kept_per_grantee() {
        let with: Vec<String> = ["111122223333", "222233334444"].map(String::from).to_vec();
        let count = |account: &str| usage_report::Count {
            account_id: account.into(),
            resource_type: "ec2:Instance".into(),
            count: 1,
        };
        assert_eq!(unseen(&with, &[count("111122223333")]), ["222233334444"]);
        assert_eq!(unseen(&with, &[]), with);
        let org = vec!["arn:aws:organizations::123456789012:organization/o-abc".to_string()];
        assert_eq!(unseen(&org, &[]), org, "an organization with no entry at all");
        assert!(unseen(&org, &[count("111122223333")]).is_empty(), "an organization someone in it uses");
    }

    #[test]
    fn sharing_reaches_the_accounts_it_names_and_any_behind_an_organization() {
        let with = |grantees: &[&str]| grantees.iter().map(|g| g.to_string()).collect::<Vec<_>>();
        assert!(reaches(Some("222233334444"), &with(&["111122223333", "222233334444"])));
        assert!(!reaches(Some("222233334444"), &with(&["111122223333"])));
        assert!(reaches(
            Some("222233334444"),
            &with(&["arn:aws:organizations::111122223333:organization/o-abc1234567"])
        ));
        assert!(reaches(None, &with(&[inventory::PUBLIC])));
        assert!(!reaches(None, &with(&["111122223333"])));
    }

    pub fn nothing() -> Observed {
        Observed {
            instances: Ok(vec![]),
            templates: Ok(vec![]),
            groups: Ok(vec![]),
            launch_configurations: Ok(vec![]),
            nodegroups: Ok(vec![]),
            parameters: Ok(vec![]),
            sharing: Ok(BTreeMap::new()),
            references: Ok(vec![]),
        }
    }

    #[test]
    fn a_reference_only_ec2_reports_refuses_and_one_the_scans_found_is_named_once() {
        let reference = |arn: &str| Reference {
            ami: "ami-x".into(),
            resource_type: "imagebuilder:ImageRecipe".into(),
            arn: arn.into(),
        };
        let observed = Observed {
            instances: Ok(vec![Instance {
                id: "i-1".into(),
                image: "ami-x".into(),
                state: "running".into(),
            }]),
            references: Ok(vec![
                Reference {
                    resource_type: "ec2:Instance".into(),
                    ..reference("arn:aws:ec2:eu-west-1:123456789012:instance/i-1")
                },
                reference("arn:aws:imagebuilder:eu-west-1:123456789012:image-recipe/nodes/1.0.0"),
            ]),
            ..nothing()
        };
        assert_eq!(
            users(&observed, "ami-x"),
            [
                "instance i-1 (running)",
                "imagebuilder:ImageRecipe arn:aws:imagebuilder:eu-west-1:123456789012:image-recipe/nodes/1.0.0 (reported by DescribeImageReferences)"
            ]
        );
    }

    #[test]
    fn a_refused_cross_check_is_skipped_not_a_refusal() {
        let denied = Error::Api {
            operation: "DescribeImageReferences",
            code: "UnauthorizedOperation".into(),
            message: "no".into(),
        };
        let usage = Observed { references: Err(denied), ..nothing() }.usage(&HashSet::from(["ami-x"]));
        assert!(usage.reasons("ami-x").is_empty());
        assert!(usage.cross_check_skipped.is_some_and(|why| why.contains("UnauthorizedOperation")));
    }

    fn template() -> Template {
        Template {
            id: "lt-1".into(),
            name: "nodes".into(),
            default_version: 1,
            latest_version: 3,
            versions: vec![
                (1, Some("ami-old".into())),
                (2, Some("ami-x".into())),
                (3, Some("ami-new".into())),
            ],
        }
    }

    fn by_name(version: Option<&str>) -> TemplateRef {
        TemplateRef { id: None, name: Some("nodes".into()), version: version.map(str::to_string) }
    }

    fn users(observed: &Observed, ami: &str) -> Vec<String> {
        observed.usage(&HashSet::from([ami])).of(ami).map(ToString::to_string).collect()
    }

    #[test]
    fn a_live_instance_is_a_user() {
        let observed = Observed {
            instances: Ok(vec![Instance {
                id: "i-1".into(),
                image: "ami-x".into(),
                state: "stopped".into(),
            }]),
            ..nothing()
        };
        assert_eq!(users(&observed, "ami-x"), ["instance i-1 (stopped)"]);
        assert!(users(&observed, "ami-y").is_empty());
    }

    #[test]
    fn a_terminated_instance_is_no_user() {
        let observed = Observed {
            instances: Ok(vec![Instance {
                id: "i-1".into(),
                image: "ami-x".into(),
                state: "terminated".into(),
            }]),
            ..nothing()
        };
        assert!(users(&observed, "ami-x").is_empty());
    }

    #[test]
    fn every_launch_template_version_counts_not_only_default_and_latest() {
        let observed = Observed { templates: Ok(vec![template()]), ..nothing() };
        assert_eq!(users(&observed, "ami-x"), ["launch template nodes (lt-1) version 2"]);
    }

    #[test]
    fn groups_resolve_their_template_version_including_mixed_instances_overrides() {
        let group = |templates| Group { name: "asg".into(), templates, launch_configuration: None };
        let observed = Observed {
            templates: Ok(vec![template()]),
            groups: Ok(vec![
                group(vec![(by_name(Some("$Latest")), "launch template")]),
                group(vec![
                    (by_name(None), "mixed-instances policy, launch template"),
                    (by_name(Some("2")), "mixed-instances override, launch template"),
                ]),
            ]),
            ..nothing()
        };
        let new: Vec<String> =
            users(&observed, "ami-new").into_iter().filter(|u| u.starts_with("Auto")).collect();
        assert_eq!(new, ["Auto Scaling group asg (launch template nodes (lt-1) version 3)"]);
        let old: Vec<String> =
            users(&observed, "ami-old").into_iter().filter(|u| u.starts_with("Auto")).collect();
        assert_eq!(
            old,
            ["Auto Scaling group asg (mixed-instances policy, launch template nodes (lt-1) version 1)"],
            "no version means $Default"
        );
        let x: Vec<String> =
            users(&observed, "ami-x").into_iter().filter(|u| u.starts_with("Auto")).collect();
        assert_eq!(
            x,
            ["Auto Scaling group asg (mixed-instances override, launch template nodes (lt-1) version 2)"]
        );
    }

    #[test]
    fn launch_configurations_are_users_attached_or_not() {
        let observed = Observed {
            launch_configurations: Ok(vec![("lc-a".into(), "ami-x".into()), ("lc-b".into(), "ami-x".into())]),
            groups: Ok(vec![Group {
                name: "asg".into(),
                templates: vec![],
                launch_configuration: Some("lc-a".into()),
            }]),
            ..nothing()
        };
        assert_eq!(
            users(&observed, "ami-x"),
            [
                "launch configuration lc-a",
                "launch configuration lc-b",
                "Auto Scaling group asg (launch configuration lc-a)"
            ]
        );
    }

    #[test]
    fn nodegroups_use_the_ami_through_their_launch_template() {
        let observed = Observed {
            templates: Ok(vec![template()]),
            nodegroups: Ok(vec![
                Nodegroup {
                    cluster: "prod".into(),
                    name: "ng".into(),
                    template: Some(TemplateRef {
                        id: Some("lt-1".into()),
                        name: None,
                        version: Some("2".into()),
                    }),
                },
                Nodegroup { cluster: "prod".into(), name: "managed-ami".into(), template: None },
            ]),
            ..nothing()
        };
        assert!(users(&observed, "ami-x")
            .contains(&"EKS nodegroup prod/ng (launch template nodes (lt-1) version 2)".to_string()));
    }

    #[test]
    fn ssm_parameters_holding_the_id_are_users() {
        let observed = Observed {
            parameters: Ok(vec![
                ("/gio/prod/ami".into(), "ami-x\n".into()),
                ("/other".into(), "ami-xy".into()),
            ]),
            ..nothing()
        };
        assert_eq!(users(&observed, "ami-x"), ["SSM parameter /gio/prod/ami"]);
    }

    #[test]
    fn a_failed_lookup_is_reported_never_silent() {
        let denied = || Error::AccessDenied {
            service: crate::core::error::Service::Eks,
            operation: "ListClusters",
            code: "AccessDeniedException".into(),
            message: "no".into(),
        };
        let observed = Observed { nodegroups: Err(denied()), templates: Err(denied()), ..nothing() };
        let usage = observed.usage(&HashSet::from(["ami-x"]));
        assert_eq!(usage.failures.len(), 2);
        assert!(usage.failures[0].starts_with("launch templates: access denied"), "{:?}", usage.failures);
        assert!(usage.failures[1].starts_with("EKS nodegroups: access denied"), "{:?}", usage.failures);
    }

    #[test]
    fn sharing_is_kept_for_the_amis_asked_about() {
        let observed = Observed {
            sharing: Ok(BTreeMap::from([
                ("ami-x".into(), vec!["111122223333".into()]),
                ("ami-y".into(), vec![]),
            ])),
            ..nothing()
        };
        let usage = observed.usage(&HashSet::from(["ami-x", "ami-y"]));
        assert_eq!(usage.shared, BTreeMap::from([("ami-x".to_string(), vec!["111122223333".to_string()])]));
    }
}
