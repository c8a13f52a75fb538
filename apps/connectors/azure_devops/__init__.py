"""Azure DevOps work items connector."""

from apps.connectors.azure_devops.client import AzureDevOpsConnector

__all__ = ["AzureDevOpsConnector"]
