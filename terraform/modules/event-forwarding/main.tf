# One region of one account: the rule that forwards the guard's events (modules/event-pattern)
# to the guard's central bus. hashicorp/aws 5.x gives every resource its provider's region, so a
# region is one call of this module with a provider for that region (see the examples).

module "pattern" {
  source                 = "../event-pattern"
  bedrock_principal_arns = var.bedrock_principal_arns
}

resource "aws_cloudwatch_event_rule" "forward" {
  name          = "${var.name_prefix}-forward"
  description   = "runawaytrain: EC2 launches and state changes, and GuardDuty findings, to the guard's bus"
  event_pattern = module.pattern.json
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "central_bus" {
  rule      = aws_cloudwatch_event_rule.forward.name
  target_id = "runawaytrain-central-bus"
  arn       = var.central_bus_arn
  role_arn  = var.role_arn
}

resource "aws_cloudwatch_event_rule" "tamper" {
  name          = "${var.name_prefix}-forward-tamper"
  description   = "runawaytrain: calls that stop instances behind the guard's back or tamper with it, to the guard's bus"
  event_pattern = module.pattern.tamper_json
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "tamper_central_bus" {
  rule      = aws_cloudwatch_event_rule.tamper.name
  target_id = "runawaytrain-central-bus"
  arn       = var.central_bus_arn
  role_arn  = var.role_arn
}

resource "aws_cloudwatch_event_rule" "bedrock" {
  name          = "${var.name_prefix}-forward-bedrock"
  description   = "runawaytrain: Amazon Bedrock calls by principals not expected to make them, to the guard's bus"
  event_pattern = module.pattern.bedrock_json
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "bedrock_central_bus" {
  rule      = aws_cloudwatch_event_rule.bedrock.name
  target_id = "runawaytrain-central-bus"
  arn       = var.central_bus_arn
  role_arn  = var.role_arn
}
