# The role EventBridge uses to put this account's events on the guard's central bus (another
# region, or another account): trusted by EventBridge of this account only, allowed PutEvents on
# that one bus only.

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "EventBridgeOfThisAccount"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "forwarder" {
  name                 = "${var.name_prefix}-event-forwarder"
  description          = "runawaytrain: EventBridge forwards EC2, CloudTrail and GuardDuty events to the guard's bus"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "put_on_central_bus" {
  statement {
    sid       = "PutOnTheGuardsBusOnly"
    actions   = ["events:PutEvents"]
    resources = [var.central_bus_arn]
  }
}

resource "aws_iam_role_policy" "forwarder" {
  name   = "put-on-central-bus"
  role   = aws_iam_role.forwarder.id
  policy = data.aws_iam_policy_document.put_on_central_bus.json
}
