# The notify topic's key. An AWS-managed SNS key (alias/aws/sns) cannot be used by CloudWatch
# alarms, as its policy cannot be changed: this customer-managed key admits CloudWatch (the
# billing alarm) and the guard's role, both only through SNS, and the account to manage it.

locals {
  notify_key = var.create_sns_topic && var.create_kms_key ? aws_kms_key.notify[0].arn : var.sns_kms_key_id
}

data "aws_iam_policy_document" "notify_key" {
  # In a key policy, Resource "*" is the key itself, and the account root administering it is
  # what keeps the key manageable (AWS's default key policy).
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is this key only
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource is this key only
  #checkov:skip=CKV_AWS_109:the account root administers its own key, as in AWS's default key policy
  count = var.create_sns_topic && var.create_kms_key ? 1 : 0

  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "AlarmsPublishToTheTopic"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "GuardPublishesToTheTopic"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "notify" {
  count                   = var.create_sns_topic && var.create_kms_key ? 1 : 0
  description             = "runawaytrain notify topic (${var.name_prefix}-notify)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.notify_key[0].json
  tags                    = var.tags

  # The guard's role must exist before the key's policy may name it.
  depends_on = [aws_iam_role.guard]
}

resource "aws_kms_alias" "notify" {
  count         = var.create_sns_topic && var.create_kms_key ? 1 : 0
  name          = "alias/${var.name_prefix}-notify"
  target_key_id = aws_kms_key.notify[0].key_id
}
