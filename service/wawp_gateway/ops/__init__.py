"""What operators run next to the gateway: the Grafana dashboard (``dashboard``)."""
