"""The systems the gateway is measured against; each runs as its own process."""

from __future__ import annotations

import argparse

__all__ = ["baseline_parser"]


def baseline_parser(prog: str) -> argparse.ArgumentParser:
    """The arguments every baseline takes: where to read, where to write, whom to call."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--send-topic", required=True)
    parser.add_argument("--results-topic", required=True)
    parser.add_argument("--base-url", required=True, help="Wawp v1 root")
    parser.add_argument("--token", required=True)
    parser.add_argument("--fetch-wait-ms", type=int, default=50)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    return parser
