//! Many accounts and regions at once (`[accounts]`): one context per account × region, each
//! account acting through the role it names. The credentials come from aws-config's
//! AssumeRoleProvider on the caller's own chain: assumed on first use, cached by the SDK's
//! identity cache, and assumed again before they expire.

use super::clusters::{running_amis, Observed};
use super::Aws;
use crate::error::{Error, Result};
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use futures::stream::{self, StreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeSet;
use std::future::Future;

/// Places read at once. Each place reads its own pages one after another, so this bounds the
/// requests in flight: eight stays inside any one account's throttle (the reads of one place
/// hit one account) and a 20-account × 3-region organization reads in eight rounds' time.
pub const PLACES_AT_ONCE: usize = 8;

/// The role session's name when the spec names none: what CloudTrail shows as the actor.
const SESSION_NAME: &str = "gio-ami";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
}

/// A configured account: where it is read, and how gio-ami gets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// `None`: the caller's own credentials.
    pub role: Option<Role>,
    /// Empty: the caller's region.
    pub regions: Vec<String>,
}

impl Account {
    /// Its 12-digit id, from its role's ARN; `None` for the caller's own.
    pub fn id(&self) -> Option<&str> {
        self.role.as_ref().and_then(|r| r.arn.split(':').nth(4))
    }
}

/// One account in one region.
pub struct Place {
    /// The `[accounts]` name; `None` when gio-ami works in the caller's account alone.
    pub account: Option<String>,
    /// Its 12-digit id (GetCallerIdentity); `None` in the caller's account alone.
    pub account_id: Option<String>,
    pub aws: Aws,
}

impl Place {
    /// A row read here, with where it was read when several places are read.
    pub fn locate<T>(&self, item: T) -> Located<T> {
        Located {
            account: self.account.clone(),
            region: self.account.as_ref().map(|_| self.aws.region().to_string()),
            item,
        }
    }

    /// How the warnings of a report name this place.
    pub fn label(&self) -> String {
        match &self.account {
            Some(account) => format!("account `{account}` in {}", self.aws.region()),
            None => self.aws.region().to_string(),
        }
    }
}

/// A row of a report over several places. Account and region are absent without `[accounts]`,
/// so the JSON of one account is what it always was.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Located<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(flatten)]
    pub item: T,
}

/// A configured account gio-ami could not get into.
#[derive(Debug)]
pub struct Unreached {
    pub account: String,
    /// From its role's ARN: which AMIs are shared with it is still known.
    pub account_id: Option<String>,
    pub error: Error,
}

/// Every place a command reads, and the accounts it could not get into.
#[derive(Default)]
pub struct Org {
    pub places: Vec<Place>,
    /// Accounts not reached, each with why (`Error::Unassumable` for a role refused).
    pub unreachable: Vec<Unreached>,
    /// AssumeRole calls made by the credential providers, which count no request of ours.
    assumed: usize,
}

impl Org {
    /// The caller's account, in the caller's region and `others`: gio-ami without `[accounts]`.
    pub fn alone(caller: Aws, others: &[String]) -> Self {
        let others: Vec<Aws> =
            others.iter().filter(|r| *r != caller.region()).map(|r| caller.elsewhere(r, None)).collect();
        let places = std::iter::once(caller)
            .chain(others)
            .map(|aws| Place { account: None, account_id: None, aws })
            .collect();
        Self { places, unreachable: Vec::new(), assumed: 0 }
    }

    /// Where it reads, as a report that found nothing says so: "this account in eu-west-1",
    /// "accounts build, prod in eu-west-1, us-east-1".
    pub fn scope(&self) -> String {
        let accounts: BTreeSet<&str> = self.places.iter().filter_map(|p| p.account.as_deref()).collect();
        let regions: BTreeSet<&str> = self.places.iter().map(|p| p.aws.region()).collect();
        let regions = regions.into_iter().collect::<Vec<_>>().join(", ");
        if accounts.is_empty() {
            return format!("this account in {regions}");
        }
        let noun = if accounts.len() == 1 { "account" } else { "accounts" };
        format!("{noun} {} in {regions}", accounts.into_iter().collect::<Vec<_>>().join(", "))
    }

