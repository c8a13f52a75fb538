"""ServiceNow (Table API incidents) connector."""

from apps.connectors.servicenow.client import ServiceNowConnector

__all__ = ["ServiceNowConnector"]
