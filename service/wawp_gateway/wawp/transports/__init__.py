"""HTTP transports for the Wawp client, one module per stack behind one Protocol.

``base`` holds what every stack shares (request, response, ``HttpTransport``, the two-error
rule); ``aiohttp_stack``, ``httpx_stack`` and ``httptools_stack`` implement it; ``factory``
builds the configured one. Imports point one way: the stacks import ``base`` only, ``base``
imports no stack, and ``factory`` imports the stacks.
"""

__all__: list[str] = []
