"""Roster's webhooks: lifecycle events delivered to apps that do not run a Kafka client, signed
per Standard Webhooks, in order per user, retried for days, replayable, and SSRF-safe."""
