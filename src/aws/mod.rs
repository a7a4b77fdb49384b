//! One AWS context per run: the resolved SDK configuration (credential chain, profile, region,
//! `AWS_ENDPOINT_URL`, retries, timeouts) and the service clients built from it on first use.

pub mod allowed;
pub mod archive;
pub mod base;
pub mod clusters;
pub mod consistency;
pub mod control_plane;
pub mod error;
pub mod inventory;
pub mod kinds;
pub mod lineage;
pub mod locks;
pub mod nodegroups;
pub mod org;
pub mod orphans;
pub mod parameters;
pub mod provenance;
pub mod recycle_bin;
pub mod tagging;
pub mod usage;
pub mod usage_report;

use crate::core::clock::Timestamp;
use crate::core::error::Service;
use crate::core::ids::check_region;
use crate::core::signal::Interruption;
use crate::error::{Error, Result};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Per-resource look-ups (template versions, nodegroups, launch permissions) in flight at once:
/// describe calls have a far larger throttle budget than mutations, and eight keeps a 200-AMI
/// wipe's look-ups well under a second without bursting into that budget.
pub(crate) const LOOKUP_CONCURRENCY: usize = 8;

/// Five attempts ride out the throttling bursts a busy account sees (standard mode backs off
/// exponentially with jitter, so five attempts span a few seconds) without making a real outage
/// look like a hang. AWS_MAX_ATTEMPTS / AWS_RETRY_MODE, when set, win (see `retries`).
const MAX_ATTEMPTS: u32 = 5;
/// A TCP connect that takes longer than this is not going to succeed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Describe calls with 1,000 results answer within a few seconds; thirty leaves room.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Room for the standard mode's backoff between attempts (jittered, at most 1+2+4+8 s).
pub(crate) const BACKOFF_ALLOWANCE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// How long one request may take before it is retried; ATTEMPT_TIMEOUT when unset.
    pub attempt_timeout: Option<Duration>,
    /// The run's one interruption: every `Aws` made from these options (and `elsewhere`) shares
    /// it, so each wait of the run ends on the first Ctrl-C.
    pub interruption: Interruption,
}

/// The SDK's own variables (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE=adaptive) are the user's word on
/// retries: the SDK reads them when gio-ami sets no retry configuration of its own.
/// A time the SDK hands over as a timestamp, spelled as the SDK spells it (ISO 8601, UTC, no
/// fraction when there is none).
pub(crate) fn timestamp(time: Option<&aws_smithy_types::DateTime>) -> Option<Timestamp> {
    time.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
        .and_then(|text| Timestamp::parse(&text))
}

fn retries_set_in_environment() -> bool {
    ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"].iter().any(|name| std::env::var_os(name).is_some())
}

/// Attempts per call: AWS_MAX_ATTEMPTS when it is a number (the SDK checks it), else `ours`.
pub(crate) fn attempts(ours: u32) -> u32 {
    std::env::var("AWS_MAX_ATTEMPTS").ok().and_then(|n| n.parse().ok()).unwrap_or(ours)
}

impl AwsOptions {
    fn timeouts(&self) -> TimeoutConfig {
        let attempt = self.attempt_timeout.unwrap_or(ATTEMPT_TIMEOUT);
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(attempt))
            .operation_attempt_timeout(attempt)
            // Bounds a call with all its retries, so no single call can hang a command forever.
            .operation_timeout(attempt * attempts(MAX_ATTEMPTS) + BACKOFF_ALLOWANCE)
            .build()
    }
}

pub struct Aws {
    config: SdkConfig,
    profile: Option<String>,
    ec2: OnceLock<aws_sdk_ec2::Client>,
    sts: OnceLock<aws_sdk_sts::Client>,
    ssm: OnceLock<aws_sdk_ssm::Client>,
    eks: OnceLock<aws_sdk_eks::Client>,
    autoscaling: OnceLock<aws_sdk_autoscaling::Client>,
    ebs: OnceLock<aws_sdk_ebs::Client>,
    rbin: OnceLock<aws_sdk_rbin::Client>,
    calls: CallCounter,
    interruption: Interruption,
}

