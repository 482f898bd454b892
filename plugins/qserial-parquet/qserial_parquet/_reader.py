"""Reading qserial Parquet files: the footer checked against its seal, then only the
row groups and entries a read needs (docs/formats/parquet.md)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from qserial import (
    DecodeError,
    IntegrityError,
    LimitExceededError,
    Limits,
    Node,
    QSerialError,
    partial,
)
from qserial.limits import DEFAULT_LIMITS

from . import _groups, _treejson
from ._layout import (
    DIGEST_HEX,
    K_DIGEST,
    K_PUB,
    K_SPAN,
    K_TREE,
    SPANS_PATH,
    SPANS_TAG,
    UINT_WIDTHS,
    arrow_type,
    digest_part,
    hasher,
)
from ._seal import K_HEADER, check_version, checked_footer, checked_footer_at, header_text

__all__ = ["read", "read_header", "open_reader", "translated_errors"]

# A file's column chunks are read through a buffer of this size, not whole beside their
# decoded values (a 10.5 MB pub peaked at 46.5 MB, now 34.4). A file held in memory gets
# none: pyarrow slices its chunks without a copy.
_READ_BUFFER = 1 << 20


def _json(meta: dict, key: bytes, what: str) -> Any:
    raw = meta.get(key)
    if raw is None:
        raise DecodeError(f"the Parquet metadata has no {key.decode()!r} entry ({what})", "$")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DecodeError(f"the {key.decode()!r} metadata is not valid JSON: {exc}", "$") from None



def _native(source: str | bytes) -> pa.NativeFile:
    # One open file for the seal check and for pyarrow: both see the same bytes.
    return pa.BufferReader(source) if isinstance(source, bytes) else pa.OSFile(source)


def read(source: str | bytes, *, pubs: list[int] | None = None, verify: bool = True,
         limits: Limits = DEFAULT_LIMITS) -> Any:
    """Read the tree of a qserial Parquet file (a path, or the whole file as bytes)."""
    with translated_errors(), _native(source) as src:
        return open_reader(src, verify, limits, pubs).read(pubs)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Report what pyarrow or numpy raise on damaged input as a QSerialError."""
    try:
        yield
    except QSerialError:
        raise
    except MemoryError:
        raise LimitExceededError("the file declares more data than memory holds", "$") from None
    except RecursionError:
        raise LimitExceededError("the file nests too deeply", "$") from None
    except Exception as exc:  # anything pyarrow or numpy raise on damaged input
        raise DecodeError(f"damaged qserial Parquet file: {type(exc).__name__}: {exc}",
                          "$") from None


def open_reader(src: pa.NativeFile, verify: bool, limits: Limits = DEFAULT_LIMITS,
                pubs: Any = None) -> _Reader:
    """A reader of the open file ``src``, once its seal vouches for its footer.

    Registers are written uncompressed or compressed; an honest file decodes to what
    ``limits`` allow: ``max_bytes``, and the expansion limit of the file's size.
    With ``pubs`` (of a partial read), pyarrow gets only their row groups' metadata
    when the footer has a row-group index.
    """
    size = src.size()
    footer, after_seal = checked_footer_at(size, lambda offset, n: src.read_at(n, offset))
    try:
        subset = None if pubs is None else _footer_subset(footer, after_seal, pubs)
        # Freed before pyarrow and numpy allocate the columns: left alive, it fragmented
        # the heap so that glibc mapped each column anew (full loads took twice as long).
        del footer
        buffer = 0 if isinstance(src, pa.BufferReader) else _READ_BUFFER
        if subset is None:
            pf = pq.ParquetFile(src, arrow_extensions_enabled=False, pre_buffer=False,
                                buffer_size=buffer)
        else:
            md = pq.read_metadata(pa.BufferReader(subset[0]))
            pf = pq.ParquetFile(src, metadata=md, arrow_extensions_enabled=False,
                                pre_buffer=False, buffer_size=buffer)
        meta = subset[3] if subset is not None and subset[3] is not None else (
            pf.metadata.metadata or {})
    except QSerialError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DecodeError(f"cannot read the Parquet footer: {exc}", "$") from None
    limit = limits.max_bytes
    expansion = limits.expansion_bytes(size)
    if expansion is not None:
        limit = min(limit, expansion)
    reader = _Reader(pf, meta, size, verify, limit)
    if subset is not None:
        reader.groups, reader.header = subset[1], subset[2]
    return reader


