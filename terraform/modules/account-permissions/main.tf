# The permissions the guard needs inside one account, identical in the account it runs in (the
# root module adds reaching members, e-mailing and billing) and in every member account
# (modules/member-account). Exactly the calls of the code: tests/it/terraform.rs holds this
# document against src/core/permissions.rs.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
}

data "aws_iam_policy_document" "account_permissions" {
  statement {
    sid = "Observe"
    # These reads have no resource-level permissions: "*" is the only resource they accept.
    actions = [
      "sts:GetCallerIdentity",
      "ec2:DescribeRegions",
      "ec2:DescribeInstanceStatus",
      "ec2:DescribeTags",
      "ec2:DescribeSpotInstanceRequests",
      "ec2:DescribeInstances",
      "autoscaling:DescribeAutoScalingGroups",
      "iam:ListUsers",
      "iam:ListRoles",
    ]
    resources = ["*"]
  }

  statement {
    sid = "ReadPrincipals"
    actions = [
      "iam:ListAttachedUserPolicies",
      "iam:ListAttachedRolePolicies",
      "iam:ListAccessKeys",
    ]
    resources = [
      "arn:${local.partition}:iam::${local.account_id}:user/*",
      "arn:${local.partition}:iam::${local.account_id}:role/*",
    ]
  }

  statement {
    sid       = "ReadCloudTrailRecords"
    actions   = ["logs:FilterLogEvents"]
    resources = ["arn:${local.partition}:logs:*:${local.account_id}:log-group:*"]
  }

  statement {
    sid       = "StopAndStartInstances"
    actions   = ["ec2:StopInstances", "ec2:StartInstances"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*"]
  }

  statement {
    sid = "TagInstancesWithTheGuardsKeysOnly"
    # Only the keys runaway:incident (stopped) and runaway:quarantine (isolated), and a key
    # must be named: DeleteTags without one would remove every tag. Never runaway:exempt.
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*"]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["runaway:incident", "runaway:quarantine"]
    }
    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }

  statement {
    sid = "ObserveComputeBeyondEc2"
    # halt_services / max_running: these lists and descriptions take no narrower resource.
    actions = [
      "ecs:ListClusters",
      "ecs:ListServices",
      "lambda:ListFunctions",
      "sagemaker:ListNotebookInstances",
      "sagemaker:ListTrainingJobs",
      "sagemaker:ListProcessingJobs",
      "sagemaker:ListTransformJobs",
      "sagemaker:ListHyperParameterTuningJobs",
      "sagemaker:ListEndpoints",
      "batch:DescribeJobQueues",
      "batch:DescribeComputeEnvironments",
      "batch:ListJobs",
      "eks:ListClusters",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "ListTasks"
    actions   = ["ecs:ListTasks"]
    resources = ["arn:${local.partition}:ecs:*:${local.account_id}:container-instance/*"]
  }

  statement {
    sid     = "DescribeDatabasesServicesAndTasks"
    actions = ["rds:DescribeDBInstances", "rds:DescribeDBClusters", "ecs:DescribeServices", "ecs:DescribeTasks"]
    resources = [
      "arn:${local.partition}:rds:*:${local.account_id}:db:*",
      "arn:${local.partition}:rds:*:${local.account_id}:cluster:*",
      "arn:${local.partition}:ecs:*:${local.account_id}:service/*",
      "arn:${local.partition}:ecs:*:${local.account_id}:task/*",
    ]
  }

  statement {
    sid = "ReadSagemakerAndEksResources"
    actions = [
      "sagemaker:DescribeEndpoint",
      "sagemaker:DescribeEndpointConfig",
      "sagemaker:ListTags",
      "eks:ListNodegroups",
      "eks:DescribeNodegroup",
      "eks:DescribeCluster",
    ]
    resources = [
      "arn:${local.partition}:sagemaker:*:${local.account_id}:*",
      "arn:${local.partition}:eks:*:${local.account_id}:cluster/*",
      "arn:${local.partition}:eks:*:${local.account_id}:nodegroup/*",
    ]
  }

  statement {
    sid = "StopSagemakerNotebooksAndJobs"
    # Endpoints are never deleted: no sagemaker:Delete* here.
    actions = [
      "sagemaker:StopNotebookInstance",
      "sagemaker:StartNotebookInstance",
      "sagemaker:StopTrainingJob",
      "sagemaker:StopProcessingJob",
      "sagemaker:StopTransformJob",
      "sagemaker:StopHyperParameterTuningJob",
    ]
    resources = [
      "arn:${local.partition}:sagemaker:*:${local.account_id}:notebook-instance/*",
      "arn:${local.partition}:sagemaker:*:${local.account_id}:training-job/*",
      "arn:${local.partition}:sagemaker:*:${local.account_id}:processing-job/*",
      "arn:${local.partition}:sagemaker:*:${local.account_id}:transform-job/*",
      "arn:${local.partition}:sagemaker:*:${local.account_id}:hyper-parameter-tuning-job/*",
    ]
  }

  statement {
    sid       = "DisableAndEnableBatch"
    actions   = ["batch:UpdateJobQueue", "batch:UpdateComputeEnvironment"]
    resources = ["arn:${local.partition}:batch:*:${local.account_id}:job-queue/*", "arn:${local.partition}:batch:*:${local.account_id}:compute-environment/*"]
  }

  statement {
    sid       = "ReadFunctions"
    actions   = ["lambda:GetFunctionConcurrency", "lambda:ListTags"]
    resources = ["arn:${local.partition}:lambda:*:${local.account_id}:function:*"]
  }

  statement {
    sid       = "StopAndStartDatabases"
    actions   = ["rds:StopDBInstance", "rds:StartDBInstance", "rds:StopDBCluster", "rds:StartDBCluster"]
    resources = ["arn:${local.partition}:rds:*:${local.account_id}:db:*", "arn:${local.partition}:rds:*:${local.account_id}:cluster:*"]
  }

  statement {
    sid = "ScaleServicesAndStopStandaloneTasks"
    # UpdateService sets a desired count (0 in a halt, the count it had in a restore).
    actions   = ["ecs:UpdateService", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:*:${local.account_id}:service/*", "arn:${local.partition}:ecs:*:${local.account_id}:task/*"]
  }

  statement {
    sid       = "HoldFunctionsAtZeroConcurrency"
    actions   = ["lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"]
    resources = ["arn:${local.partition}:lambda:*:${local.account_id}:function:*"]
  }

  statement {
    sid       = "HoldAutoScalingGroups"
    actions   = ["autoscaling:SuspendProcesses", "autoscaling:ResumeProcesses"]
    resources = ["arn:${local.partition}:autoscaling:*:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
  }

  statement {
    sid = "ReadWhatIsolationChanges"
    # isolate: reads without resource-level permissions.
    actions = [
      "ec2:DescribeIamInstanceProfileAssociations",
      "ec2:DescribeSecurityGroups",
      "autoscaling:DescribeAutoScalingInstances",
    ]
    resources = ["*"]
  }

  statement {
    sid = "IsolateInstances"
    # Termination protection, shutdown behaviour, the instance profile, the interfaces' groups.
    # Re-associating a profile (restore) also needs iam:PassRole, never granted here.
    actions = [
      "ec2:DescribeInstanceAttribute",
      "ec2:ModifyInstanceAttribute",
      "ec2:DisassociateIamInstanceProfile",
      "ec2:AssociateIamInstanceProfile",
      "ec2:ModifyNetworkInterfaceAttribute",
    ]
    resources = [
      "arn:${local.partition}:ec2:*:${local.account_id}:instance/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:network-interface/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:security-group/*",
    ]
  }

  statement {
    sid       = "CreateIsolationGroups"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:security-group/*", "arn:${local.partition}:ec2:*:${local.account_id}:vpc/*"]
  }

  statement {
    sid = "RulesOnlyOfTheGuardsOwnGroups"
    # The isolation groups are created tagged with their incident: no other group's rules can
    # be opened.
    actions   = ["ec2:RevokeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:security-group/*"]
    condition {
      test     = "StringLike"
      variable = "aws:ResourceTag/runaway:incident"
      values   = ["inc-*"]
    }
  }

  statement {
    sid       = "SnapshotIsolatedVolumes"
    actions   = ["ec2:CreateSnapshot"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:volume/*", "arn:${local.partition}:ec2:*::snapshot/*"]
  }

  statement {
    sid     = "TagWhatIsolationCreates"
    actions = ["ec2:CreateTags"]
    resources = [
      "arn:${local.partition}:ec2:*:${local.account_id}:security-group/*",
      "arn:${local.partition}:ec2:*::snapshot/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:instance/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:volume/*",
    ]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSecurityGroup", "CreateSnapshot", "RunInstances", "CreateVolume"]
    }
  }

  statement {
    sid = "ReadWhatForensicsNeeds"
    # isolate --forensics: reads without resource-level permissions.
    actions   = ["ec2:DescribeSubnets", "ec2:DescribeSnapshots", "ec2:DescribeVolumes"]
    resources = ["*"]
  }

  statement {
    sid = "LaunchOnlyForensicInstancesTaggedWithTheirIncident"
    # The instance and its volumes must be created tagged runaway:incident=inc-...: the guard
    # cannot launch anything else.
    actions   = ["ec2:RunInstances", "ec2:CreateVolume"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*", "arn:${local.partition}:ec2:*:${local.account_id}:volume/*"]
    condition {
      test     = "StringLike"
      variable = "aws:RequestTag/runaway:incident"
      values   = ["inc-*"]
    }
  }

  statement {
    sid     = "LaunchForensicInstancesFrom"
    actions = ["ec2:RunInstances", "ec2:CreateVolume"]
    resources = [
      "arn:${local.partition}:ec2:*::image/*",
      "arn:${local.partition}:ec2:*::snapshot/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:subnet/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:network-interface/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:security-group/*",
    ]
  }

  statement {
    sid       = "AttachOnlyToTheGuardsForensicInstances"
    actions   = ["ec2:AttachVolume"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*", "arn:${local.partition}:ec2:*:${local.account_id}:volume/*"]
    condition {
      test     = "StringLike"
      variable = "aws:ResourceTag/runaway:incident"
      values   = ["inc-*"]
    }
  }

  statement {
    sid       = "DetachFromAndAttachToAutoScalingGroups"
    actions   = ["autoscaling:DetachInstances", "autoscaling:AttachInstances"]
    resources = ["arn:${local.partition}:autoscaling:*:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
  }

  statement {
    sid = "ReadBedrockUsage"
    # The Bedrock rules: the AWS/Bedrock metrics of the account, and the provisioned throughput
    # it pays for (reported). None of these calls has resource-level permissions; all only read.
    actions   = ["cloudwatch:ListMetrics", "cloudwatch:GetMetricData", "bedrock:ListProvisionedModelThroughputs"]
    resources = ["*"]
  }

  statement {
    sid       = "AttachOnlyTheLockoutPoliciesToUsers"
    actions   = ["iam:AttachUserPolicy", "iam:DetachUserPolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:user/*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [var.lockout_policy_arn, var.launch_deny_policy_arn, var.bedrock_deny_policy_arn]
    }
  }

  statement {
    sid = "AttachOnlyTheLaunchDenyPolicyToRoles"
    # A role is never given the deny-all policy: only launches and Bedrock are blocked for it
    # (block_launches, block_bedrock, and lockout_launchers on a launcher role without session
    # revocation).
    actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [var.launch_deny_policy_arn, var.bedrock_deny_policy_arn]
    }
  }

  # Opt-in (allow_session_revocation): inline policies revoking sessions issued before an
  # incident (revoke_sessions, and lockout_launchers on roles); restore deletes them. IAM cannot
  # limit what an inline policy says, so whoever holds the guard's credentials could write any:
  # off by default, and with it on the guard alerts on every write of its own it did not journal.
  # The Deny below keeps the guard's own role out of reach.
  dynamic "statement" {
    for_each = var.allow_session_revocation ? [1] : []
    content {
      sid       = "RevokeOlderRoleSessions"
      actions   = ["iam:PutRolePolicy", "iam:DeleteRolePolicy"]
      resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]
    }
  }

  dynamic "statement" {
    for_each = var.allow_session_revocation ? [1] : []
    content {
      sid       = "RevokeOlderUserSessions"
      actions   = ["iam:PutUserPolicy", "iam:DeleteUserPolicy"]
      resources = ["arn:${local.partition}:iam::${local.account_id}:user/*"]
    }
  }

  statement {
    sid       = "DeactivateAndReactivateKeys"
    actions   = ["iam:UpdateAccessKey"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:user/*"]
  }

  statement {
    sid = "DeactivateAndReactivateBedrockApiKeys"
    # block_bedrock: a user's Bedrock API keys (service-specific credentials) read and set
    # Inactive; restore sets them Active. Never created (iam:Create* is denied) or deleted.
    actions   = ["iam:ListServiceSpecificCredentials", "iam:UpdateServiceSpecificCredential"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:user/*"]
  }

  statement {
    sid    = "NeverChangeItself"
    effect = "Deny"
    actions = [
      "iam:AttachRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PutRolePolicy",
      "iam:DeleteRolePolicy",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:DeleteRole",
      "iam:PutRolePermissionsBoundary",
      "iam:DeleteRolePermissionsBoundary",
      "iam:TagRole",
      "iam:UntagRole",
    ]
    resources = [var.role_arn]
  }

  statement {
    sid    = "NeverCreateInIamOrPassRoles"
    effect = "Deny"
    # No new identity, key, password, policy or policy version, and no role handed to a
    # service: a stolen guard session cannot build itself a way in.
    actions = [
      "iam:Create*",
      "iam:PassRole",
      "iam:AddUserToGroup",
      "iam:SetDefaultPolicyVersion",
      "iam:UpdateLoginProfile",
      "iam:UpdateAssumeRolePolicy",
      "iam:PutUserPermissionsBoundary",
      "iam:PutRolePermissionsBoundary",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = length(var.protected_principal_arns) > 0 ? [1] : []
    content {
      sid    = "NeverTouchTheProtectedPrincipals"
      effect = "Deny"
      # The break-glass users and roles: denied here, in the policy itself, not only in the
      # guard's configuration.
      actions = [
        "iam:AttachUserPolicy",
        "iam:DetachUserPolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:PutUserPolicy",
        "iam:DeleteUserPolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:UpdateAccessKey",
        "iam:UpdateServiceSpecificCredential",
      ]
      resources = var.protected_principal_arns
    }
  }
}
