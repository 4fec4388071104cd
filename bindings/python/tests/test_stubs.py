"""The type stubs shipped in the wheel match the compiled module (mypy's
stubtest), and the examples type-check against them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tubemail

HERE = Path(__file__).resolve().parent


def test_wheel_ships_stubs_and_py_typed() -> None:
    pkg = Path(tubemail.__file__).parent
    assert (pkg / "__init__.pyi").is_file()
    assert (pkg / "py.typed").is_file()


def test_stubs_match_the_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "tubemail", "--allowlist", str(HERE / "stubtest-allowlist.txt")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=HERE.parent.parent,  # not the package source: stubtest must see the installed one
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_examples_type_check() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(HERE.parents[2] / "examples" / "python")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
