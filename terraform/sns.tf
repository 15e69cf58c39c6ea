# The notify list: an SNS topic with e-mail subscriptions, encrypted with a customer-managed key
# (kms.tf) that CloudWatch alarms can use. The guard publishes when an incident opens and when
# its actions ran, and always when Slack cannot be reached.

resource "aws_sns_topic" "notify" {
  count             = var.create_sns_topic ? 1 : 0
  name              = "${var.name_prefix}-notify"
  kms_master_key_id = local.notify_key
  tags              = var.tags

  lifecycle {
    precondition {
      condition     = local.notify_key != null
      error_message = "The notify topic must be encrypted: keep create_kms_key, or name a key in sns_kms_key_id."
    }
  }
}

data "aws_iam_policy_document" "topic" {
  count = var.create_sns_topic ? 1 : 0

  statement {
    sid     = "GuardPublishes"
    actions = ["sns:Publish"]
    principals {
      type        = "AWS"
      identifiers = [local.role_arn]
    }
    resources = [aws_sns_topic.notify[0].arn]
  }

  statement {
    sid     = "AlarmsPublish"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    resources = [aws_sns_topic.notify[0].arn]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["sns:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_sns_topic.notify[0].arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid = "AccountManagesTopic"
    actions = [
      "sns:GetTopicAttributes",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
      "sns:ListSubscriptionsByTopic",
    ]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    resources = [aws_sns_topic.notify[0].arn]
  }
}

resource "aws_sns_topic_policy" "notify" {
  count  = var.create_sns_topic ? 1 : 0
  arn    = aws_sns_topic.notify[0].arn
  policy = data.aws_iam_policy_document.topic[0].json

  # The guard's role must exist before a policy may name it.
  depends_on = [aws_iam_role.guard]
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = var.create_sns_topic ? toset(var.notify_emails) : toset([])
  topic_arn = aws_sns_topic.notify[0].arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "billing" {
  count               = var.billing_alarm_threshold_usd == null ? 0 : 1
  alarm_name          = "${var.name_prefix}-estimated-charges"
  alarm_description   = "Estimated charges of the month above ${var.billing_alarm_threshold_usd} USD"
  namespace           = "AWS/Billing"
  metric_name         = "EstimatedCharges"
  dimensions          = { Currency = "USD" }
  statistic           = "Maximum"
  period              = 21600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.billing_alarm_threshold_usd
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = local.region == "us-east-1"
      error_message = "Billing metrics exist only in us-east-1: give this module a us-east-1 provider to create the billing alarm, or leave billing_alarm_threshold_usd null."
    }
    precondition {
      condition     = !var.create_sns_topic || local.notify_key != "alias/aws/sns"
      error_message = "A CloudWatch alarm cannot publish to a topic encrypted with the AWS-managed key alias/aws/sns: keep create_kms_key, or use a customer-managed key that admits cloudwatch.amazonaws.com."
    }
  }
}

# The dead-man's switch: runaway serve puts Heartbeat after every completed check. If the guard
# dies, hangs or loses its credentials, the metric stops and, missing data counting as
# breaching, the notify list hears it from AWS within two check periods.
resource "aws_cloudwatch_metric_alarm" "heartbeat" {
  count               = var.heartbeat_alarm_enabled ? 1 : 0
  alarm_name          = "${var.name_prefix}-heartbeat"
  alarm_description   = "runawaytrain has not completed a check for ${2 * var.check_every_seconds} seconds: the guard is down, stuck or without credentials"
  namespace           = "Runawaytrain"
  metric_name         = "Heartbeat"
  statistic           = "SampleCount"
  period              = var.check_every_seconds
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = !var.create_sns_topic || local.notify_key != "alias/aws/sns"
      error_message = "A CloudWatch alarm cannot publish to a topic encrypted with the AWS-managed key alias/aws/sns: keep create_kms_key, or use a customer-managed key that admits cloudwatch.amazonaws.com."
    }
  }
}
