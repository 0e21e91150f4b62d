# The demo environment: the snooze controller managing one demo ECS service, and the demo
# service's record. Apply after `scripts/package` has written build/*/bootstrap.zip.

locals {
  record_name = "demo"

  # Route mode (ADR 0007) when a host is given: the shared load balancer, the demo service
  # behind it, and the reconciler switching its rule.
  route_mode = var.route_host != ""
}

module "snooze" {
  source = "../../modules/snooze"

  name             = "snooze"
  table_name       = "snooze"
  managed_clusters = [module.demo_service.cluster_name]
  default_service  = local.record_name
  lambda_build_dir = "${path.root}/../../../build"
  domain_name      = var.domain_name
  certificate_arn  = var.certificate_arn
  alarm_actions    = var.alarm_actions

  wake_reserved_concurrency       = var.wake_reserved_concurrency
  reconciler_reserved_concurrency = var.reconciler_reserved_concurrency

  alb_listener_arn          = local.route_mode ? module.route_alb[0].listener_arn : ""
  alb_wake_target_group_arn = local.route_mode ? module.route_alb[0].wake_target_group_arn : ""
}

# The shared load balancer of route mode (only with var.route_host).
module "route_alb" {
  source = "../../modules/route-alb"
  count  = local.route_mode ? 1 : 0

  name               = "snooze-routes"
  vpc_id             = module.demo_service.vpc_id
  subnet_ids         = module.demo_service.public_subnet_ids
  certificate_arn    = var.route_certificate_arn
  wake_function_name = module.snooze.wake_function_name
  wake_function_arn  = module.snooze.wake_function_arn

  deletion_protection = var.route_deletion_protection
}

module "demo_service" {
  source = "../../modules/demo-service"

  name         = "snooze-demo"
  cluster_name = "demo-cluster"
  service_name = "demo-svc"
  record_name  = local.record_name
  table_name   = module.snooze.table_name
  table_arn    = module.snooze.table_arn
  kms_key_arn  = module.snooze.kms_key_arn
  image_tag    = var.image_tag

  table_kms_key_arn = module.snooze.table_kms_key_arn

  route_mode                      = local.route_mode
  load_balancer_security_group_id = local.route_mode ? module.route_alb[0].security_group_id : ""
  load_balancer_listener_arn      = local.route_mode ? module.route_alb[0].listener_arn : ""
  allowed_ingress_cidrs           = local.route_mode ? [] : ["0.0.0.0/0"]
}

# The demo record, in the DynamoDB store's item layout (controller/src/store/dynamodb.rs:
# top-level name, apiVersion, kind, metadata {labels}, spec, generation, resourceVersion). Terraform creates it once; from then on operators change
# it with `snoozectl apply`/`edit` and the controller writes status, so later differences are
# ignored rather than overwritten (a PutItem here would erase status and wake facts).
resource "aws_dynamodb_table_item" "demo" {
  table_name = module.snooze.table_name
  hash_key   = "name"

  item = jsonencode({
    name       = { S = local.record_name }
    apiVersion = { S = "snooze/v1" }
    kind       = { S = "Service" }
    metadata = { M = {
      labels = { M = { team = { S = "web" } } }
    } }
    spec = { M = {
      target = { M = { ecs = { M = {
        cluster = { S = module.demo_service.cluster_name }
        service = { S = module.demo_service.service_name }
      } } } }
      mode        = { S = "auto" }
      replicas    = { N = "1" }
      idleTimeout = { S = "15m" }
      wakeTimeout = { S = "5m" }
      endpoint = { M = {
        scheme = { S = "http" }
        port   = { N = tostring(module.demo_service.app_port) }
        path   = { S = "/" }
      } }
      readiness = { M = { httpGet = { M = {
        path    = { S = "/health" }
        timeout = { S = "2s" }
      } } } }
      wake = { M = {
        enabled      = { BOOL = true }
        preservePath = { BOOL = true }
      } }
      page = { M = {
        title = { S = "Demo app" }
        theme = { S = "auto" }
      } }
    } }
    generation      = { N = "1" }
    resourceVersion = { N = "1" }
  })

  lifecycle {
    ignore_changes = [item]
  }
}

# OIDC roles for the release (image push) and ops (snoozectl) workflows.
module "github_oidc" {
  source = "../../modules/github-oidc"
  count  = var.github_repository == null ? 0 : 1

  github_repository    = var.github_repository
  create_oidc_provider = var.create_github_oidc_provider
  ecr_repository_arn   = module.demo_service.ecr_repository_arn
  table_arn            = module.snooze.table_arn
  table_kms_key_arn    = module.snooze.table_kms_key_arn
}
