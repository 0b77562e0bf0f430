"""``python -m bench.ab``'s systems: what it runs for each argument, and what it refuses."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bench.ab import _count_loops, _round_trips, _system, census_lines
from bench.harness import CpuSnapshot
from bench.probing import probe_dir
from bench.systems import RateLimits, Topics, launch

_CENSUS = Path(__file__).resolve().parents[2] / "bench" / "loop_census"


def test_a_directory_with_the_package_runs_that_code(tmp_path: Path) -> None:
    (tmp_path / "wawp_gateway").mkdir()
    (tmp_path / "wawp_gateway" / "__init__.py").write_text("")

    system = _system(f"before={tmp_path}")

    assert system.name == "before"
    assert system.spec.kind == "gateway"
    assert system.spec.source == tmp_path.resolve()
    assert "before" in system.spec.slug
    assert "<before>" in system.spec.label


def test_installed_and_the_baselines() -> None:
    installed = _system("after=installed")
    assert (installed.spec.kind, installed.spec.source) == ("gateway", None)
    assert _system("raw").spec.kind == "raw"
    assert _system("write-ahead").spec.kind == "write-ahead"


def test_a_baseline_spending_cpu_per_command_passes_it_to_the_loop(tmp_path: Path) -> None:
    system = _system("write-ahead+120us")

    assert (system.spec.kind, system.spec.burn_us) == ("write-ahead", 120)
    assert "burn120" in system.spec.slug
    assert "+120us" in system.spec.label
    assert _system("raw").spec.burn_us == 0

    class Group:
        argv: list[str] = []

        def spawn(self, name: str, argv: list[str]) -> None:
            Group.argv = argv

    launch(
        Group(),  # type: ignore[arg-type]
        system.spec,
        topics=Topics("t"),
        bootstrap="127.0.0.1:9092",
        sandbox_url="http://127.0.0.1:1",
        instance_ids=[],
        limits=RateLimits(),
        run_dir=tmp_path,
    )
    assert Group.argv[Group.argv.index("--burn-us") + 1] == "120"
    assert "--state-topic" in Group.argv


@pytest.mark.parametrize(
    "text",
    ["before", "bad name=installed", "x.y=installed", "=installed", "write-ahead+us", "gw+5us"],
)
def test_a_malformed_system_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _system(text)


def test_a_directory_without_the_package_is_refused(tmp_path: Path) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="no wawp_gateway package"):
        _system(f"before={tmp_path}")


def test_round_trips_are_reported_once_per_process_that_ended(tmp_path: Path) -> None:
    report = {
        "fetch": {"requests": 1309, "p50_ms": 8.7, "p90_ms": 20.0, "mean_ms": 12.6},
        "produce": {"requests": 6123, "p50_ms": 4.1, "p90_ms": 9.0, "mean_ms": 6.0},
    }
    (tmp_path / "101.json").write_text(json.dumps(report))
    seen: set[Path] = set()

    line = _round_trips(tmp_path, seen)

    assert "fetch p50 8.7 mean 12.6 ms (1,309)" in line
    assert "produce p50 4.1 mean 6.0 ms (6,123)" in line
    assert _round_trips(tmp_path, seen) == ""


def test_the_loop_census_counts_each_task_by_where_it_waited(tmp_path: Path) -> None:
    program = tmp_path / "baselines_program.py"  # "baselines" in its command line: measured
    program.write_text(
        textwrap.dedent(
            """
            import asyncio

            async def worker():
                await asyncio.sleep(0)
                await asyncio.sleep(0)

            async def main():
                await asyncio.gather(*(worker() for _ in range(50)))

            asyncio.run(main())
            """
        )
    )
    path = os.pathsep.join([str(_CENSUS), str(_CENSUS.parents[1])])  # the census, and bench
    env = {**os.environ, "WAWP_BENCH_LOOP_OUT": str(tmp_path), "PYTHONPATH": path}
    subprocess.run([sys.executable, str(program)], env=env, check=True, timeout=60)

    [written] = tmp_path.glob("*.json")
    report = json.loads(written.read_text())
    kinds = report["kinds"]
    first_steps = [k for k in kinds if k.startswith("task worker (step in worker:")]
    resumed = [k for k in kinds if k.startswith("task worker (step in sleep:")]
    assert [kinds[k]["count"] for k in first_steps] == [50]
    assert [kinds[k]["count"] for k in resumed] == [100]  # each sleep(0) resumes it once
    assert report["callbacks"] == sum(kind["count"] for kind in kinds.values())
    assert report["iterations"] >= 3
    lines = census_lines(report, commands=50, top=2)
    assert lines[0].startswith(f"loop: {report['iterations']:,} iterations")
    assert len(lines) == 3


def test_the_loop_census_runs_the_baselines_on_asyncio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Set here so that they are put back (or removed) after the test, whatever it sets.
    for name in ("WAWP_BENCH_LOOP_OUT", "GATEWAY_ENGINE__UVLOOP", "PYTHONPATH"):
        monkeypatch.setenv(name, "")
    systems = [_system("write-ahead"), _system("now=installed")]

    out = _count_loops(tmp_path, systems)

    assert [s.spec.loop for s in systems] == ["asyncio", "uvloop"]  # the worker: by its setting
    assert os.environ["GATEWAY_ENGINE__UVLOOP"] == "false"
    assert os.environ["WAWP_BENCH_LOOP_OUT"] == str(out)
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(_CENSUS)


def test_steal_time_is_the_share_of_the_machine_s_cpu_time() -> None:
    before = CpuSnapshot(0.0, {}, [100, 0, 50, 800, 0, 0, 0, 50])
    after = CpuSnapshot(1.0, {}, [200, 0, 100, 1600, 0, 0, 0, 100])

    assert after.steal_since(before) == pytest.approx(50 / 1000)
    assert after.steal_since(CpuSnapshot(0.0, {})) is None  # no /proc/stat reading


@pytest.mark.parametrize(
    ("argv", "measured"),
    [
        (["python", "-m", "wawp_gateway", "worker"], True),
        (["python", "-m", "bench.baselines.raw", "--bootstrap", "x"], True),
        (["python", "-m", "wawp_gateway", "topics", "create"], False),
        (["python", "-m", "bench.sandbox_server"], False),
    ],
)
def test_the_probes_measure_the_systems_only(
    argv: list[str], measured: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "orig_argv", argv)
    monkeypatch.setenv("WAWP_BENCH_X_OUT", str(tmp_path))

    assert (probe_dir("WAWP_BENCH_X_OUT") == tmp_path) is measured
    monkeypatch.setenv("WAWP_BENCH_X_OUT", "")
    assert probe_dir("WAWP_BENCH_X_OUT") is None