    /// Why nothing is read for this account in this region (`None`: it has its place): the
    /// account's refusal, or a region no configured account is read in.
    pub fn missing(&self, account: Option<&str>, region: &str) -> Option<String> {
        if self.place(account, region).is_some() {
            return None;
        }
        Some(match self.unreachable.iter().find(|u| Some(u.account.as_str()) == account) {
            Some(unreached) => unreached.error.to_string(),
            None => format!("no configured account is read in {region}"),
        })
    }

    /// What each cluster runs, each read in its own account and region (a cluster is
    /// `(name, account, region)`); a cluster without a place is unread, with why.
    pub async fn observe(&self, clusters: &[(&str, Option<&str>, &str)]) -> Observed {
        let read = self
            .each(|place| {
                let here: Vec<&str> = clusters
                    .iter()
                    .filter(|(_, account, region)| {
                        *account == place.account.as_deref() && *region == place.aws.region()
                    })
                    .map(|(name, _, _)| *name)
                    .collect();
                async move {
                    Ok(match here.is_empty() {
                        true => Observed::default(),
                        false => running_amis(&place.aws, &here).await,
                    })
                }
            })
            .await;
        let mut observed = Observed::default();
        for (_, here) in read {
            observed.merge(here.unwrap_or_default());
        }
        for (name, account, region) in clusters {
            if let Some(why) = self.missing(*account, region) {
                observed.unread.insert(name.to_string(), why);
            }
        }
        observed
    }

    /// Gets into every account concurrently (one AssumeRole and one GetCallerIdentity each)
    /// and opens a context in each of its regions. An account that refuses is kept with its
    /// error (reports warn about it); when none lets gio-ami in, the first refusal is the error.
    pub async fn connect(caller: &Aws, accounts: &[Account]) -> Result<Self> {
        let mut org = Self::connect_all(caller, accounts).await;
        match org.places.is_empty() && !org.unreachable.is_empty() {
            true => Err(org.unreachable.swap_remove(0).error),
            false => Ok(org),
        }
    }

    /// As `connect`, keeping every refusal however many: what a guard needs, which refuses to
    /// act on what it could not check.
    pub async fn connect_all(caller: &Aws, accounts: &[Account]) -> Self {
        let entered = stream::iter(accounts)
            .map(|account| enter(caller, account))
            .buffered(PLACES_AT_ONCE)
            .collect::<Vec<_>>()
            .await;
        let mut org = Self { places: Vec::new(), unreachable: Vec::new(), assumed: 0 };
        for (account, entered) in accounts.iter().zip(entered) {
            org.assumed += usize::from(account.role.is_some());
            match entered {
                Ok(places) => org.places.extend(places),
                Err(error) => org.unreachable.push(Unreached {
                    account: account.name.clone(),
                    account_id: account.id().map(str::to_string),
                    error,
                }),
            }
        }
        org
    }

    /// Whether `[accounts]` made this: rows then say where they were read.
    pub fn configured(&self) -> bool {
        !self.unreachable.is_empty() || self.places.iter().any(|p| p.account.is_some())
    }

    /// Runs `read` in every place, at most PLACES_AT_ONCE at once, answers in place order. A
    /// place that fails keeps its error: the caller decides between a warning and a refusal.
    pub async fn each<'a, T, F, Fut>(&'a self, read: F) -> Vec<(&'a Place, Result<T>)>
    where
        F: Fn(&'a Place) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        stream::iter(&self.places)
            .map(|place| {
                let read = read(place);
                async move { (place, read.await) }
            })
            .buffered(PLACES_AT_ONCE)
            .collect()
            .await
    }

    /// The place of an account (by its `[accounts]` name; `None` = the caller's alone) in a region.
    pub fn place(&self, account: Option<&str>, region: &str) -> Option<&Place> {
        self.places.iter().find(|p| p.account.as_deref() == account && p.aws.region() == region)
    }

    /// One warning per account not reached, for a report's footer.
    pub fn warnings(&self) -> Vec<String> {
        self.unreachable
            .iter()
            .map(|u| format!("account `{}` was not read, its rows are missing: {}", u.account, u.error))
            .collect()
    }

    /// HTTP requests of every place, and the AssumeRole calls that got in.
    pub fn calls(&self) -> usize {
        self.assumed + self.places.iter().map(|p| p.aws.calls()).sum::<usize>()
    }
}