def _footer_subset(footer: bytes, after_seal: int, pubs: Any
                   ) -> tuple[bytes, dict[int, int], tuple[bytes, Any], Any] | None:
    """The footer as a Parquet file with only the row groups of ``pubs``, for pyarrow.

    Returns the file, where each kept row group went in it, the header's text and
    parsed value, and (layout 2.2) the key-value entries read through the index,
    pyarrow's parse being spared them. None when the footer has no row-group index
    where the seal's entry ends, or its header is not one this could use: the whole
    footer is parsed then, and any fault reported.
    """
    found = _groups.find(footer, after_seal)
    located = None if found is None else _groups.find(
        footer, found[0] + len(found[1]), _groups.K_ENTRIES)
    last = located or found
    text = None if last is None else header_text(footer, last[0] + len(last[1]))
    if text is None:
        return None
    try:
        header = json.loads(text[0])
        version = check_version(header)
        entries = header["pubs"]
        spans = header.get("spans") or 0
        first = list(itertools.accumulate([entry[1] for entry in entries], initial=0))
        if (version < (2, 1) or (version >= (2, 2)) != (located is not None)
                or type(first[-1]) is not int or type(spans) is not int):
            return None
    except (ValueError, TypeError, KeyError, IndexError, RecursionError, QSerialError):
        return None
    wanted: list[int] = []
    for i in dict.fromkeys(partial.pub_indices(pubs, len(entries))):
        wanted.extend(range(first[i], first[i + 1]))
    count = None if located is None else 2 + len(entries) + spans
    value = found[1] if located is None else found[1] + located[1]
    index = _groups.Index(footer, value, first[-1], count)
    meta = None if count is None else _Entries(index, text[0], len(entries), spans)
    return index.file(wanted), {g: k for k, g in enumerate(wanted)}, (text[0], header), meta


class _Entries:
    """The key-value entries a read looks up, taken from the footer through its index."""

    def __init__(self, index: _groups.Index, header: bytes, pubs: int, spans: int) -> None:
        self.index, self.header, self.pubs, self.spans = index, header, pubs, spans

    def get(self, key: bytes, default: Any = None) -> Any:
        if key == K_HEADER:
            return self.header
        k = {K_TREE: 0, K_DIGEST: 1}.get(key)
        if k is None:
            for prefix, start, count in ((b"qserial.pub.", 2, self.pubs),
                                         (b"qserial.span.", 2 + self.pubs, self.spans)):
                number = key[len(prefix):]
                if key.startswith(prefix) and number.isdigit() and int(number) < count:
                    k = start + int(number)
        value = None if k is None else self.index.entry(k, key)
        return default if value is None else value

    def __contains__(self, key: bytes) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key: bytes) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value


def read_header(source: str | bytes | IO[bytes]) -> dict:
    """Return the ``qserial`` header of a file (path, bytes or stream), not its data."""
    try:
        if isinstance(source, (str, bytes)):
            with _native(source) as src:
                footer = checked_footer(src.size(), lambda offset, n: src.read_at(n, offset))
        else:
            start = source.tell()
            size = source.seek(0, io.SEEK_END) - start

            def read_at(offset: int, n: int) -> bytes:
                source.seek(start + offset)
                return source.read(n)

            footer = checked_footer(size, read_at)
        # The checked footer alone is a Parquet file without data, as far as its metadata go.
        tail = len(footer).to_bytes(4, "little") + b"PAR1"
        meta = pq.read_metadata(pa.BufferReader(b"PAR1" + footer + tail)).metadata or {}
    except QSerialError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DecodeError(f"cannot read the Parquet footer: {exc}", "$") from None
    header = _json(meta, K_HEADER, "the header")
    if not isinstance(header, dict):
        raise DecodeError("the 'qserial' metadata is not an object", "$")
    check_version(header)
    return header


