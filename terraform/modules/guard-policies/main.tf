# The two managed policies the guard attaches during a lockout, in one account: a deny-all
# policy (lockout_users) and a launch-deny policy (block_launches). Used by the root module and
# by modules/member-account, so every account gets the same two.

data "aws_iam_policy_document" "lockout" {
  statement {
    sid       = "RunawaytrainLockout"
    effect    = "Deny"
    actions   = ["*"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "launch_deny" {
  statement {
    sid    = "RunawaytrainBlockLaunches"
    effect = "Deny"
    actions = [
      "ec2:RunInstances",
      "ec2:StartInstances",
      "ec2:RequestSpotInstances",
      "ec2:RequestSpotFleet",
      "ec2:ModifySpotFleetRequest",
      "ec2:CreateFleet",
      "ec2:ModifyFleet",
      "autoscaling:CreateAutoScalingGroup",
      "autoscaling:UpdateAutoScalingGroup",
      "autoscaling:SetDesiredCapacity",
      "autoscaling:ExecutePolicy",
      "autoscaling:PutScheduledUpdateGroupAction",
      "autoscaling:ResumeProcesses",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "lockout" {
  name        = "${var.name_prefix}-lockout"
  description = "runawaytrain lockout: denies everything. Attached by the guard to locked-out IAM users; detached by runaway restore."
  policy      = data.aws_iam_policy_document.lockout.json
  tags        = var.tags
}

resource "aws_iam_policy" "launch_deny" {
  name        = "${var.name_prefix}-launch-deny"
  description = "runawaytrain launch block: denies launching and scaling compute. Attached by the guard; detached by runaway restore."
  policy      = data.aws_iam_policy_document.launch_deny.json
  tags        = var.tags
}