/// Opens the account's contexts, proving the credentials work with GetCallerIdentity (which
/// every principal may call) so that a refused role is one clear error up front.
async fn enter(caller: &Aws, account: &Account) -> Result<Vec<Place>> {
    let credentials = match &account.role {
        Some(role) => {
            let mut provider = AssumeRoleProvider::builder(role.arn.clone())
                .session_name(role.session_name.as_deref().unwrap_or(SESSION_NAME))
                .configure(caller.sdk_config());
            if let Some(id) = &role.external_id {
                provider = provider.external_id(id);
            }
            Some(SharedCredentialsProvider::new(provider.build().await))
        }
        None => None,
    };
    let mut regions = account.regions.clone();
    if regions.is_empty() {
        regions.push(caller.region().to_string());
    }
    let first = caller.elsewhere(&regions[0], credentials.clone());
    let account_id = first.account_id().await.map_err(|error| match (error, &account.role) {
        (Error::NoCredentials { detail, .. }, Some(role)) => {
            Error::Unassumable { account: account.name.clone(), role: role.arn.clone(), detail }
        }
        (error, _) => error,
    })?;
    let mut places = vec![first];
    places.extend(regions[1..].iter().map(|region| caller.elsewhere(region, credentials.clone())));
    Ok(places
        .into_iter()
        .map(|aws| Place { account: Some(account.name.clone()), account_id: Some(account_id.clone()), aws })
        .collect())
}

/// The rows of a report over every place, and what it could not read.
#[derive(Debug)]
pub struct Rows<T> {
    pub rows: Vec<Located<T>>,
    pub warnings: Vec<String>,
}

impl Org {
    /// Reads rows in every place (`Org::each`) and keeps them with where they were read. In
    /// the caller's account alone a failure is the command's error, as it always was; over
    /// several places it is a warning naming the place, unless no place answered at all.
    pub async fn rows<'a, T, F, Fut>(&'a self, read: F) -> Result<Rows<T>>
    where
        F: Fn(&'a Place) -> Fut,
        Fut: Future<Output = Result<Vec<T>>> + 'a,
    {
        let mut rows = Vec::new();
        let mut warnings = self.warnings();
        let mut failures = Vec::new();
        for (place, read) in self.each(read).await {
            match read {
                Ok(items) => rows.extend(items.into_iter().map(|item| place.locate(item))),
                Err(error) if !self.configured() => return Err(error),
                Err(error) => {
                    warnings.push(format!("{} was not read, its rows are missing: {error}", place.label()));
                    failures.push(error);
                }
            }
        }
        match failures.len() == self.places.len() {
            true => Err(failures.swap_remove(0)),
            false => Ok(Rows { rows, warnings }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_says_where_it_was_read_only_when_accounts_are_configured() {
        #[derive(Serialize)]
        struct Row {
            id: &'static str,
        }
        let alone = Located { account: None, region: None, item: Row { id: "ami-1" } };
        assert_eq!(
            serde_json::to_value(&alone).unwrap(),
            serde_json::json!({"id": "ami-1"}),
            "the JSON of one account is unchanged"
        );
        let placed = Located {
            account: Some("prod".into()),
            region: Some("eu-west-1".into()),
            item: Row { id: "ami-1" },
        };
        assert_eq!(
            serde_json::to_value(&placed).unwrap(),
            serde_json::json!({"account": "prod", "region": "eu-west-1", "id": "ami-1"})
        );
    }

    #[test]
    fn an_account_id_comes_from_its_role() {
        let role = Role {
            arn: "arn:aws:iam::222233334444:role/gio-ami-reader".into(),
            external_id: None,
            session_name: None,
        };
        let prod = Account { name: "prod".into(), role: Some(role), regions: Vec::new() };
        assert_eq!(prod.id(), Some("222233334444"));
        assert_eq!(Account { role: None, ..prod }.id(), None, "the caller's own needs no id");
    }
}
