# The public wake API: an HTTP API built from infra/api/openapi.yaml. The OpenAPI file carries
# the Lambda proxy integrations (x-amazon-apigateway-integration); `templatefile` fills in the
# ARNs below, which are the only template variables the file may use.

locals {
  openapi_file = "${path.module}/../../api/openapi.yaml"

  # Exactly the variables the file uses (tests/infra/test_contract_api.py).
  openapi_vars = {
    wake_lambda_invoke_arn = aws_lambda_function.wake.invoke_arn
  }
}

resource "aws_apigatewayv2_api" "wake" {
  name          = "${var.name}-wake"
  protocol_type = "HTTP"
  body          = templatefile(local.openapi_file, local.openapi_vars)
  # Routes and integrations come from the body. API Gateway warns about OpenAPI features an
  # HTTP API ignores (response schemas, examples); those are documentation, not errors.
  fail_on_warnings = false
  tags             = local.tags
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${var.name}-wake"
  retention_in_days = var.log_retention_days
  kms_key_id        = one(local.kms_key_arns)
  tags              = local.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.wake.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      path               = "$context.path"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
    })
  }

  tags = local.tags
}

resource "aws_lambda_permission" "api_invokes_wake" {
  statement_id  = "AllowWakeApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.wake.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.wake.execution_arn}/*"
}

# --- optional custom domain -----------------------------------------------------------------

resource "aws_apigatewayv2_domain_name" "wake" {
  count       = var.domain_name == null ? 0 : 1
  domain_name = var.domain_name

  domain_name_configuration {
    certificate_arn = var.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.certificate_arn != null
      error_message = "domain_name needs certificate_arn (an ACM certificate in this region)."
    }
  }
}

resource "aws_apigatewayv2_api_mapping" "wake" {
  count       = var.domain_name == null ? 0 : 1
  api_id      = aws_apigatewayv2_api.wake.id
  domain_name = aws_apigatewayv2_domain_name.wake[0].id
  stage       = aws_apigatewayv2_stage.default.id
}
