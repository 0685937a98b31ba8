"""Restore drills of AWS Backup recovery points."""
