//! SageMaker: notebook instances `InService`, training, processing, transform and tuning jobs
//! `InProgress`, and endpoints `InService` (reported with what they run, never deleted);
//! stopping and starting notebooks, stopping jobs.

use std::collections::BTreeMap;

use aws_sdk_sagemaker::types::{
    EndpointStatus, HyperParameterTuningJobStatus, NotebookInstanceStatus, ProcessingJobStatus,
    TrainingJobStatus, TransformJobStatus,
};

use super::{AwsAccount, classify};
use crate::config::RegionName;
use crate::core::services::{JobKind, Resource, Service, What};
use crate::ports::CloudError;

pub(super) async fn resources(
    acc: &AwsAccount,
    region: &RegionName,
    tags: bool,
) -> Result<Vec<Resource>, CloudError> {
    let client = acc.sagemaker(region);
    // (arn, what), tags read after.
    let mut found: Vec<(String, What)> = Vec::new();
    let mut pages = client
        .list_notebook_instances()
        .status_equals(NotebookInstanceStatus::InService)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("sagemaker:ListNotebookInstances", e))?;
        for n in page.notebook_instances() {
            if let (Some(name), Some(arn)) = (n.notebook_instance_name(), n.notebook_instance_arn())
            {
                let instance_type = n
                    .instance_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default();
                found.push((
                    arn.to_owned(),
                    What::Notebook {
                        name: name.into(),
                        instance_type,
                    },
                ));
            }
        }
    }
    let job = |kind, name: Option<&str>, arn: Option<&str>| {
        Some((
            arn?.to_owned(),
            What::SagemakerJob {
                kind,
                name: name?.to_owned(),
            },
        ))
    };
    let mut pages = client
        .list_training_jobs()
        .status_equals(TrainingJobStatus::InProgress)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("sagemaker:ListTrainingJobs", e))?;
        found.extend(page.training_job_summaries().iter().filter_map(|j| {
            job(
                JobKind::Training,
                j.training_job_name(),
                j.training_job_arn(),
            )
        }));
    }
    let mut pages = client
        .list_processing_jobs()
        .status_equals(ProcessingJobStatus::InProgress)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("sagemaker:ListProcessingJobs", e))?;
        found.extend(page.processing_job_summaries().iter().filter_map(|j| {
            job(
                JobKind::Processing,
                j.processing_job_name(),
                j.processing_job_arn(),
            )
        }));
    }
    let mut pages = client
        .list_transform_jobs()
        .status_equals(TransformJobStatus::InProgress)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("sagemaker:ListTransformJobs", e))?;
        found.extend(page.transform_job_summaries().iter().filter_map(|j| {
            job(
                JobKind::Transform,
                j.transform_job_name(),
                j.transform_job_arn(),
            )
        }));
    }
    let mut pages = client
        .list_hyper_parameter_tuning_jobs()
        .status_equals(HyperParameterTuningJobStatus::InProgress)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("sagemaker:ListHyperParameterTuningJobs", e))?;
        found.extend(
            page.hyper_parameter_tuning_job_summaries()
                .iter()
                .filter_map(|j| {
                    job(
                        JobKind::Tuning,
                        j.hyper_parameter_tuning_job_name(),
                        j.hyper_parameter_tuning_job_arn(),
                    )
                }),
        );
    }
    let mut endpoints = Vec::new();
    let mut pages = client
        .list_endpoints()
        .status_equals(EndpointStatus::InService)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("sagemaker:ListEndpoints", e))?;
        for e in page.endpoints() {
            if let (Some(name), Some(arn)) = (e.endpoint_name(), e.endpoint_arn()) {
                endpoints.push((name.to_owned(), arn.to_owned()));
            }
        }
    }
    for (name, arn) in endpoints {
        let endpoint = client
            .describe_endpoint()
            .endpoint_name(&name)
            .send()
            .await
            .map_err(|e| classify("sagemaker:DescribeEndpoint", e))?;
        // The instance types are in the endpoint's configuration, the counts in the endpoint.
        let types: BTreeMap<String, String> = match endpoint.endpoint_config_name() {
            Some(config) => client
                .describe_endpoint_config()
                .endpoint_config_name(config)
                .send()
                .await
                .map_err(|e| classify("sagemaker:DescribeEndpointConfig", e))?
                .production_variants()
                .iter()
                .filter_map(|v| {
                    Some((
                        v.variant_name()?.to_owned(),
                        v.instance_type()?.as_str().to_owned(),
                    ))
                })
                .collect(),
            None => BTreeMap::new(),
        };
        let variants = endpoint
            .production_variants()
            .iter()
            .map(|v| {
                let variant = v.variant_name().unwrap_or_default();
                (
                    types
                        .get(variant)
                        .cloned()
                        .unwrap_or_else(|| "serverless".into()),
                    v.current_instance_count().unwrap_or(0),
                )
            })
            .collect();
        found.push((arn, What::Endpoint { name, variants }));
    }
    let mut out = Vec::with_capacity(found.len());
    for (arn, what) in found {
        let tags = if tags {
            client
                .list_tags()
                .resource_arn(&arn)
                .send()
                .await
                .map_err(|e| classify("sagemaker:ListTags", e))?
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        out.push(Resource {
            service: Service::Sagemaker,
            arn,
            what,
            tags,
        });
    }
    Ok(out)
}

pub(super) async fn set_notebook(
    acc: &AwsAccount,
    region: &RegionName,
    name: &str,
    run: bool,
) -> Result<(), CloudError> {
    let client = acc.sagemaker(region);
    if run {
        client
            .start_notebook_instance()
            .notebook_instance_name(name)
            .send()
            .await
            .map_err(|e| classify("sagemaker:StartNotebookInstance", e))?;
    } else {
        client
            .stop_notebook_instance()
            .notebook_instance_name(name)
            .send()
            .await
            .map_err(|e| classify("sagemaker:StopNotebookInstance", e))?;
    }
    Ok(())
}

pub(super) async fn stop_job(
    acc: &AwsAccount,
    region: &RegionName,
    kind: JobKind,
    name: &str,
) -> Result<(), CloudError> {
    let client = acc.sagemaker(region);
    match kind {
        JobKind::Training => client
            .stop_training_job()
            .training_job_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("sagemaker:StopTrainingJob", e)),
        JobKind::Processing => client
            .stop_processing_job()
            .processing_job_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("sagemaker:StopProcessingJob", e)),
        JobKind::Transform => client
            .stop_transform_job()
            .transform_job_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("sagemaker:StopTransformJob", e)),
        JobKind::Tuning => client
            .stop_hyper_parameter_tuning_job()
            .hyper_parameter_tuning_job_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("sagemaker:StopHyperParameterTuningJob", e)),
    }
}
