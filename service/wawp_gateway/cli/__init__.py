"""The ``wawp-gateway`` command line: ``main`` parses and dispatches, one module per command
group, ``dev`` runs everything on one machine."""
