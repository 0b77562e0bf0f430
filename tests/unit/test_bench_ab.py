"""``python -m bench.ab``'s systems: what it runs for each argument, and what it refuses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from bench.ab import _system


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


@pytest.mark.parametrize("text", ["before", "bad name=installed", "x.y=installed", "=installed"])
def test_a_malformed_system_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _system(text)


def test_a_directory_without_the_package_is_refused(tmp_path: Path) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="no wawp_gateway package"):
        _system(f"before={tmp_path}")
