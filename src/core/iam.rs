//! The IAM permissions gio-ami's AWS calls need, and the policy document that grants them.
//!
//! Each module that calls AWS declares the actions its calls need (`IAM`, a `&[Permission]`)
//! beside those calls; each verb declares its own as the groups of the code it runs
//! (`commands::VERB::IAM`). `gio-ami iam-policy` turns a verb's declaration into the policy, and
//! the tests run each verb as an IAM user holding exactly that policy, so a call the declaration
//! misses fails a test rather than a user's first run.
//!
//! Action names and the resources and condition keys each action supports are the Service
//! Authorization Reference's:
//! https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html

use super::error::Service;
use serde::Serialize;
use std::collections::BTreeMap;

/// The policy language version every current policy uses (IAM JSON policy elements: Version).
pub const POLICY_VERSION: &str = "2012-10-17";

/// The IAM quota on the size of a managed policy: 6,144 characters, whitespace not counted
/// (IAM and AWS STS quotas). A larger document must be split before it can be attached.
pub const MANAGED_POLICY_MAX: usize = 6_144;

/// One IAM action one of gio-ami's calls needs, how much it needs it, and on what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub service: Service,
    /// The action's name as the Service Authorization Reference spells it (`DeregisterImage`).
    pub action: &'static str,
    pub need: Need,
    pub scope: Scope,
}

/// Whether a command fails without the action, or only says less.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Required,
    /// A read the command degrades without (a warning, a `?`): what is lost, in a few words that
    /// make the statement's Sid (`the image references cross-check`).
    Optional(&'static str),
}

/// The resources a permission is granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Every resource: the action supports no resource-level permission, or acts on what the
    /// command reads or makes rather than on what it manages.
    Any,
    /// Only the account's resources of this type that carry this gio-ami tag: EC2 supports the
    /// `aws:ResourceTag/${TagKey}` condition key on its image, snapshot and instance resources
    /// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html,
    /// "Resource types"), so a role holding the policy cannot touch what gio-ami does not manage.
    Tagged(Resource, &'static str),
    /// The SSM parameters the spec's clusters publish to: Parameter Store's actions take the
    /// `parameter` resource
    /// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html).
    ClusterParameters,
    /// AWS's public SSM parameters (`/aws/service/eks/...`, the EKS-optimized AMIs).
    PublicParameters,
    /// The account's SSM parameters under a path gio-ami owns (`/gio-ami/archived/`).
    ParametersUnder(&'static str),
    /// The roles of the spec's `[accounts]`: sts:AssumeRole takes the `role` resource
    /// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html).
    AccountRoles,
    /// Any role, only to be passed to this service (`iam:PassedToService`): an instance
    /// profile's role handed to a builder.
    RolesPassedTo(&'static str),
}

/// The EC2 resource types a tag condition scopes (their ARN formats: Amazon EC2's resource
/// types in the Service Authorization Reference; images and snapshots have no account field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    Image,
    Snapshot,
    Instance,
}

impl Resource {
    fn arn(self, partition: &str) -> String {
        match self {
            Resource::Image => format!("arn:{partition}:ec2:*::image/*"),
            Resource::Snapshot => format!("arn:{partition}:ec2:*::snapshot/*"),
            Resource::Instance => format!("arn:{partition}:ec2:*:*:instance/*"),
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Resource::Image => "Images",
            Resource::Snapshot => "Snapshots",
            Resource::Instance => "Instances",
        }
    }
}

impl Permission {
    /// A required action on every resource; `.optional`, `.tagged` and `.on` narrow it.
    pub const fn new(service: Service, action: &'static str) -> Self {
        Permission { service, action, need: Need::Required, scope: Scope::Any }
    }

    pub const fn optional(self, lost: &'static str) -> Self {
        Permission { need: Need::Optional(lost), ..self }
    }

    pub const fn tagged(self, resource: Resource, tag: &'static str) -> Self {
        Permission { scope: Scope::Tagged(resource, tag), ..self }
    }

    pub const fn on(self, scope: Scope) -> Self {
        Permission { scope, ..self }
    }

    /// `ec2:DeregisterImage`: the name an IAM policy and an AccessDenied use.
    pub fn name(&self) -> String {
        format!("{}:{}", self.service, self.action)
    }
}

/// `group`, every permission of it optional for a command that does without it (a report that
/// shows `?`), losing `lost`.
pub const fn optional<const N: usize>(mut group: [Permission; N], lost: &'static str) -> [Permission; N] {
    let mut i = 0;
    while i < N {
        group[i].need = Need::Optional(lost);
        i += 1;
    }
    group
}

/// What the spec names, to scope the permissions that can be scoped. Empty lists (no spec, or a
/// spec without clusters or accounts) leave those permissions on every resource of their kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scoping {
    /// `aws`, `aws-cn`, `aws-us-gov`: the partition of the regions the commands run in.
    pub partition: String,
    /// The clusters' parameters as (region, account, name); `None` for "any".
    pub parameters: Vec<(Option<String>, Option<String>, String)>,
    pub roles: Vec<String>,
}

