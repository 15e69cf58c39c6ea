# `terraform test` (Terraform >= 1.7) with a mocked AWS provider: no account needed. Runs where
# the hashicorp/aws provider can be downloaded; offline CI checks its formatting only.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111111111111"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_region" {
    defaults = {
      id = "us-east-1"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  trust_ecs_tasks = true
  notify_emails   = ["oncall@example.com"]
}

run "creates_the_guard_role_and_topic" {
  command = plan

  assert {
    condition     = aws_iam_role.guard.name == "runawaytrain-guard"
    error_message = "the guard's role is named after name_prefix"
  }

  assert {
    condition     = aws_sns_topic.notify.kms_master_key_id == "alias/aws/sns"
    error_message = "the notify topic is encrypted"
  }

  assert {
    condition     = length(aws_sns_topic_subscription.email) == 1
    error_message = "one subscription per notify e-mail"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.billing) == 0
    error_message = "no billing alarm without a threshold"
  }
}

run "refuses_a_role_nobody_can_assume" {
  command = plan

  variables {
    trust_ecs_tasks = false
  }

  expect_failures = [aws_iam_role.guard]
}

run "refuses_a_bad_email" {
  command = plan

  variables {
    notify_emails = ["not-an-address"]
  }

  expect_failures = [var.notify_emails]
}
