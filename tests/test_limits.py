"""Hostile sizes and depths: refused before allocating, as a QSerialError, in every format.

A file of about 1 MB (or far less) that would become 1 GB in memory -- a zlib bomb in
JSON's arrays or circuits, a shape declared larger than the bytes behind it in a binary
format, a dictionary-encoded Parquet column -- must raise a QSerialError with under
64 MB of memory growth. Each such file is loaded in a forked process that measures the
growth (tracemalloc's peak, which sees numpy's allocations, and the growth of the peak
resident size, which sees the C libraries'), so that a crash or a big allocation cannot
hurt the test run. Every crafted file has an honest twin, made the same way, that loads:
a refusal is then due to the size or depth, not to a mistake in the crafting.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pybase64
import pytest
from numpy.lib import format as npy_format

import qserial
from qserial import DecodeError, IntegrityError, LimitExceededError, QSerialError
from qserial.formats import list_formats
from qserial.testing import assert_equal

REPO = Path(__file__).resolve().parents[1]
FORMATS = list_formats()
GIB = 1 << 30
MAX_GROWTH = 64 << 20


# -- crafting -------------------------------------------------------------------------------


def zero_stream(prefix: bytes, zeros: int, *, raw: bool = False) -> bytes:
    """A zlib (or raw deflate) stream of ``prefix`` then ``zeros`` zero bytes.

    Built without compressing the zeros: after a full flush deflate starts afresh, so
    every 1 MiB of zeros compresses to the same bytes, which are repeated.
    """
    chunk = 1 << 20
    assert zeros % chunk == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15 if raw else 15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    tail = b"\x03\x00"  # an empty final block
    if raw:
        return head + block * (zeros // chunk) + tail
    # Adler-32: zero bytes leave the low sum unchanged and add it to the high one.
    low, high = zlib.adler32(prefix) & 0xFFFF, zlib.adler32(prefix) >> 16
    high = (high + zeros * low) % 65521
    return head + block * (zeros // chunk) + tail + (high << 16 | low).to_bytes(4, "big")


def npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    out = io.BytesIO()
    npy_format.write_array_header_1_0(
        out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue()


def json_array(packed: bytes) -> dict:
    return {"__type__": "ndarray", "__value__": pybase64.b64encode(packed).decode("ascii")}


def json_doc(value: Any) -> bytes:
    return json.dumps(value).encode("ascii")


def msgpack_file(doc: Any, data: bytes = b"", version: str = "1.0", **extra: Any) -> bytes:
    """A msgpack-format file holding ``doc`` (packed) and ``data``, as docs/formats/msgpack.md
    lays it out, with a valid digest; ``extra`` entries are added to its header."""
    import msgpack
    import xxhash
    from qserial_msgpack import MAGIC

    doc_bytes = doc if isinstance(doc, bytes) else msgpack.packb(doc, use_bin_type=True)
    header = msgpack.packb({"format": "msgpack", "version": version, "writer": {},
                            "digest": "xxh3_128", "doc_size": len(doc_bytes),
                            "data_size": len(data), **extra})
    body = MAGIC + b"\xce" + len(header).to_bytes(4, "big") + header + doc_bytes
    body += b"\xc0" * (-len(body) % 64) + data
    return body + b"\xc4\x10" + xxhash.xxh3_128_digest(body)


def msgpack_array(shape: list[int], payload: int) -> tuple[Any, bytes]:
    """A document naming one uint8 array of ``shape``, and a data region of ``payload`` bytes."""
    import msgpack

    ext = msgpack.ExtType(2, msgpack.packb(["|u1", shape, 64, False]))
    data = b"\xc0" * 59 + b"\xc6" + payload.to_bytes(4, "big") + bytes(payload)
    return {"meas": ext}, data


def edit_hdf5_tree(path: Path, edit: Callable[[Any], Any]) -> None:
    """Replace the root ``qserial_tree`` attribute by ``edit(parsed tree)``.

    The root digest is left as it was: a load with ``verify=False`` sees the edited
    structure, as it would once an attacker recomputed the (unkeyed) digest.
    """
    import h5py

    with h5py.File(path, "r+") as f:
        text = bytes(f.attrs["qserial_tree"])
        new = edit(json.loads(text))
        # Compact, as the plugin writes it: an unchanged tree keeps its bytes and digest.
        new_text = (new if isinstance(new, bytes)
                    else json.dumps(new, separators=(",", ":")).encode("ascii"))
        del f.attrs["qserial_tree"]
        f.attrs["qserial_tree"] = np.bytes_(new_text)  # fixed-length, as written


def scale_hdf5_arrays(factor: int) -> Callable[[Any], Any]:
    """An edit multiplying the first dimension of every dataset the tree names."""

    def edit(x: Any) -> Any:
        if isinstance(x, dict):
            if "$a" in x and x.get("$a") is not None:
                return {**x, "shape": [x["shape"][0] * factor, *x["shape"][1:]]}
            return {k: edit(v) for k, v in x.items()}
        if isinstance(x, list):
            return [edit(v) for v in x]
        return x

    return edit


def _xxh3_parts(*parts: bytes) -> str:
    import xxhash

    h = xxhash.xxh3_128()
    for part in parts:  # length-prefixed, as docs/formats/parquet.md says
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def parquet_rewrite(src: Path, dst: Path, meta: dict[bytes, bytes],
                    table: Any = None, shots_digest: list[str] | None = None) -> None:
    """Write ``src``'s row groups (or ``table``) to ``dst`` with new, re-signed metadata."""
    import pyarrow.parquet as pq
    import xxhash

    meta = dict(meta)
    pf = pq.ParquetFile(src)

    def entries(prefix: bytes) -> list[bytes]:
        return sorted((k for k in meta if k.startswith(prefix)),
                      key=lambda k: int(k[len(prefix):]))

    pubs, spans = entries(b"qserial.pub."), entries(b"qserial.span.")
    old = pf.metadata.metadata[b"qserial.digest"]
    tree = _xxh3_parts(meta[b"qserial"], meta[b"qserial.tree"])
    if old.startswith(b"{"):  # layout 1.x: JSON
        old_shots = [shots for _tree, shots in json.loads(old)["pubs"]]
    else:  # 2.0: one hex text, 32 characters a digest: tree, (tree, shots) a pub, a span
        old_shots = [old[64 + 64 * i:96 + 64 * i].decode() for i in range(len(pubs))]
    shots = shots_digest or old_shots
    pub_digests = [[xxhash.xxh3_128_hexdigest(meta[k]), shots[i]] for i, k in enumerate(pubs)]
    if json.loads(meta[b"qserial"])["version"].startswith("1."):
        digests = json.dumps({"tree": tree, "pubs": pub_digests}, separators=(",", ":"))
    else:
        digests = "".join([tree, *(d for pair in pub_digests for d in pair),
                           *(xxhash.xxh3_128_hexdigest(meta[k]) for k in spans)])
    meta[b"qserial.digest"] = digests.encode("ascii")
    schema = pf.schema_arrow.remove_metadata() if table is None else table.schema
    with pq.ParquetWriter(dst, schema, store_schema=False, compression="none",
                          write_statistics=False) as writer:
        if table is None:
            for g in range(pf.metadata.num_row_groups):
                writer.write_table(pf.read_row_group(g))
        else:
            writer.write_table(table, row_group_size=len(table))
        writer.add_key_value_metadata(meta)
    from qserial_parquet._layout import seal_path

    seal_path(str(dst))  # the footer seal, as the writer fills it in (docs/formats/parquet.md)


