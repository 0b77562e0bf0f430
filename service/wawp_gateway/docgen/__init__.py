"""Documents generated from the code and checked in: JSON Schemas and the AsyncAPI document
(``schemas/``), the configuration and error references (``docs/``), the Grafana dashboard and
the SDK's typed actions. ``wawp-gateway generate [--check]`` writes or checks them."""
