output "cluster_name" {
  description = "The ECS cluster (for the snooze module's `managed_clusters` and the record's `spec.target.ecs.cluster`)."
  value       = aws_ecs_cluster.demo.name
}

output "service_name" {
  description = "The ECS service (the record's `spec.target.ecs.service`)."
  value       = aws_ecs_service.demo.name
}

output "app_port" {
  description = "The port the app listens on in the task (the record's `spec.endpoint.port`)."
  value       = var.app_port
}

output "ecr_repository_url" {
  description = "Where the release workflow pushes the demo image (tag: commit SHA)."
  value       = aws_ecr_repository.demo.repository_url
}

output "task_role_arn" {
  description = "The task role (activity agent: lastActivityAt of its own record only)."
  value       = aws_iam_role.task.arn
}

output "vpc_id" {
  description = "The demo VPC."
  value       = aws_vpc.demo.id
}

output "ecr_repository_arn" {
  description = "ARN of the demo ECR repository (for the release workflow's push role)."
  value       = aws_ecr_repository.demo.arn
}

output "public_subnet_ids" {
  description = "The public subnets (one per zone): the shared load balancer's subnets in route mode."
  value       = aws_subnet.public[*].id
}

output "target_group_arn" {
  description = "Route mode: the service's target group (in its loadBalancers); null in redirect mode."
  value       = local.route_mode ? aws_lb_target_group.app[0].arn : null
}
