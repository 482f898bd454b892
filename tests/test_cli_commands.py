"""``qserial info``, ``counts``, ``convert`` and ``validate``, run as a user runs them.

Files are written from real results (qiskit's StatevectorSampler, the runtime's
execution spans) in every installed format; expected values come from the result
objects, never from the command under test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qserial
from qserial._inspect import count_outcomes, summarize
from qserial.formats import get_format
from qserial.testing import assert_equal
from qserial.testing import strategies as qst
from tests._results import estimator_result, spans_result

ROOT = Path(__file__).resolve().parents[1]
COMPAT = ROOT / "tests" / "data" / "compat" / "runtime-json"
FEWER = settings(max_examples=max(25, settings.default.max_examples // 4))


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("FORCE_COLOR", "QSERIAL_DEBUG", "NO_COLOR")}
    full_env["COLUMNS"] = "160"
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "qserial", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def suffix(name: str) -> str:
    return get_format(name).suffixes[0]


def lossless(*names: str) -> bool:
    return "json" not in names and "jsongz" not in names


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The spans result in every installed format, as spans-<format><suffix>."""
    folder = tmp_path_factory.mktemp("files")
    out = {}
    for name in qserial.list_formats():
        out[name] = folder / f"spans-{name}{suffix(name)}"
        qserial.dump(spans_result(), out[name])
    return out


def header_of(path: Path) -> dict[str, Any] | None:
    """The file's header, or None for a format without one."""
    try:
        return qserial.read_header(path)
    except qserial.UnsupportedFeatureError:
        return None


def expected_summary(result: Any) -> dict[str, Any]:
    """What ``info`` must report about a result, read from the objects themselves."""
    pubs = []
    for i, pub in enumerate(result):
        registers, arrays = [], []
        for name, value in pub.data.items():
            if isinstance(value, np.ndarray):
                arrays.append({"name": name, "dtype": str(value.dtype),
                               "shape": list(value.shape)})
            else:
                registers.append({"name": name, "num_bits": value.num_bits,
                                  "shots": value.num_shots})
        pubs.append({"index": i, "type": type(pub).__name__, "shape": list(pub.data.shape),
                     "registers": registers, "arrays": arrays, "other": [],
                     "metadata_keys": [str(k) for k in pub.metadata]})
    execution = result.metadata.get("execution")
    spans = execution.get("execution_spans") if isinstance(execution, dict) else None
    span_info = None
    if type(spans).__name__ == "ExecutionSpans":
        kinds: dict[str, int] = {}
        for span in spans:
            kind = "ExecutionSpan" if type(span).__name__ == "SliceSpan" else type(span).__name__
            kinds[kind] = kinds.get(kind, 0) + 1
        span_info = {"count": len(spans), "kinds": kinds, "first_start": None,
                     "last_stop": None, "duration_s": None}
        try:
            span_info.update(
                first_start=min(s.start for s in spans).isoformat(),
                last_stop=max(s.stop for s in spans).isoformat(),
                duration_s=sum((s.stop - s.start).total_seconds() for s in spans))
        except (TypeError, ValueError):  # no spans, or naive and aware times mixed
            pass
    return {"type": "PrimitiveResult", "pubs": pubs,
            "metadata_keys": [str(k) for k in result.metadata], "execution_spans": span_info}


# ----------------------------------------------------------------------------- info


def test_info_json_describes_every_format(files: dict[str, Path]) -> None:
    proc = run("info", "--json", *map(str, files.values()))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    reports = json.loads(proc.stdout)
    assert [r["path"] for r in reports] == [str(p) for p in files.values()]
    expected = expected_summary(spans_result())
    for name, report in zip(files, reports, strict=True):
        assert report["format"] == name
        assert report["size"] == files[name].stat().st_size
        assert report["content"] == expected, name
        assert report["error"] is None
        header = header_of(files[name])
        if header is not None:
            assert report["version"] == get_format(name).version
            assert report["writer"]["qserial"] == qserial.__version__
        # A file whose header names a digest has it checked on every load.
        digest = (header or {}).get("digest")
        assert report["digest"] == digest
        assert report["integrity"] == ("not checked" if digest is None else "verified")


