//! The AWS adapter: the only module that imports `aws_sdk_*`. It implements the ports of
//! `crate::ports` with the standard SDK credential chain, an assumed role per member account,
//! per-region clients, and paginated reads. `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`
//! are honoured by the SDK itself, which is how the tests point it at the moto emulator.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, SdkConfig, timeout::TimeoutConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::region::Region;

mod autoscaling;
mod batch;
mod bedrock;
mod bedrock_metrics;
mod cloudwatch;
mod ec2;
mod ecs;
mod eks;
mod forensics;
mod iam;
mod isolation;
mod lambda;
mod logs;
mod own;
mod pricing;
mod rds;
mod sagemaker;
mod settings;
mod sqs;

pub use own::{own_compute, own_instance_id};
pub use settings::Settings;
pub use sqs::SqsQueue;

use crate::config::{Account, RegionName};
use crate::core::model::Instance;
use crate::ports::{
    AccountCloud, Cloud, CloudError, ErrorKind, IamRole, IamUser, PrincipalKind, Purpose,
};

/// The tag AWS puts on every instance an Auto Scaling group launches.
const ASG_TAG: &str = "aws:autoscaling:groupName";

/// Opt-in statuses of the regions an account can use.
const ENABLED_OPT_IN: [&str; 2] = ["opt-in-not-required", "opted-in"];

/// Reads of one region made at once where a service needs one call per resource (Lambda's
/// concurrency and tags): well inside every service's API rate.
const READS_AT_ONCE: usize = 8;

/// Reaches accounts through the standard SDK chain.
pub struct Aws {
    base: SdkConfig,
    home_region: RegionName,
}

impl Aws {
    /// Loads the ambient configuration (env keys, profiles, SSO, instance/task roles).
    pub async fn from_env(home_region: &RegionName) -> Aws {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(120))
            .build();
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(home_region.to_string()))
            .timeout_config(timeouts)
            .load()
            .await;
        Aws::new(base, home_region)
    }

    /// Over a given SDK configuration (the tests point one at the emulator).
    pub fn new(base: SdkConfig, home_region: &RegionName) -> Aws {
        Aws {
            base,
            home_region: home_region.clone(),
        }
    }
}

#[async_trait]
impl Cloud for Aws {
    async fn connect(
        &self,
        account: &Account,
        purpose: Purpose,
        incident: Option<&str>,
    ) -> Result<Arc<dyn AccountCloud>, CloudError> {
        let sdk = match &account.role_arn {
            None => self.base.clone(),
            Some(role) => {
                let mut provider = aws_config::sts::AssumeRoleProvider::builder(role.as_str())
                    .session_name(purpose.session_name(incident))
                    .configure(&self.base);
                if let Some(id) = &account.external_id {
                    provider = provider.external_id(id);
                }
                let provider = provider.build().await;
                self.base
                    .to_builder()
                    .credentials_provider(SharedCredentialsProvider::new(provider))
                    .build()
            }
        };
        if sdk.credentials_provider().is_none() {
            return Err(identity_error(
                "no AWS credentials found (environment, profile, SSO or instance role)",
            ));
        }
        let sts = aws_sdk_sts::Client::new(&sdk);
        let me = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify("sts:GetCallerIdentity", e))?;
        let actual = me.account().unwrap_or_default();
        if actual != account.id.as_str() {
            let how = match &account.role_arn {
                None => "the ambient credentials",
                Some(_) => "the assumed role's credentials",
            };
            return Err(identity_error(format!(
                "{how} belong to account {actual}, not {}: refusing to act on the wrong account",
                account.id
            )));
        }
        Ok(Arc::new(AwsAccount {
            identity: me.arn().unwrap_or_default().to_owned(),
            sdk,
            home_region: self.home_region.clone(),
        }))
    }

    async fn caller(&self) -> Result<(String, String), CloudError> {
        if self.base.credentials_provider().is_none() {
            return Err(identity_error(
                "no AWS credentials found (environment, profile, SSO or instance role)",
            ));
        }
        let me = aws_sdk_sts::Client::new(&self.base)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify("sts:GetCallerIdentity", e))?;
        Ok((
            me.account().unwrap_or_default().to_owned(),
            me.arn().unwrap_or_default().to_owned(),
        ))
    }

    async fn organization_accounts(&self) -> Result<Vec<crate::ports::OrgAccount>, CloudError> {
        self.list_organization().await
    }

    async fn charges(
        &self,
        linked: Option<&str>,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(chrono::DateTime<chrono::Utc>, f64)>, CloudError> {
        cloudwatch::charges(&self.base, &self.home_region, linked, since).await
    }

    async fn on_demand_price(
        &self,
        key: &crate::core::money::PriceKey,
    ) -> Result<Option<f64>, CloudError> {
        pricing::on_demand_price(&self.base, key).await
    }

    async fn heartbeat(&self, at: chrono::DateTime<chrono::Utc>) -> Result<(), CloudError> {
        cloudwatch::heartbeat(&self.base, &self.home_region, at).await
    }
}

