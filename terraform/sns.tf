# The notify list: an encrypted SNS topic with e-mail subscriptions. The guard publishes when an
# incident opens and when its actions ran, and always when Slack cannot be reached.

resource "aws_sns_topic" "notify" {
  name              = "${var.name_prefix}-notify"
  kms_master_key_id = var.sns_kms_key_id
  tags              = var.tags
}

data "aws_iam_policy_document" "topic" {
  statement {
    sid     = "GuardPublishes"
    actions = ["sns:Publish"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.guard.arn]
    }
    resources = [aws_sns_topic.notify.arn]
  }

  statement {
    sid     = "BillingAlarmPublishes"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    resources = [aws_sns_topic.notify.arn]
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
    resources = [aws_sns_topic.notify.arn]
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
    resources = [aws_sns_topic.notify.arn]
  }
}

resource "aws_sns_topic_policy" "notify" {
  arn    = aws_sns_topic.notify.arn
  policy = data.aws_iam_policy_document.topic.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.notify_emails)
  topic_arn = aws_sns_topic.notify.arn
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
  alarm_actions       = [aws_sns_topic.notify.arn]
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = local.region == "us-east-1"
      error_message = "Billing metrics exist only in us-east-1: give this module a us-east-1 provider to create the billing alarm, or leave billing_alarm_threshold_usd null."
    }
  }
}
