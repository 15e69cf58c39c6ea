# The event path: every watched account and region forwards EC2 launches, launch calls and
# GuardDuty findings to the default bus of this account in this region (the guard's home
# region); one rule there fills an encrypted SQS queue that `runaway serve` long-polls
# (`[events] queue_url`). Bad messages go to a dead-letter queue after events_max_receive_count
# receives. The guard needs no inbound endpoint.

locals {
  events_queue_name = "${var.name_prefix}-events"
  events_queue_arn  = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.events_queue_name}"
  central_bus_arn   = "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/default"
  events            = var.events_enabled ? 1 : 0
  # Accounts that may put events on the central bus: by organisation, else by account id.
  event_source_org = var.event_source_organization_id != null ? var.event_source_organization_id : var.organization_id
  event_sources    = local.event_source_org != null || length(var.event_source_account_ids) > 0 ? local.events : 0
}

module "event_pattern" {
  source                 = "./modules/event-pattern"
  bedrock_principal_arns = var.bedrock_principal_arns
}

resource "aws_sqs_queue" "events_dead_letters" {
  count                     = local.events
  name                      = "${local.events_queue_name}-dead-letters"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600 # 14 days, SQS's longest: time to look at a bad message
  tags                      = var.tags
}

resource "aws_sqs_queue" "events" {
  count                   = local.events
  name                    = local.events_queue_name
  sqs_managed_sse_enabled = true
  # Longer than the guard takes to journal a receive (milliseconds); a guard that dies holding
  # messages gives them back after this.
  visibility_timeout_seconds = 60
  message_retention_seconds  = 345600 # 4 days: a guard down over a weekend misses nothing
  receive_wait_time_seconds  = 20
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.events_dead_letters[0].arn
    maxReceiveCount     = var.events_max_receive_count
  })
  # Inline rather than an aws_sqs_queue_policy: one resource owns the queue's attributes.
  policy = data.aws_iam_policy_document.events_queue[0].json
  tags   = var.tags
}

resource "aws_cloudwatch_event_rule" "events" {
  count         = local.events
  name          = local.events_queue_name
  description   = "runawaytrain: EC2 launches and state changes, and GuardDuty findings, of every watched account, to the guard's queue"
  event_pattern = module.event_pattern.json
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "events_queue" {
  count     = local.events
  rule      = aws_cloudwatch_event_rule.events[0].name
  target_id = "runawaytrain-queue"
  arn       = aws_sqs_queue.events[0].arn
}

# The calls that may be tampering with the guard (a second pattern: one would pass
# EventBridge's 2048-character limit), to the same queue.
resource "aws_cloudwatch_event_rule" "tamper" {
  count         = local.events
  name          = "${var.name_prefix}-tamper"
  description   = "runawaytrain: calls that stop instances behind the guard's back or tamper with it, of every watched account, to the guard's queue"
  event_pattern = module.event_pattern.tamper_json
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "tamper_queue" {
  count     = local.events
  rule      = aws_cloudwatch_event_rule.tamper[0].name
  target_id = "runawaytrain-queue"
  arn       = aws_sqs_queue.events[0].arn
}

# Amazon Bedrock's calls by principals not in bedrock_principal_arns (a third pattern: the
# expected principals fit in it), to the same queue.
resource "aws_cloudwatch_event_rule" "bedrock" {
  count         = local.events
  name          = "${var.name_prefix}-bedrock"
  description   = "runawaytrain: Amazon Bedrock calls by principals not expected to make them, of every watched account, to the guard's queue"
  event_pattern = module.event_pattern.bedrock_json
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "bedrock_queue" {
  count     = local.events
  rule      = aws_cloudwatch_event_rule.bedrock[0].name
  target_id = "runawaytrain-queue"
  arn       = aws_sqs_queue.events[0].arn
}

data "aws_iam_policy_document" "events_queue" {
  count = local.events

  statement {
    sid     = "OnlyTheGuardsRuleSends"
    actions = ["sqs:SendMessage"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    resources = [local.events_queue_arn]
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.events[0].arn, aws_cloudwatch_event_rule.tamper[0].arn, aws_cloudwatch_event_rule.bedrock[0].arn]
    }
  }

  statement {
    sid       = "EncryptedTransportOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [local.events_queue_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# Member accounts put their events on this bus: only those of the organisation, or those listed.
data "aws_iam_policy_document" "central_bus" {
  count = local.event_sources

  statement {
    sid       = "WatchedAccountsPutEvents"
    actions   = ["events:PutEvents"]
    resources = [local.central_bus_arn]
    principals {
      type        = "AWS"
      identifiers = local.event_source_org != null ? ["*"] : var.event_source_account_ids
    }
    dynamic "condition" {
      for_each = local.event_source_org != null ? [local.event_source_org] : []
      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "central" {
  count          = local.event_sources
  event_bus_name = "default"
  policy         = data.aws_iam_policy_document.central_bus[0].json
}

# This account's other regions forward too (modules/event-forwarding, one call per region),
# with this role.
module "event_forwarder_role" {
  count           = local.events
  source          = "./modules/event-forwarder-role"
  central_bus_arn = local.central_bus_arn
  name_prefix     = var.name_prefix
  tags            = var.tags
}
