"""The benchmark harness: the gateway beside a raw aiokafka+aiohttp loop and a naive FastStream
subscriber, on the same commands, broker and Wawp sandbox. Run ``python -m bench --help``."""
