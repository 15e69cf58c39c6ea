# The events the guard acts on, as one EventBridge pattern: EC2 instances about to cost money,
# the EC2 calls that launch them (as CloudTrail records them), GuardDuty findings, and the
# inline-policy writes the guard holds its own role's to (IAM's events are delivered in
# us-east-1; with allow_session_revocation the guard alerts on any write of its own role that
# it did not journal). A second pattern, `tamper`, carries the calls that tamper with the guard
# or stop things behind its back (one pattern would pass EventBridge's 2048-character limit).
# Used by
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

# The calls the guard judges from their CloudTrail records: those that may be tampering
# (src/core/tamper.rs TAMPER_CALLS, in its order: instances stopped, terminated or unprotected,
# the exemption tag moved, CloudTrail and GuardDuty turned off, the guard's rules, queue, role and
# policies changed).
locals {
  tamper = {
    "$or" = [
      {
        source        = ["aws.ec2"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["ec2.amazonaws.com"]
          eventName   = ["StopInstances", "TerminateInstances", "ModifyInstanceAttribute", "CreateTags", "DeleteTags"]
        }
      },
      {
        source        = ["aws.cloudtrail"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["cloudtrail.amazonaws.com"]
          eventName   = ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]
        }
      },
      {
        source        = ["aws.guardduty"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["guardduty.amazonaws.com"]
          eventName   = ["DeleteDetector", "UpdateDetector", "DisassociateFromMasterAccount", "DisassociateFromAdministratorAccount"]
        }
      },
      {
        source        = ["aws.events"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["events.amazonaws.com"]
          eventName   = ["DisableRule", "DeleteRule", "RemoveTargets", "PutRule"]
        }
      },
      {
        source        = ["aws.sqs"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["sqs.amazonaws.com"]
          eventName   = ["SetQueueAttributes", "DeleteQueue", "PurgeQueue"]
        }
      },
      {
        source        = ["aws.iam"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["iam.amazonaws.com"]
          eventName   = ["DeleteRole", "UpdateAssumeRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy", "PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary", "DetachUserPolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion", "DeletePolicyVersion", "DeletePolicy"]
        }
      },
    ]
  }
}

# LLMjacking (src/core/bedrock.rs), a third pattern: Amazon Bedrock's invocations and the
# model-access set-up calls attackers make first; the guard judges each against
# bedrock_principals. Its own rule, so that the expected principals below fit in EventBridge's
# 2048 characters.
locals {
  bedrock = {
    source        = ["aws.bedrock"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = merge({
      eventSource = ["bedrock.amazonaws.com"]
      eventName   = ["InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream", "ListFoundationModels", "GetFoundationModelAvailability", "PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "PutFoundationModelEntitlement"]
    }, local.bedrock_callers)
  }
}

# With bedrock_principal_arns, the expected principals' Bedrock calls stay at the rule (a busy
# chatbot's invocations would otherwise fill the guard's queue): a user's calls pass unless the
# user is listed, a role session's unless its role is, and every other caller's (the root user,
# federated users, AWS services) always pass. EventBridge's anything-but is exact: ARNs, not
# patterns. Without the list, every Bedrock call passes and the guard judges each.
locals {
  bedrock_users = [for arn in var.bedrock_principal_arns : arn if strcontains(arn, ":user/")]
  bedrock_roles = [for arn in var.bedrock_principal_arns : arn if strcontains(arn, ":role/")]
  # Conditional keys as one-entry for expressions: Terraform's conditionals cannot choose
  # between objects of different shapes.
  bedrock_callers = {
    for key, value in {
      "$or" = [
        { userIdentity = { type = [{ "anything-but" = ["IAMUser", "AssumedRole"] }] } },
        { userIdentity = merge({ type = ["IAMUser"] }, { for k, v in { arn = [{ "anything-but" = local.bedrock_users }] } : k => v if length(local.bedrock_users) > 0 }) },
        { userIdentity = merge({ type = ["AssumedRole"] }, { for k, v in { sessionContext = { sessionIssuer = { arn = [{ "anything-but" = local.bedrock_roles }] } } } : k => v if length(local.bedrock_roles) > 0 }) },
      ]
    } : key => value if length(var.bedrock_principal_arns) > 0
  }
}