def parquet_zero_register(path: Path, shots: int, width: int) -> None:
    """A valid qserial Parquet file of one pub: ``shots`` all-zero shots of ``width`` bytes.

    The register column is dictionary-encoded, so the file stays a few kB whatever its
    size once read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import xxhash
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

    small = path.with_name("template.parquet")
    bits = BitArray(np.zeros((4, width), np.uint8), 8 * width)
    qserial.dump(PrimitiveResult([SamplerPubResult(DataBin(meas=bits), {})], {}), small)
    meta = dict(pq.ParquetFile(small).metadata.metadata)
    header = json.loads(meta[b"qserial"])
    header["pubs"] = [[shots, -(-shots // header["row_group_rows"])]]
    meta[b"qserial"] = json.dumps(header, separators=(",", ":")).encode("ascii")
    meta[b"qserial.pub.0"] = meta[b"qserial.pub.0"].replace(
        b"[4,%d]" % width, b"[%d,%d]" % (shots, width))
    shots_hash = xxhash.xxh3_128((shots * width).to_bytes(8, "little"))
    zeros = bytes(1 << 20)
    for _ in range(shots * width >> 20):
        shots_hash.update(zeros)
    index = pa.array(np.zeros(shots, np.int32))
    columns = [pa.DictionaryArray.from_arrays(index, pa.array([0], pa.uint32())),
               pa.DictionaryArray.from_arrays(index, pa.array([0], pa.uint32())),
               pa.DictionaryArray.from_arrays(index, pa.array([bytes(width)], pa.binary(width)))]
    schema = pa.schema([pa.field(name, col.type, nullable=False)
                        for name, col in zip(("pub", "param", "meas"), columns, strict=True)])
    parquet_rewrite(small, path, meta, pa.Table.from_arrays(columns, schema=schema),
                    [shots_hash.hexdigest()])


def parquet_edit(src: Path, dst: Path, key: bytes, edit: Callable[[bytes], bytes]) -> None:
    import pyarrow.parquet as pq

    meta = dict(pq.ParquetFile(src).metadata.metadata)
    meta[key] = edit(meta[key])
    parquet_rewrite(src, dst, meta)


def _bits_result(shots: int, num_bits: int = 8) -> Any:
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

    rng = np.random.default_rng(7)
    array = rng.integers(0, 256, (shots, (num_bits + 7) // 8), dtype=np.uint8)
    return PrimitiveResult([SamplerPubResult(DataBin(meas=BitArray(array, num_bits)), {})], {})


DEEP = 100_000


# -- the cases --------------------------------------------------------------------------------

# name -> (format, build(folder) -> (hostile file, honest twin or None), load options,
#          accepted errors, reason when a known plugin gap makes it fail)
CASES: dict[str, tuple[str, Callable[[Path], tuple[Path, Path | None]], dict,
                       tuple[type[QSerialError], ...], str | None]] = {}


def case(name: str, fmt: str, options: dict | None = None,
         errors: tuple[type[QSerialError], ...] = (LimitExceededError,),
         xfail: str | None = None) -> Callable:
    def register(build: Callable[[Path], tuple[Path, Path | None]]) -> Callable:
        CASES[name] = (fmt, build, options or {}, errors, xfail)
        return build

    return register


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@case("json: 1 GiB zlib bomb in an array", "json")
def _json_bomb(d: Path) -> tuple[Path, Path]:
    bomb = zero_stream(npy_header((GIB,)), GIB)
    honest = zero_stream(npy_header((1 << 20,)), 1 << 20)
    return (_write(d / "bomb.json", json_doc({"meas": json_array(bomb)})),
            _write(d / "honest.json", json_doc({"meas": json_array(honest)})))


@case("json: 64 arrays of 16 MiB zeros", "json")
def _json_many(d: Path) -> tuple[Path, Path]:
    one = json_array(zero_stream(npy_header((16 << 20,)), 16 << 20))
    return (_write(d / "many.json", json_doc({f"a{i}": one for i in range(64)})),
            _write(d / "one.json", json_doc({"a0": one})))


@case("json: 1 GiB declared, 1 MiB stored", "json", errors=(DecodeError, LimitExceededError))
def _json_declared(d: Path) -> tuple[Path, Path]:
    payload = np.random.default_rng(1).bytes(1 << 20)
    bomb = zlib.compress(npy_header((GIB,)) + payload, 0)
    honest = zlib.compress(npy_header((1 << 20,)) + payload, 0)
    return (_write(d / "declared.json", json_doc({"meas": json_array(bomb)})),
            _write(d / "honest.json", json_doc({"meas": json_array(honest)})))


@case("json: 1 GiB declared, 1 MiB compressed, no ratio limit", "json",
      {"max_expansion": None}, errors=(DecodeError,))
def _json_declared_unlimited(d: Path) -> tuple[Path, Path]:
    payload = np.random.default_rng(2).bytes(1 << 20)
    bomb = zlib.compress(npy_header((GIB,)) + payload, 1)
    honest = zlib.compress(npy_header((1 << 20,)) + payload, 1)
    return (_write(d / "declared.json", json_doc({"meas": json_array(bomb)})),
            _write(d / "honest.json", json_doc({"meas": json_array(honest)})))


@case("json: 1 GiB zlib bomb in a circuit", "json")
def _json_circuit(d: Path) -> tuple[Path, None]:
    packed = pybase64.b64encode(zero_stream(b"QISKIT", GIB)).decode("ascii")
    return _write(d / "circuit.json", json_doc({"__type__": "QuantumCircuit",
                                                 "__value__": packed})), None


@case("json: arrays nested 100k deep", "json")
def _json_deep(d: Path) -> tuple[Path, Path]:
    return (_write(d / "deep.json", b"[" * DEEP + b"]" * DEEP),
            _write(d / "shallow.json", b"[" * 100 + b"]" * 100))


@case("jsongz: 256 MiB gzip bomb", "jsongz")
def _jsongz_bomb(d: Path) -> tuple[Path, None]:
    n = 256 << 20
    crc = 0
    zeros = bytes(1 << 20)
    for _ in range(n >> 20):
        crc = zlib.crc32(zeros, crc)
    member = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + zero_stream(b"", n, raw=True)
              + crc.to_bytes(4, "little") + (n & 0xFFFFFFFF).to_bytes(4, "little"))
    return _write(d / "bomb.json.gz", member), None


@case("msgpack: 1 GiB declared, 1 MiB stored", "msgpack", errors=(DecodeError,))
def _msgpack_declared(d: Path) -> tuple[Path, Path]:
    doc, data = msgpack_array([GIB], 1 << 20)
    honest_doc, _ = msgpack_array([1 << 20], 1 << 20)
    return (_write(d / "declared.msgpack", msgpack_file(doc, data)),
            _write(d / "honest.msgpack", msgpack_file(honest_doc, data)))


@case("msgpack: lists nested 100k deep", "msgpack")
def _msgpack_deep(d: Path) -> tuple[Path, Path]:
    return (_write(d / "deep.msgpack", msgpack_file(b"\x91" * DEEP + b"\xc0")),
            _write(d / "shallow.msgpack", msgpack_file(b"\x91" * 100 + b"\xc0")))


def _hdf5_pair(d: Path, edit: Callable[[Any], Any]) -> tuple[Path, Path]:
    bomb, honest = d / "bomb.h5", d / "honest.h5"
    for path in (bomb, honest):
        qserial.dump({"arr": np.zeros(1 << 20, np.uint8), "n": 1}, path)
    edit_hdf5_tree(bomb, edit)
    edit_hdf5_tree(honest, lambda tree: tree)
    return bomb, honest


@case("hdf5: an array declared 1024 times its data", "hdf5",
      errors=(DecodeError, IntegrityError, LimitExceededError))
def _hdf5_declared(d: Path) -> tuple[Path, Path]:
    return _hdf5_pair(d, scale_hdf5_arrays(1024))


@case("hdf5: an array declared 1024 times its data, verify=False", "hdf5",
      {"verify": False}, errors=(DecodeError, LimitExceededError))
def _hdf5_declared_unverified(d: Path) -> tuple[Path, Path]:
    return _hdf5_pair(d, scale_hdf5_arrays(1024))


@case("hdf5: the structure nested 100k deep, verify=False", "hdf5", {"verify": False})
def _hdf5_deep(d: Path) -> tuple[Path, Path]:
    return _hdf5_pair(d, lambda _: b"[" * DEEP + b"]" * DEEP)


@case("parquet: a register's shape declared 1024 times its rows", "parquet",
      errors=(DecodeError,))
def _parquet_declared(d: Path) -> tuple[Path, Path]:
    src, bomb, honest = d / "src.parquet", d / "declared.parquet", d / "honest.parquet"
    qserial.dump(_bits_result(1 << 20), src)
    parquet_edit(src, bomb, b"qserial.pub.0",
                 lambda t: t.replace(b"[%d,1]" % (1 << 20), b"[%d,1]" % (1 << 30)))
    parquet_edit(src, honest, b"qserial.pub.0", lambda t: t)
    return bomb, honest


@case("parquet: a pub's rows declared 1024 times, re-signed", "parquet",
      errors=(DecodeError, IntegrityError))
def _parquet_rows(d: Path) -> tuple[Path, Path]:
    src, bomb, honest = d / "src.parquet", d / "rows.parquet", d / "honest.parquet"
    qserial.dump(_bits_result(1 << 20), src)

    def more_rows(text: bytes) -> bytes:
        header = json.loads(text)
        header["pubs"] = [[rows * 1024, -(-rows * 1024 // header["row_group_rows"])]
                          for rows, _groups in header["pubs"]]
        return json.dumps(header, separators=(",", ":")).encode("ascii")

    parquet_edit(src, bomb, b"qserial", more_rows)
    parquet_edit(src, honest, b"qserial", lambda t: t)
    return bomb, honest


@case("parquet: 256 MiB of dictionary-encoded zero shots in 6 kB", "parquet")
def _parquet_dictionary(d: Path) -> tuple[Path, Path]:
    bomb, honest = d / "zeros.parquet", d / "honest.parquet"
    parquet_zero_register(bomb, 1 << 18, 1024)
    parquet_zero_register(honest, 1 << 10, 1024)
    return bomb, honest


@case("parquet: the tree nested 100k deep, re-signed", "parquet")
def _parquet_deep(d: Path) -> tuple[Path, Path]:
    src, bomb, honest = d / "src.parquet", d / "deep.parquet", d / "honest.parquet"
    qserial.dump(_bits_result(16), src)
    parquet_edit(src, bomb, b"qserial.pub.0", lambda _: b"[" * DEEP + b"]" * DEEP)
    parquet_edit(src, honest, b"qserial.pub.0", lambda t: t)
    return bomb, honest


ACTIVE = {name: c for name, c in CASES.items() if c[0] in FORMATS}


# -- measuring, in forked processes -----------------------------------------------------------

_MEASURE = r"""
import json, os, resource, signal, sys, tracemalloc
import qserial

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0

