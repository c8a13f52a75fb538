"""Azure DevOps work items connector."""
