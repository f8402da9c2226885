"""The promoter service: puts a model in production only when it is better, and rolls back."""