impl Default for Scoping {
    fn default() -> Self {
        Scoping { partition: "aws".into(), parameters: Vec::new(), roles: Vec::new() }
    }
}

impl Scoping {
    /// The partition of a region, as ARNs spell it.
    pub fn partition_of(region: &str) -> &'static str {
        if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    fn resources(&self, scope: Scope) -> Vec<String> {
        let partition = &self.partition;
        match scope {
            Scope::Any => vec!["*".into()],
            Scope::Tagged(resource, _) => vec![resource.arn(partition)],
            Scope::ClusterParameters if self.parameters.is_empty() => {
                vec![format!("arn:{partition}:ssm:*:*:parameter/*")]
            }
            // A parameter's ARN is `parameter` then its name, whose leading slash is the ARN's
            // separator (AWS Systems Manager: Parameter Store ARNs).
            Scope::ClusterParameters => self
                .parameters
                .iter()
                .map(|(region, account, name)| {
                    format!(
                        "arn:{partition}:ssm:{}:{}:parameter/{}",
                        region.as_deref().unwrap_or("*"),
                        account.as_deref().unwrap_or("*"),
                        name.trim_start_matches('/')
                    )
                })
                .collect(),
            // Public parameters belong to no account: their ARNs have an empty account field.
            Scope::PublicParameters => vec![format!("arn:{partition}:ssm:*::parameter/aws/service/*")],
            Scope::ParametersUnder(path) => {
                vec![format!("arn:{partition}:ssm:*:*:parameter/{}*", path.trim_start_matches('/'))]
            }
            Scope::AccountRoles if self.roles.is_empty() => vec![format!("arn:{partition}:iam::*:role/*")],
            Scope::AccountRoles => self.roles.clone(),
            Scope::RolesPassedTo(_) => vec![format!("arn:{partition}:iam::*:role/*")],
        }
    }
}

/// An IAM policy document, serialized in the policy language's element names.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub sid: String,
    pub effect: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<BTreeMap<&'static str, String>>,
    pub action: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: BTreeMap<&'static str, BTreeMap<String, String>>,
}

impl Policy {
    /// The least policy granting `permissions`: one statement per scope (and per optional
    /// read, whose Sid says what is lost without it), actions sorted, each once.
    pub fn granting<'a>(permissions: impl IntoIterator<Item = &'a Permission>, scoping: &Scoping) -> Self {
        let permissions: Vec<&Permission> = permissions.into_iter().collect();
        // An action one command requires and another can do without is granted once, as
        // required; one required on every resource needs no narrower grant beside it.
        let required: Vec<(Service, &str, Scope)> = permissions
            .iter()
            .filter(|p| p.need == Need::Required)
            .map(|p| (p.service, p.action, p.scope))
            .collect();
        let covered = |p: &Permission| {
            let everywhere = (p.service, p.action, Scope::Any);
            (p.need != Need::Required && required.contains(&(p.service, p.action, p.scope)))
                || (p.scope != Scope::Any && required.contains(&everywhere))
        };
        let mut groups: BTreeMap<(Need, Scope), Vec<String>> = BTreeMap::new();
        for permission in permissions {
            if covered(permission) {
                continue;
            }
            groups.entry((permission.need, permission.scope)).or_default().push(permission.name());
        }
        let statement = groups
            .into_iter()
            .map(|((need, scope), mut action)| {
                action.sort();
                action.dedup();
                Statement {
                    sid: sid(need, scope),
                    effect: "Allow",
                    principal: None,
                    action,
                    resource: scoping.resources(scope),
                    condition: condition(scope),
                }
            })
            .collect();
        Policy { version: POLICY_VERSION, statement }
    }

    /// The trust policy of a role that `caller` assumes, with the external id the spec gives.
    pub fn trusting(caller: &str, external_id: Option<&str>) -> Self {
        let mut condition = BTreeMap::new();
        if let Some(id) = external_id {
            condition
                .insert("StringEquals", BTreeMap::from([("sts:ExternalId".to_string(), id.to_string())]));
        }
        Policy {
            version: POLICY_VERSION,
            statement: vec![Statement {
                sid: "GioAmiAssumesThisRole".into(),
                effect: "Allow",
                principal: Some(BTreeMap::from([("AWS", caller.to_string())])),
                action: vec!["sts:AssumeRole".into()],
                resource: Vec::new(),
                condition,
            }],
        }
    }

    /// The characters IAM counts against its size quotas: the document without whitespace.
    pub fn size(&self) -> usize {
        serde_json::to_string(self).map_or(0, |text| text.chars().filter(|c| !c.is_whitespace()).count())
    }
}

