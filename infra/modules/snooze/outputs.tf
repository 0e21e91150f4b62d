output "wake_url" {
  description = "Base URL of the wake endpoint, ending in `/` (the custom domain when set): visitors open `<wake_url>s/<name>`."
  value       = var.domain_name == null ? aws_apigatewayv2_stage.default.invoke_url : "https://${var.domain_name}/"
}

output "api_endpoint" {
  description = "The HTTP API's own endpoint, also reachable when a custom domain is set."
  value       = aws_apigatewayv2_api.wake.api_endpoint
}

output "custom_domain_target" {
  description = "DNS target (CNAME/alias) for `domain_name`; null without a custom domain."
  value       = var.domain_name == null ? null : aws_apigatewayv2_domain_name.wake[0].domain_name_configuration[0].target_domain_name
}

output "table_name" {
  description = "DynamoDB table of records (use with `snoozectl --store dynamodb://<table_name>`)."
  value       = aws_dynamodb_table.records.name
}

output "table_arn" {
  description = "ARN of the record table (grant task roles access to their own record with it)."
  value       = aws_dynamodb_table.records.arn
}

output "wake_function_name" {
  description = "Name of the wake Lambda."
  value       = aws_lambda_function.wake.function_name
}

output "reconciler_function_name" {
  description = "Name of the reconciler Lambda."
  value       = aws_lambda_function.reconciler.function_name
}

output "failure_queue_url" {
  description = "SQS queue receiving stream batches and async events the reconciler failed on."
  value       = aws_sqs_queue.reconciler_failures.url
}

output "table_kms_key_arn" {
  description = "The customer managed KMS key encrypting the record table (null when it uses an AWS owned key). Every role that reads or writes the table needs to use it through DynamoDB: pass it to the demo-service and github-oidc modules' `table_kms_key_arn`."
  value       = one(local.kms_key_arns) # null without a customer managed key
}

output "kms_key_arn" {
  description = "The customer managed KMS key encrypting the table, queue, logs and Lambda environment (`create_kms_key` or `kms_key_arn`); null by default (AWS owned and AWS managed keys). Pass it to the demo-service module's `kms_key_arn` (its task log group)."
  value       = one(local.kms_key_arns)
}

output "wake_function_arn" {
  description = "The wake Lambda's ARN (route mode: the shared load balancer's Lambda target, module route-alb's `wake_function_arn`)."
  value       = aws_lambda_function.wake.arn
}

output "events_sns_rule_arn" {
  description = "The EventBridge rule sending phase-change events to `events_sns_topic_arn` (null without one): the aws:SourceArn to allow in the topic's access policy."
  value       = one(aws_cloudwatch_event_rule.phase_changes_to_sns[*].arn)
}
