output "wake_url" {
  description = "Open `<wake_url>s/demo` to wake the demo service."
  value       = module.snooze.wake_url
}

output "table_name" {
  description = "The record table: `snoozectl --store dynamodb://<table_name> get`."
  value       = module.snooze.table_name
}

output "wake_function_name" {
  description = "The wake Lambda."
  value       = module.snooze.wake_function_name
}

output "reconciler_function_name" {
  description = "The reconciler Lambda."
  value       = module.snooze.reconciler_function_name
}

output "ecr_repository_url" {
  description = "Where the release workflow pushes the demo image."
  value       = module.demo_service.ecr_repository_url
}

output "cluster_name" {
  description = "The demo ECS cluster."
  value       = module.demo_service.cluster_name
}

output "service_name" {
  description = "The demo ECS service."
  value       = module.demo_service.service_name
}

output "github_release_role_arn" {
  description = "Repository variable AWS_RELEASE_ROLE_ARN (null without github_repository)."
  value       = one(module.github_oidc[*].release_role_arn)
}

output "github_ops_role_arn" {
  description = "Repository variable AWS_OPS_ROLE_ARN (null without github_repository)."
  value       = one(module.github_oidc[*].ops_role_arn)
}

output "route_dns_name" {
  description = "Route mode: point `route_host` at this name (CNAME or Route 53 alias); null in redirect mode."
  value       = local.route_mode ? module.route_alb[0].dns_name : null
}

output "route_listener_arn" {
  description = "Route mode: the shared load balancer's HTTPS listener (for scripts/aws-smoke --listener-arn); null in redirect mode."
  value       = local.route_mode ? module.route_alb[0].listener_arn : null
}

output "route_zone_id" {
  description = "Route mode: the load balancer's hosted zone, for a Route 53 alias record of `route_host`; null in redirect mode."
  value       = local.route_mode ? module.route_alb[0].zone_id : null
}