/// What a statement of this scope asks of the request beside its resources.
fn condition(scope: Scope) -> BTreeMap<&'static str, BTreeMap<String, String>> {
    match scope {
        // `Null: false` is the documented test that a tag key is present, whatever its value
        // (IAM JSON policy elements: Condition operators, Null).
        Scope::Tagged(_, tag) => {
            BTreeMap::from([("Null", BTreeMap::from([(format!("aws:ResourceTag/{tag}"), "false".into())]))])
        }
        // IAM: Granting a user permissions to pass a role to an AWS service.
        Scope::RolesPassedTo(service) => BTreeMap::from([(
            "StringEquals",
            BTreeMap::from([("iam:PassedToService".to_string(), service.to_string())]),
        )]),
        _ => BTreeMap::new(),
    }
}

/// A statement's Sid: letters and digits only (IAM JSON policy elements: Sid), saying why the
/// statement is there.
fn sid(need: Need, scope: Scope) -> String {
    let what = match scope {
        Scope::Any => "Calls".to_string(),
        Scope::Tagged(resource, tag) => {
            format!("{}Tagged{}", resource.plural(), camel(tag.trim_start_matches(super::tags::PREFIX)))
        }
        Scope::ClusterParameters => "ClusterParameters".into(),
        Scope::PublicParameters => "AwsPublicParameters".into(),
        Scope::ParametersUnder(path) => format!("ParametersUnder{}", camel(path)),
        Scope::AccountRoles => "AccountRoles".into(),
        Scope::RolesPassedTo(service) => {
            format!("RolesPassedTo{}", camel(service.split('.').next().unwrap_or(service)))
        }
    };
    match need {
        Need::Required => what,
        Need::Optional(lost) if scope == Scope::Any => format!("OptionalWithoutItNo{}", camel(lost)),
        Need::Optional(lost) => format!("OptionalWithoutItNo{}On{what}", camel(lost)),
    }
}

