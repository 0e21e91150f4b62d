# Alarms: Lambda errors, failed stream batches, and records stuck in Waking.
#
# The reconciler writes CloudWatch Embedded Metric Format lines to its log (namespace
# `snooze`); CloudWatch turns them into metrics without any API call from the function.
# The metric names alarmed on here are listed in README.md ("Metrics").

locals {
  metric_namespace = "snooze"
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = {
    wake       = aws_lambda_function.wake.function_name
    reconciler = aws_lambda_function.reconciler.function_name
  }

  alarm_name          = "${each.value}-errors"
  alarm_description   = "snooze: the ${each.key} Lambda returned errors (see its log group)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "failed_stream_batches" {
  alarm_name          = "${var.name}-reconciler-failures"
  alarm_description   = "snooze: stream batches or async events the reconciler could not handle are waiting in ${aws_sqs_queue.reconciler_failures.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.reconciler_failures.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

# Every full (scheduled) pass emits `WakingRecords`: the records in phase Waking at its end.
# A wake normally reaches Ready or Failed within its wakeTimeout (at most 30m, default 5m), so
# Waking records at every full pass for `stuck_waking_minutes` in a row mean a record is stuck
# (or wakes never stop arriving, which is worth a look too).
resource "aws_cloudwatch_metric_alarm" "waking_stuck" {
  alarm_name          = "${var.name}-records-stuck-waking"
  alarm_description   = "snooze: records in phase Waking at every full reconcile pass for ${var.stuck_waking_minutes} minutes (metric WakingRecords)."
  namespace           = local.metric_namespace
  metric_name         = "WakingRecords"
  dimensions          = { Function = aws_lambda_function.reconciler.function_name }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = var.stuck_waking_minutes
  datapoints_to_alarm = var.stuck_waking_minutes
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching" # no pass at all is the next alarm's business
  actions_enabled     = true
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

# Every invocation emits `PassDuration`; none for 5 minutes means the schedule is not
# reconciling anything (disabled rule, broken deployment, throttled function).
resource "aws_cloudwatch_metric_alarm" "reconciler_idle" {
  alarm_name          = "${var.name}-reconciler-not-running"
  alarm_description   = "snooze: no reconcile pass reported for 5 minutes (metric PassDuration)."
  namespace           = local.metric_namespace
  metric_name         = "PassDuration"
  dimensions          = { Function = aws_lambda_function.reconciler.function_name }
  statistic           = "SampleCount"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  actions_enabled     = true
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}
