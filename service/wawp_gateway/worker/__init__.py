"""The worker process: consume commands, pace each instance, call Wawp, publish one result each.

``loop`` fetches, pauses and commits (``rebalance`` hands it the group's revokes and
assignments); ``engine`` runs each partition's commands in lanes under
the process's bounds; ``admission`` decodes a record and decides where it runs (or is forwarded
to); ``execution`` runs one command against its idempotency state, with ``jobs`` adapting its
calls to the pacer (``pacing``, ``ratelimit``, ``circuit``) and the call slots; ``pipeline``
turns one command into an outcome (no I/O library imported; ``retry`` is its policy);
``intake`` validates; ``outputs``, ``publishing`` and ``dlq`` publish results and dead letters;
``lanes`` and ``offsets`` keep order and commit points; ``state/`` keeps the idempotency
records on ``wawp.state``; ``app`` wires it together.
"""
