# runawaytrain: the guard's least-privilege IAM role, the lockout and launch-deny policies it
# attaches, the SNS topic of the notify list, and an optional billing alarm. For the account the
# guard runs in (usually the payer/management account); modules/member-account creates the role
# the guard assumes in every other account.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.id
  role_name  = "${var.name_prefix}-guard"
  role_arn   = "arn:${local.partition}:iam::${local.account_id}:role/${local.role_name}"
  topic_arns = concat([aws_sns_topic.notify.arn], var.extra_notify_topic_arns)
}

module "policies" {
  source      = "./modules/guard-policies"
  name_prefix = var.name_prefix
  tags        = var.tags
}

# ----- who may be the guard ---------------------------------------------------------------

data "aws_iam_policy_document" "trust" {
  dynamic "statement" {
    for_each = var.trust_ecs_tasks ? [1] : []
    content {
      sid     = "EcsTasks"
      actions = ["sts:AssumeRole"]
      principals {
        type        = "Service"
        identifiers = ["ecs-tasks.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }

  dynamic "statement" {
    for_each = var.trust_ec2_instances ? [1] : []
    content {
      sid     = "Ec2Instances"
      actions = ["sts:AssumeRole"]
      principals {
        type        = "Service"
        identifiers = ["ec2.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.trusted_principal_arns) > 0 ? [1] : []
    content {
      sid     = "TrustedPrincipals"
      actions = ["sts:AssumeRole"]
      principals {
        type        = "AWS"
        identifiers = var.trusted_principal_arns
      }
    }
  }
}

resource "aws_iam_role" "guard" {
  name                 = local.role_name
  description          = "runawaytrain guard: checks and halts runaway AWS usage"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = var.trust_ecs_tasks || var.trust_ec2_instances || length(var.trusted_principal_arns) > 0
      error_message = "Nothing could assume the guard's role: set trust_ecs_tasks, trust_ec2_instances or trusted_principal_arns."
    }
  }
}

resource "aws_iam_instance_profile" "guard" {
  count = var.trust_ec2_instances ? 1 : 0
  name  = local.role_name
  role  = aws_iam_role.guard.name
  tags  = var.tags
}

# ----- what the guard may do: exactly the calls of the code (src/permissions.rs) -------------

data "aws_iam_policy_document" "guard_permissions" {
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
      "cloudwatch:GetMetricData",
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
    # Only the keys runaway:incident (stopped), runaway:quarantine and runaway:ticket
    # (isolated), and a key must be named: DeleteTags without one would remove every tag.
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*"]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["runaway:incident", "runaway:quarantine", "runaway:ticket"]
    }
    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
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
    sid       = "AttachOnlyTheLockoutPolicies"
    actions   = ["iam:AttachUserPolicy", "iam:DetachUserPolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:user/*", "arn:${local.partition}:iam::${local.account_id}:role/*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [module.policies.lockout_policy_arn, module.policies.launch_deny_policy_arn]
    }
  }

  statement {
    sid = "RevokeOlderRoleSessions"
    # lockout_launchers: an inline policy denying sessions issued before the incident; the
    # Deny below keeps the guard's own role out of reach.
    actions   = ["iam:PutRolePolicy", "iam:DeleteRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]
  }

  statement {
    sid       = "RevokeOlderUserSessions"
    actions   = ["iam:PutUserPolicy", "iam:DeleteUserPolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:user/*"]
  }

  statement {
    sid       = "DeactivateAndReactivateKeys"
    actions   = ["iam:UpdateAccessKey"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:user/*"]
  }

  statement {
    sid       = "ReachMemberAccounts"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${local.partition}:iam::*:role/${var.member_role_name}"]
  }

  statement {
    sid = "OnDemandPrices"
    # The burn rate: the AWS Price List, which has no resource-level permissions.
    actions   = ["pricing:GetProducts"]
    resources = ["*"]
  }

  statement {
    sid = "DiscoverTheOrganizationsAccounts"
    # ListAccounts has no resource-level permissions; it answers only in the management
    # account (or a delegated administrator).
    actions   = ["organizations:ListAccounts"]
    resources = ["*"]
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = local.topic_arns
  }

  statement {
    sid = "ReadTheEventQueue"
    actions = [
      "sqs:GetQueueAttributes",
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
    ]
    resources = [local.events_queue_arn]
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
    resources = [local.role_arn]
  }
}

resource "aws_iam_policy" "guard" {
  name        = "${var.name_prefix}-guard"
  description = "runawaytrain guard: exactly the AWS calls it makes"
  policy      = data.aws_iam_policy_document.guard_permissions.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "guard" {
  role       = aws_iam_role.guard.name
  policy_arn = aws_iam_policy.guard.arn
}
