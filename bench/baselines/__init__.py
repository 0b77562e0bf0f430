"""The systems the gateway is measured against; each runs as its own process."""
