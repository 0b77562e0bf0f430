"""A worker's idempotency records and their changelog on ``wawp.state``.

``idempotency`` decides what a command's key allows (pure); ``ledger`` writes a command's state
records; ``statelog`` encodes, writes and restores the changelog; ``handover`` restores a
partition and fences it on assignment; ``reconcile`` looks maybe-sent messages up in their chat.
"""