def measure(case):
    signal.alarm(120)
    # Address space: enough for what is measured, not enough to take the machine down.
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + (4 << 30), hard))
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the peak resident size starts afresh at the current one
    except OSError:
        pass
    base = status("VmRSS")
    tracemalloc.start()
    try:
        qserial.load(case["path"], **case["options"])
        out = {"error": None}
    except qserial.QSerialError as exc:
        out = {"error": type(exc).__name__, "message": str(exc)[:300]}
    except BaseException as exc:
        out = {"error": "escaped " + type(exc).__name__, "message": str(exc)[:300]}
    out["traced_peak"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out["rss_growth"] = max(0, status("VmHWM") - base)
    return out

cases = json.load(sys.stdin)
for path in sorted({c["warm"] for c in cases}):
    qserial.load(path)  # imports and caches are not what is measured
report = {}
for case in cases:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            data = json.dumps(measure(case)).encode()
        except BaseException as exc:
            data = json.dumps({"error": "runner: " + repr(exc)}).encode()
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, code = os.waitpid(pid, 0)
    report[case["name"]] = json.loads(data) if data else {"error": f"crashed ({code})"}
print(json.dumps(report))
"""

_WARM = {"json": {"x": np.arange(3)}, "jsongz": {"x": np.arange(3)},
         "msgpack": {"x": np.arange(3)}, "hdf5": {"x": np.arange(3)}}


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path | None]]:
    out = {}
    for i, (name, (_fmt, build, *_rest)) in enumerate(ACTIVE.items()):
        out[name] = build(tmp_path_factory.mktemp(f"case{i}"))
    return out


@pytest.fixture(scope="module")
def measured(crafted: dict[str, tuple[Path, Path | None]],
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    warm_dir = tmp_path_factory.mktemp("warm")
    warm = {}
    for fmt in {c[0] for c in ACTIVE.values()}:
        from qserial.formats import get_format

        path = warm_dir / f"warm{get_format(fmt).suffixes[0]}"
        qserial.dump(_WARM.get(fmt) or _bits_result(64), path)
        warm[fmt] = str(path)
    cases = [{"name": name, "path": str(crafted[name][0]), "options": options,
              "warm": warm[fmt]} for name, (fmt, _b, options, *_r) in ACTIVE.items()]
    done = subprocess.run([sys.executable, "-c", _MEASURE], input=json.dumps(cases),
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _params() -> list[Any]:
    return [pytest.param(name, marks=[pytest.mark.xfail(reason=c[4], strict=True)] if c[4]
                         else [], id=name) for name, c in ACTIVE.items()]


@pytest.mark.parametrize("name", list(ACTIVE))
def test_honest_twin_loads(crafted: dict[str, tuple[Path, Path | None]], name: str) -> None:
    _fmt, _build, options, _errors, _xfail = ACTIVE[name]
    honest = crafted[name][1]
    if honest is None:
        pytest.skip("no honest twin: the value would be as big as the bomb")
    qserial.load(honest, **options)


@pytest.mark.parametrize("name", _params())
def test_refused_before_allocating(measured: dict[str, Any], name: str) -> None:
    _fmt, _build, _options, errors, _xfail = ACTIVE[name]
    got = measured[name]
    assert got["error"] in {e.__name__ for e in errors}, got
    growth = max(got["traced_peak"], got["rss_growth"])
    assert growth < MAX_GROWTH, f"memory grew by {growth / 2**20:.0f} MiB: {got}"


def test_crafted_files_are_small(crafted: dict[str, tuple[Path, Path | None]]) -> None:
    sizes = {name: paths[0].stat().st_size for name, paths in crafted.items()}
    assert max(sizes.values()) < 2 << 20, sizes


def test_zero_stream_is_valid_zlib() -> None:
    prefix = b"header"
    assert zlib.decompress(zero_stream(prefix, 3 << 20)) == prefix + bytes(3 << 20)
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(zero_stream(b"", 2 << 20, raw=True)) == bytes(2 << 20)
    assert inflater.eof


# -- the limits can be raised -----------------------------------------------------------------


def test_json_expansion_limit_is_configurable() -> None:
    # 48 MiB of zeros in a 70 kB document: legitimate, but beyond the default ratio.
    value = {"zeros": np.zeros(48 << 20, np.uint8)}
    data = qserial.dumps(value, compression=9)
    assert len(data) * 32 < 48 << 20
    with pytest.raises(LimitExceededError, match="max_expansion") as info:
        qserial.loads(data)
    assert info.value.path == "$.zeros"
    assert_equal(qserial.loads(data, max_expansion=None), value)
    assert_equal(qserial.loads(data, max_expansion=1000), value)
    with pytest.raises(LimitExceededError, match="max_array_bytes"):
        qserial.loads(data, max_expansion=None, max_array_bytes=1 << 20)


def test_json_expansion_budget_is_per_document() -> None:
    # Each array alone is within any limit; together they expand too far.
    one = json_array(zero_stream(npy_header((8 << 20,)), 8 << 20))
    data = json_doc({f"a{i}": one for i in range(8)})
    with pytest.raises(LimitExceededError, match="max_expansion"):
        qserial.loads(data)
    got = qserial.loads(data, max_expansion=None)
    assert sorted(got) == [f"a{i}" for i in range(8)] and got["a7"].nbytes == 8 << 20


def test_json_circuit_bomb_is_refused() -> None:
    packed = pybase64.b64encode(zero_stream(b"QISKIT", 64 << 20)).decode("ascii")
    with pytest.raises(LimitExceededError, match="QuantumCircuit"):
        qserial.loads(json_doc({"__type__": "QuantumCircuit", "__value__": packed}))


def test_json_header_longer_than_payload_inflates_no_further() -> None:
    # A payload longer than its header declares: refused, not read to its end.
    packed = zero_stream(npy_header((1 << 20,)), 16 << 20)
    with pytest.raises(DecodeError, match="more bytes follow"):
        qserial.loads(json_doc({"a": json_array(packed)}), max_expansion=None)


@pytest.mark.skipif("parquet" not in FORMATS, reason="qserial-parquet is not installed")
def test_parquet_max_bytes_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    result = _bits_result(1 << 12)
    qserial.dump(result, path)
    with pytest.raises(LimitExceededError, match="max_bytes"):
        qserial.load(path, max_bytes=1 << 10)
    assert_equal(qserial.load(path, max_bytes=1 << 12), result)


# -- depth -------------------------------------------------------------------------------------


def _nested(depth: int) -> Any:
    x: Any = []
    for _ in range(depth):
        x = [x]
    return x


def test_deep_objects_are_refused_on_dump() -> None:
    with pytest.raises(LimitExceededError):
        qserial.to_tree(_nested(DEEP))


def test_deep_trees_are_refused_on_decode() -> None:
    tree: Any = 1
    for _ in range(DEEP):
        tree = qserial.Node("tuple", [tree])
    with pytest.raises(LimitExceededError):
        qserial.from_tree(tree)


@pytest.mark.parametrize("fmt", FORMATS)
def test_deep_tree_dump_is_refused(fmt: str, tmp_path: Path) -> None:
    tree = _nested(20_000)  # a tree deeper than any format writes, built without to_tree
    with pytest.raises(LimitExceededError):
        qserial.dump_tree(tree, tmp_path / "deep.out", format=fmt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_moderate_depth_round_trips(fmt: str) -> None:
    value = {"deep": _nested(100), "n": math.pi}
    assert qserial.loads(qserial.dumps(value, format=fmt)) == value