def test_info_human_output(files: dict[str, Path]) -> None:
    proc = run("info", str(files["json"]))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b[" not in out
    assert out.splitlines()[0] == str(files["json"])
    assert f"  format      json {get_format('json').version}\n" in out
    assert f"qserial {qserial.__version__}" in out
    digest = (header_of(files["json"]) or {}).get("digest")
    assert (f"  integrity   verified ({digest})\n" if digest
            else "  integrity   not checked (the file stores no digest)\n") in out
    assert "  content     PrimitiveResult, 3 pubs\n" in out
    spans = expected_summary(spans_result())["execution_spans"]
    assert (f"  spans       5 (ExecutionSpan 1, DoubleSliceSpan 2, TwirledSliceSpan 1, "
            f"TwirledSliceSpanV2 1), {spans['first_start']} to {spans['last_stop']}, "
            f"{spans['duration_s']:.3f} s in spans\n") in out
    rows = [line.split() for line in out.splitlines() if "BitArray:" in line]
    pub1 = spans_result()[1].data
    assert ["1", "SamplerPubResult", "()", "alpha", "BitArray:",
            f"{pub1.alpha.num_bits}", "bits", "x", f"{pub1.alpha.num_shots}", "shots",
            "shots,", "circuit_metadata"] in rows
    assert ["beta", "BitArray:", f"{pub1.beta.num_bits}", "bits", "x",
            f"{pub1.beta.num_shots}", "shots"] in rows
    assert any(r[:3] == ["2", "SamplerPubResult", "(4,"] for r in rows)


def test_info_estimator_arrays_and_provenance(tmp_path: Path) -> None:
    from qiskit import QuantumCircuit
    from qiskit.primitives import StatevectorSampler

    qserial.dump(estimator_result(), tmp_path / "est.h5")
    circuit = QuantumCircuit(1)
    circuit.h(0)
    circuit.measure_all()
    job = StatevectorSampler(seed=5).run([circuit], shots=10)
    qserial.dump(job, tmp_path / "job.msgpack")
    proc = run("info", "est.h5", "job.msgpack", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    evs = estimator_result()[1].data.evs
    assert f"evs     float64 array {evs.shape}" in proc.stdout
    assert f"provenance  job_id {job.job_id()}, status DONE" in proc.stdout
    reports = json.loads(run("info", "--json", "job.msgpack", cwd=tmp_path).stdout)
    assert reports[0]["manifest"] == qserial.read_header(tmp_path / "job.msgpack")["manifest"]


def test_info_reads_runtime_encoder_files_and_unknown_tags(tmp_path: Path) -> None:
    unknown = tmp_path / "future.json"
    unknown.write_text(json.dumps({"__type__": "PrimitiveResult", "__value__": {
        "pub_results": [{"__type__": "FuturePubResult", "__value__": {"data": {
            "__type__": "DataBin", "__value__": {"field_names": ["x"], "shape": [],
                                                 "fields": {"x": {"__type__": "Quux",
                                                                  "__value__": 1}}}}}}],
        "metadata": {}}}))
    old = COMPAT / "0.29.0" / "sampler_sweep.json"  # spans as ExecutionSpanCollection
    proc = run("info", str(old), str(unknown))
    assert proc.returncode == 0, proc.stderr
    assert "json (no qserial header: e.g. written by RuntimeEncoder)" in proc.stdout
    assert re.search(r"^\s+0\s+FuturePubResult\s+\(\)\s+x\s+Quux\s", proc.stdout, re.MULTILINE)
    report = json.loads(run("info", "--json", str(old)).stdout)[0]
    assert report["version"] is None and report["writer"] == {}
    assert report["content"] == expected_summary(qserial.load(old))


def test_info_never_imports_qiskit_ibm_runtime(files: dict[str, Path]) -> None:
    code = ("import json, sys\nfrom qserial.cli import cli\n"
            "cli.main(['info', *sys.argv[1:]], standalone_mode=False)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('qiskit'))),"
            " file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code, *map(str, files.values())],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stderr.strip().splitlines()[-1])
    assert not [m for m in modules if m.startswith("qiskit_ibm_runtime")], modules


def test_info_damaged_and_missing_files(files: dict[str, Path], tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.msgpack"
    data = bytearray(files["msgpack"].read_bytes())
    data[-1] ^= 0x01  # in the stored digest itself: always detected
    damaged.write_bytes(bytes(data))
    proc = run("info", str(damaged), str(files["json"]), str(tmp_path / "nope.h5"))
    assert proc.returncode == 1
    assert "  integrity   FAILED\n" in proc.stdout
    assert "  content     PrimitiveResult, 3 pubs" in proc.stdout  # the good file still shown
    err = proc.stderr.splitlines()
    assert len(err) == 3, err
    assert err[0].startswith(f"{damaged}: ") and "Traceback" not in proc.stderr
    assert err[1] == f"{tmp_path / 'nope.h5'}: No such file or directory"
    assert err[2] == "Error: 2 of 3 files could not be read"
    debug = run("--debug", "info", str(damaged))
    assert debug.returncode == 1 and "IntegrityError" in debug.stderr
    assert "Traceback (most recent call last)" in debug.stderr


# --------------------------------------------------------------------------- counts


def counts_json(*args: str) -> dict[str, Any]:
    proc = run("counts", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", ["json", "hdf5", "parquet", "msgpack"])
def test_counts_equal_qiskit_counts(files: dict[str, Path], name: str) -> None:
    if name not in files:
        pytest.skip(f"{name} is not installed")
    result = spans_result()
    path = str(files[name])
    two = counts_json(path, "--pub", "2")
    assert two["counts"] == result[2].data.meas.get_counts()
    assert list(two["counts"].values()) == sorted(two["counts"].values(), reverse=True)
    assert two["shots"] == result[2].data.meas.size * result[2].data.meas.num_shots
    joined = counts_json(path, "--pub", "1", "--register", "beta", "--register", "alpha")
    assert joined["counts"] == result[1].join_data(["beta", "alpha"]).get_counts()
    assert joined["registers"] == ["beta", "alpha"]
    assert joined["num_bits"] == result[1].data.alpha.num_bits + result[1].data.beta.num_bits


def test_counts_table_default_register_and_top(files: dict[str, Path]) -> None:
    result = spans_result()
    proc = run("counts", str(files["json"]), "--pub", "1")
    assert proc.returncode == 0, proc.stderr
    expected = result[1].join_data().get_counts()  # both registers, as join_data joins them
    rows = [line.split() for line in proc.stdout.splitlines()[3:]]
    assert {r[0]: int(r[1]) for r in rows} == expected
    total = sum(expected.values())
    assert all(r[2] == f"{int(r[1]) / total:.4f}" for r in rows)
    assert proc.stdout.splitlines()[0] == (f"{files['json']}: pub 1, registers alpha + beta "
                                           f"(13 bits), {total} shots, {len(expected)} outcomes")
    top = run("counts", str(files["json"]), "--top", "1")
    counts = sorted(result[0].data.meas.get_counts().items(), key=lambda kv: (-kv[1], kv[0]))
    lines = top.stdout.splitlines()
    assert lines[3].split()[:2] == [counts[0][0], str(counts[0][1])]
    rest = sum(n for _, n in counts[1:])
    more = f"{len(counts) - 1} more outcome{'s' * (len(counts) > 2)}"
    assert lines[4] == f"... {more}, {rest} shots ({rest / sum(dict(counts).values()):.4f})"


@pytest.mark.parametrize(("args", "status", "message"), [
    (["--pub", "7"], 1, "pub index 7 is out of range for 3 pubs"),
    (["--register", "nope"], 1, "pub 0 has no register 'nope'; its registers: meas"),
    (["--top", "0"], 2, "Invalid value for '--top'"),
])
def test_counts_errors(files: dict[str, Path], args: list[str], status: int,
                       message: str) -> None:
    proc = run("counts", str(files["json"]), *args)
    assert proc.returncode == status
    assert message in proc.stderr and proc.stdout == ""


def test_counts_of_an_estimator_pub(tmp_path: Path) -> None:
    qserial.dump(estimator_result(), tmp_path / "est.json")
    proc = run("counts", str(tmp_path / "est.json"))
    assert proc.returncode == 1
    assert proc.stderr == (f"Error: {tmp_path / 'est.json'}: pub 0 holds no bit registers "
                           "(BitArray); it holds evs "
                           "(ndarray), stds (ndarray) (at $.pub_results[0])\n")


def _with_random_padding(data: Any) -> Any:
    from qiskit.primitives.containers import PrimitiveResult, SamplerPubResult

    return PrimitiveResult([SamplerPubResult(data)])


@FEWER
@given(st.one_of(qst.primitive_results(), qst.data_bins().map(_with_random_padding)))
def test_count_outcomes_matches_bit_array_counts(result: Any) -> None:
    # data_bins leaves the padding bits of BitArrays random: counts must ignore them.
    tree = qserial.to_tree(result)
    for i, pub in enumerate(result):
        names = [n for n, v in pub.data.items() if not isinstance(v, np.ndarray)]
        for name in names:
            counted = dict(count_outcomes(tree, i, [name]).counts)
            bits = pub.data[name]
            if bits.num_shots == 0 or bits.num_bits == 0:
                # where BitArray.get_counts() fails to reshape; a register of no bits has
                # one outcome, named by BitArray's formula: bin(0)[2:].zfill(0) == "0"
                total = bits.size * bits.num_shots
                assert counted == ({"0": total} if total else {})
                continue
            assert counted == bits.get_counts()
        if len(names) > 1:
            if any(pub.data[n].num_shots == 0 for n in names) or not any(
                    pub.data[n].num_bits for n in names):
                continue
            try:
                expected = pub.join_data(names[::-1]).get_counts()
            except ValueError:  # registers of different shots: cannot be joined
                with pytest.raises(qserial.DecodeError):
                    count_outcomes(tree, i, names[::-1])
            else:
                assert dict(count_outcomes(tree, i, names[::-1]).counts) == expected


def test_count_outcomes_ignores_padding_bits() -> None:
    from qiskit.primitives.containers import BitArray, DataBin

    bits = BitArray(np.array([[0xFF], [0x01], [0x07]], dtype=np.uint8), 3)  # 5 padding bits
    tree = qserial.to_tree(_with_random_padding(DataBin(m=bits)))
    assert count_outcomes(tree).counts == [("111", 2), ("001", 1)] == sorted(
        bits.get_counts().items(), key=lambda kv: -kv[1])


@FEWER
@given(qst.primitive_results())
def test_summary_matches_the_objects(result: Any) -> None:
    assert summarize(qserial.to_tree(result)) == expected_summary(result)


@FEWER
@given(qst.values(), st.sampled_from(["PrimitiveResult", "SamplerPubResult", "DataBin",
                                      "BitArray", "ExecutionSpans", "datetime", None]))
def test_summary_of_any_tree_never_fails(value: Any, tag: str | None) -> None:
    # Any value, also under the tag of a result's part: the tree comes from a file.
    tree = qserial.to_tree(value) if tag is None else qserial.Node(tag, qserial.to_tree(value))
    json.dumps(summarize(tree))  # JSON-able, whatever the tree holds


# -------------------------------------------------------------------------- convert


def test_convert_between_every_pair_of_formats(files: dict[str, Path],
                                               tmp_path: Path) -> None:
    for target in files:
        out = tmp_path / target
        proc = run("convert", *map(str, files.values()), str(out), "--format", target)
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.splitlines()) == len(files)
        for source, path in files.items():
            converted = out / f"spans-{source}{suffix(target)}"
            assert f"{path} -> {converted}" in proc.stdout
            if target != "jsongz":  # the example plugin has no header to read
                assert qserial.read_header(converted)["format"] == target
            assert_equal(qserial.load(converted), spans_result(),
                         exact=lossless(source, target))
        assert sorted(p.name for p in out.iterdir()) == sorted(
            f"spans-{s}{suffix(target)}" for s in files)  # no temporary files left


def test_convert_one_file_by_suffix_with_options(files: dict[str, Path], tmp_path: Path) -> None:
    proc = run("convert", str(files["msgpack"]), str(tmp_path / "one.json"), "-o", "indent=2")
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "one.json").read_text()
    assert text.startswith('{\n  "__type__": "PrimitiveResult"')
    assert_equal(qserial.load(tmp_path / "one.json"), spans_result(), exact=False)


def test_convert_keeps_manifest_and_unknown_tags(tmp_path: Path) -> None:
    tree = qserial.Node("PrimitiveResult", {"pub_results": [], "metadata": {
        "future": qserial.Node("FutureThing", {"a": np.arange(3, dtype=np.int16), "b": [1]})}})
    manifest = {"provenance": {"job_id": "abc123", "backend": "fake_manila"}, "note": "x"}
    qserial.dump_tree(tree, tmp_path / "src.msgpack", manifest=manifest)
    names = [n for n in qserial.list_formats() if get_format(n).supports_manifest]
    previous = tmp_path / "src.msgpack"
    for i, name in enumerate([*names, "msgpack"]):  # a chain through every format and back
        target = tmp_path / f"chain{i}-{name}{suffix(name)}"
        proc = run("convert", str(previous), str(target))
        assert proc.returncode == 0, proc.stderr
        assert qserial.read_header(target)["manifest"] == manifest
        previous = target
    future = qserial.load(previous, strict=False).metadata["future"]
    assert isinstance(future, qserial.UnknownObject) and future.tag == "FutureThing"
    assert future.value["b"] == [1]
    assert future.value["a"].dtype == np.int16 and future.value["a"].tolist() == [0, 1, 2]


def test_convert_refuses_to_drop_a_manifest_silently(tmp_path: Path) -> None:
    qserial.dump({"plain": 1}, tmp_path / "m.msgpack", manifest={"note": "keep me"})
    proc = run("convert", str(tmp_path / "m.msgpack"), str(tmp_path / "m.json"))
    assert proc.returncode == 1
    assert "manifest" in proc.stderr and not (tmp_path / "m.json").exists()
    proc = run("convert", str(tmp_path / "m.msgpack"), str(tmp_path / "m.json"),
               "--drop-manifest")
    assert proc.returncode == 0, proc.stderr
    assert qserial.load(tmp_path / "m.json") == {"plain": 1}


def test_convert_many_files_continues_after_failures(files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.json").write_bytes(files["json"].read_bytes())
    (src / "sub" / "b.msgpack").write_bytes(files["msgpack"].read_bytes())
    (src / "broken.json").write_bytes(files["json"].read_bytes()[:300])
    (src / "notes.txt").write_text("not a result")  # no format's suffix: not taken
    with_h5 = "hdf5" in files
    if with_h5:  # a.h5 and a.json both give out/a.msgpack: the second is refused
        (src / "a.h5").write_bytes(files["hdf5"].read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "broken.msgpack").write_bytes(b"left alone")
    proc = run("convert", "-r", str(src), str(out), "-f", "msgpack", "--overwrite")
    assert proc.returncode == 1
    err = proc.stderr.splitlines()
    assert any(line.startswith(f"{src / 'broken.json'}: JSON ends early") for line in err)
    total, failed = (4, 2) if with_h5 else (3, 1)
    assert (f"{src / 'a.json'}: {out / 'a.msgpack'} would also be written from "
            f"{src / 'a.h5'}: rename one of them" in err) == with_h5
    assert err[-1] == f"Error: {failed} of {total} files failed; {total - failed} converted"
    assert (out / "broken.msgpack").read_bytes() == b"left alone"  # untouched
    assert_equal(qserial.load(out / "a.msgpack"), spans_result(), exact=False)
    assert_equal(qserial.load(out / "sub" / "b.msgpack"), spans_result())
    assert not [p for p in out.rglob(".*")]  # no temporary files left


def test_convert_glob_and_progress_bar(files: dict[str, Path], tmp_path: Path) -> None:
    pattern = str(files["json"].parent / "spans-*.json")
    proc = run("convert", pattern, str(tmp_path / "out"), "-f", "msgpack", "--progress",
               env={"FORCE_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "spans-json.msgpack").is_file()
    assert "converting" in proc.stderr and "1/1" in proc.stderr  # rich's bar, on stderr
    quiet = run("convert", pattern, str(tmp_path / "out2"), "-f", "msgpack")
    assert quiet.stderr == ""  # not a terminal: no bar


@pytest.mark.parametrize(("args", "message"), [
    (["{json}", "{tmp}/x.unknownsuffix"], "cannot tell the format of"),
    (["{json}", "{json}", "{tmp}/out"], "converting into a folder needs --format NAME"),
    (["{json}", "{tmp}/x.json", "-o", "novalue"], "'novalue' is not KEY=VALUE"),
    (["{json}", "{tmp}/x.json", "-f", "nosuchformat"], "'nosuchformat' is not installed"),
    (["{json}"], "Missing argument"),
])
def test_convert_usage_errors(files: dict[str, Path], tmp_path: Path, args: list[str],
                              message: str) -> None:
    args = [a.format(json=files["json"], tmp=tmp_path) for a in args]
    proc = run("convert", *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_convert_refuses_a_manifest_the_target_cannot_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from qserial.cli import cli

    class NoManifest(qserial.Format):
        name = "nomanifest"
        suffixes = (".nomanifest",)

        def dump(self, tree: Any, stream: Any, **options: Any) -> None:
            get_format("msgpack" if "msgpack" in qserial.list_formats() else "json").dump(
                tree, stream, **options)

    formats = sys.modules["qserial.formats"]
    installed = {name: get_format(name) for name in qserial.list_formats()}
    monkeypatch.setattr(formats, "_formats", {**installed, "nomanifest": NoManifest()})
    qserial.dump(spans_result(), tmp_path / "m.json", manifest={"note": 1})
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "m.json"),
                                      str(tmp_path / "m.nomanifest")])
    assert result.exit_code == 1
    assert "format 'nomanifest' cannot store; pass --drop-manifest" in result.output
    result = CliRunner().invoke(cli, ["convert", "--drop-manifest", str(tmp_path / "m.json"),
                                      str(tmp_path / "m.nomanifest")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.nomanifest").stat().st_size > 0


# ------------------------------------------------------------------------- validate


def test_validate_good_files(files: dict[str, Path]) -> None:
    proc = run("validate", *map(str, files.values()))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == len(files)
    for line, (name, path) in zip(lines, files.items(), strict=True):
        assert line.startswith(f"OK    {path}  ({name} ")
        digest = (header_of(path) or {}).get("digest")
        assert line.endswith(f", {digest} verified)" if digest else ", no digest)")


def test_validate_reports_each_bad_file(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "archive" / "2025"
    bad.mkdir(parents=True)
    (bad / "good.msgpack").write_bytes(files["msgpack"].read_bytes())
    digest = bytearray(files["msgpack"].read_bytes())
    digest[-1] ^= 0x80
    (bad / "flipped.msgpack").write_bytes(bytes(digest))
    (bad / "cut.json").write_bytes(files["json"].read_bytes()[:-40])
    (bad / "unknown.json").write_text(
        '{"__type__": "PrimitiveResult", "__value__": {"pub_results": [], "metadata": '
        '{"x": {"__type__": "NoSuchType", "__value__": 1}}}}')
    (bad / "junk.h5").write_bytes(b"\x00" * 100)
    (tmp_path / "archive" / "index.sqlite").write_bytes(b"SQLite format 3\x00")  # not a result
    (bad / ".good.msgpack.qserial-1-0000abcd.tmp").write_bytes(b"partial")
    proc = run("validate", "-r", str(tmp_path / "archive"))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) == 5  # the index and the temporary file are not result files
    status = {Path(line.split()[1].rstrip(":")).name: line.split()[0] for line in lines}
    assert status == {"cut.json": "FAIL", "flipped.msgpack": "FAIL", "good.msgpack": "OK",
                      "junk.h5": "FAIL", "unknown.json": "FAIL"}
    text = proc.stdout
    assert "cut.json: JSON ends early" in text
    assert "flipped.msgpack: digest mismatch" in text
    assert "unknown type tag 'NoSuchType'" in text and "(at $.metadata.x)" in text
    assert proc.stderr == "Error: 4 of 5 files failed validation\n"
    quiet = run("validate", "-rq", str(tmp_path / "archive"))
    assert quiet.returncode == 1
    assert [line.split()[0] for line in quiet.stdout.splitlines()] == ["FAIL"] * 4
    flat = run("validate", str(tmp_path / "archive"))  # without -r: no files at the top
    assert flat.returncode == 1 and "add -r for subfolders" in flat.stdout


def test_validate_all_good_is_silent_with_quiet(tmp_path: Path) -> None:
    qserial.dump({"shots": 10}, tmp_path / "small.json")
    proc = run("validate", "-q", str(tmp_path / "small.json"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


# ------------------------------------------------------------------------ help, docs


@pytest.mark.parametrize("command", ["info", "counts", "convert", "validate"])
def test_help_has_examples(command: str) -> None:
    proc = run(command, "--help")
    assert proc.returncode == 0
    assert "Examples:" in proc.stdout and f"qserial {command} " in proc.stdout
    assert re.search(rf"^\s+{command}\s", run("--help").stdout, re.MULTILINE)


def _console_examples() -> list[tuple[str, list[str]]]:
    """``(command, documented output lines)`` of each ``$ qserial`` line in docs/cli.md."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"^```console\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line.rstrip())
    return out


def test_cli_page_commands_run_as_documented(tmp_path: Path) -> None:
    from tests.test_docs import run_examples

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        run_examples(ROOT / "docs" / "cli.md")  # makes sweep.json
    finally:
        os.chdir(cwd)
    examples = _console_examples()
    assert len(examples) >= 6
    for command, documented in examples:
        args = shlex.split(command)
        assert args[0] == "qserial"
        proc = run(*args[1:], cwd=tmp_path, env={"COLUMNS": "100"})
        assert proc.returncode == 0, (command, proc.stderr)
        actual = [line.rstrip() for line in proc.stdout.splitlines()]
        for line in documented:
            if line.startswith(("  written by", "  size")):
                continue  # versions and sizes change with the installed packages
            assert line in actual, (command, line, proc.stdout)


def test_convert_options_are_typed_and_checked_by_the_format(files: dict[str, Path],
                                                             tmp_path: Path) -> None:
    target = tmp_path / "typed.json"
    proc = run("convert", str(files["msgpack"]), str(target), "-o", "compression=0")
    assert proc.returncode == 0, proc.stderr
    assert qserial.read_header(target)["options"]["compression"] == 0
    proc = run("info", str(target))
    assert "options     compression=0, indent=none" in proc.stdout
    for bad, words in ((["-o", "compresion=0"], ["no option 'compresion'", "indent: int"]),
                       (["-o", "compression=12"], ["invalid value 12", "compression:"]),
                       (["-o", "verify=false"], ["'verify' is a read option"])):
        proc = run("convert", str(files["msgpack"]), str(tmp_path / "bad.json"), *bad)
        assert proc.returncode != 0
        assert all(w in proc.stderr for w in words), proc.stderr
        assert not (tmp_path / "bad.json").exists()
