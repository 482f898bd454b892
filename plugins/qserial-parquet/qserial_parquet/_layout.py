"""Trees to Parquet tables (the layout of docs/formats/parquet.md), and the names,
keys and digest the reader (:mod:`._reader`) shares with the writer."""

from __future__ import annotations

import json
import math
import os
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

import qserial
from qserial import Node, partial

from . import _encodings, _groups, _treejson
from ._seal import K_HEADER, K_SEAL, SEAL_ZERO, TAIL, finish, seal_path
from ._treejson import ColumnRef

__all__ = ["write", "seal_path"]

# Key-value metadata keys.
K_TREE = b"qserial.tree"
K_DIGEST = b"qserial.digest"
K_PUB = "qserial.pub.{}"
K_SPAN = "qserial.span.{}"
#: The tag of the node that stands in the tree for the execution spans stored apart;
#: its value is the table of the pubs each span ran.
SPANS_TAG = "$spans"
DIGEST_HEX = 32  # characters of an xxh3-128 digest in hex
SPANS_PATH = "$.metadata.execution.execution_spans"
ROW_GROUP_ROWS = 1 << 20
INDEX_CODEC = "lz4"  # index columns are runs of one value: lz4 shrinks them nearly for free
UINT_WIDTHS = (1, 2, 4, 8)


def hasher() -> Any:
    return xxhash.xxh3_128()


def digest_part(h: Any, *pieces: Any) -> None:
    """Add one part to the digest, whole or in ``pieces`` (the same digest either way)."""
    # Length-prefixed, so moving bytes between two parts changes the digest.
    views = [memoryview(piece).cast("B") for piece in pieces]
    h.update(sum(map(len, views)).to_bytes(8, "little"))
    for view in views:
        h.update(view)


# --------------------------------------------------------------------------- write


#: Column names of the index columns, never given to a register.
INDEX_NAMES = ("pub", "param", "shot")


def _registers(pub: Any, reserved: set[str]) -> list[tuple[str, dict]]:
    """The BitArray fields of a pub result's DataBin that can become columns."""
    if type(pub) is not Node or type(pub.value) is not dict:
        return []
    data = pub.value.get("data")
    if type(data) is not Node or data.tag != "DataBin" or type(data.value) is not dict:
        return []
    fields = data.value.get("fields")
    if type(fields) is not dict:
        return []
    found: list[tuple[str, dict]] = []
    lead: tuple[int, ...] | None = None
    for name, field in fields.items():
        if type(field) is not Node or field.tag != "BitArray" or type(field.value) is not dict:
            continue
        value = field.value
        array, num_bits = value.get("array"), value.get("num_bits")
        if (set(value) != {"array", "num_bits"} or type(array) is not np.ndarray
                or array.dtype != np.uint8 or array.ndim < 2 or type(num_bits) is not int
                or num_bits < 1 or array.shape[-1] != (num_bits + 7) // 8
                or name in reserved):
            continue
        # All of a pub's register columns share its rows: same shape up to the bytes.
        if lead is None:
            lead = array.shape[:-1]
        elif array.shape[:-1] != lead:
            continue
        found.append((name, value))
    return found


def _column_type(num_bits: int, nbytes: int) -> tuple[str, int]:
    if num_bits <= 64:
        return "uint", next(w for w in UINT_WIDTHS if w >= nbytes)
    return "binary", nbytes


def arrow_type(kind: str, width: int) -> pa.DataType:
    if kind == "uint":
        return {1: pa.uint8(), 2: pa.uint16(), 4: pa.uint32(), 8: pa.uint64()}[width]
    return pa.binary(width)