/// Counts every request attempt of every client made from one `Aws`.
#[derive(Debug, Clone, Default)]
struct CallCounter(Arc<AtomicUsize>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "gio-ami call counter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Aws {
    pub async fn connect(options: &AwsOptions) -> Result<Self> {
        if let Some(region) = &options.region {
            check_region(region)?;
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(options.timeouts());
        if !retries_set_in_environment() {
            loader = loader.retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        }
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let config = loader.load().await;
        match config.region() {
            None => return Err(Error::NoRegion),
            Some(region) => check_region(region.as_ref())?,
        }
        Ok(Self::from_config(config, options.profile.clone(), options.interruption.clone()))
    }

    /// The same configuration in another region, acting with other credentials when given (an
    /// assumed role's): one context of `org`'s fan-out, with its own call counter.
    pub fn elsewhere(&self, region: &str, credentials: Option<SharedCredentialsProvider>) -> Self {
        let mut config = self.config.to_builder();
        config.set_region(Some(Region::new(region.to_string())));
        if let Some(credentials) = credentials {
            config.set_credentials_provider(Some(credentials));
        }
        Self::from_config(config.build(), self.profile.clone(), self.interruption.clone())
    }

    /// The SDK configuration, for providers built on it (AssumeRole).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    fn from_config(config: SdkConfig, profile: Option<String>, interruption: Interruption) -> Self {
        Self {
            config,
            profile,
            ec2: OnceLock::new(),
            sts: OnceLock::new(),
            ssm: OnceLock::new(),
            eks: OnceLock::new(),
            autoscaling: OnceLock::new(),
            ebs: OnceLock::new(),
            rbin: OnceLock::new(),
            calls: CallCounter::default(),
            interruption,
        }
    }

    /// The run's interruption, for the waits and the operations that clean up on it.
    pub fn interruption(&self) -> &Interruption {
        &self.interruption
    }

    pub fn region(&self) -> &str {
        self.config.region().map(|r| r.as_ref()).expect("connect() refuses a config without a region")
    }

    pub fn ec2(&self) -> &aws_sdk_ec2::Client {
        self.ec2.get_or_init(|| {
            let config = aws_sdk_ec2::config::Builder::from(&self.config).interceptor(self.calls.clone());
            aws_sdk_ec2::Client::from_conf(config.build())
        })
    }

    pub fn sts(&self) -> &aws_sdk_sts::Client {
        self.sts.get_or_init(|| {
            let config = aws_sdk_sts::config::Builder::from(&self.config).interceptor(self.calls.clone());
            aws_sdk_sts::Client::from_conf(config.build())
        })
    }

    pub fn ssm(&self) -> &aws_sdk_ssm::Client {
        self.ssm.get_or_init(|| {
            let config = aws_sdk_ssm::config::Builder::from(&self.config).interceptor(self.calls.clone());
            aws_sdk_ssm::Client::from_conf(config.build())
        })
    }

    pub fn eks(&self) -> &aws_sdk_eks::Client {
        self.eks.get_or_init(|| {
            let config = aws_sdk_eks::config::Builder::from(&self.config).interceptor(self.calls.clone());
            aws_sdk_eks::Client::from_conf(config.build())
        })
    }

    pub fn autoscaling(&self) -> &aws_sdk_autoscaling::Client {
        self.autoscaling.get_or_init(|| {
            let config =
                aws_sdk_autoscaling::config::Builder::from(&self.config).interceptor(self.calls.clone());
            aws_sdk_autoscaling::Client::from_conf(config.build())
        })
    }

    /// The EBS direct APIs (snapshot blocks), for uploads and downloads.
    pub fn ebs(&self) -> &aws_sdk_ebs::Client {
        self.ebs.get_or_init(|| {
            let config = aws_sdk_ebs::config::Builder::from(&self.config).interceptor(self.calls.clone());
            aws_sdk_ebs::Client::from_conf(config.build())
        })
    }

    /// Recycle Bin retention rules.
    pub fn rbin(&self) -> &aws_sdk_rbin::Client {
        self.rbin.get_or_init(|| {
            let config = aws_sdk_rbin::config::Builder::from(&self.config).interceptor(self.calls.clone());
            aws_sdk_rbin::Client::from_conf(config.build())
        })
    }

    /// How long one request may take before it is retried (`--timeout`).
    pub fn attempt_timeout(&self) -> Duration {
        self.config.timeout_config().and_then(|t| t.operation_attempt_timeout()).unwrap_or(ATTEMPT_TIMEOUT)
    }

    /// HTTP requests sent so far (retries included): what benchmarks and `-v` report.
    pub fn calls(&self) -> usize {
        self.calls.0.load(Ordering::Relaxed)
    }

    /// The caller's ARN: who is acting, when nobody else says.
    pub async fn caller_arn(&self) -> Result<String> {
        Ok(self.caller_identity().await?.arn.unwrap_or_default())
    }

    /// The caller's account id (GetCallerIdentity).
    pub async fn account_id(&self) -> Result<String> {
        Ok(self.caller_identity().await?.account.unwrap_or_default())
    }

    async fn caller_identity(
        &self,
    ) -> Result<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput> {
        self.sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.error("GetCallerIdentity", Service::Sts, e))
    }

    /// The endpoint every call goes to when it is not AWS's own (AWS_ENDPOINT_URL: an emulator).
    pub fn endpoint_url(&self) -> Option<&str> {
        self.config.endpoint_url()
    }

    /// The named profile in use, for tools gio-ami runs with the same credentials.
    pub fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    /// Turns an SDK failure into an error that names the endpoint and the fix.
    /// `service` is the one the call went to: its endpoint, and the prefix of the IAM action an
    /// AccessDenied names.
    pub fn error<E>(&self, operation: &'static str, service: Service, err: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        Error::from_sdk(service, operation, self.endpoint(service), err).with_profile(self.profile.as_deref())
    }

    fn endpoint(&self, service: Service) -> String {
        match self.config.endpoint_url() {
            Some(url) => url.to_string(),
            None => format!("https://{service}.{}.amazonaws.com", self.region()),
        }
    }
}
