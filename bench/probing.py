"""Which processes the probes of ``python -m bench.ab`` measure (``bench/rtt_probe``,
``bench/loop_census``), and where they write."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["probe_dir"]


def probe_dir(variable: str) -> Path | None:
    """The directory ``variable`` names, when this process is one of the systems measured (a
    gateway worker or a baseline loop); None otherwise."""
    out = os.environ.get(variable)
    if not out:
        return None
    # sys.argv is not set yet while site imports a probe; the command line is.
    argv = " ".join(sys.orig_argv)
    return Path(out) if "wawp_gateway worker" in argv or "baselines" in argv else None
