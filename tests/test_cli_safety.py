"""The command line as a newcomer meets it: it never destroys data, every error names its
file, exit statuses agree, and progress bars do not garble output. Each test runs
``qserial`` in a subprocess, as a user does, and checks exit status and output."""

from __future__ import annotations

import importlib.util
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

import qserial
from qserial import Archive
from qserial.formats import get_format
from qserial.testing import assert_equal
from tests._results import sampler_result
from tests._service_double import service_with_real_jobs

HAVE_HDF5 = importlib.util.find_spec("qserial_hdf5") is not None
HAVE_MSGPACK = "msgpack" in qserial.list_formats()
JSON_VERSION = get_format("json").version
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run(*args: str, cwd: Path | None = None, columns: int = 160
        ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "QSERIAL_DEBUG", "NO_COLOR")}
    env["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-m", "qserial", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def run_on_terminal(*args: str, cwd: Path, stderr_too: bool = True) -> tuple[int, list[str]]:
    """Run with stdout and stderr on one pseudo-terminal, as in an interactive shell
    (``stderr_too=False``: stderr to /dev/null); return the exit status and the
    screen's text split at every line break or carriage return, colour and cursor
    codes removed."""
    env = {k: v for k, v in os.environ.items() if k not in ("QSERIAL_DEBUG", "NO_COLOR")}
    env.update(TERM="xterm", COLUMNS="100", LINES="40")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "qserial", *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave if stderr_too else subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    status = proc.wait(timeout=300)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    return status, [part.strip() for part in re.split(r"\r\n|\r|\n", text)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A result in JSON (``run.json``) and, if installed, msgpack (``run2.msgpack``)."""
    qserial.dump(sampler_result(), tmp_path / "run.json")
    if HAVE_MSGPACK:
        qserial.dump(sampler_result(), tmp_path / "run2.msgpack")
    return tmp_path


# ------------------------------------------------------------------------- convert


def test_convert_refuses_an_existing_target_unless_overwrite(folder: Path) -> None:
    target = folder / "old.json"
    target.write_text("keep me")
    proc = run("convert", "run.json", "old.json", cwd=folder)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "run.json: old.json exists; pass --overwrite to replace it",
        "Error: 1 of 1 files failed; 0 converted"]
    assert target.read_text() == "keep me"
    proc = run("convert", "run.json", "old.json", "--overwrite", cwd=folder)
    assert (proc.returncode, proc.stdout) == (0, "run.json -> old.json\n"), proc.stderr
    assert_equal(qserial.load(target), qserial.load(folder / "run.json"))


@pytest.mark.parametrize("how", ["same name", "symbolic link", "hard link", "other spelling"])
def test_convert_refuses_to_write_its_own_source(folder: Path, how: str) -> None:
    source = folder / "run.json"
    before = source.read_bytes()
    target = {"same name": "run.json", "other spelling": "./sub/../run.json",
              "symbolic link": "link.json", "hard link": "hard.json"}[how]
    (folder / "sub").mkdir()
    (folder / "link.json").symlink_to(source)
    os.link(source, folder / "hard.json")
    proc = run("convert", "run.json", target, "--overwrite", cwd=folder)
    assert proc.returncode == 1 and proc.stdout == ""
    assert (f"run.json: the target {target} is this file itself; converting a file onto "
            "itself would lose it") in proc.stderr
    assert source.read_bytes() == before


def test_convert_warns_when_suffix_and_format_disagree(folder: Path) -> None:
    if not HAVE_MSGPACK:
        pytest.skip("needs qserial-msgpack")
    proc = run("convert", "run.json", "out.h5", "--format", "msgpack", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ("Warning: out.h5 has a suffix of format hdf5, but --format "
                           "msgpack is written to it\n")
    assert qserial.read_header(folder / "out.h5", format="msgpack")["format"] == "msgpack"
    agree = run("convert", "run.json", "out.mpk", "--format", "msgpack", cwd=folder)
    none = run("convert", "run.json", "out.data", "--format", "msgpack", cwd=folder)
    assert agree.stderr == none.stderr == "" and agree.returncode == none.returncode == 0


def test_convert_many_keeps_going_past_refused_targets(folder: Path) -> None:
    (folder / "out").mkdir()
    (folder / "out" / "run.json").write_text("keep me")
    (folder / "extra.json").write_bytes((folder / "run.json").read_bytes())
    proc = run("convert", "run.json", "extra.json", "out", "-f", "json", cwd=folder)
    assert proc.returncode == 1
    assert proc.stdout == f"extra.json -> {os.path.join('out', 'extra.json')}\n"
    assert proc.stderr.splitlines() == [
        f"run.json: {os.path.join('out', 'run.json')} exists; pass --overwrite to replace it",
        "Error: 1 of 2 files failed; 1 converted"]
    assert (folder / "out" / "run.json").read_text() == "keep me"


def test_unknown_writer_option_is_a_usage_error(folder: Path) -> None:
    proc = run("convert", "run.json", "x.json", "-o", "bogus=1", cwd=folder)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Error: format 'json' has no option 'bogus'" in proc.stderr
    for option in get_format("json").options:  # every valid option is named
        assert re.search(rf"\b{option.name}\b", proc.stderr), option.name
        if option.role == "write":  # and a write option with its type and doc
            assert f"  {option.name}: " in proc.stderr
    assert "Traceback" not in proc.stderr and "TypeError: write()" not in proc.stderr
    assert not (folder / "x.json").exists()


def test_convert_progress_lines_do_not_run_into_the_bar(folder: Path) -> None:
    names = [f"r{i}.json" for i in range(4)]
    for name in names:
        (folder / name).write_bytes((folder / "run.json").read_bytes())
    status, screen = run_on_terminal("convert", *names, "out", "-f", "json", "--progress",
                                     cwd=folder)
    assert status == 0, screen
    for name in names:  # each on a line of its own, whole
        assert f"{name} -> {os.path.join('out', name)}" in screen, screen
    assert any(line.startswith("converting") and "4/4" in line for line in screen)
    # The bar forced with stderr thrown away: the file lines still reach the terminal.
    status, screen = run_on_terminal("convert", *names, "out2", "-f", "json", "--progress",
                                     cwd=folder, stderr_too=False)
    assert status == 0
    assert [line for line in screen if line] == [
        f"{name} -> {os.path.join('out2', name)}" for name in names]


# ------------------------------------------------------------------------ validate


def test_validate_shows_progress_on_a_terminal(folder: Path) -> None:
    names = [f"r{i}.json" for i in range(3)]
    for name in names:
        (folder / name).write_bytes((folder / "run.json").read_bytes())
    status, screen = run_on_terminal("validate", *names, cwd=folder)
    assert status == 0, screen
    assert any(line.startswith("validating") and "3/3" in line for line in screen), screen
    for name in names:
        assert f"OK    {name}  (json {JSON_VERSION}, xxh3_128 verified)" in screen, screen
    piped = run("validate", *names, cwd=folder)
    assert piped.stderr == "" and "validating" not in piped.stdout


def test_validate_says_when_a_file_is_not_a_result(folder: Path) -> None:
    (folder / "plain.json").write_text('{"a": 1}')
    proc = run("validate", "plain.json", "run.json", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "OK    plain.json  (json no version header, no digest; not a Qiskit result: it "
        "holds a dict)",
        f"OK    run.json  (json {JSON_VERSION}, xxh3_128 verified)"]


# ------------------------------------------------------------ errors and exit codes


def test_errors_name_the_file_without_at_dollar(folder: Path) -> None:
    if not HAVE_HDF5:
        pytest.skip("needs qserial-hdf5")
    qserial.dump(sampler_result(), folder / "run.h5")
    (folder / "cut.h5").write_bytes((folder / "run.h5").read_bytes()[:500])
    counts = run("counts", "cut.h5", cwd=folder)
    assert counts.returncode == 1 and counts.stdout == ""
    assert re.fullmatch(r"Error: cut\.h5: the HDF5 file is truncated: 500 bytes of \d+\n",
                        counts.stderr), counts.stderr
    info = run("info", "cut.h5", cwd=folder)
    assert info.returncode == 1
    assert re.search(r"^cut\.h5: the HDF5 file is truncated: 500 bytes of \d+$",
                     info.stderr, re.MULTILINE), info.stderr
    assert "(at $)" not in counts.stderr + info.stderr


def test_inner_locations_are_kept(folder: Path) -> None:
    (folder / "bad.json").write_text(
        '{"__type__": "PrimitiveResult", "__value__": {"pub_results": [{"__type__": '
        '"NoSuchType", "__value__": 1}], "metadata": {}}}')
    proc = run("validate", "bad.json", cwd=folder)
    assert proc.returncode == 1
    assert "FAIL  bad.json: " in proc.stdout and "(at $.pub_results[0])" in proc.stdout


@pytest.mark.parametrize("command", [["counts"], ["info"], ["validate"], ["bench", "--quick"],
                                     ["convert"]])
def test_a_missing_file_exits_1_and_is_named(folder: Path, command: list[str]) -> None:
    args = [*command, "nothere.json"]
    if command == ["convert"]:
        args.append("out.json")
    proc = run(*args, cwd=folder)
    assert proc.returncode == 1, (args, proc.stderr)
    said = proc.stdout + proc.stderr  # validate's lines are its report, on stdout
    assert re.search(r"nothere\.json: No such file or directory", said), said
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("where", ["first", "after the command", "last"])
def test_debug_is_accepted_anywhere(folder: Path, where: str) -> None:
    (folder / "empty.json").write_text("")
    args = {"first": ["--debug", "counts", "empty.json"],
            "after the command": ["counts", "--debug", "empty.json"],
            "last": ["counts", "empty.json", "--debug"]}[where]
    proc = run(*args, cwd=folder)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().endswith("DecodeError: the file is empty (at $)")
    plain = run("counts", "empty.json", cwd=folder)
    assert plain.stderr == "Error: empty.json: the file is empty\n"


def test_a_file_named_debug_after_double_dash_is_a_file(folder: Path) -> None:
    proc = run("validate", "--", "--debug", cwd=folder)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "FAIL  --debug: No such file or directory" in proc.stdout


def test_counts_refuses_a_register_given_twice(folder: Path) -> None:
    proc = run("counts", "run.json", "--pub", "1", "--register", "alpha", "--register", "alpha",
               cwd=folder)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "'alpha' given more than once" in proc.stderr
    ok = run("counts", "run.json", "--pub", "1", "--register", "beta", "--register", "alpha",
             cwd=folder)
    assert ok.returncode == 0 and "registers beta + alpha" in ok.stdout


# ------------------------------------------------------------------------- archive


@pytest.fixture
def archive_root(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    with Archive(root) as archive:
        archive.sync(service_with_real_jobs())
        for _ in range(2):  # bare results: ids "local-<random hex>", alike to 6 places
            archive.save(sampler_result())
    return root


def test_archive_ls_fits_80_columns(archive_root: Path) -> None:
    proc = run("archive", "ls", str(archive_root), columns=80)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    header = next(line for line in lines if line.startswith("job id"))
    assert header.split() == ["job", "id", "created", "backend", "primitive", "status",
                              "tags", "size"]
    rows = [line.split() for line in lines if re.match(r"^\S{8,}\s+\d{4}-", line)]
    ids = sorted(job.job_id() for job in Archive(archive_root).jobs(limit=None))
    assert len(rows) == len(ids)
    for row in rows:
        matches = [i for i in ids if i.startswith(row[0])]
        assert len(matches) == 1 and len(row[0]) < len(matches[0])  # a unique prefix
        assert row[3] in ("fake_manila", "fake_quito", "-") and row[5] == "DONE"
    assert "job ids cut to unique prefixes" in proc.stdout
    wide = run("archive", "ls", str(archive_root), columns=160)
    assert all(i in wide.stdout for i in ids)  # whole ids when they fit


def test_archive_show_takes_a_unique_prefix(archive_root: Path) -> None:
    ids = sorted(job.job_id() for job in Archive(archive_root).jobs(limit=None))
    proc = run("archive", "show", str(archive_root), ids[0][:6])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split() == ["job", "id", ids[0]]
    ambiguous = run("archive", "show", str(archive_root), "local-")
    assert ambiguous.returncode == 1 and "Traceback" not in ambiguous.stderr
    assert "several job ids start with 'local-'" in ambiguous.stderr


def test_archive_show_of_a_deleted_file_points_to_prune(archive_root: Path) -> None:
    job = Archive(archive_root).jobs(limit=1)[0]
    os.unlink(job.path)
    proc = run("archive", "show", str(archive_root), job.job_id())
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (f"Error: the file of job {job.job_id()} is missing: {job.path}; "
                           "drop the entries of missing files with: qserial archive reindex "
                           f"--prune {archive_root}\n")
    pruned = run("archive", "reindex", "--prune", str(archive_root))
    assert pruned.returncode == 0
    assert pruned.stdout == "1 index entries changed; 7 jobs\n"


def test_archive_reindex_builds_an_index_from_files(archive_root: Path) -> None:
    os.unlink(archive_root / "index.sqlite")
    proc = run("archive", "reindex", str(archive_root))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "8 index entries changed; 8 jobs\n"
    listed = run("archive", "ls", str(archive_root), "--json")
    assert len(json.loads(listed.stdout)) == 8
    missing = run("archive", "reindex", str(archive_root / "nothere"))
    assert missing.returncode == 1 and "No such folder" in missing.stderr
    assert not (archive_root / "nothere").exists()
