"""What every process shares: settings, wire contracts, the error tree, Kafka clients, metrics,
logs, HTTP probes and serving, runtime tuning, partitioning, coalesced writes, group membership,
and the embedded broker launcher."""
