"""Packaging as users meet it: wheels, typing markers, extras and lazy submodules."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import qserial

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
EXAMPLE = ROOT / "docs" / "examples" / "qserial-jsongz"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheels of the core, each plugin and the example plugin, built offline.

    Each is built from a copy of its sources, since setuptools leaves ``build/`` and
    ``*.egg-info`` folders beside the sources it builds.
    """
    out = tmp_path_factory.mktemp("wheels")
    src = tmp_path_factory.mktemp("sources")
    skip = shutil.ignore_patterns(".venv", "build", "*.egg-info", "__pycache__", "tests")
    core = src / "qserial"
    shutil.copytree(ROOT / "qserial", core / "qserial", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, core / name)
    copies = [core]
    for project in (*PLUGINS, EXAMPLE):
        copies.append(src / project.name)
        shutil.copytree(project, copies[-1], ignore=skip)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), *map(str, copies)],
        check=True, capture_output=True,
    )
    return {w.name.split("-")[0].replace("_", "-"): w for w in out.glob("*.whl")}


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(z.read(name))


@pytest.mark.parametrize("dist", ["qserial", *(p.name for p in PLUGINS)])
def test_each_wheel_ships_py_typed(wheels: dict[str, Path], dist: str) -> None:
    package = dist.replace("-", "_")
    with zipfile.ZipFile(wheels[dist]) as z:
        assert f"{package}/py.typed" in z.namelist()


@pytest.mark.parametrize("dist", [*(p.name for p in PLUGINS), EXAMPLE.name])
def test_plugins_require_the_cores_minor_series(wheels: dict[str, Path], dist: str) -> None:
    major, minor = (int(x) for x in qserial.__version__.split(".")[:2])
    reqs = [Requirement(r) for r in _metadata(wheels[dist]).get_all("Requires-Dist")]
    (core,) = [r for r in reqs if r.name == "qserial" and r.marker is None]
    assert core.specifier.contains(qserial.__version__)
    assert core.specifier.contains(f"{major}.{minor}.99")
    assert not core.specifier.contains(f"{major}.{minor + 1}.0")
    assert not core.specifier.contains(f"{major}.{minor - 1}.0" if minor else f"{major - 1}.0")


def test_testing_extra_brings_hypothesis_and_pytest(wheels: dict[str, Path]) -> None:
    reqs = [Requirement(r) for r in _metadata(wheels["qserial"]).get_all("Requires-Dist")]
    testing = {r.name for r in reqs if r.marker and r.marker.evaluate({"extra": "testing"})}
    assert {"hypothesis", "pytest"} <= testing


def test_testing_is_reachable_after_import_qserial_without_hypothesis() -> None:
    code = (
        "import sys, numpy as np, qserial\n"
        "qserial.testing.assert_equal({'a': np.arange(3)}, {'a': np.arange(3)})\n"
        "assert 'hypothesis' not in sys.modules and 'pytest' not in sys.modules\n"
        "st = qserial.testing.strategies\n"
        "assert 'hypothesis' in sys.modules and callable(st.bit_arrays)\n"
        "try:\n"
        "    qserial.testing.assert_equal({'a': 1}, {'a': 2})\n"
        "except AssertionError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "$.a" in out.stdout
