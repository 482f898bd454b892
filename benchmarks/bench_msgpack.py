"""The msgpack format against raw file I/O and against RuntimeEncoder/RuntimeDecoder.

Usage::

    python benchmarks/bench_msgpack.py            # best of 7 after a warm-up
    python benchmarks/bench_msgpack.py --quick    # best of 3
    python benchmarks/bench_msgpack.py --cpu      # CPU time: steadier on a busy machine

Figures, all measured in this one run with the page cache warm, the compared
functions taking turns (best of the runs):

* sweep (100 pubs x 20 params x 4096 shots x 30 random bits, 33 MB of arrays): the
  format writing its tree to a file and reading it back, against the floor: ``os.write``
  of the same array bytes to one file (dirty pages flushed before every write, untimed),
  and a read of that file into newly allocated memory. Target: both ratios at most 2.
  Also ``qserial.dump``/``qserial.load`` (objects to tree and back, atomic write with
  fsync), and a load of 1 pub of 100 (msgpack has no partial reads).
* small (StatevectorSampler, 5 bits x 1024 shots) and service-like (the same with
  execution spans in the metadata): in-memory ``qserial.dumps`` + ``qserial.loads``
  against ``json.dumps(cls=RuntimeEncoder)`` + ``json.loads(cls=RuntimeDecoder)``.
  Target: at most 0.3.

The script exits with status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import qserial
from qserial.formats import get_format
from qserial.testing import assert_equal

#: The clock: wall time, or with ``--cpu`` this process's CPU time (user + system),
#: which a busy machine disturbs less.
CLOCK = time.perf_counter


def best_of(fn: Callable[[], Any], repeat: int, number: int = 1) -> float:
    """Best per-call CPU-and-wait time of ``fn`` over ``repeat`` runs of ``number`` calls."""
    return min(interleaved({"fn": fn}, repeat, number)["fn"])


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int, number: int = 1,
                sync: bool = False) -> dict[str, list[float]]:
    """Per-call times of each function, the functions taking turns in each round.

    Taking turns gives every function the same share of the machine's ups and downs.
    With ``sync``, dirty pages are flushed (untimed) before each run, so no write
    pays for the writeback of an earlier one.
    """
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            if sync:
                os.sync()
            gc.collect()
            gc.disable()
            try:
                t0 = CLOCK()
                for _ in range(number):
                    fn()
                times[name].append((CLOCK() - t0) / number)
            finally:
                gc.enable()
    return times


def sweep(pubs: int = 100, params: int = 20, shots: int = 4096, bits: int = 30,
          seed: int = 1234) -> Any:
    """A parameter sweep of random shots: one ``SamplerPubResult`` per pub."""
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

    rng = np.random.default_rng(seed)
    nbytes = (bits + 7) // 8
    results = []
    for _ in range(pubs):
        array = rng.integers(0, 256, size=(params, shots, nbytes), dtype=np.uint8)
        array[..., 0] &= (1 << (bits % 8 or 8)) - 1  # padding bits are zero, as in BitArray
        data = DataBin(shape=(params,), meas=BitArray(array, bits))
        results.append(SamplerPubResult(data, metadata={"shots": shots,
                                                        "circuit_metadata": {}}))
    return PrimitiveResult(results, metadata={"version": 2})


def service_like(seed: int = 1234) -> Any:
    """5 bits x 1024 shots with the metadata a service result carries: execution spans."""
    import datetime as dt

    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult
    from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans

    rng = np.random.default_rng(seed)
    bits = BitArray(rng.integers(0, 32, size=(1024, 1), dtype=np.uint8), 5)
    start = dt.datetime(2025, 3, 4, 9, 30, 26, 757868, tzinfo=dt.timezone.utc)
    span = DoubleSliceSpan(start, start + dt.timedelta(seconds=3.77),
                           {0: ((1024,), slice(0, 1), slice(0, 1024))})
    pub = SamplerPubResult(DataBin(meas=bits), metadata={"circuit_metadata": {}})
    metadata = {"execution": {"execution_spans": ExecutionSpans([span])}, "version": 2}
    return PrimitiveResult([pub], metadata=metadata)


def small() -> Any:
    """A real StatevectorSampler result: 5 bits x 1024 shots."""
    from qiskit import QuantumCircuit
    from qiskit.primitives import StatevectorSampler

    qc = QuantumCircuit(5)
    qc.h(0)
    for i in range(4):
        qc.cx(i, i + 1)
    qc.measure_all()
    return StatevectorSampler(seed=1234).run([qc], shots=1024).result()


def raw_io(arrays: list[np.ndarray], path: str) -> tuple[Callable[[], None],
                                                          Callable[[], None]]:
    """The floor: os.write of the array bytes to one file, and readinto new memory."""
    buffers = [memoryview(np.ascontiguousarray(a)).cast("B") for a in arrays]
    total = sum(len(b) for b in buffers)

    def write() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for b in buffers:
                while b:
                    b = b[os.write(fd, b):]
        finally:
            os.close(fd)

    def read() -> None:
        out = np.empty(total, dtype=np.uint8)
        with open(path, "rb", buffering=0) as f:
            view, n = memoryview(out), 0
            while n < total:
                got = f.readinto(view[n:])
                if not got:
                    raise OSError("short read")
                n += got

    return write, read


def run(repeat: int) -> dict[str, float]:
    """Measure everything once; return the best times (seconds) and the ratios."""
    from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder

    fmt = get_format("msgpack")
    out: dict[str, float] = {}
    result = sweep()
    tree = qserial.to_tree(result)
    arrays = [pub.data.meas.array for pub in result]
    with tempfile.TemporaryDirectory() as folder:
        raw_write, raw_read = raw_io(arrays, os.path.join(folder, "raw.bin"))
        path = os.path.join(folder, "sweep.msgpack")
        api_path = os.path.join(folder, "api.msgpack")
        writes = interleaved({
            "raw_write": raw_write,
            "write": lambda: fmt.dump_path(tree, path),
            "api_write": lambda: qserial.dump(result, api_path),
        }, repeat, sync=True)
        reads = interleaved({
            "raw_read": raw_read,
            "read": lambda: fmt.load_path(path),
            "read_noverify": lambda: fmt.load_path(path, verify=False),
            "api_read": lambda: qserial.load(api_path),
            "api_read_1pub": lambda: qserial.load(api_path, pubs=[37]),
        }, repeat)
        out["file_bytes"] = os.path.getsize(path)
        assert_equal(qserial.load(path), result)
    for name, times in {**writes, **reads}.items():
        out[f"{name}_s"] = min(times)
    out["array_bytes"] = sum(a.nbytes for a in arrays)
    out["write_ratio"] = out["write_s"] / out["raw_write_s"]
    out["read_ratio"] = out["read_s"] / out["raw_read_s"]
    out["api_write_ratio"] = out["api_write_s"] / out["raw_write_s"]
    out["api_read_ratio"] = out["api_read_s"] / out["raw_read_s"]
    out["partial_over_full"] = out["api_read_1pub_s"] / out["api_read_s"]

    for name, res in (("small", small()), ("service", service_like())):
        assert_equal(qserial.loads(qserial.dumps(res, format="msgpack")), res)
        times = interleaved({
            "runtime": lambda res=res: json.loads(json.dumps(res, cls=RuntimeEncoder),
                                                  cls=RuntimeDecoder),
            "msgpack": lambda res=res: qserial.loads(qserial.dumps(res, format="msgpack")),
        }, repeat, number=300)
        out[f"{name}_runtime_s"] = min(times["runtime"])
        out[f"{name}_msgpack_s"] = min(times["msgpack"])
        out[f"{name}_ratio"] = out[f"{name}_msgpack_s"] / out[f"{name}_runtime_s"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="best of 3 instead of 7")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--cpu", action="store_true",
                        help="time with this process's CPU time instead of wall time")
    args = parser.parse_args()
    global CLOCK
    if args.cpu:
        CLOCK = time.process_time
    f = run(3 if args.quick else 7)
    if args.json:
        print(json.dumps(f, indent=2))
    else:
        ms = 1e3
        print(f"sweep: {f['array_bytes'] / 1e6:.1f} MB of arrays, "
              f"file {f['file_bytes'] / 1e6:.1f} MB; best of the runs, in ms")
        print(f"  write  raw {f['raw_write_s'] * ms:6.1f}  msgpack {f['write_s'] * ms:6.1f}"
              f"  ratio {f['write_ratio']:.2f} (target <= 2)")
        print(f"  read   raw {f['raw_read_s'] * ms:6.1f}  msgpack {f['read_s'] * ms:6.1f}"
              f"  ratio {f['read_ratio']:.2f} (target <= 2);"
              f"  without the digest check {f['read_noverify_s'] * ms:.1f}")
        print(f"  qserial.dump (to_tree, temp file, fsync, rename) {f['api_write_s'] * ms:.1f}"
              f" = {f['api_write_ratio']:.2f} x raw;  qserial.load (with from_tree) "
              f"{f['api_read_s'] * ms:.1f} = {f['api_read_ratio']:.2f} x raw")
        print(f"  qserial.load(pubs=[37]) {f['api_read_1pub_s'] * ms:.1f} = "
              f"{f['partial_over_full']:.2f} of a full load (no partial reads: whole file)")
        for name, what in (("small", "StatevectorSampler"), ("service", "with spans")):
            print(f"{name} round trip in memory, 5 bits x 1024 shots ({what}): "
                  f"RuntimeEncoder+Decoder {f[name + '_runtime_s'] * 1e6:.0f} us, msgpack "
                  f"{f[name + '_msgpack_s'] * 1e6:.0f} us, ratio {f[name + '_ratio']:.2f}"
                  " (target <= 0.3)")
    failed = [name for name, limit in (("write_ratio", 2), ("read_ratio", 2),
                                       ("small_ratio", 0.3)) if f[name] > limit]
    if failed:
        print("missed targets: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
