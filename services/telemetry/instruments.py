"""The telemetry service's Prometheus metrics: feedback stored, duplicates, held back, dead-lettered, lag.

`codesift_feedback_accepted_total` is the gateway's (an event JetStream acknowledged); what the
telemetry service did with each delivered message is counted here. The lag is measured from the
moment JetStream stored the event (its message timestamp, not the client's `timestamp` field,
which may be old) to its line being fsynced in the log, so a held-back event's waits are in it.
The pending gauge is the consumer's count of messages not yet delivered, as the last message of
the last batch reported it.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.observability import LAG_BUCKETS

STORED = Counter("codesift_feedback_stored_total", "Feedback events written to the query log")
DUPLICATES = Counter(
    "codesift_feedback_duplicates_total", "Feedback events delivered again after being logged (acked only)"
)
HELD = Counter(
    "codesift_feedback_held_total",
    "Deliveries held back for a later retry (impression not found yet, log not writable)",
)
DEAD_LETTERED = Counter(
    "codesift_feedback_dead_lettered_total", "Poison feedback messages moved to the dead-letter stream"
)
LAG = Histogram(
    "codesift_telemetry_lag_seconds",
    "Seconds from JetStream storing a feedback event to its line in the log",
    buckets=LAG_BUCKETS,
)
PENDING = Gauge(
    "codesift_telemetry_pending_messages", "Feedback messages in the stream not yet delivered to the consumer"
)
