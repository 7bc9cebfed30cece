"""Orchestration: intake, outbox and escalation passes, and the daemon that runs them."""
