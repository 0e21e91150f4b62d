output "listener_arn" {
  description = "The HTTPS listener whose rules the reconciler switches: module snooze's `alb_listener_arn`."
  value       = aws_lb_listener.https.arn
}

output "wake_target_group_arn" {
  description = "The wake Lambda's target group (the listener's default action): module snooze's `alb_wake_target_group_arn`."
  value       = aws_lb_target_group.wake.arn
}

output "security_group_id" {
  description = "The load balancer's security group: route-mode tasks admit their app port from this group only."
  value       = aws_security_group.alb.id
}

output "dns_name" {
  description = "Point every route-mode host at this name (a CNAME, or a Route 53 alias with `zone_id`)."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "The load balancer's hosted zone, for Route 53 alias records."
  value       = aws_lb.this.zone_id
}
