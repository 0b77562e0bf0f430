"""The benchmark harness still runs end to end (``make bench`` itself is a long run).

``--quick`` uses small counts and writes nothing under ``bench/results``; ratio goals are
reported, never asserted here (timings on a shared machine), so only a broken harness, a lost
command or a double send fails this test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.timeout(300)
def test_bench_quick_run_completes() -> None:
    """`python -m bench --quick` on the main scenarios exits 0 and reports every goal."""
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--scenarios", "upstream-0ms,faults"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "gateway (fetch 50 ms) / raw >= 70%" in run.stdout
    assert "lost=0, sent_twice=0, resent_after_500=0" in run.stdout