/// `the image references cross-check` -> `TheImageReferencesCrossCheck`.
fn camel(words: &str) -> String {
    words
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tags;

    const DESCRIBE: Permission = Permission::new(Service::Ec2, "DescribeImages");
    const DEREGISTER: Permission =
        Permission::new(Service::Ec2, "DeregisterImage").tagged(Resource::Image, tags::RELEASE);
    const REFERENCES: Permission =
        Permission::new(Service::Ec2, "DescribeImageReferences").optional("image references cross-check");

    #[test]
    fn each_scope_is_a_statement_with_its_actions_once_and_sorted() {
        let put = Permission::new(Service::Ssm, "PutParameter").on(Scope::ClusterParameters);
        let permissions = [DEREGISTER, DESCRIBE, Permission::new(Service::Ec2, "CreateTags"), DESCRIBE, put];
        let scoping = Scoping {
            partition: "aws".into(),
            parameters: vec![
                (Some("eu-west-1".into()), None, "/gio/staging/node-ami".into()),
                (None, Some("210987654321".into()), "prod-ami".into()),
            ],
            roles: Vec::new(),
        };
        let policy = serde_json::to_value(Policy::granting(&permissions, &scoping)).unwrap();
        assert_eq!(policy["Version"], "2012-10-17");
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 3, "{policy:#}");
        assert_eq!(statements[0]["Sid"], "Calls");
        assert_eq!(statements[0]["Action"], serde_json::json!(["ec2:CreateTags", "ec2:DescribeImages"]));
        assert_eq!(statements[0]["Resource"], serde_json::json!(["*"]));
        assert_eq!(statements[1]["Sid"], "ImagesTaggedRelease");
        assert_eq!(statements[1]["Resource"], serde_json::json!(["arn:aws:ec2:*::image/*"]));
        assert_eq!(
            statements[1]["Condition"],
            serde_json::json!({"Null": {"aws:ResourceTag/gio-ami:release": "false"}})
        );
        assert_eq!(
            statements[2]["Resource"],
            serde_json::json!([
                "arn:aws:ssm:eu-west-1:*:parameter/gio/staging/node-ami",
                "arn:aws:ssm:*:210987654321:parameter/prod-ami"
            ])
        );
        assert!(statements.iter().all(|s| s["Effect"] == "Allow" && s.get("Principal").is_none()));
    }

    #[test]
    fn an_optional_read_has_a_statement_whose_sid_says_what_is_lost() {
        let policy = Policy::granting(&[DESCRIBE, REFERENCES], &Scoping::default());
        let sids: Vec<_> = policy.statement.iter().map(|s| s.sid.as_str()).collect();
        assert_eq!(sids, ["Calls", "OptionalWithoutItNoImageReferencesCrossCheck"]);
        assert!(sids.iter().all(|sid| sid.chars().all(|c| c.is_ascii_alphanumeric())));
    }

    #[test]
    fn without_a_spec_scoped_permissions_cover_their_whole_kind() {
        let assume = Permission::new(Service::Sts, "AssumeRole").on(Scope::AccountRoles);
        let get = Permission::new(Service::Ssm, "GetParameters").on(Scope::PublicParameters);
        let scoping = Scoping { partition: "aws-cn".into(), ..Scoping::default() };
        let policy = Policy::granting(&[assume, get], &scoping);
        let resources: Vec<_> = policy.statement.iter().map(|s| s.resource.join(",")).collect();
        assert_eq!(resources, ["arn:aws-cn:ssm:*::parameter/aws/service/*", "arn:aws-cn:iam::*:role/*"]);
        assert_eq!(Scoping::partition_of("cn-north-1"), "aws-cn");
        assert_eq!(Scoping::partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(Scoping::partition_of("eu-west-1"), "aws");
    }

    #[test]
    fn a_trust_policy_names_the_caller_and_the_external_id() {
        let trust =
            serde_json::to_value(Policy::trusting("arn:aws:iam::123456789012:role/ci", Some("x-1"))).unwrap();
        let statement = &trust["Statement"][0];
        assert_eq!(statement["Principal"], serde_json::json!({"AWS": "arn:aws:iam::123456789012:role/ci"}));
        assert_eq!(statement["Action"], serde_json::json!(["sts:AssumeRole"]));
        assert_eq!(statement["Condition"], serde_json::json!({"StringEquals": {"sts:ExternalId": "x-1"}}));
        assert!(statement.get("Resource").is_none());
        let plain = serde_json::to_value(Policy::trusting("arn:aws:iam::123456789012:root", None)).unwrap();
        assert!(plain["Statement"][0].get("Condition").is_none());
    }

    #[test]
    fn an_action_required_anywhere_is_not_repeated_as_optional() {
        let optional_describe = DESCRIBE.optional("recommended base check");
        let policy = Policy::granting(&[optional_describe, DESCRIBE, REFERENCES], &Scoping::default());
        let sids: Vec<_> = policy.statement.iter().map(|s| s.sid.as_str()).collect();
        assert_eq!(sids, ["Calls", "OptionalWithoutItNoImageReferencesCrossCheck"]);
        assert_eq!(policy.statement[0].action, ["ec2:DescribeImages"]);
        let everywhere = Permission::new(Service::Ssm, "GetParameters");
        let under = everywhere.on(Scope::ParametersUnder("/gio-ami/archived/"));
        let policy = Policy::granting(&[under, everywhere], &Scoping::default());
        assert_eq!(policy.statement.len(), 1, "{policy:?}");
        assert_eq!(policy.statement[0].resource, ["*"]);
    }

    #[test]
    fn a_group_made_optional_keeps_its_actions_and_scopes() {
        let group = optional([DESCRIBE, DEREGISTER], "the plan");
        assert_eq!(group.map(|p| (p.action, p.scope)), [DESCRIBE, DEREGISTER].map(|p| (p.action, p.scope)));
        assert!(group.iter().all(|p| p.need == Need::Optional("the plan")));
    }

    #[test]
    fn the_size_counts_no_whitespace() {
        let policy = Policy::granting(&[DESCRIBE], &Scoping::default());
        let compact = serde_json::to_string(&policy).unwrap();
        assert_eq!(policy.size(), compact.len());
        assert!(policy.size() < MANAGED_POLICY_MAX);
    }
}
