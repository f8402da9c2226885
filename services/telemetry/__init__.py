"""Telemetry service: feedback events from JetStream, joined to impressions, into queries.jsonl."""
