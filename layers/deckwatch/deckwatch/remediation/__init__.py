"""Auto-remediation of CloudWatch alarms."""
