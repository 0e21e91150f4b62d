# Alarms: Lambda errors, failed stream batches and async events, reconcile failures, records
# stuck in Waking, and a reconciler that stopped running.
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

# Every full (scheduled) pass emits `OldestWakingSeconds`: how long the oldest record in phase
# Waking has been in it (now - status.phaseSince; 0 when none is Waking). A working reconciler
# ends every wake in Ready or Failed within the record's wakeTimeout (default 5m, at most 30m),
# so an age above `stuck_waking_seconds` means a record is stuck (its observations keep
# failing, or its passes never finish). One 5-minute period with a large enough Maximum fires.
resource "aws_cloudwatch_metric_alarm" "waking_stuck" {
  alarm_name          = "${var.name}-records-stuck-waking"
  alarm_description   = "snooze: a record has been in phase Waking for more than ${var.stuck_waking_seconds} s (metric OldestWakingSeconds, emitted by every full reconcile pass)."
  namespace           = local.metric_namespace
  metric_name         = "OldestWakingSeconds"
  dimensions          = { Function = aws_lambda_function.reconciler.function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.stuck_waking_seconds
  comparison_operator = "GreaterThanThreshold"
  # No datapoint means no full pass finished in the period: that says nothing about stuck
  # records (neither "stuck" nor "fine"), so it must not clear the alarm as notBreaching would.
  # "missing" keeps the last state and goes to INSUFFICIENT_DATA when every period is empty;
  # a reconciler that stopped running is the `reconciler_idle` alarm's business.
  treat_missing_data = "missing"
  actions_enabled    = true
  alarm_actions      = var.alarm_actions
  ok_actions         = var.alarm_actions
  tags               = local.tags
}

# Every invocation that ran a pass emits `Errors` with the `Function` dimension: the failures
# inside its passes (AccessDenied, throttling that outlived its retries, store errors; 0 when
# none). These never fail the invocation, so AWS/Lambda Errors does not see them. Errors in two
# of the last three 5-minute periods fire: a lone throttle spike does not, a permanent failure
# (every pass fails) does within 10 minutes. `Errors` by `Code` says which.
resource "aws_cloudwatch_metric_alarm" "reconcile_errors" {
  alarm_name          = "${var.name}-reconcile-errors"
  alarm_description   = "snooze: reconcile passes report failures (metric Errors by Function; Errors by Code and the reconciler's log say which)."
  namespace           = local.metric_namespace
  metric_name         = "Errors"
  dimensions          = { Function = aws_lambda_function.reconciler.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching" # no pass, no failure; not running at all is `reconciler_idle`
  actions_enabled     = true
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

# Every invocation that ran a pass emits `PassDuration` (every scheduled one does); none for 5
# minutes means the schedule is not
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
