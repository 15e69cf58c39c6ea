# The journal on DynamoDB (journal_backend = "dynamodb"): one table that several replicas of
# runaway serve share, keyed and indexed exactly as `runaway journal init` makes it
# (ARCHITECTURE.md, "The journal on DynamoDB"). On-demand, point-in-time recovery, deletion
# protection (the journal is how every change is undone), encrypted with a key of the module's
# own. The guard may read and write items of this table and its indexes only; it never creates,
# scans or deletes a table.

locals {
  journal_dynamodb   = var.journal_backend == "dynamodb"
  journal_table_arn  = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.journal_table_name}"
  journal_kms_key_id = local.journal_dynamodb ? coalesce(var.journal_kms_key_arn, one(aws_kms_key.journal[*].arn)) : null
}

data "aws_iam_policy_document" "journal_key" {
  # In a key policy, Resource "*" is the key itself.
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is this key only
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource is this key only
  #checkov:skip=CKV_AWS_109:the account root administers its own key, as in AWS's default key policy
  count = local.journal_dynamodb && var.journal_kms_key_arn == null ? 1 : 0

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
    sid       = "GuardUsesTheKeyThroughDynamoDB"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "journal" {
  count                   = local.journal_dynamodb && var.journal_kms_key_arn == null ? 1 : 0
  description             = "runawaytrain journal table (${var.journal_table_name})"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.journal_key[0].json
  tags                    = var.tags

  # The guard's role must exist before the key's policy may name it.
  depends_on = [aws_iam_role.guard]
}

resource "aws_kms_alias" "journal" {
  count         = local.journal_dynamodb && var.journal_kms_key_arn == null ? 1 : 0
  name          = "alias/${var.name_prefix}-journal"
  target_key_id = aws_kms_key.journal[0].key_id
}

resource "aws_dynamodb_table" "journal" {
  count                       = local.journal_dynamodb ? 1 : 0
  name                        = var.journal_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "PK"
  range_key                   = "SK"
  deletion_protection_enabled = true

  dynamic "attribute" {
    for_each = ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"]
    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "global_secondary_index" {
    for_each = ["GSI1", "GSI2", "GSI3"]
    content {
      name            = global_secondary_index.value
      hash_key        = "${global_secondary_index.value}PK"
      range_key       = "${global_secondary_index.value}SK"
      projection_type = "ALL"
    }
  }

  # Check runs expire a week after they ran.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.journal_kms_key_id
  }

  tags = var.tags
}