class _Reader:
    def __init__(self, pf: pq.ParquetFile, meta: dict, size: int, verify: bool,
                 max_bytes: int) -> None:
        self.pf, self.meta, self.size = pf, meta, size
        self.verify, self.max_bytes = verify, max_bytes
        # With a footer of only some row groups (see _footer_subset): where each went.
        self.groups: dict[int, int] | None = None
        self.header: tuple[bytes, Any] | None = None  # its text and value, if known

    def read(self, pubs: list[int] | None) -> Any:
        self.check()
        if self.pub_rows is None:
            if pubs is not None:
                raise DecodeError("pubs= needs a file holding a PrimitiveResult", "$")
            return _treejson.decode(self.rest_json, "$", None)
        selected = self.selected(pubs)
        tree = self.root(None if pubs is None else selected)
        return Node(tree.tag, {**tree.value, "pub_results": self.pubs(selected)})

    def check(self) -> None:
        """Check the header, the digest of the header and tree, and the layout."""
        meta = self.meta
        if K_HEADER not in meta:
            raise DecodeError("a Parquet file, but not one qserial wrote: no 'qserial' "
                              "metadata entry", "$")
        header_json, rest_json = meta[K_HEADER], meta.get(K_TREE, b"")
        if self.header is None:
            header = _json(meta, K_HEADER, "the header")
        elif header_json != self.header[0]:
            raise IntegrityError("the footer's 'qserial' entry is not the header found in "
                                 "its bytes", "$")
        else:
            header = self.header[1]
        major = check_version(header)[0]
        self.digests = self._digests(major) if self.verify else ""
        if self.verify:
            h = hasher()
            digest_part(h, header_json)
            digest_part(h, rest_json)
            if h.hexdigest() != self.digests[:DIGEST_HEX]:
                raise IntegrityError("the digest of the header and tree does not match: the "
                                     "file was altered or damaged", "$")
        self._layout(header, major)
        if K_TREE not in meta:
            raise DecodeError("the Parquet metadata has no 'qserial.tree' entry", "$")
        pubs, spans = len(self.pub_rows or ()), self.span_count or 0
        if self.verify and len(self.digests) != DIGEST_HEX * (1 + 2 * pubs + spans):
            raise IntegrityError(f"the digests do not match the file's {pubs} pubs and "
                                 f"{spans} execution spans", "$")
        self.rest_json = rest_json

    def _digests(self, major: int) -> str:
        """The stored digests as one hex text: the tree's, each pub's two, each span's.

        Layout 2.0 stores them so; 1.x as JSON, ``{"tree": hex, "pubs": [[hex, hex]]}``.
        """
        raw = self.meta.get(K_DIGEST)
        if raw is None:
            raise DecodeError("the Parquet metadata has no 'qserial.digest' entry", "$")
        if major >= 2:
            try:
                return raw.decode("ascii")
            except UnicodeDecodeError:
                raise IntegrityError("the 'qserial.digest' entry is damaged", "$") from None
        digests = _json(self.meta, K_DIGEST, "the digests")
        parts = [digests.get("tree")] if isinstance(digests, dict) else [None]
        pubs = digests.get("pubs") if isinstance(digests, dict) else None
        for pair in pubs if isinstance(pubs, list) else [None]:
            parts.extend(pair if isinstance(pair, list) and len(pair) == 2 else [None])
        if not all(isinstance(d, str) and len(d) == DIGEST_HEX for d in parts):
            raise IntegrityError("the 'qserial.digest' entry is malformed", "$")
        return "".join(parts)

    def _digest(self, k: int) -> str:
        """The ``k``-th digest of :meth:`_digests` (0: the tree's)."""
        return self.digests[k * DIGEST_HEX:(k + 1) * DIGEST_HEX]

    def selected(self, pubs: list[int] | None) -> list[int]:
        """``pubs`` checked against the file's pubs, as non-negative indices (all if None)."""
        count = len(self.pub_rows)
        if pubs is None:
            return list(range(count))
        return partial.pub_indices(pubs, count)

    def root(self, selected: list[int] | None) -> Any:
        """The PrimitiveResult without its pubs; spans restricted to ``selected`` if given."""
        def prune(doc: Any) -> Any:
            # Only the selected pubs' execution spans are decoded.
            if self.span_count is not None:
                return self._join_spans(doc, selected)
            if selected is None:
                return doc
            return partial.restrict_result_spans(doc, selected, node=_treejson.raw_node,
                                                 make=_treejson.raw_make)

        tree = _treejson.decode(self.rest_json, "$", None, prune=prune)
        if not (type(tree) is Node and tree.tag == "PrimitiveResult"
                and type(tree.value) is dict and tree.value.get("pub_results") == []):
            raise DecodeError("the header lists pubs but the tree is no PrimitiveResult", "$")
        return tree

    def _join_spans(self, doc: Any, selected: list[int] | None) -> Any:
        """``doc`` (parsed, undecoded) with its spans read from their own entries."""
        table = partial.stored_placeholder(doc, SPANS_TAG, node=_treejson.raw_node)
        if type(table) is not list or len(table) != self.span_count:
            raise DecodeError(f"the tree has no table of the file's {self.span_count} "
                              "execution spans where its spans belong", "$")
        pubs = len(self.pub_rows)

        def read_span(j: int) -> Any:
            key = K_SPAN.format(j)
            raw = self.meta.get(key.encode())
            if raw is None:
                raise DecodeError(f"the Parquet metadata has no entry for execution span {j} "
                                  f"({key!r})", SPANS_PATH)
            if self.verify and xxhash.xxh3_128_hexdigest(raw) != self._digest(1 + 2 * pubs + j):
                raise IntegrityError(f"the digest of execution span {j} ({key!r}) does not "
                                     "match: the file was altered or damaged", SPANS_PATH)
            try:
                return json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                raise DecodeError(f"execution span {j} ({key!r}) is not valid JSON: {exc}",
                                  SPANS_PATH) from None

        try:
            return partial.join_spans(doc, table, read_span, selected, count=pubs,
                                      node=_treejson.raw_node, make=_treejson.raw_make)
        except DecodeError as exc:
            if exc.path is not None:
                raise
            raise DecodeError(exc.message, SPANS_PATH) from None

    def pubs(self, selected: list[int]) -> list[Any]:
        """The trees of the pubs at ``selected`` (non-negative indices)."""
        self._check_rows(selected)
        # A pub at a time, copied out before the next is read: read at once, pyarrow held
        # them twice (the row groups, their concatenation) beside the copies.
        return [self._pub(i, self._read_rows(i)) for i in selected]

    def _layout(self, header: dict, major: int) -> None:
        """Check the header against the file's schema and row groups."""
        index, columns = header.get("index"), header.get("columns")
        if (not isinstance(index, list) or not isinstance(columns, list)
                or not all(isinstance(c, list) and len(c) == 4 for c in columns)):
            raise DecodeError("the header's index and columns are malformed", "$")
        self.kinds: dict[str, tuple[str, int]] = {}
        expected = [(name, pa.uint32()) for name in index]
        for name, kind, width, _nullable in columns:
            if kind not in ("uint", "binary") or type(width) is not int or not (
                    width in UINT_WIDTHS if kind == "uint" else width > 0):
                raise DecodeError(f"invalid column description for {name!r}", "$")
            self.kinds[name] = (kind, width)
            expected.append((name, arrow_type(kind, width)))
        self.schema = self.pf.schema_arrow
        if [(f.name, f.type) for f in self.schema] != expected:
            raise IntegrityError("the Parquet schema does not match the qserial header", "$")
        pubs, step = header.get("pubs"), header.get("row_group_rows")
        self.pub_rows: list[int] | None = None
        # Layout 2.0 stores execution spans apart (the header counts them), 1.x inline.
        self.span_count = header.get("spans") if major >= 2 else None
        if self.span_count is not None and (
                type(self.span_count) is not int or self.span_count < 0 or pubs is None):
            raise DecodeError("the header's count of execution spans is malformed", "$")
        if pubs is None:
            return
        if not isinstance(pubs, list) or type(step) is not int or step < 1:
            raise DecodeError("the header's pub list is malformed", "$")
        # Whole-list builtins rather than a loop per pub: a partial read checks them all.
        rows = groups = None
        if all([type(entry) is list and len(entry) == 2 for entry in pubs]):
            rows, groups = [entry[0] for entry in pubs], [entry[1] for entry in pubs]
            if rows and (set(map(type, rows + groups)) != {int} or min(rows) < 0
                         or groups != [-(-n // step) for n in rows]):
                rows = None
        if rows is None:
            bad = next(i for i, entry in enumerate(pubs) if not (
                type(entry) is list and len(entry) == 2
                and all(type(v) is int and v >= 0 for v in entry)
                and entry[1] == -(-entry[0] // step)))
            raise DecodeError(f"malformed row count of pub {bad}", "$")
        self.pub_rows = rows
        # Pub i's row groups are first_group[i] to first_group[i + 1].
        self.first_group = list(itertools.accumulate(groups, initial=0))
        group = self.first_group[-1]
        # Row counts are checked for the row groups actually read (in _read_rows).
        # A footer of only some row groups: _groups.subset checked the index's count.
        if self.groups is None and group != self.pf.metadata.num_row_groups:
            raise IntegrityError(f"the file has {self.pf.metadata.num_row_groups} row groups, "
                                 f"its pubs {group}", "$")

    def _check_rows(self, selected: list[int]) -> None:
        """Check the selected pubs' row groups in the footer, before any is read."""
        distinct = dict.fromkeys(selected)
        # Refuse declared sizes the file cannot hold before pyarrow allocates them.
        seen = sum(self.pub_rows[i] for i in distinct)
        need = seen * sum(width for _kind, width in self.kinds.values())
        if need > self.max_bytes:
            raise LimitExceededError(
                f"the selected pubs would decode to {need} bytes from a {self.size}-byte "
                f"file, over the limit of {self.max_bytes} (raise max_bytes=, or pass "
                "max_expansion=None for a trusted file)", "$")
        md = self.pf.metadata
        first = len(self.schema) - len(self.kinds)
        for i in distinct:
            rgs = [md.row_group(g) for g in self._local(
                range(self.first_group[i], self.first_group[i + 1]))]
            if sum(rg.num_rows for rg in rgs) != self.pub_rows[i]:
                raise IntegrityError(f"the row groups do not match pub {i}'s "
                                     f"{self.pub_rows[i]} rows", "$")
            for rg in rgs:
                for j in range(len(self.kinds)):
                    col = rg.column(first + j)
                    if (col.compression == "UNCOMPRESSED"
                            and col.total_uncompressed_size > self.size):
                        raise DecodeError(f"pub {i}'s row group declares more bytes than "
                                          "the file holds", "$")

    def _read_rows(self, i: int) -> list[pa.Table]:
        """Pub ``i``'s row groups, a table each, of its registers' columns only."""
        if not self.kinds:
            return []
        columns = list(self.kinds)
        return [self.pf.read_row_group(g, columns=columns, use_threads=False)
                for g in self._local(range(self.first_group[i], self.first_group[i + 1]))]

    def _local(self, groups: range) -> Any:
        """The indices in ``self.pf`` of the file's row groups ``groups``."""
        return groups if self.groups is None else [self.groups[g] for g in groups]

    def _pub(self, i: int, tables: list[pa.Table]) -> Any:
        path = f"$.pub_results[{i}]"
        raw = self.meta.get(K_PUB.format(i).encode())
        if raw is None:
            raise DecodeError(f"the Parquet metadata has no entry for pub {i}", path)
        n = self.pub_rows[i]
        arrays: list[list[np.ndarray]] = []  # each register's values, a piece a row group

        def column(name: str, shape: tuple[int, ...], padding: Any, where: str | None
                   ) -> np.ndarray:
            if name not in self.kinds or len(shape) < 2:
                raise DecodeError(f"column reference to unknown register {name!r}", where)
            kind, width = self.kinds[name]
            nbytes = shape[-1]
            if math.prod(shape[:-1]) != n or not 0 < nbytes <= width:
                raise DecodeError(f"register {name!r} of shape {shape} does not fit pub "
                                  f"{i}'s {n} rows of {width}-byte values", where)
            pieces = [chunk for table in tables for chunk in table.column(name).chunks]
            if sum(map(len, pieces)) != n:
                raise IntegrityError(f"the row groups hold other than pub {i}'s {n} rows", where)
            if any(chunk.null_count for chunk in pieces):
                raise DecodeError(f"register {name!r} has missing values", where)
            # Copied out, since pyarrow's memory is read-only; uint values byte swapped.
            out = np.empty((n, nbytes), np.uint8)
            values = []
            at = 0
            for chunk in pieces:
                k = len(chunk)
                if kind == "uint":
                    values.append(chunk.to_numpy(zero_copy_only=True))
                    if nbytes == width:  # byte swapped as it is copied
                        out[at:at + k].view(f">u{width}")[:, 0] = values[-1]
                    else:
                        out[at:at + k] = values[-1].astype(f">u{width}").view(
                            np.uint8).reshape(k, width)[:, width - nbytes:]
                else:
                    values.append(np.frombuffer(chunk.buffers()[1], np.uint8, k * width,
                                                chunk.offset * width).reshape(k, width))
                    out[at:at + k] = values[-1][:, width - nbytes:]
                at += k
            arrays.append(values)
            if padding is not None:
                if padding.dtype != np.uint8 or padding.shape != shape[:-1]:
                    raise DecodeError("padding bits of the wrong shape", where)
                out[:, 0] |= padding.reshape(-1)
            return out.reshape(shape)

        if self.verify and xxhash.xxh3_128_hexdigest(raw) != self._digest(1 + 2 * i):
            raise IntegrityError(f"the digest of pub {i}'s tree does not match: the file was "
                                 "altered or damaged", path)
        tree = _treejson.decode(raw, path, column)
        if self.verify:
            h = hasher()
            for values in arrays:
                digest_part(h, *values)
            if h.hexdigest() != self._digest(2 + 2 * i):
                raise IntegrityError(f"the digest of pub {i}'s shots does not match: the file "
                                     "was altered or damaged", path)
        return tree