def _to_column(array: np.ndarray, num_bits: int, kind: str, width: int
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the column values of a packed BitArray array, and its padding bits if any.

    The values are the big-endian shot bytes left-filled with zero bytes to
    ``width``, without padding bits: for ``uint`` columns little-endian integers
    whose binary form is the bitstring ``get_counts`` shows.
    """
    nbytes = array.shape[-1]
    rows = array.reshape(-1, nbytes)
    padding = None
    spare = -num_bits % 8
    if spare:
        high = rows[:, 0] & ((0xFF << (8 - spare)) & 0xFF)
        if high.any():
            padding = high.reshape(array.shape[:-1])
    if nbytes == width:
        buf = np.ascontiguousarray(rows)
        if padding is not None:
            buf = buf.copy()
    else:
        buf = np.zeros((rows.shape[0], width), np.uint8)
        buf[:, width - nbytes:] = rows
    if padding is not None:
        buf[:, width - nbytes] &= 0xFF >> spare
    if kind == "uint":
        # A byte swap, which also makes the copy the column owns.
        return buf.view(f">u{width}").reshape(-1).astype(f"<u{width}"), padding
    return buf, padding


def _arrow_column(values: np.ndarray, kind: str, width: int) -> pa.Array:
    n = values.shape[0]
    return pa.Array.from_buffers(arrow_type(kind, width), n, [None, pa.py_buffer(values)])


def write(tree: Any, where: str | IO[bytes], *, header: dict, compression: str = "auto",
          compression_level: int | None = None, dictionary: str | bool = "auto",
          shot_column: bool = False) -> None:
    """Write ``tree`` as a qserial Parquet file to a path or a binary stream.

    ``header`` is the format's :meth:`~qserial.Format.new_header` (with the manifest,
    if any); the layout's entries and the digest's name are added to it.
    """
    index = ["pub", "param"] + (["shot"] if shot_column else [])
    is_result = (type(tree) is Node and tree.tag == "PrimitiveResult"
                 and type(tree.value) is dict and type(tree.value.get("pub_results")) is list)
    pubs = tree.value["pub_results"] if is_result else []
    rest = Node(tree.tag, {**tree.value, "pub_results": []}) if is_result else tree
    # Each execution span is stored apart, so a partial read parses only its pubs' spans.
    span_trees: list[Any] | None = None
    if is_result:
        table: list[list[int]] = []
        split = partial.split_spans(rest, Node(SPANS_TAG, table))
        if split is not None:
            rest, span_trees, rows_run = split
            table.extend(rows_run)

    # Pass 1: pick each pub's registers and the column each one goes to.
    # "shot" is reserved with or without the shot column: a reader must never find a
    # register's bits in a column of that name and take them for shot indices.
    reserved = {*INDEX_NAMES}
    chosen = [_registers(pub, reserved) for pub in pubs]
    columns: dict[str, list[int]] = {}  # name -> [max num_bits, max nbytes]
    for regs in chosen:
        for name, value in regs:
            col = columns.setdefault(name, [0, 0])
            col[0] = max(col[0], value["num_bits"])
            col[1] = max(col[1], value["array"].shape[-1])
    kinds = {name: _column_type(*col) for name, col in columns.items()}
    rows = [math.prod(regs[0][1]["array"].shape[:-1]) if regs else 0 for regs in chosen]
    present = [{name for name, _value in regs} for regs in chosen]
    nullable = {name: any(n and name not in have for n, have in zip(rows, present, strict=True))
                for name in columns}

    # Each register column's codec and encoding, from a sample of its shots.
    encodings = {
        name: _encodings.choose(
            [value["array"] for regs in chosen for reg, value in regs if reg == name],
            lambda rows, name=name: _to_column(rows, columns[name][0], *kinds[name])[0],
            compression, dictionary)
        for name in columns}
    schema = pa.schema(
        [pa.field(name, pa.uint32(), nullable=False) for name in index]
        + [pa.field(name, arrow_type(*kinds[name]), nullable=nullable[name])
           for name in columns])
    header = {
        **header,
        "index": index,
        "columns": [[name, *kinds[name], nullable[name]] for name in columns],
        "encodings": {name: {"codec": codec, "dictionary": use_dict}
                      for name, (codec, use_dict) in encodings.items()},
        "pubs": [[n, -(-n // ROW_GROUP_ROWS)] for n in rows] if is_result else None,
        "row_group_rows": ROW_GROUP_ROWS,
        "spans": None if span_trees is None else len(span_trees),
        "digest": "xxh3_128",
    }
    header_json = json.dumps(header, separators=(",", ":")).encode("ascii")
    rest_json = _treejson.encode(rest)
    h = hasher()
    digest_part(h, header_json)
    digest_part(h, rest_json)
    # The row-group index is filled in with the seal, once pyarrow has written the
    # footer. The seal, the index and the header come first, in this order: a reader
    # finds the index and the header where the seal's entry ends.
    meta = {K_SEAL: SEAL_ZERO}
    if is_result:
        meta[_groups.K_GROUPS], meta[_groups.K_ENTRIES] = _groups.placeholder(
            sum(g for _n, g in header["pubs"]), 2 + len(pubs) + len(span_trees or ()))
    meta.update({K_HEADER: header_json, K_TREE: rest_json})
    # The digests as one hex text: the tree's, each pub's (tree, shots), each span's.
    digests = [h.hexdigest()]
    span_digests = []
    for j, span in enumerate(span_trees or ()):
        span_json = _treejson.encode(span)
        meta[K_SPAN.format(j).encode()] = span_json
        span_digests.append(xxhash.xxh3_128_hexdigest(span_json))

    codecs = {name: INDEX_CODEC for name in index}
    codecs.update({name: codec for name, (codec, _) in encodings.items()})
    level = compression_level
    if level is None and compression == "auto":
        level = _encodings.AUTO_LEVEL
    levels = {name: level for name, (codec, _) in encodings.items()
              if level is not None and codec in ("zstd", "gzip", "brotli")}
    dict_columns = [name for name, (_, use_dict) in encodings.items() if use_dict]
    # A stream gets the file once it is sealed: it may not seek back for the patch.
    sink = where if isinstance(where, (str, os.PathLike)) else pa.BufferOutputStream()
    try:
        writer = pq.ParquetWriter(
            sink, schema, compression=codecs, compression_level=levels or None,
            use_dictionary=dict_columns or False, write_statistics=False,
            store_schema=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise qserial.WriteError(f"cannot write Parquet: {exc}") from None
    try:
        with writer:
            index_cache: dict[tuple[int, ...], list[np.ndarray]] = {}
            for i, (pub, regs, n) in enumerate(zip(pubs, chosen, rows, strict=True)):
                pub_tree, arrays = _split_pub(pub, regs, kinds)
                pub_json = _treejson.encode(pub_tree)
                h = hasher()
                for values in arrays.values():
                    digest_part(h, values)
                meta[K_PUB.format(i).encode()] = pub_json
                # The pub's JSON and its shots apart: the JSON is checked before it is parsed.
                digests += (xxhash.xxh3_128_hexdigest(pub_json), h.hexdigest())
                if n == 0:
                    continue
                lead = regs[0][1]["array"].shape[:-1]
                if lead not in index_cache:
                    params, shots = math.prod(lead[:-1]), lead[-1]
                    index_cache.clear()
                    index_cache[lead] = [
                        np.repeat(np.arange(params, dtype=np.uint32), shots),
                        np.tile(np.arange(shots, dtype=np.uint32), params) if shot_column
                        else None]
                param, shot = index_cache[lead]
                cols = [pa.array(np.full(n, i, np.uint32)), pa.array(param)]
                if shot_column:
                    cols.append(pa.array(shot))
                for name in columns:
                    kind, width = kinds[name]
                    values = arrays.get(name)
                    cols.append(pa.nulls(n, arrow_type(kind, width)) if values is None
                                else _arrow_column(values, kind, width))
                writer.write_table(pa.Table.from_arrays(cols, schema=schema),
                                   row_group_size=ROW_GROUP_ROWS)
            meta[K_DIGEST] = "".join(digests + span_digests).encode("ascii")
            writer.add_key_value_metadata(meta)
    except pa.ArrowException as exc:
        if isinstance(exc, OSError):
            raise  # qserial.dump reports it as a WriteError
        raise qserial.WriteError(f"cannot write Parquet: {exc}") from None
    if isinstance(where, (str, os.PathLike)):
        seal_path(os.fspath(where))
    else:
        data = memoryview(sink.getvalue())
        size = len(data)
        start = size - TAIL - int.from_bytes(data[-TAIL:-4], "little")
        done = 0
        for at, value in sorted(finish(bytes(data[start:-TAIL]), size)):
            where.write(data[done:start + at])
            where.write(value)
            done = start + at + len(value)
        where.write(data[done:])


def _split_pub(pub: Any, regs: list[tuple[str, dict]], kinds: dict[str, tuple[str, int]]
               ) -> tuple[Any, dict[str, np.ndarray]]:
    """Return the pub's tree with its registers replaced by column references."""
    if not regs:
        return pub, {}
    arrays: dict[str, np.ndarray] = {}
    data = pub.value["data"]
    fields = dict(data.value["fields"])
    for name, value in regs:
        array = value["array"]
        values, padding = _to_column(array, value["num_bits"], *kinds[name])
        arrays[name] = values
        ref = ColumnRef(name, array.shape, padding)
        fields[name] = Node("BitArray", {"array": ref, "num_bits": value["num_bits"]})
    new_data = Node(data.tag, {**data.value, "fields": fields})
    return Node(pub.tag, {**pub.value, "data": new_data}), arrays
