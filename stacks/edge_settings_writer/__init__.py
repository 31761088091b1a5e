"""Deploy-time custom resource that bakes settings into a Lambda@Edge package."""
