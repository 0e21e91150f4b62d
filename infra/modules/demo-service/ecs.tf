# The demo service: one Fargate task with the demo app and the snooze activity agent (a
# sidecar in the same network namespace, counting connections on the app port).

locals {
  tags = merge({ "app" = "snooze-demo", "snooze:record" = var.record_name }, var.tags)

  image = "${aws_ecr_repository.demo.repository_url}:${var.image_tag}"

  # Route mode (ADR 0007): a plain input, known at plan time (it drives `count`).
  route_mode = var.route_mode

  log_options = {
    awslogs-group         = aws_cloudwatch_log_group.task.name
    awslogs-region        = data.aws_region.current.region
    awslogs-stream-prefix = var.service_name
  }
}

data "aws_region" "current" {}

resource "aws_ecs_cluster" "demo" {
  name = var.cluster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_cloudwatch_log_group" "task" {
  name              = "/ecs/${var.cluster_name}/${var.service_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

resource "aws_ecs_task_definition" "demo" {
  family                   = "${var.cluster_name}-${var.service_name}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([
    {
      name                   = "app"
      image                  = local.image
      essential              = true
      readonlyRootFilesystem = true
      portMappings           = [{ containerPort = var.app_port, protocol = "tcp" }]
      environment = [
        { name = "HOST", value = "0.0.0.0" },
        { name = "PORT", value = tostring(var.app_port) },
        { name = "APP_NAME", value = var.record_name },
        { name = "GIT_SHA", value = var.image_tag },
        { name = "LOG_FORMAT", value = "json" },
      ]
      healthCheck = {
        command     = ["CMD", "/usr/local/bin/snooze-demo-app", "--healthcheck"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }
      logConfiguration = { logDriver = "awslogs", options = local.log_options }
    },
    {
      # Records activity (lastActivityAt) while visitors are connected. Not essential: if it
      # stops, the app keeps serving and the service sleeps after idleTimeout.
      name                   = "activity-agent"
      image                  = local.image
      essential              = false
      readonlyRootFilesystem = true
      entryPoint             = ["/usr/local/bin/snoozectl"]
      command                = ["agent"]
      environment = [
        { name = "SNOOZE_TABLE", value = var.table_name },
        { name = "SNOOZE_SERVICE", value = var.record_name },
        { name = "SNOOZE_PORT", value = tostring(var.app_port) },
        { name = "SNOOZE_AGENT_INTERVAL", value = var.agent_interval },
        { name = "SNOOZE_AGENT_DEBOUNCE", value = var.agent_debounce },
        { name = "SNOOZE_AGENT_COUNT", value = var.agent_count },
        { name = "RUST_LOG", value = "info" },
      ]
      dependsOn        = [{ containerName = "app", condition = "START" }]
      logConfiguration = { logDriver = "awslogs", options = local.log_options }
    },
  ])

  tags = local.tags
}

resource "aws_ecs_service" "demo" {
  #checkov:skip=CKV_AWS_333:Demo tasks get a public IP by design: public subnets, no NAT gateway (as the replaced system chose); visitors are redirected to the task address.
  name            = var.service_name
  cluster         = aws_ecs_cluster.demo.id
  task_definition = aws_ecs_task_definition.demo.arn
  launch_type     = "FARGATE"
  # Asleep until snooze wakes it. snooze owns desiredCount from here on, so Terraform never
  # changes it back (ignore_changes below).
  desired_count                      = 0
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  network_configuration {
    subnets          = aws_subnet.public[*].id
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = true # no NAT gateway, by design: see network.tf
  }

  # Route mode: ECS registers each task in the service's target group; the shared load
  # balancer's rule for the record's host forwards to it once snooze switches the weights.
  dynamic "load_balancer" {
    for_each = local.route_mode ? [1] : []
    content {
      target_group_arn = aws_lb_target_group.app[0].arn
      container_name   = "app"
      container_port   = var.app_port
    }
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = local.tags

  lifecycle {
    ignore_changes = [desired_count]
  }

  # ECS accepts the target group in loadBalancers only once a load balancer uses it.
  depends_on = [aws_lb_listener_rule.keep_target_group]
}

# Route mode: the service's target group. It stays referenced by the record's listener rule
# while the service sleeps (weight 0), so the load balancer health-checks each new task at once.
resource "aws_lb_target_group" "app" {
  #checkov:skip=CKV_AWS_378:HTTP between the load balancer and the task inside the VPC; TLS ends at the load balancer (ADR 0007), as in the redirect mode's plain-HTTP task address.
  count                = local.route_mode ? 1 : 0
  name                 = "${var.name}-app"
  target_type          = "ip"
  protocol             = "HTTP"
  port                 = var.app_port
  vpc_id               = aws_vpc.demo.id
  deregistration_delay = 10 # a sleeping service's task goes at once; requests were already routed away

  health_check {
    path                = "/health"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = local.tags
}

# Route mode: a rule of the shared listener that matches no real host, so the service's target
# group is attached to the load balancer from the start (ECS refuses a target group no load
# balancer uses; snooze's own rule for the record's host, with both groups, comes with the first
# pass). The lowest priority, out of the way of the rules snooze allocates from 1 upwards; no
# snooze:host tag, so snooze never touches it.
resource "aws_lb_listener_rule" "keep_target_group" {
  count        = local.route_mode ? 1 : 0
  listener_arn = var.load_balancer_listener_arn
  priority     = 50000

  condition {
    host_header {
      values = ["${var.name}-keep-target-group.invalid"]
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app[0].arn
  }

  tags = local.tags
}
