//! The AWS adapter: the only module that imports `aws_sdk_*`. It implements the ports of
//! `crate::ports` with the standard SDK credential chain, an assumed role per member account,
//! per-region clients, and paginated reads. `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`
//! are honoured by the SDK itself, which is how the tests point it at the moto emulator.

use std::collections::{BTreeMap, HashMap};
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::{BehaviorVersion, SdkConfig, timeout::TimeoutConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_ec2::types::{Filter, SpotInstanceType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::region::Region;

use crate::config::{Account, RegionName};
use crate::core::model::{Instance, Lifecycle};
use crate::ports::{
    AccountCloud, Cloud, CloudError, ErrorKind, IamRole, IamUser, PrincipalKind, Purpose,
};

/// The tag AWS puts on every instance an Auto Scaling group launches.
const ASG_TAG: &str = "aws:autoscaling:groupName";

/// Opt-in statuses of the regions an account can use.
const ENABLED_OPT_IN: [&str; 2] = ["opt-in-not-required", "opted-in"];

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
    ) -> Result<Arc<dyn AccountCloud>, CloudError> {
        let sdk = match &account.role_arn {
            None => self.base.clone(),
            Some(role) => {
                let mut provider = aws_config::sts::AssumeRoleProvider::builder(role.as_str())
                    .session_name(purpose.session_name())
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
            ec2: Default::default(),
        }))
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
    /// One EC2 client per region, built on first use.
    ec2: std::sync::Mutex<HashMap<RegionName, aws_sdk_ec2::Client>>,
}

impl AwsAccount {
    fn ec2(&self, region: &RegionName) -> aws_sdk_ec2::Client {
        let mut clients = self.ec2.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.clone())
            .or_insert_with(|| {
                let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
                    .region(Region::new(region.to_string()))
                    .build();
                aws_sdk_ec2::Client::from_conf(conf)
            })
            .clone()
    }

    fn autoscaling(&self, region: &RegionName) -> aws_sdk_autoscaling::Client {
        let conf = aws_sdk_autoscaling::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_autoscaling::Client::from_conf(conf)
    }

    /// Request types of the region's Spot requests, by instance id.
    async fn spot_types(&self, region: &RegionName) -> Result<HashMap<String, bool>, CloudError> {
        let mut pages = self
            .ec2(region)
            .describe_spot_instance_requests()
            .into_paginator()
            .send();
        let mut types = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeSpotInstanceRequests", e))?;
            for r in page.spot_instance_requests() {
                if let Some(id) = r.instance_id() {
                    types.insert(
                        id.to_owned(),
                        r.r#type() == Some(&SpotInstanceType::Persistent),
                    );
                }
            }
        }
        Ok(types)
    }
}

#[async_trait]
impl AccountCloud for AwsAccount {
    fn identity(&self) -> &str {
        &self.identity
    }

    async fn enabled_regions(&self) -> Result<Vec<RegionName>, CloudError> {
        let out = self
            .ec2(&self.home_region)
            .describe_regions()
            .all_regions(true)
            .send()
            .await
            .map_err(|e| classify("ec2:DescribeRegions", e))?;
        let partition = self.home_region.partition();
        let mut regions: Vec<RegionName> = out
            .regions()
            .iter()
            .filter(|r| {
                r.opt_in_status()
                    .is_some_and(|s| ENABLED_OPT_IN.contains(&s))
            })
            .filter_map(|r| RegionName::parse(r.region_name()?).ok())
            .filter(|r| r.partition() == partition)
            .collect();
        regions.sort();
        Ok(regions)
    }

