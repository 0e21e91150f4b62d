# The demo image (app + snoozectl), tagged by commit SHA by the release workflow. Tags are
# immutable: a SHA always means the same image, so `image_tag` pins exactly what runs.

resource "aws_ecr_repository" "demo" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS" # the AWS managed key aws/ecr
  }

  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "demo" {
  repository = aws_ecr_repository.demo.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the 30 most recent images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 30
      }
      action = { type = "expire" }
    }]
  })
}
