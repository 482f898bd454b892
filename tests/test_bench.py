"""``qserial bench`` and :mod:`qserial.bench`: real runs, checked for what they report."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import qserial
from qserial import bench, scenarios
from qserial.cli import cli
from qserial.formats import Format, Option, get_format
from qserial.formats import _all as _installed_formats
from tests._results import numpy_scalar_metadata_result, sampler_result

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "QSERIAL_DEBUG")}
    return subprocess.run([sys.executable, "-m", "qserial", "bench", *args],
                          capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def quick_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path | None]:
    """``qserial bench --quick -s small_sampler --json`` (and ``--plot`` if possible)."""
    plot = tmp_path_factory.mktemp("plot") / "bench.png" if HAVE_MATPLOTLIB else None
    args = ["--quick", "-s", "small_sampler", "--json"]
    if plot is not None:
        args += ["--plot", str(plot)]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout), plot


def _rows(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["subject"]: row for row in case["rows"]}


def test_quick_json_has_every_format_and_reference(quick_json: Any) -> None:
    report, _ = quick_json
    assert report["settings"]["quick"] is True
    assert report["machine"]["versions"]["qserial"] == qserial.__version__
    [case] = report["cases"]
    assert case["name"] == "small_sampler"
    result = scenarios.small_sampler()
    assert case["array_bytes"] == result[0].data.meas.array.nbytes == 1024
    rows = _rows(case)
    assert set(rows) == {"raw I/O", "raw zstd-1", "RuntimeEncoder", "json (Runtime file)",
                         *qserial.list_formats()}
    # The raw floor stores exactly the array bytes and reads back the same bytes.
    assert rows["raw I/O"]["size"] == case["array_bytes"]
    assert rows["raw I/O"]["check"] == "bytes-equal"
    assert rows["raw zstd-1"]["check"] == "bytes-equal"
    # Sizes against the entropy of the shots (5 bits x 1024 shots, skewed outcomes).
    assert 0 < case["entropy_bytes"] < 1024 * 5 / 8
    assert rows["raw I/O"]["ratios"]["size_vs_entropy"] == pytest.approx(
        1024 / case["entropy_bytes"])
    for name in qserial.list_formats():
        row = rows[name]
        assert row["error"] is None and not row["failed"], row
        assert row["check"] in ("exact", "JSON-equal")
        assert row["size"] > 0
        for what in ("write", "read"):
            t = row[what]
            assert t["samples"] >= 2 and len(t["times_s"]) == t["samples"]
            assert 0 < t["best_s"] <= t["median_s"] <= t["worst_s"]
        assert row["write_durable"] is None  # --quick leaves out fsync'd writes
        assert row["memory"] is None  # and memory


def test_quick_json_ratios_follow_from_the_timings(quick_json: Any) -> None:
    report, _ = quick_json
    assert report["settings"]["statistic"] == "median"
    [case] = report["cases"]
    rows = _rows(case)
    raw, runtime = rows["raw I/O"], rows["RuntimeEncoder"]
    assert raw["ratios"]["write_vs_raw"] == pytest.approx(1.0)
    assert runtime["ratios"]["read_vs_runtime"] == pytest.approx(1.0)
    for row in case["rows"]:
        if row["read"] is None:
            continue
        read = row["read"]["median_s"]
        assert row["ratios"]["read_vs_raw"] == pytest.approx(read / raw["read"]["median_s"])
        assert row["ratios"]["read_vs_runtime"] == pytest.approx(
            read / runtime["read"]["median_s"])
        assert row["throughput_MBps"]["read"] == pytest.approx(
            case["array_bytes"] / read / 1e6)
        if row["size"] is not None:
            assert row["ratios"]["size_vs_runtime"] == pytest.approx(
                row["size"] / runtime["size"])


def test_plot_is_a_png(quick_json: Any) -> None:
    if not HAVE_MATPLOTLIB:
        pytest.skip("matplotlib is not installed (pip install 'qserial[plot]')")
    _, plot = quick_json
    data = plot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_plot_draws_spread_and_readable_ticks(quick_json: Any, tmp_path: Path) -> None:
    """The chart as SVG text: per case a dot and a min-max line per timed row, time
    axes with a few distinct labels in time units, and no bars."""
    if not HAVE_MATPLOTLIB:
        pytest.skip("matplotlib is not installed (pip install 'qserial[plot]')")
    import re

    report, _ = quick_json
    path = tmp_path / "bench.svg"
    bench.plot_report(report, str(path))
    svg = path.read_text(encoding="utf-8")
    # matplotlib's SVG keeps the text of every label as a <!-- text --> comment and
    # gives each drawn artist an id: hlines (the spread) are LineCollections.
    labels = re.findall(r"<!-- ([^<>]*?) -->", svg)
    times = [t for t in labels if re.fullmatch(r"[\d.]+ (ns|µs|ms|s)", t)]
    assert 2 * len(report["cases"]) <= len(times) <= 2 * 6 * len(report["cases"])
    assert not any("10^" in t or "^{" in t for t in labels)  # no raw exponent labels
    spreads = sum(1 for case in report["cases"] for row in case["rows"]
                  for what in ("write", "read") if row[what])
    assert len(re.findall(r'id="LineCollection_\d+"', svg)) >= spreads
    for case in report["cases"]:
        assert f"{case['name']}: write time" in labels


def test_time_ticks_stay_few_and_in_order() -> None:
    from qserial.bench._plot import _bytes, _nice_ticks, _seconds

    for low, high in [(3e-6, 8e-3), (2e-2, 3.0), (4e-5, 9e-5), (1e-7, 100.0)]:
        ticks = _nice_ticks(low, high)
        assert 1 <= len(ticks) <= 6 and ticks == sorted(ticks)
        assert all(low <= t <= high for t in ticks)
        labels = [_seconds(t) for t in ticks]
        assert len(set(labels)) == len(labels)
    assert [_seconds(v) for v in (2e-6, 5e-4, 0.02, 1.5)] == ["2 µs", "500 µs", "20 ms",
                                                                "1.5 s"]
    assert [_bytes(v) for v in (512, 2000, 3.3e7)] == ["512 B", "2 kB", "33 MB"]


def test_user_file_from_runtime_encoder(tmp_path: Path) -> None:
    from qiskit_ibm_runtime import RuntimeEncoder

    path = tmp_path / "my_result.json"
    path.write_text(json.dumps(sampler_result(), cls=RuntimeEncoder))
    proc = run_cli(str(path), "--quick", "-f", "msgpack", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "my_result.json" in out
    for label in ("raw I/O", "RuntimeEncoder", "msgpack", "json"):
        assert label in out
    assert "hdf5" not in out.split("Times:")[0]  # only the formats asked for
    assert "\x1b[" not in out  # no colour codes when not writing to a terminal


def test_memory_is_measured_against_the_array_bytes() -> None:
    report = bench.run([bench.parse_scenario("sweep:pubs=4")], formats=["msgpack"],
                       quick=True, memory=True)
    [case] = report["cases"]
    assert case["name"] == "sweep(pubs=4)" and case["pubs"] == 4
    assert case["array_bytes"] == 4 * 20 * 4096 * 4
    rows = _rows(case)
    for name in ("raw I/O", "msgpack"):
        memory = rows[name]["memory"]
        assert memory["error"] is None, memory
        # Reading allocates the result's arrays (once: no copies); writing allocates
        # next to nothing, since both write the arrays' own buffers.
        assert 0.9 <= rows[name]["ratios"]["read_memory_vs_array_bytes"] <= 1.5, memory
        assert rows[name]["ratios"]["write_memory_vs_array_bytes"] <= 0.5, memory
    assert "json (Runtime file)" not in rows


class _Truncating(Format):
    """Drops the last shot of every array: a format that gives back wrong data."""

    name = "truncating"
    suffixes = (".trunc",)

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"TRUNC")

    def dump(self, tree: Any, stream: Any, **options: Any) -> None:
        import numpy as np

        def cut(x: Any) -> Any:
            if isinstance(x, np.ndarray) and x.ndim:
                return x[:-1]
            if isinstance(x, qserial.Node):
                return qserial.Node(x.tag, cut(x.value))
            if isinstance(x, dict):
                return {k: cut(v) for k, v in x.items()}
            if isinstance(x, list):
                return [cut(v) for v in x]
            return x

        stream.write(b"TRUNC")
        get_format("json").dump(cut(tree), stream)

    def load(self, stream: Any, **options: Any) -> Any:
        stream.read(5)
        return get_format("json").load(stream)


@pytest.fixture
def truncating_format() -> Iterator[str]:
    formats = _installed_formats()
    formats["truncating"] = _Truncating()
    try:
        yield "truncating"
    finally:
        del formats["truncating"]


def test_wrong_data_is_a_failure(truncating_format: str) -> None:
    report = bench.run([bench.scenario_case("small_sampler")],
                       formats=["msgpack", truncating_format], quick=True)
    rows = _rows(report["cases"][0])
    assert rows["msgpack"]["check"] == "exact" and not rows["msgpack"]["failed"]
    bad = rows["truncating"]
    assert bad["failed"] and "differs" in bad["error"] and bad["read"] is None
    assert report["failures"] == [f"small_sampler: truncating: {bad['error']}"]
    result = CliRunner().invoke(cli, ["bench", "--quick", "-s", "small_sampler",
                                      "-f", "truncating"])
    assert result.exit_code == 1
    assert "gave back different data" in result.output


def test_what_runtime_encoder_cannot_write_is_reported_not_failed(tmp_path: Path) -> None:
    # np.float32 and friends in metadata: RuntimeEncoder raises TypeError on them.
    path = tmp_path / "scalars.msgpack"
    qserial.dump(numpy_scalar_metadata_result(), path)
    report = bench.run([bench.file_case(path)], formats=["json", "msgpack"], quick=True)
    rows = _rows(report["cases"][0])
    assert rows["RuntimeEncoder"]["error"].startswith("TypeError")
    assert rows["json (Runtime file)"]["error"] == "RuntimeEncoder could not write this object"
    assert rows["msgpack"]["check"] == "exact" and rows["msgpack"]["read"] is not None
    assert "write_vs_runtime" not in rows["msgpack"]["ratios"]
    assert "write_vs_raw" in rows["msgpack"]["ratios"]
    assert report["failures"] == []


@pytest.mark.parametrize(("args", "message"), [
    (["-s", "no_such_scenario"], "built-in scenarios: small_sampler"),
    (["-s", "sweep:pubs"], "is not key=value"),
    (["-f", "no_such_format"], "installed formats: json"),
    (["--repeat", "0"], "--repeat"),
])
def test_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["bench", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_bad_user_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"__type__": "ndarray", "__value__": "AAAA')
    result = CliRunner().invoke(cli, ["bench", "--quick", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_bench_options_are_the_declared_sweeps() -> None:
    class Tunable(Format):
        name = "tunable"
        options = (Option("codec", str, "none", choices=("none", "zstd"), sweep=("zstd",)),
                   Option("level", int, 3, min=1, max=22, sweep=(1, 9),
                          when={"codec": ("zstd",)}),
                   Option("shuffle", bool, False))  # no sweep values: not swept

    assert bench.bench_options(Tunable()) == [
        {"codec": "zstd"}, {"codec": "zstd", "level": 1}, {"codec": "zstd", "level": 9}]
    assert bench.bench_options(get_format("json")) == [
        {"compression": c} for c in (0, 1, 6, 9)]
    assert bench.bench_options(get_format("json")) == get_format("json").sweep_configs()
    assert {"compression": "none"} in bench.bench_options(get_format("msgpack"))

    class Plain(Format):
        name = "plain"

    assert bench.bench_options(Plain()) == []


def test_sweep_runs_every_option_and_reads_each_file_back() -> None:
    report = bench.run([bench.scenario_case("ghz", shots=2000)], formats=["json"],
                       quick=True, sweep=True)
    rows = report["cases"][0]["rows"]
    swept = [row for row in rows if row["options"]]
    assert [row["options"] for row in swept] == bench.bench_options(get_format("json"))
    assert all(row["check"] == "exact" for row in swept)
    sizes = {row["options"]["compression"]: row["size"] for row in swept}
    # Low-entropy shots: stored (level 0) is bigger than compressed at any level.
    assert sizes[0] > max(sizes[1], sizes[6], sizes[9])


def test_measure_interleaved_takes_turns_within_budget() -> None:
    calls: list[str] = []
    steps = {name: bench.Step(lambda name=name: calls.append(name), first_s=0.05)
             for name in ("a", "b")}
    timings = bench.measure_interleaved(steps, repeat=4, min_repeat=2, budget_s=10)
    assert calls == ["a", "b"] * 4  # one call per sample: 50 ms is long enough
    assert all(len(t.times) == 4 and t.number == 1 for t in timings.values())
    calls.clear()
    # A budget of 0.1 s allows 2 samples of a 50 ms step; min_repeat keeps 3.
    timings = bench.measure_interleaved(steps, repeat=5, min_repeat=3, budget_s=0.1)
    assert calls == ["a", "b"] * 3


def test_parse_scenario() -> None:
    case = bench.parse_scenario("sweep:pubs=2,bits=12")
    assert case.name == "sweep(bits=12, pubs=2)"
    result = case.build()
    assert len(result) == 2 and result[0].data.meas.num_bits == 12
    with pytest.raises(bench.BenchSetupError, match="unexpected keyword"):
        bench.parse_scenario("ghz:qubits=3").build()


def test_measure_interleaved_drops_a_step_that_fails() -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) > 2:
            raise OSError("No space left on device")

    steps = {"ok": bench.Step(lambda: None, first_s=0.05), "flaky": bench.Step(flaky, first_s=0.05)}
    errors: dict[str, BaseException] = {}
    timings = bench.measure_interleaved(steps, repeat=4, min_repeat=4, errors=errors)
    assert list(timings) == ["ok"] and len(timings["ok"].times) == 4
    assert isinstance(errors["flaky"], OSError) and len(calls) == 3
    with pytest.raises(OSError, match="No space"):
        calls.clear()
        bench.measure_interleaved(steps, repeat=4, min_repeat=4)
