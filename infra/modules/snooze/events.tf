# What invokes the reconciler: the schedule (full pass), ECS task state changes and service
# action events in the managed clusters (a pass over the owning record), and the table's stream (records whose spec or wake
# facts changed). Every trigger is a hint; the reconciler re-reads state before deciding.

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = "${var.name}-reconcile-schedule"
  description         = "snooze: full reconcile pass"
  schedule_expression = var.schedule_expression
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = aws_lambda_function.reconciler.arn

  retry_policy {
    maximum_retry_attempts       = 0 # the next tick is the retry
    maximum_event_age_in_seconds = 60
  }
}

resource "aws_lambda_permission" "schedule_invokes_reconciler" {
  statement_id  = "AllowSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.reconciler.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}

resource "aws_cloudwatch_event_rule" "ecs_task_state" {
  name        = "${var.name}-ecs-task-state"
  description = "snooze: ECS task state changes in the managed clusters"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = local.cluster_arns
      group      = [{ prefix = "service:" }]
    }
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "ecs_task_state" {
  rule = aws_cloudwatch_event_rule.ecs_task_state.name
  arn  = aws_lambda_function.reconciler.arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 300
  }
}

resource "aws_lambda_permission" "ecs_events_invoke_reconciler" {
  statement_id  = "AllowEcsTaskStateEvents"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.reconciler.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.ecs_task_state.arn
}

# ECS service action events of the managed clusters (e.g. SERVICE_TASK_PLACEMENT_FAILURE when
# someone raised desiredCount and no task could be placed, so no task state change follows):
# a pass over the owning record. The scheduled pass observes quiet sleeping services only on a
# slow resync (controller/src/reconcile/tier.rs), so out-of-band changes reach the reconciler
# through ECS's own events: this rule and the task state change rule above.
resource "aws_cloudwatch_event_rule" "ecs_service_action" {
  name        = "${var.name}-ecs-service-action"
  description = "snooze: ECS service action events in the managed clusters"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Service Action"]
    detail = {
      clusterArn = local.cluster_arns
    }
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "ecs_service_action" {
  rule = aws_cloudwatch_event_rule.ecs_service_action.name
  arn  = aws_lambda_function.reconciler.arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 300
  }
}

resource "aws_lambda_permission" "ecs_service_actions_invoke_reconciler" {
  statement_id  = "AllowEcsServiceActionEvents"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.reconciler.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.ecs_service_action.arn
}

# Stream filter patterns match one record at a time and cannot compare its old and new image,
# so "spec or wake facts changed" cannot be expressed exactly. The filter admits inserts and
# modifications of snooze records (an apiVersion `snooze/...` in the new image) and every
# removal. The reconciler's own status-only writes pass too; the handler compares the images
# without `status` and skips them (see README.md in this module).
resource "aws_lambda_event_source_mapping" "stream" {
  event_source_arn                   = aws_dynamodb_table.records.stream_arn
  function_name                      = aws_lambda_function.reconciler.arn
  starting_position                  = "LATEST"
  batch_size                         = var.stream_batch_size
  maximum_batching_window_in_seconds = 1
  parallelization_factor             = 1
  maximum_retry_attempts             = var.stream_maximum_retry_attempts
  maximum_record_age_in_seconds      = 3600
  bisect_batch_on_function_error     = true
  function_response_types            = ["ReportBatchItemFailures"]

  filter_criteria {
    filter {
      pattern = jsonencode({
        eventName = ["INSERT", "MODIFY"]
        dynamodb  = { NewImage = { apiVersion = { S = [{ prefix = "snooze/" }] } } }
      })
    }
    filter {
      pattern = jsonencode({
        eventName = ["REMOVE"]
        dynamodb  = { Keys = { name = { S = [{ exists = true }] } } }
      })
    }
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.reconciler_failures.arn
    }
  }

  depends_on = [aws_iam_role_policy.reconciler]
}
