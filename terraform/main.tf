# runawaytrain: the guard's least-privilege IAM role, the lockout and launch-deny policies it
# attaches, the SNS topic of the notify list with its customer-managed key, and an optional
# billing alarm. For the account the guard runs in (usually the payer/management account);
# modules/member-account creates the role the guard assumes in every other account.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.id
  role_name  = coalesce(var.role_name, "${var.name_prefix}-guard")
  role_arn   = "arn:${local.partition}:iam::${local.account_id}:role${var.role_path}${local.role_name}"
  topic_arn  = var.create_sns_topic ? aws_sns_topic.notify[0].arn : var.sns_topic_arn
  topic_arns = concat([local.topic_arn], var.extra_notify_topic_arns)
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

  # People and pipelines: never on the principal's word alone. Each condition set applies.
  dynamic "statement" {
    for_each = length(var.trusted_principal_arns) > 0 ? [1] : []
    content {
      sid     = "TrustedPrincipals"
      actions = ["sts:AssumeRole"]
      principals {
        type        = "AWS"
        identifiers = var.trusted_principal_arns
      }
      dynamic "condition" {
        for_each = var.organization_id == null ? [] : [var.organization_id]
        content {
          test     = "StringEquals"
          variable = "aws:PrincipalOrgID"
          values   = [condition.value]
        }
      }
      dynamic "condition" {
        for_each = var.trusted_principals_external_id == null ? [] : [var.trusted_principals_external_id]
        content {
          test     = "StringEquals"
          variable = "sts:ExternalId"
          values   = [condition.value]
        }
      }
      dynamic "condition" {
        for_each = var.trusted_principals_require_mfa ? [1] : []
        content {
          test     = "Bool"
          variable = "aws:MultiFactorAuthPresent"
          values   = ["true"]
        }
      }
    }
  }
}

resource "aws_iam_role" "guard" {
  count                = var.create_role ? 1 : 0
  name                 = local.role_name
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary_arn
  description          = "runawaytrain guard: checks and halts runaway AWS usage"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = var.trust_ecs_tasks || var.trust_ec2_instances || length(var.trusted_principal_arns) > 0
      error_message = "Nothing could assume the guard's role: set trust_ecs_tasks, trust_ec2_instances or trusted_principal_arns."
    }
    precondition {
      condition     = length(var.trusted_principal_arns) == 0 || var.organization_id != null || var.trusted_principals_external_id != null || var.trusted_principals_require_mfa
      error_message = "trusted_principal_arns needs a condition: set organization_id, trusted_principals_external_id or trusted_principals_require_mfa."
    }
  }
}

resource "aws_iam_instance_profile" "guard" {
  count = var.create_role && var.trust_ec2_instances ? 1 : 0
  name  = local.role_name
  path  = var.role_path
  role  = aws_iam_role.guard[0].name
  tags  = var.tags
}

# ----- what the guard may do: exactly the calls of the code (src/core/permissions.rs) --------

# In its own account, what it may do in every account (modules/account-permissions, shared with
# the member role), with the protected principals and its own role out of reach.
module "permissions" {
  source                   = "./modules/account-permissions"
  role_arn                 = local.role_arn
  lockout_policy_arn       = module.policies.lockout_policy_arn
  launch_deny_policy_arn   = module.policies.launch_deny_policy_arn
  bedrock_deny_policy_arn  = module.policies.bedrock_deny_policy_arn
  protected_principal_arns = var.protected_principal_arns
  allow_session_revocation = var.allow_session_revocation
}

# What only the guard's own role does: reach the members, read money, e-mail, read its queue.
data "aws_iam_policy_document" "guard_permissions" {
  source_policy_documents = [module.permissions.json]

  statement {
    sid = "ReadEstimatedCharges"
    # Billing metrics of every linked account, read in the payer; no resource-level permissions.
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.organization_id == null ? [] : [var.organization_id]
    content {
      sid = "ReachMemberAccountsOfTheOrganization"
      # Only the member role, and only in an account of this organisation.
      actions   = ["sts:AssumeRole"]
      resources = ["arn:${local.partition}:iam::*:role/${var.member_role_name}"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceOrgID"
        values   = [statement.value]
      }
    }
  }

  dynamic "statement" {
    for_each = var.organization_id == null && length(var.member_account_ids) > 0 ? [1] : []
    content {
      sid       = "ReachTheListedMemberAccounts"
      actions   = ["sts:AssumeRole"]
      resources = [for id in var.member_account_ids : "arn:${local.partition}:iam::${id}:role/${var.member_role_name}"]
    }
  }

  statement {
    sid = "OnDemandPrices"
    # The burn rate: the AWS Price List, which has no resource-level permissions.
    actions   = ["pricing:GetProducts"]
    resources = ["*"]
  }

  statement {
    sid = "BedrockModelNames"
    # The Bedrock token burn rate: the Price List names a model as Bedrock does, asked of
    # GetFoundationModel, which reads foundation models only.
    actions   = ["bedrock:GetFoundationModel"]
    resources = ["arn:${local.partition}:bedrock:*::foundation-model/*"]
  }

  statement {
    sid = "DiscoverTheOrganizationsAccounts"
    # ListAccounts has no resource-level permissions; it answers only in the management
    # account (or a delegated administrator).
    actions   = ["organizations:ListAccounts"]
    resources = ["*"]
  }

  statement {
    sid = "PutTheHeartbeat"
    # PutMetricData has no resource-level permissions: the namespace is the limit.
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Runawaytrain"]
    }
  }

  statement {
    sid = "ReadItsOwnSettings"
    # Deployed (modules/bot): the configuration and the Slack tokens, read at start, only under
    # the module's own names.
    actions = ["ssm:GetParameter"]
    resources = [
      "arn:${local.partition}:ssm:*:${local.account_id}:parameter/${var.name_prefix}/*",
    ]
  }

  statement {
    sid       = "ReadItsOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["arn:${local.partition}:secretsmanager:*:${local.account_id}:secret:${var.name_prefix}/*"]
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = local.topic_arns
  }

  dynamic "statement" {
    for_each = var.journal_backend == "dynamodb" ? [1] : []
    content {
      sid = "KeepTheJournal"
      # The journal's items, in its table and indexes only; never a Scan, a table created or
      # deleted (`runaway journal init` and `copy` are run by an operator).
      actions = [
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
      ]
      resources = [local.journal_table_arn, "${local.journal_table_arn}/index/*"]
    }
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
}

resource "aws_iam_policy" "guard" {
  name        = local.role_name
  description = "runawaytrain guard: exactly the AWS calls it makes"
  policy      = data.aws_iam_policy_document.guard_permissions.json
  tags        = var.tags

  lifecycle {
    precondition {
      condition     = var.create_sns_topic || var.sns_topic_arn != null
      error_message = "With create_sns_topic = false, sns_topic_arn must name the notify topic the guard publishes to."
    }
  }
}

# Attached to the role made here, or to the existing role named by role_name.
resource "aws_iam_role_policy_attachment" "guard" {
  role       = var.create_role ? aws_iam_role.guard[0].name : local.role_name
  policy_arn = aws_iam_policy.guard.arn
}
