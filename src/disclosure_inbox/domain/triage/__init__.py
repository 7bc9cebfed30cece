"""Triage: hints against the disclosure policy, indicators, likely duplicates."""
