"""NATS subject names: the one place they are spelled."""

SEARCH_QUERY = "codesift.search.query"  # request/reply, queue group SEARCH_QUEUE
SEARCH_CANDIDATES = "codesift.search.candidates"  # request/reply, retrieval only, full texts
SEARCH_DOCUMENTS = "codesift.search.documents"  # request/reply: chunk texts by doc id, or paged (trainer)
SEARCH_PING = "codesift.search.ping"  # request, every replica answers (health, replica count)
SEARCH_QUEUE = "search-replicas"
SERVICE_PING = "codesift.service.ping"  # request, every service but the replicas answers (health)

CMD_PREFIX = "codesift.cmd"
CMD_INDEX = "codesift.cmd.index"
CMD_MINE = "codesift.cmd.mine"
CMD_TRAIN = "codesift.cmd.train"
CMD_EVALUATE = "codesift.cmd.evaluate"
CMD_PROMOTE = "codesift.cmd.promote"
CMD_ROLLBACK = "codesift.cmd.rollback"
TRAINER_LOGS = "codesift.trainer.logs"  # request/reply: the last lines of the trainer's job output
CMD_ALL = "codesift.cmd.>"
CMD_DEAD_LETTER = "codesift.cmd.dead"  # refused commands, with a Codesift-Reason header (in COMMANDS)

INDEX_UPDATED = "codesift.index.updated"  # broadcast: every replica loads the new snapshot

JOB_PREFIX = "codesift.jobs"  # codesift.jobs.<job_id>: progress events of one job


def job_subject(job_id: str) -> str:
    return f"{JOB_PREFIX}.{job_id}"


TELEMETRY_FEEDBACK = "codesift.telemetry.feedback"
TELEMETRY_IMPRESSION = "codesift.telemetry.impression"  # .<query_id>: one subject per search


def impression_subject(query_id: str) -> str:
    return f"{TELEMETRY_IMPRESSION}.{query_id}"


TELEMETRY_DEAD_LETTER = "codesift.telemetry.dead"

MODEL_TRAINED = "codesift.model.trained"
MODEL_EVALUATED = "codesift.model.evaluated"
MODEL_UPDATED = "codesift.model.updated"  # broadcast: every replica loads the production model
MODEL_DECISION = "codesift.model.decision"  # the promoter's audit trail (stream EVENTS)
