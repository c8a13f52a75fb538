"""ServiceNow (Table API incidents) connector."""
