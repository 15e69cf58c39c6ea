# The events the guard acts on, as one EventBridge pattern: EC2 instances about to cost money,
# the EC2 calls that launch them (as CloudTrail records them), GuardDuty findings, and the
# inline-policy writes the guard holds its own role's to (IAM's events are delivered in
# us-east-1; with allow_session_revocation the guard alerts on any write of its own role that
# it did not journal). Used by
# the central rule (root module) and by every forwarding rule (modules/event-forwarding), so the
# two can never disagree. tests/it/terraform.rs holds it to src/core/events.rs.

locals {
  pattern = {
    "$or" = [
      {
        source        = ["aws.ec2"]
        "detail-type" = ["EC2 Instance State-change Notification"]
        detail = {
          state = ["pending", "running"]
        }
      },
      {
        source        = ["aws.ec2"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["ec2.amazonaws.com"]
          eventName   = ["RunInstances", "RequestSpotInstances", "RequestSpotFleet", "CreateFleet", "StartInstances"]
        }
      },
      {
        source        = ["aws.rds"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["rds.amazonaws.com"]
          eventName   = ["CreateDBInstance", "CreateDBCluster", "StartDBInstance", "StartDBCluster", "RestoreDBInstanceFromDBSnapshot", "RestoreDBClusterFromSnapshot"]
        }
      },
      {
        source        = ["aws.ecs"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["ecs.amazonaws.com"]
          eventName   = ["RunTask", "StartTask", "CreateService", "UpdateService"]
        }
      },
      {
        source        = ["aws.lambda"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["lambda.amazonaws.com"]
          eventName   = ["CreateFunction20150331", "DeleteFunctionConcurrency"]
        }
      },
      {
        source        = ["aws.sagemaker"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["sagemaker.amazonaws.com"]
          eventName   = ["CreateNotebookInstance", "StartNotebookInstance", "CreateTrainingJob", "CreateProcessingJob", "CreateTransformJob", "CreateHyperParameterTuningJob", "CreateEndpoint"]
        }
      },
      {
        source        = ["aws.eks"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["eks.amazonaws.com"]
          eventName   = ["CreateNodegroup", "UpdateNodegroupConfig"]
        }
      },
      {
        source        = ["aws.batch"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["batch.amazonaws.com"]
          eventName   = ["CreateComputeEnvironment", "UpdateComputeEnvironment", "CreateJobQueue", "UpdateJobQueue", "SubmitJob"]
        }
      },
      {
        source        = ["aws.guardduty"]
        "detail-type" = ["GuardDuty Finding"]
      },
      {
        source        = ["aws.iam"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["iam.amazonaws.com"]
          eventName   = ["PutUserPolicy", "PutRolePolicy"]
        }
      },
    ]
  }
}
