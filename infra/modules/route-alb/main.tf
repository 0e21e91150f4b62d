# The shared load balancer of route mode (ADR 0007): one Application Load Balancer for every
# route-mode service of the account. Its HTTPS listener's default action forwards to the wake
# Lambda, so a host without a rule of its own (and every asleep route-mode host, whose rule
# weights the wake group) reaches the wake endpoint, which finds the service by `Host`. The
# reconciler creates and switches one rule per route-mode host on this listener (output
# `listener_arn`, module snooze's `alb_listener_arn`); Terraform owns only the default action.

locals {
  tags = merge({ "app" = "snooze", "snooze:part" = "route-alb" }, var.tags)
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "snooze route mode: HTTPS (and HTTP, redirected) from visitors; to the tasks"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  security_group_id = aws_security_group.alb.id
  description       = "visitors over HTTPS"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS (listener "http"); browsers that type a bare host name come in on it first.
  security_group_id = aws_security_group.alb.id
  description       = "visitors over HTTP, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "tasks" {
  security_group_id = aws_security_group.alb.id
  description       = "to the route-mode tasks in the VPC (their security groups admit only this group)"
  ip_protocol       = "tcp"
  from_port         = 1
  to_port           = 65535
  cidr_ipv4         = data.aws_vpc.this.cidr_block
  tags              = local.tags
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:No WAF in front of the shared address by default: the services behind it are demos and previews, and a web ACL costs per month and per rule; attach one (aws_wafv2_web_acl_association) where the services are public products.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = var.idle_timeout_seconds

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == "" ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }

  tags = local.tags
}

# The wake endpoint as a Lambda target group: the listener's default action.
resource "aws_lb_target_group" "wake" {
  name        = "${var.name}-wake"
  target_type = "lambda"
  tags        = local.tags
}

resource "aws_lambda_permission" "alb" {
  statement_id  = "AllowSharedLoadBalancer"
  action        = "lambda:InvokeFunction"
  function_name = var.wake_function_name
  principal     = "elasticloadbalancing.amazonaws.com"
  source_arn    = aws_lb_target_group.wake.arn
}

resource "aws_lb_target_group_attachment" "wake" {
  target_group_arn = aws_lb_target_group.wake.arn
  target_id        = var.wake_function_arn
  depends_on       = [aws_lambda_permission.alb]
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.wake.arn
  }

  tags = local.tags
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = local.tags
}
