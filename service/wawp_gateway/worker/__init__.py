"""The worker process: consume commands, pace each instance, call Wawp, publish one result each.

``loop`` fetches, pauses and commits; ``engine`` runs each partition's commands in lanes under
the process's bounds; ``pipeline`` turns one command into an outcome (no I/O library imported);
``intake`` decodes and validates records; ``outputs`` and ``dlq`` publish results and dead
letters; ``state/`` keeps the idempotency records on ``wawp.state``; ``app`` wires it together.
"""