    async fn running_instances(
        &self,
        region: &RegionName,
        tag_keys: &[String],
    ) -> Result<Vec<Instance>, CloudError> {
        // Three light reads instead of DescribeInstances, whose full descriptions are the
        // heaviest EC2 read (and the most throttled one): the running ids, then the tags asked
        // for (read after the ids, so an instance tagged at launch has its tags), then the Spot
        // requests. Whether AWS can stop an instance is left to AWS to say at stop time.
        let ec2 = self.ec2(region);
        let mut ids = Vec::new();
        let mut pages = ec2
            .describe_instance_status()
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("running")
                    .build(),
            )
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeInstanceStatus", e))?;
            ids.extend(
                page.instance_statuses()
                    .iter()
                    .filter_map(|s| s.instance_id().map(str::to_owned)),
            );
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }

        let mut keys: Vec<String> = tag_keys.to_vec();
        keys.push(ASG_TAG.to_owned());
        let mut tags: HashMap<String, BTreeMap<String, String>> = HashMap::new();
        let mut pages = ec2
            .describe_tags()
            .filters(
                Filter::builder()
                    .name("resource-type")
                    .values("instance")
                    .build(),
            )
            .filters(Filter::builder().name("key").set_values(Some(keys)).build())
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeTags", e))?;
            for t in page.tags() {
                if let (Some(id), Some(key)) = (t.resource_id(), t.key()) {
                    tags.entry(id.to_owned())
                        .or_default()
                        .insert(key.to_owned(), t.value().unwrap_or("").to_owned());
                }
            }
        }

        // Only persistent Spot requests can be stopped. If the requests cannot be read, the
        // instances count as on-demand, and AWS refuses to stop a one-time Spot instance itself.
        let spot = self.spot_types(region).await.unwrap_or_else(|e| {
            tracing::warn!(region = %region, error = %e, "spot requests unreadable");
            HashMap::new()
        });
        Ok(ids
            .into_iter()
            .map(|id| {
                let tags = tags.remove(&id).unwrap_or_default();
                Instance {
                    lifecycle: match spot.get(&id) {
                        Some(&persistent) => Lifecycle::Spot { persistent },
                        None => Lifecycle::OnDemand,
                    },
                    auto_scaling_group: tags.get(ASG_TAG).cloned(),
                    tags,
                    id,
                }
            })
            .collect())
    }

    async fn estimated_charges_usd(&self) -> Result<Option<f64>, CloudError> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
        let conf = aws_sdk_cloudwatch::config::Builder::from(&self.sdk)
            .region(Region::new(self.home_region.to_string()))
            .build();
        let cw = aws_sdk_cloudwatch::Client::from_conf(conf);
        let now = SystemTime::now();
        let query = MetricDataQuery::builder()
            .id("charges")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/Billing")
                            .metric_name("EstimatedCharges")
                            .dimensions(Dimension::builder().name("Currency").value("USD").build())
                            .build(),
                    )
                    .period(3600)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let out = cw
            .get_metric_data()
            .metric_data_queries(query)
            .start_time((now - Duration::from_secs(24 * 3600)).into())
            .end_time(now.into())
            .scan_by(ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| classify("cloudwatch:GetMetricData", e))?;
        // The newest point: the estimate only grows within a month, and resets at its start.
        let latest = out
            .metric_data_results()
            .iter()
            .flat_map(|r| r.timestamps().iter().zip(r.values()))
            .max_by_key(|(t, _)| (t.secs(), t.subsec_nanos()))
            .map(|(_, v)| *v);
        Ok(latest)
    }

    async fn suspended_processes(
        &self,
        region: &RegionName,
        groups: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, CloudError> {
        let client = self.autoscaling(region);
        let mut out = BTreeMap::new();
        // DescribeAutoScalingGroups takes at most 100 names per call.
        for chunk in groups.chunks(100) {
            let mut pages = client
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| classify("autoscaling:DescribeAutoScalingGroups", e))?;
                for g in page.auto_scaling_groups() {
                    let suspended = g
                        .suspended_processes()
                        .iter()
                        .filter_map(|p| p.process_name().map(str::to_owned))
                        .collect();
                    out.insert(
                        g.auto_scaling_group_name().unwrap_or_default().to_owned(),
                        suspended,
                    );
                }
            }
        }
        Ok(out)
    }

    async fn suspend_processes(
        &self,
        region: &RegionName,
        group: &str,
        processes: &[String],
    ) -> Result<(), CloudError> {
        self.autoscaling(region)
            .suspend_processes()
            .auto_scaling_group_name(group)
            .set_scaling_processes(Some(processes.to_vec()))
            .send()
            .await
            .map_err(|e| classify("autoscaling:SuspendProcesses", e))?;
        Ok(())
    }

    async fn stop_instances(
        &self,
        region: &RegionName,
        ids: &[String],
        dry_run: bool,
    ) -> Result<(), CloudError> {
        let result = self
            .ec2(region)
            .stop_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .dry_run(dry_run)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // With DryRun, AWS answers "would have succeeded" as an error.
            Err(e) if dry_run && e.code() == Some("DryRunOperation") => Ok(()),
            Err(e) => Err(classify("ec2:StopInstances", e)),
        }
    }

    async fn start_instances(&self, region: &RegionName, ids: &[String]) -> Result<(), CloudError> {
        self.ec2(region)
            .start_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| classify("ec2:StartInstances", e))?;
        Ok(())
    }

    async fn resume_processes(
        &self,
        region: &RegionName,
        group: &str,
        processes: &[String],
    ) -> Result<(), CloudError> {
        self.autoscaling(region)
            .resume_processes()
            .auto_scaling_group_name(group)
            .set_scaling_processes(Some(processes.to_vec()))
            .send()
            .await
            .map_err(|e| classify("autoscaling:ResumeProcesses", e))?;
        Ok(())
    }

    async fn iam_users(&self) -> Result<Vec<IamUser>, CloudError> {
        let iam = self.iam();
        let mut users = Vec::new();
        let mut pages = iam.list_users().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("iam:ListUsers", e))?;
            for u in page.users() {
                users.push(IamUser {
                    name: u.user_name().to_owned(),
                    arn: u.arn().to_owned(),
                    attached_policies: Vec::new(),
                    access_keys: Vec::new(),
                });
            }
        }
        for u in &mut users {
            u.attached_policies = self.attached(PrincipalKind::User, &u.name).await?;
            let mut pages = iam
                .list_access_keys()
                .user_name(&u.name)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("iam:ListAccessKeys", e))?;
                for k in page.access_key_metadata() {
                    if let Some(id) = k.access_key_id() {
                        u.access_keys.push((
                            id.to_owned(),
                            k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
                        ));
                    }
                }
            }
        }
        Ok(users)
    }

    async fn iam_roles(&self) -> Result<Vec<IamRole>, CloudError> {
        let mut roles = Vec::new();
        let mut pages = self.iam().list_roles().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("iam:ListRoles", e))?;
            for r in page.roles() {
                roles.push(IamRole {
                    name: r.role_name().to_owned(),
                    arn: r.arn().to_owned(),
                    path: r.path().to_owned(),
                    attached_policies: Vec::new(),
                });
            }
        }
        for r in &mut roles {
            r.attached_policies = self.attached(PrincipalKind::Role, &r.name).await?;
        }
        Ok(roles)
    }

    async fn set_policy(
        &self,
        principal: PrincipalKind,
        name: &str,
        policy_arn: &str,
        attach: bool,
    ) -> Result<(), CloudError> {
        let iam = self.iam();
        match (principal, attach) {
            (PrincipalKind::User, true) => iam
                .attach_user_policy()
                .user_name(name)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam:AttachUserPolicy", e)),
            (PrincipalKind::User, false) => iam
                .detach_user_policy()
                .user_name(name)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam:DetachUserPolicy", e)),
            (PrincipalKind::Role, true) => iam
                .attach_role_policy()
                .role_name(name)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam:AttachRolePolicy", e)),
            (PrincipalKind::Role, false) => iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam:DetachRolePolicy", e)),
        }
    }

    async fn set_access_key(
        &self,
        user: &str,
        key_id: &str,
        active: bool,
    ) -> Result<(), CloudError> {
        let status = if active {
            aws_sdk_iam::types::StatusType::Active
        } else {
            aws_sdk_iam::types::StatusType::Inactive
        };
        self.iam()
            .update_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .status(status)
            .send()
            .await
            .map_err(|e| classify("iam:UpdateAccessKey", e))?;
        Ok(())
    }
}

impl AwsAccount {
    /// IAM is global: one client, in the home region (its partition's IAM endpoint).
    fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    async fn attached(&self, kind: PrincipalKind, name: &str) -> Result<Vec<String>, CloudError> {
        let iam = self.iam();
        let mut out = Vec::new();
        match kind {
            PrincipalKind::User => {
                let mut pages = iam
                    .list_attached_user_policies()
                    .user_name(name)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify("iam:ListAttachedUserPolicies", e))?;
                    out.extend(
                        page.attached_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn().map(str::to_owned)),
                    );
                }
            }
            PrincipalKind::Role => {
                let mut pages = iam
                    .list_attached_role_policies()
                    .role_name(name)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify("iam:ListAttachedRolePolicies", e))?;
                    out.extend(
                        page.attached_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn().map(str::to_owned)),
                    );
                }
            }
        }
        Ok(out)
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