impl Aws {
    async fn list_organization(&self) -> Result<Vec<crate::ports::OrgAccount>, CloudError> {
        let client = aws_sdk_organizations::Client::new(&self.base);
        let mut pages = client.list_accounts().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("organizations:ListAccounts", e))?;
            for a in page.accounts() {
                let Some(id) = a.id() else { continue };
                // `State` replaces the deprecated `Status`; an older answer has only the latter.
                #[allow(deprecated)]
                let state = a
                    .state()
                    .map(|s| s.as_str().to_owned())
                    .or_else(|| a.status().map(|s| s.as_str().to_owned()))
                    .unwrap_or_default();
                out.push(crate::ports::OrgAccount {
                    id: id.to_owned(),
                    name: a.name().unwrap_or(id).to_owned(),
                    state,
                });
            }
        }
        Ok(out)
    }
}

fn identity_error(message: impl Into<String>) -> CloudError {
    CloudError {
        kind: ErrorKind::Identity,
        operation: "sts:GetCallerIdentity",
        code: None,
        message: message.into(),
    }
}

/// One account, reached with its own credentials.
struct AwsAccount {
    identity: String,
    sdk: SdkConfig,
    home_region: RegionName,
}

impl AwsAccount {
    pub(super) fn ec2(&self, region: &RegionName) -> aws_sdk_ec2::Client {
        // Built for each use, never kept per region: a kept client costs about 115 KiB, and a
        // check of 200 accounts × 17 regions kept 3,400 of them (BENCHMARKS.md).
        let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }

    pub(super) fn autoscaling(&self, region: &RegionName) -> aws_sdk_autoscaling::Client {
        let conf = aws_sdk_autoscaling::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_autoscaling::Client::from_conf(conf)
    }

    pub(super) fn rds(&self, region: &RegionName) -> aws_sdk_rds::Client {
        let conf = aws_sdk_rds::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_rds::Client::from_conf(conf)
    }

    pub(super) fn ecs(&self, region: &RegionName) -> aws_sdk_ecs::Client {
        let conf = aws_sdk_ecs::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_ecs::Client::from_conf(conf)
    }

    pub(super) fn sagemaker(&self, region: &RegionName) -> aws_sdk_sagemaker::Client {
        let conf = aws_sdk_sagemaker::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_sagemaker::Client::from_conf(conf)
    }

    pub(super) fn batch(&self, region: &RegionName) -> aws_sdk_batch::Client {
        let conf = aws_sdk_batch::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_batch::Client::from_conf(conf)
    }

    pub(super) fn eks(&self, region: &RegionName) -> aws_sdk_eks::Client {
        let conf = aws_sdk_eks::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_eks::Client::from_conf(conf)
    }

    pub(super) fn lambda(&self, region: &RegionName) -> aws_sdk_lambda::Client {
        let conf = aws_sdk_lambda::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_lambda::Client::from_conf(conf)
    }
}

#[async_trait]
impl AccountCloud for AwsAccount {
    fn identity(&self) -> &str {
        &self.identity
    }

    fn isolation(&self) -> &dyn crate::ports::Isolation {
        self
    }

    async fn enabled_regions(&self) -> Result<Vec<RegionName>, CloudError> {
        ec2::enabled_regions(self).await
    }

