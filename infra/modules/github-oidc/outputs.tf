output "release_role_arn" {
  description = "Set as the repository variable AWS_RELEASE_ROLE_ARN (release.yml)."
  value       = aws_iam_role.release.arn
}

output "ops_role_arn" {
  description = "Set as the repository variable AWS_OPS_ROLE_ARN (ops.yml)."
  value       = aws_iam_role.ops.arn
}
