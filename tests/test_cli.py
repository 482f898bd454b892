"""The ``qserial`` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import qserial
from qserial.cli import cli
from qserial.formats import Format, get_format
from qserial.testing import assert_equal

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "QSERIAL_DEBUG")}
    full_env["COLUMNS"] = "160"  # keep rich from truncating file names in the table
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "qserial", *args],
        capture_output=True, text=True, env=full_env, timeout=300, stdin=subprocess.DEVNULL,
    )


def test_version_lists_format_plugins_and_their_versions() -> None:
    import importlib.metadata

    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == [f"qserial {qserial.__version__}", "formats:"]
    assert lines[2].split() == ["json", "built", "in"]
    plugins = {ep.name: ep.dist for ep in
               importlib.metadata.entry_points(group="qserial.formats")}
    listed = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert listed == {name: [dist.name, dist.version] for name, dist in plugins.items()}
    assert set(listed) | {"json"} == set(qserial.list_formats())


def test_console_script() -> None:
    script = Path(sys.executable).with_name("qserial")
    if not script.exists():
        pytest.skip("qserial is not installed as a script next to this interpreter")
    proc = subprocess.run([str(script), "-V"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"qserial {qserial.__version__}\nformats:\n")


def test_help_lists_commands_examples_and_exit_codes() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    assert re.search(r"^\s+demo\s", proc.stdout, re.MULTILINE)
    assert "Exit status: 0 success, 1 failure, 2 usage error." in proc.stdout
    sub = run("demo", "--help")
    assert sub.returncode == 0
    assert "Examples:" in sub.stdout and "--out" in sub.stdout and "--keep" in sub.stdout


@pytest.mark.parametrize("args", [["frobnicate"], ["--no-such-option"], ["demo", "--bogus"],
                                  ["demo", "--format", "no-such-format"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Error:" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("demo") / "files"
    return run("demo", "--out", str(out)), out


def test_demo_round_trips_every_installed_format(demo_run: tuple[Any, Path]) -> None:
    proc, out = demo_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr
    assert "\x1b[" not in proc.stdout  # no colour codes when not writing to a terminal
    names = qserial.list_formats()
    assert "json" in names
    row = re.compile(r"^\W*(\S+)\s*\W\s*(\S+)\s*\W.*\s(exact|JSON-equal)\s", re.MULTILINE)
    checks = {(m.group(1), m.group(2)): m.group(3) for m in row.finditer(proc.stdout)}
    for name in names:
        suffix = get_format(name).suffixes[0]
        for result in ("sampler", "estimator"):
            expected_check = "JSON-equal" if name == "json" else "exact"
            assert checks.get((name, result + suffix)) == expected_check, proc.stdout
            assert (out / (result + suffix)).is_file()
    assert f"All {2 * len(names)} round trips gave back equal results." in proc.stdout
    assert f"Files in {out}" in proc.stdout


def test_demo_files_hold_the_reference_results(demo_run: tuple[Any, Path]) -> None:
    from qserial.demo import build_results

    proc, out = demo_run
    assert proc.returncode == 0, proc.stderr
    expected = build_results()  # seeded primitives: the same results as the command's
    sampler = expected["sampler"]
    assert list(sampler[0].data.keys()) == ["alpha", "beta"]
    assert sampler[1].data.meas.shape == (5, 3)
    for name in qserial.list_formats():
        suffix = get_format(name).suffixes[0]
        for key, result in expected.items():
            loaded = qserial.load(out / (key + suffix))
            assert_equal(loaded, result, exact=name != "json")


def test_demo_removes_its_temporary_folder(tmp_path: Path) -> None:
    proc = run("demo", "--format", "json", env={"TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "Files removed" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_demo_keep_leaves_the_files(tmp_path: Path) -> None:
    proc = run("demo", "-f", "json", "--keep", env={"TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    folder = Path(re.search(r"^Files in (.+)$", proc.stdout, re.MULTILINE).group(1))
    assert folder.parent == tmp_path
    assert sorted(p.name for p in folder.iterdir()) == ["estimator.json", "sampler.json"]


def test_failure_is_one_line_on_stderr_and_debug_shows_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run("demo", "--out", str(blocker / "sub"))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("Error: Not a directory") and str(blocker) in proc.stderr
    debug = run("--debug", "demo", "--out", str(blocker / "sub"))
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "NotADirectoryError" in debug.stderr


class _WrongShots(Format):
    """A faulty plugin: reads back JSON with the result's metadata changed."""

    name = "wrongshots"
    suffixes = (".wrong",)

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"WRONG")

    def dump(self, tree: Any, stream: Any, **options: Any) -> None:
        stream.write(b"WRONG")
        get_format("json").dump(tree, stream, **options)

    def load(self, stream: Any, **options: Any) -> Any:
        stream.read(5)
        tree = get_format("json").load(stream, **options)
        tree.value["metadata"]["version"] += 1
        return tree


class _Unreadable(Format):
    """A faulty plugin: cannot read what it writes."""

    name = "unreadable"
    suffixes = (".unreadable",)

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"\x00junk")

    def dump(self, tree: Any, stream: Any, **options: Any) -> None:
        stream.write(b"\x00junk")

    def load(self, stream: Any, **options: Any) -> Any:
        raise qserial.DecodeError("cannot read this", "$")


def test_demo_fails_when_a_format_does_not_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    # Faulty plugins cannot be installed for a subprocess: this one runs in-process,
    # with the two added to the discovered formats.
    formats = sys.modules["qserial.formats"]  # the name qserial.formats is the function
    installed = {name: get_format(name) for name in qserial.list_formats()}
    monkeypatch.setattr(formats, "_formats",
                        {**installed, "wrongshots": _WrongShots(), "unreadable": _Unreadable()})
    args = ["demo", "-f", "json", "-f", "wrongshots", "-f", "unreadable"]
    try:
        runner = CliRunner(mix_stderr=False)  # click 8.1 mixes stderr into stdout by default
    except TypeError:
        runner = CliRunner()  # click 8.2 and later always keep them apart
    result = runner.invoke(cli, args, prog_name="qserial", env={"COLUMNS": "160"})
    assert result.exit_code == 1
    assert result.stdout.count("FAILED") == 4
    assert result.stdout.count("JSON-equal") == 2
    err = result.stderr.splitlines()
    assert err[-1] == "Error: 4 of 6 round trips failed"
    assert "wrongshots/sampler: loaded result differs at $.metadata.version: 3 != 2" in err
    assert "unreadable/estimator: DecodeError: cannot read this (at $)" in err


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:sh|bash|console)\n(.*?)```", section, re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_quick_start_is_what_ci_runs() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    demo_cmd, test_cmd = commands
    assert demo_cmd.endswith("qserial demo")
    assert "pytest" in test_cmd and "ruff check ." in test_cmd
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd in ci_script


def test_getting_started_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_docs import run_examples

    monkeypatch.chdir(tmp_path)
    skipped = run_examples(ROOT / "docs" / "getting-started.md")
    assert len(skipped) == 1  # the one that fetches a job from IBM Quantum
    printed = capsys.readouterr().out.splitlines()
    counts = ast.literal_eval(printed[0])  # the Bell state's counts: only 00 and 11, 1000 shots
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000
    assert printed[1] == "1"
    assert printed[2] == "2 True"  # qserial.open on HDF5: two pubs, read lazily
    assert printed[3].startswith("unknown type tag 'NoSuchType'") and "(at $.x)" in printed[3]
