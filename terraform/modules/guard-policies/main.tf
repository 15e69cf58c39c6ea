# The managed policies the guard attaches during a lockout, in one account: a deny-all policy
# (lockout_users), a launch-deny policy (block_launches) and a Bedrock deny policy
# (block_bedrock). Used by the root module and by modules/member-account, so every account gets
# the same three.

data "aws_iam_policy_document" "lockout" {
  statement {
    sid       = "RunawaytrainLockout"
    effect    = "Deny"
    actions   = ["*"]
    resources = ["*"]
  }
}

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  # Known before the policy exists, so that it can protect itself.
  launch_deny_arn  = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:policy/${var.name_prefix}-launch-deny"
  bedrock_deny_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:policy/${var.name_prefix}-bedrock-deny"
}

# Amazon Bedrock cut off (LLMjacking: leaked keys used to resell model invocations): the
# invocations, and the model-access set-up calls attackers make first. Like the launch block, a
# principal holding leaked admin keys can neither detach it nor rewrite it.
data "aws_iam_policy_document" "bedrock_deny" {
  statement {
    sid    = "RunawaytrainBlockBedrock"
    effect = "Deny"
    actions = [
      "bedrock:InvokeModel",
      "bedrock:InvokeModelWithResponseStream",
      "bedrock:Converse",
      "bedrock:ConverseStream",
      "bedrock:PutUseCaseForModelAccess",
      "bedrock:CreateFoundationModelAgreement",
      "bedrock:PutFoundationModelEntitlement",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "RunawaytrainKeepTheBedrockBlock"
    effect    = "Deny"
    actions   = ["iam:DetachUserPolicy", "iam:DetachRolePolicy", "iam:DetachGroupPolicy"]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [local.bedrock_deny_arn]
    }
  }

  statement {
    sid    = "RunawaytrainKeepTheBedrockPolicy"
    effect = "Deny"
    actions = [
      "iam:CreatePolicyVersion",
      "iam:SetDefaultPolicyVersion",
      "iam:DeletePolicyVersion",
      "iam:DeletePolicy",
    ]
    resources = [local.bedrock_deny_arn]
  }
}

data "aws_iam_policy_document" "launch_deny" {
  statement {
    sid    = "RunawaytrainBlockLaunches"
    effect = "Deny"
    # What starts paying for compute: instances, their templates, Spot and fleets, Auto Scaling,
    # containers, functions, batch jobs, SageMaker, EKS node groups and Lightsail.
    actions = [
      "ec2:RunInstances",
      "ec2:StartInstances",
      "ec2:RequestSpotInstances",
      "ec2:RequestSpotFleet",
      "ec2:ModifySpotFleetRequest",
      "ec2:CreateFleet",
      "ec2:ModifyFleet",
      "ec2:CreateLaunchTemplate",
      "ec2:CreateLaunchTemplateVersion",
      "ec2:ModifyLaunchTemplate",
      "ec2:AllocateHosts",
      "ec2:CreateCapacityReservation",
      "ec2:PurchaseReservedInstancesOffering",
      "autoscaling:CreateAutoScalingGroup",
      "autoscaling:UpdateAutoScalingGroup",
      "autoscaling:SetDesiredCapacity",
      "autoscaling:ExecutePolicy",
      "autoscaling:PutScheduledUpdateGroupAction",
      "autoscaling:ResumeProcesses",
      "autoscaling:CreateLaunchConfiguration",
      "ecs:RunTask",
      "ecs:StartTask",
      "ecs:CreateService",
      "ecs:UpdateService",
      "lambda:CreateFunction",
      "lambda:UpdateFunctionCode",
      "lambda:UpdateFunctionConfiguration",
      "lambda:PutProvisionedConcurrencyConfig",
      "batch:SubmitJob",
      "batch:CreateComputeEnvironment",
      "batch:UpdateComputeEnvironment",
      "sagemaker:CreateTrainingJob",
      "sagemaker:CreateProcessingJob",
      "sagemaker:CreateTransformJob",
      "sagemaker:CreateHyperParameterTuningJob",
      "sagemaker:CreateEndpoint",
      "sagemaker:UpdateEndpoint",
      "sagemaker:CreateNotebookInstance",
      "sagemaker:StartNotebookInstance",
      "eks:CreateCluster",
      "eks:CreateNodegroup",
      "eks:UpdateNodegroupConfig",
      "lightsail:CreateInstances",
      "lightsail:CreateInstancesFromSnapshot",
      "lightsail:StartInstance",
    ]
    resources = ["*"]
  }

  statement {
    sid    = "RunawaytrainKeepTheBlock"
    effect = "Deny"
    # A principal holding leaked admin keys cannot remove the block from itself or another.
    actions = [
      "iam:DetachUserPolicy",
      "iam:DetachRolePolicy",
      "iam:DetachGroupPolicy",
    ]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [local.launch_deny_arn]
    }
  }

  statement {
    sid    = "RunawaytrainKeepThePolicy"
    effect = "Deny"
    # ... nor rewrite or delete the policy itself.
    actions = [
      "iam:CreatePolicyVersion",
      "iam:SetDefaultPolicyVersion",
      "iam:DeletePolicyVersion",
      "iam:DeletePolicy",
    ]
    resources = [local.launch_deny_arn]
  }

  statement {
    sid    = "RunawaytrainNoNewIdentities"
    effect = "Deny"
    # ... nor make itself a fresh identity without the block.
    actions = [
      "iam:CreateUser",
      "iam:CreateAccessKey",
      "iam:CreateLoginProfile",
      "iam:UpdateLoginProfile",
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

resource "aws_iam_policy" "bedrock_deny" {
  name        = "${var.name_prefix}-bedrock-deny"
  description = "runawaytrain Bedrock block: denies model invocations and model-access set-up. Attached by the guard (block_bedrock); detached by runaway restore."
  policy      = data.aws_iam_policy_document.bedrock_deny.json
  tags        = var.tags
}