    async fn running_instances(
        &self,
        region: &RegionName,
        tag_keys: &[String],
        typed: bool,
    ) -> Result<Vec<Instance>, CloudError> {
        match typed {
            true => ec2::running_instances_typed(self, region, tag_keys).await,
            false => ec2::running_instances(self, region, tag_keys).await,
        }
    }

    async fn suspended_processes(
        &self,
        region: &RegionName,
        groups: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, CloudError> {
        autoscaling::suspended_processes(self, region, groups).await
    }

    async fn suspend_processes(
        &self,
        region: &RegionName,
        group: &str,
        processes: &[String],
    ) -> Result<(), CloudError> {
        autoscaling::suspend_processes(self, region, group, processes).await
    }

    async fn stop_instances(
        &self,
        region: &RegionName,
        ids: &[String],
        dry_run: bool,
    ) -> Result<(), CloudError> {
        ec2::stop_instances(self, region, ids, dry_run).await
    }

    async fn launch_times(
        &self,
        region: &RegionName,
        ids: &[String],
    ) -> Result<BTreeMap<String, chrono::DateTime<chrono::Utc>>, CloudError> {
        ec2::launch_times(self, region, ids).await
    }

    async fn tag_instances(
        &self,
        region: &RegionName,
        ids: &[String],
        key: &str,
        value: &str,
        add: bool,
    ) -> Result<(), CloudError> {
        ec2::tag_instances(self, region, ids, key, value, add).await
    }

    async fn start_instances(&self, region: &RegionName, ids: &[String]) -> Result<(), CloudError> {
        ec2::start_instances(self, region, ids).await
    }

    async fn cloudtrail_records(
        &self,
        group: &str,
        region: Option<&RegionName>,
        event_names: &[&str],
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, CloudError> {
        logs::records(self, group, region, event_names, since, until).await
    }

    async fn resume_processes(
        &self,
        region: &RegionName,
        group: &str,
        processes: &[String],
    ) -> Result<(), CloudError> {
        autoscaling::resume_processes(self, region, group, processes).await
    }

    async fn iam_users(&self) -> Result<Vec<IamUser>, CloudError> {
        iam::iam_users(self).await
    }

    async fn iam_roles(&self) -> Result<Vec<IamRole>, CloudError> {
        iam::iam_roles(self).await
    }

    async fn set_policy(
        &self,
        principal: PrincipalKind,
        name: &str,
        policy_arn: &str,
        attach: bool,
    ) -> Result<(), CloudError> {
        iam::set_policy(self, principal, name, policy_arn, attach).await
    }

    async fn set_access_key(
        &self,
        user: &str,
        key_id: &str,
        active: bool,
    ) -> Result<(), CloudError> {
        iam::set_access_key(self, user, key_id, active).await
    }

    async fn bedrock_provisioned(
        &self,
        region: &RegionName,
    ) -> Result<Vec<crate::core::provisioned::Provisioned>, CloudError> {
        bedrock::provisioned(&self.sdk, region.as_str()).await
    }

    async fn service_credentials(
        &self,
        user: &str,
        service: &str,
    ) -> Result<Vec<(String, bool)>, CloudError> {
        iam::service_credentials(self, user, service).await
    }

    async fn set_service_credential(
        &self,
        user: &str,
        credential_id: &str,
        active: bool,
    ) -> Result<(), CloudError> {
        iam::set_service_credential(self, user, credential_id, active).await
    }

    async fn service_resources(
        &self,
        region: &RegionName,
        service: crate::core::services::Service,
        tags: bool,
    ) -> Result<Vec<crate::core::services::Resource>, CloudError> {
        use crate::core::services::Service;
        match service {
            // EC2 is read by `running_instances`.
            Service::Ec2 => Ok(Vec::new()),
            Service::Rds => rds::resources(self, region).await,
            Service::Ecs => ecs::resources(self, region, tags).await,
            Service::Lambda => lambda::resources(self, region, tags).await,
            Service::Sagemaker => sagemaker::resources(self, region, tags).await,
            Service::Batch => batch::resources(self, region).await,
            Service::Eks => eks::resources(self, region).await,
        }
    }

    async fn bedrock_usage(
        &self,
        region: &RegionName,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::core::bedrock::ModelUsage>, CloudError> {
        bedrock_metrics::usage(&self.sdk, region, since, until).await
    }

    async fn service_change(
        &self,
        region: &RegionName,
        change: &crate::core::services::ServiceChange,
    ) -> Result<(), CloudError> {
        use crate::core::services::ServiceChange as C;
        match change {
            C::StopDbInstance { id } => rds::set_instance(self, region, id, false).await,
            C::StartDbInstance { id } => rds::set_instance(self, region, id, true).await,
            C::StopDbCluster { id } => rds::set_cluster(self, region, id, false).await,
            C::StartDbCluster { id } => rds::set_cluster(self, region, id, true).await,
            C::ScaleEcsService {
                cluster,
                service,
                desired,
            } => ecs::scale_service(self, region, cluster, service, *desired).await,
            C::StopEcsTask { cluster, task } => ecs::stop_task(self, region, cluster, task).await,
            C::SetConcurrency { function, reserved } => {
                lambda::set_concurrency(self, region, function, *reserved).await
            }
            C::StopNotebook { name } => sagemaker::set_notebook(self, region, name, false).await,
            C::StartNotebook { name } => sagemaker::set_notebook(self, region, name, true).await,
            C::StopSagemakerJob { kind, name } => {
                sagemaker::stop_job(self, region, *kind, name).await
            }
            C::SetBatchQueue { name, enabled } => {
                batch::set_queue(self, region, name, *enabled).await
            }
            C::SetBatchEnvironment { name, enabled } => {
                batch::set_environment(self, region, name, *enabled).await
            }
        }
    }

    async fn set_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
        document: Option<&str>,
    ) -> Result<(), CloudError> {
        iam::set_inline_policy(self, kind, principal, name, document).await
    }
}

/// The error and its sources, each once, joined with ": " (without the SDK's Debug dumps).
fn causes(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Turns an SDK error into the port's error: its kind, the operation, AWS's code and message.
fn classify<E, R>(
    operation: &'static str,
    err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> CloudError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let code = err.code().map(str::to_owned);
    let kind = match (&err, code.as_deref()) {
        (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _) => ErrorKind::Unreachable,
        (_, Some(c)) if c.contains("Throttl") || c == "RequestLimitExceeded" => {
            ErrorKind::Throttled
        }
        (_, Some(c))
            if c.contains("AccessDenied")
                || c.contains("Unauthorized")
                || c == "AuthFailure"
                || c.starts_with("InvalidClientTokenId") =>
        {
            ErrorKind::AccessDenied
        }
        (_, Some(c)) if c.contains("NotFound") || c == "NoSuchEntity" => ErrorKind::NotFound,
        (_, Some("UnsupportedOperation")) => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    };
    let message = match (kind, err.message()) {
        (ErrorKind::Unreachable, _) => format!("cannot reach AWS: {}", causes(&err)),
        (_, Some(m)) => m.to_owned(),
        (_, None) => causes(&err),
    };
    CloudError {
        kind,
        operation,
        code,
        message,
    }
}

/// Publishes to SNS topics with the guard's own (ambient) credentials, in the topic's region.
pub struct SnsNotifier {
    base: SdkConfig,
}

impl SnsNotifier {
    pub fn new(aws: &Aws) -> SnsNotifier {
        SnsNotifier {
            base: aws.base.clone(),
        }
    }
}

#[async_trait]
impl crate::ports::Notifier for SnsNotifier {
    async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), CloudError> {
        let region = topic_arn.split(':').nth(3).unwrap_or_default().to_owned();
        let conf = aws_sdk_sns::config::Builder::from(&self.base)
            .region(Region::new(region))
            .build();
        // SNS subjects: at most 100 ASCII characters, no line breaks.
        let subject: String = subject
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    ' '
                }
            })
            .take(100)
            .collect();
        aws_sdk_sns::Client::from_conf(conf)
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| classify("sns:Publish", e))?;
        Ok(())
    }
}
