"""Writing the HDF5 layout with h5py's low-level API.

Writing costs HDF5 one group per pub, one dataset per array and a ``num_bits``
attribute per BitArray; every structure is JSON text in one root attribute. The
datasets' bytes are hashed and written with plain positioned writes (HDF5's own write
path costs several times more per byte), and the index goes after HDF5's last byte.
"""

from __future__ import annotations

import io
import json
import os
from typing import IO, Any

import h5py
import numpy as np
import xxhash
from h5py import h5a, h5d, h5f, h5g, h5p, h5s, h5t, h5z

from qserial import (
    LimitExceededError,
    Node,
    QSerialError,
    UnsupportedTypeError,
    WriteError,
    partial,
)

from . import _codecs, _layout, _skeleton
from ._index import index_bytes, layout_digest
from ._layout import (
    FORMAT_NAME,
    PUBS_GROUP,
    U8,
    U64,
    check_superblock,
    pub_hasher,
    root_arrays_hasher,
    root_digest,
)
from ._pio import read_bytes, write_at

#: The root attribute of a file with zstd datasets (qserial reads them without it).
REQUIRES_HDF5PLUGIN = (b"import hdf5plugin: zstd-compressed datasets (HDF5 filter 32015) need "
                       b"it in h5py; HDFView needs the zstd filter plugin")


def _text_type(n: int) -> h5t.TypeID:
    tid = h5t.C_S1.copy()
    tid.set_size(n)
    tid.set_strpad(h5t.STR_NULLPAD)
    tid.set_cset(h5t.CSET_ASCII)
    return tid


class _Writer:
    """One file being written: reused property lists, dataspaces and HDF5 types.

    ``dst`` is a second handle on the file (a descriptor or the stream itself) through
    which the datasets' bytes are written, once every dataset is created.
    """

    def __init__(self, fid: h5py.h5f.FileID, dst: int | IO[bytes], compression: str = "auto",
                 level: int | None = None) -> None:
        self.fid = fid
        self.dst = dst
        self.compression = compression
        self.level = level
        self.zstd_used = False
        self.pool: Any = None
        self.pending: dict[int, Any] = {}  # id of an array -> its compression, under way
        self.dcpl = h5p.create(h5p.DATASET_CREATE)
        self.dcpl.set_layout(h5d.CONTIGUOUS)
        # qserial writes every byte of each dataset itself: no fill pass over the space.
        self.dcpl.set_fill_time(h5d.FILL_TIME_NEVER)
        # Space is allocated when a dataset is created, so its file offset is known and
        # its bytes can be written there directly. HDF5 never writes into that space.
        self.dcpl.set_alloc_time(h5d.ALLOC_TIME_EARLY)
        # A pub's group is made by its first dataset ("3/meas"): one call, no group handle.
        self.lcpl = h5p.create(h5p.LINK_CREATE)
        self.lcpl.set_create_intermediate_group(True)
        self.regions: list[tuple[int, int]] = []
        self.scalar = h5s.create(h5s.SCALAR)
        self.types: dict[np.dtype, h5t.TypeID] = {}
        self.spaces: dict[tuple, h5s.SpaceID] = {}

    def h5type(self, dt: np.dtype) -> h5t.TypeID:
        tid = self.types.get(dt)
        if tid is None:
            tid = self.types[dt] = h5t.py_create(dt)
        return tid

    def space(self, shape: tuple) -> h5s.SpaceID:
        sid = self.spaces.get(shape)
        if sid is None:
            sid = self.spaces[shape] = h5s.create_simple(shape) if shape else self.scalar
        return sid

    def text_attr(self, obj: Any, name: bytes, data: bytes) -> None:
        tid = _text_type(max(len(data), 1))
        attr = h5a.create(obj, name, tid, self.scalar)
        attr.write(np.array(data, dtype=f"S{max(len(data), 1)}"), mtype=tid)

    def write_group(self, loc: Any, prefix: bytes, tree: Any,
                    reserved: set) -> tuple[bytes, list[tuple[int | None, np.ndarray]]]:
        """Create datasets ``prefix + name`` of ``loc`` for ``tree``'s arrays.

        Returns the skeleton text and each array's file offset and bytes, for
        :meth:`write_data`.
        """
        names: set[str] = set(reserved)
        registers: set[str] = set()  # names claimed by the DataBin fields met so far
        arrays: list[tuple[int | None, np.ndarray]] = []

        def add_array(arr: np.ndarray, hint: str, attrs: dict,
                      register: bool) -> tuple[str, int | None, dict | None]:
            name = _unique(hint, names, registers, register)
            ready = self.pending.pop(id(arr), None)
            data = _storage(arr)
            chunk = (ready.result() if ready is not None
                     else _codecs.compress(data, self.compression, self.level))
            packed = None
            if chunk is not None:
                did, offset, packed = self.chunked(loc, prefix + name.encode(), data, *chunk)
                arrays.append((None, data))  # HDF5 wrote the chunk; the digest takes data
            else:
                did = h5d.create(loc, prefix + name.encode(), self.h5type(data.dtype),
                                 self.space(data.shape), dcpl=self.dcpl, lcpl=self.lcpl)
                offset = did.get_offset() if data.nbytes else None
                if data.nbytes and offset is None:  # not expected when contiguous
                    did.write(h5s.ALL, h5s.ALL, data)
                arrays.append((offset, data))
            for key, value in attrs.items():
                attr = h5a.create(did, key.encode(), h5t.STD_I64LE, self.scalar)
                attr.write(np.array(value, dtype="<i8"), mtype=h5t.STD_I64LE)
            return name, offset, packed

        def claim(fields: list[str]) -> None:
            registers.update(dataset_name(k) for k in fields)

        return _skeleton.dumps_json(_skeleton.encode(tree, add_array, claim)), arrays

    def precompress(self, tree: Any) -> None:
        """Start compressing the tree's big arrays in threads (zlib and zstd release the
        GIL); :meth:`write_group` takes each result when it meets the array."""
        if self.compression == "none":
            return
        found = [a for a in _arrays(tree) if a.nbytes >= _codecs.COMPRESS_FROM]
        if len(found) < 2 or sum(a.nbytes for a in found) < _PARALLEL_FROM:
            return
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(_workers())
        for arr in found:
            self.pending[id(arr)] = self.pool.submit(
                _codecs.compress, _storage(arr), self.compression, self.level)

    def close_pool(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def chunked(self, loc: Any, name: bytes, data: np.ndarray, codec: str, chunk: bytes
                ) -> tuple[Any, int, dict]:
        """A dataset of one chunk, already compressed with ``codec``: its id, offset, entry."""
        dcpl = h5p.create(h5p.DATASET_CREATE)
        dcpl.set_chunk(data.shape)
        dcpl.set_fill_time(h5d.FILL_TIME_NEVER)
        if codec == "deflate":
            dcpl.set_deflate(1)
        else:
            # Optional: HDF5 accepts the filter without its plugin loaded; the chunk
            # written below is already filtered, so nothing runs it on write.
            dcpl.set_filter(_skeleton.CODECS[codec], h5z.FLAG_OPTIONAL, ())
            self.zstd_used = True
        did = h5d.create(loc, name, self.h5type(data.dtype), self.space(data.shape),
                         dcpl=dcpl, lcpl=self.lcpl)
        did.write_direct_chunk((0,) * data.ndim, chunk, 0)
        info = did.get_chunk_info(0)
        self.regions.append((info.byte_offset, info.size))
        return did, info.byte_offset, {"z": info.size, "codec": codec}

    def write_data(self, arrays: list[tuple[int | None, np.ndarray]], h: xxhash.xxh3_64,
                   text: bytes | None) -> int:
        """Write the arrays' bytes at their offsets; the digest of them, then ``text``."""
        for offset, data in arrays:
            if offset is not None:
                write_at(self.dst, offset, memoryview(data).cast("B"))
                self.regions.append((offset, data.nbytes))
            # Hashed just after the write brought the bytes into the CPU cache.
            h.update(data)
        if text is not None:
            h.update(text)
        return h.intdigest()


# Characters kept as they are in a dataset name: printable ASCII but "%" (the escape),
# "/" (HDF5's separator) and "#" (marks a name made unique).
_KEPT = frozenset(chr(c) for c in range(0x20, 0x7F)) - {"%", "/", "#"}
_MAX_NAME = 64


def dataset_name(key: str) -> str:
    """The name under which the array of field (or dict key) ``key`` is stored, if free.

    Characters other than printable ASCII, and ``%``, ``/``, ``#``, are percent-encoded
    as UTF-8 (``a/b`` -> ``a%2Fb``, ``Zürich`` -> ``Z%C3%BCrich``); so are a leading dot
    of ``.`` and ``..``. Distinct keys give distinct names, and the key is the name
    percent-decoded.
    """
    out = "".join(c if c in _KEPT else "".join(f"%{b:02X}" for b in c.encode("utf-8",
                                                                           "surrogatepass"))
                  for c in key)
    return "%2E" + out[1:] if out in (".", "..") else out


# Below this many bytes to compress in all, threads cost more than they save.
_PARALLEL_FROM = 1 << 20


def _workers() -> int:
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 4))
    except AttributeError:  # not on every platform
        return max(1, min(os.cpu_count() or 1, 4))


def _storage(arr: np.ndarray) -> np.ndarray:
    """The array as its dataset stores it: native, or its raw bytes."""
    if not arr.flags.c_contiguous:  # (ascontiguousarray would make 0-d arrays 1-d)
        arr = np.ascontiguousarray(arr)
    sdt = _skeleton.storage_dtype(arr.dtype)
    if sdt is None or arr.ndim > 31:
        return arr.reshape(-1).view(U8) if arr.dtype.itemsize else np.empty(0, U8)
    return arr


def _arrays(tree: Any) -> list[np.ndarray]:
    """The numpy arrays of a tree, in no particular order."""
    found = []
    stack = [tree]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is np.ndarray:
            found.append(x)
        elif t is Node:
            stack.append(x.value)
        elif t is list:
            stack.extend(x)
        elif t is dict:
            stack.extend(x.values())
    return found


def _unique(hint: str, taken: set[str], reserved: set[str], register: bool) -> str:
    """A dataset name for an array reached through key ``hint``.

    The exact name (:func:`dataset_name`) when it is free, at most 64 characters, and
    not reserved for a DataBin field (unless this is that field's array); otherwise the
    name with ``#1``, ``#2``, ... appended. A name without ``#`` thus always holds the
    array of the key it decodes to: an h5py reader never finds one register's data
    under another register's name.
    """
    name = dataset_name(hint)
    if (name and len(name) <= _MAX_NAME and name not in taken
            and (register or name not in reserved)):
        taken.add(name)
        return name
    base = name[:_MAX_NAME - 8]
    n = 1
    while f"{base}#{n}" in taken:
        n += 1
    taken.add(f"{base}#{n}")
    return f"{base}#{n}"


def _pub_list(tree: Any) -> list | None:
    if (type(tree) is Node and tree.tag == "PrimitiveResult" and type(tree.value) is dict
            and type(tree.value.get("pub_results")) is list):
        return tree.value["pub_results"]
    return None


# HDF5's object headers, links and attributes take about this much per dataset (and its
# group), and a file this much besides (superblock, root group, pubs group).
_META_PER_ARRAY = 640
_META_BASE = 2048
# With fewer arrays HDF5's own block size (2 KiB) leaves few pieces, and no room unused.
_META_BLOCK_FROM = 16


def _meta_block_size(tree: Any) -> int:
    """Room for HDF5's metadata in one block at the front of the file.

    HDF5 groups its metadata in blocks of this size, and a new block goes after the
    datasets allocated so far: with its default of 2 KiB, a file of 100 pubs has its
    metadata in 25 pieces between the datasets, which a load reads and hashes one by
    one (the layout digest). Sized for every object header, the metadata is one block
    at the front (and the root attributes, written last, one at the end); the block's
    unused rest stays a hole.
    """
    arrays = len(_arrays(tree))
    return _META_BASE + _META_PER_ARRAY * arrays if arrays >= _META_BLOCK_FROM else 2048


def _create(target: str | IO[bytes], meta_block: int) -> tuple[Any, Any]:
    """A new HDF5 file in the "latest" format (checksummed metadata): its id and closer."""
    if isinstance(target, str):
        # The low-level create skips h5py.File's bookkeeping (about 0.5 ms per file).
        fapl = h5p.create(h5p.FILE_ACCESS)
        fapl.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
        fapl.set_fclose_degree(h5f.CLOSE_STRONG)
        fapl.set_meta_block_size(meta_block)
        fid = h5f.create(os.fsencode(target), h5f.ACC_TRUNC, fapl=fapl)
        return fid, fid.close
    f = h5py.File(target, "w", libver="latest", meta_block_size=meta_block)
    return f.id, f.close


def write(tree: Any, target: str | IO[bytes], header: dict, compression: str = "auto",
          level: int | None = None) -> None:
    """Write ``tree`` to a path or a seekable, readable binary file object.

    ``header`` is the format's :meth:`~qserial.Format.new_header`: its version, writer
    versions, options and manifest (if any) become the root attributes.
    """
    manifest = header.get("manifest")
    manifest_text = None
    if manifest is not None:
        try:
            manifest_text = json.dumps(manifest, sort_keys=False).encode("ascii")
        except (TypeError, ValueError) as exc:
            raise UnsupportedTypeError(f"the manifest is not JSON: {exc}") from None
    fid, close = _create(target, _meta_block_size(tree))
    fd = None
    try:
        try:
            if isinstance(target, str):
                fd = os.open(target, os.O_RDWR | getattr(os, "O_BINARY", 0))
            w = _Writer(fid, target if fd is None else fd, compression, level)
            try:
                w.precompress(tree)
                copied = _write_objects(w, tree, header, manifest_text)
            finally:
                w.close_pool()
        except BaseException:
            try:
                close()
            except Exception:  # HDF5 fails to close a file it could not write: the
                pass           # first error is the one to report
            raise
        close()
        # HDF5 has written its last byte: the index goes after it.
        dst = w.dst
        end = os.fstat(fd).st_size if fd is not None else target.seek(0, os.SEEK_END)
        if check_superblock(read_bytes(dst, 0, 48), end) != end:
            raise WriteError("HDF5 left a file whose size differs from its superblock's")
        regions = sorted(w.regions)
        layout = layout_digest(dst, end, regions)
        if layout is None:
            raise WriteError("HDF5 placed datasets over each other or beyond the file's end")
        write_at(dst, end, memoryview(index_bytes(layout, regions, *copied)))
    finally:
        if fd is not None:
            os.close(fd)
        elif not isinstance(target, str):
            target.seek(0, os.SEEK_END)


def _write_objects(w: _Writer, tree: Any, header: dict, manifest_text: bytes | None
                   ) -> tuple:
    """Create every group, dataset and attribute.

    Returns the root attributes the index copies: version, writer, manifest, digests
    and structure text.
    """
    fid = w.fid
    pubs = _pub_list(tree)
    root_tree = tree
    texts = []
    groups = []
    if pubs is not None:
        parent = h5g.create(fid, PUBS_GROUP.encode())
        for i, pub in enumerate(pubs):
            text, arrays = w.write_group(parent, b"%d/" % i, pub, set())
            if not arrays:  # no dataset made the pub's group
                h5g.create(parent, b"%d" % i)
            texts.append(text)
            groups.append(arrays)
        lengths = [len(text) for text in texts]
        root_tree = Node(tree.tag, {**tree.value, "pub_results": Node("$pubs", lengths)})
        root_tree, span_texts = _spans_apart(root_tree, len(pubs))
    else:
        span_texts = []
    version = header["version"].encode("ascii")
    # The HDF5 library's own version besides h5py's; and the write options, so that the
    # digested, indexed writer attribute says how the file was written.
    versions = {**header["writer"], "hdf5": h5py.version.hdf5_version,
                "options": header["options"]}
    writer = json.dumps(versions, sort_keys=True).encode("ascii")
    root_text, root_arrays = w.write_group(fid, b"", root_tree, {PUBS_GROUP})
    # The bytes last, in one pass: HDF5's calls above ran without 300 kB of data going
    # through the CPU cache between each. The root's text and the spans' are covered
    # by the root digest, its arrays by their own.
    digests = [w.write_data(root_arrays, root_arrays_hasher(), None)]
    for i, (text, arrays) in enumerate(zip(texts, groups, strict=True)):
        digests.append(w.write_data(arrays, pub_hasher(i), text))
    # One JSON array: the root's structure, each execution span's, then each pub's.
    head = b",".join([root_text, *span_texts])
    tree_text = b"[" + b",".join([head, *texts]) + b"]"
    rest = np.array(digests, dtype=U64)
    root = root_digest(version, writer, manifest_text, head, rest.tobytes())
    all_digests = np.concatenate([np.array([root], U64), rest])
    w.text_attr(fid, _layout.A_FORMAT, FORMAT_NAME.encode())
    w.text_attr(fid, _layout.A_VERSION, version)
    w.text_attr(fid, _layout.A_WRITER, writer)
    if manifest_text is not None:
        w.text_attr(fid, _layout.A_MANIFEST, manifest_text)
    w.text_attr(fid, _layout.A_TREE, tree_text)
    if w.zstd_used:
        # For HDF5 readers other than qserial (h5py, HDFView): what they need first.
        w.text_attr(fid, _layout.A_REQUIRES, REQUIRES_HDF5PLUGIN)
    attr = h5a.create(fid, _layout.A_DIGEST, h5t.STD_U64LE,
                      h5s.create_simple(all_digests.shape))
    attr.write(all_digests)
    return version, writer, manifest_text, all_digests, tree_text


def _spans_apart(root: Any, count: int) -> tuple[Any, list[bytes]]:
    """The root with its execution spans taken out, and each span's text.

    In the root a placeholder ``{"$t":"$spans","v":[[length, [pubs]], ...]}`` holds the
    length of each span's text and the pubs it ran, so that a partial read parses only
    the spans of its pubs. Spans that cannot be split (see
    :func:`qserial.partial.split_spans`), or that name pubs the result does not hold,
    stay in the root as they are.
    """
    entries: list[list] = []
    split = partial.split_spans(root, Node("$spans", entries))
    if split is None or any(row and not 0 <= row[0] <= row[-1] < count
                            for row in split[2]):
        return root, []
    root, spans, table = split

    def no_array(*_: Any) -> Any:  # split_spans keeps no span holding an array
        raise UnsupportedTypeError("an execution span holds an array")

    texts = [_skeleton.dumps_json(_skeleton.encode(span, no_array)) for span in spans]
    entries.extend([len(text), row] for text, row in zip(texts, table, strict=True))
    return root, texts


def write_checked(tree: Any, target: str | IO[bytes], header: dict, **options: Any) -> None:
    """:func:`write`, with HDF5 and OS failures reported as :class:`WriteError`."""
    try:
        write(tree, target, header, **options)
    except QSerialError:
        raise
    except RecursionError:
        raise LimitExceededError("the value nests too deeply to store") from None
    except (OSError, RuntimeError) as exc:  # h5py reports HDF5's write errors as either
        raise WriteError(f"writing the HDF5 file failed: {exc}") from exc


def dump_stream(tree: Any, stream: IO[bytes], header: dict, **options: Any) -> None:
    """Write to any binary stream; h5py's file-object driver needs seek/read at 0."""
    direct = False
    try:
        # h5py's driver writes at absolute offsets and reads back what it wrote: only
        # an empty, seekable, readable stream can take the file directly.
        if stream.seekable() and stream.readable():
            pos = stream.tell()
            direct = pos == 0 and stream.seek(0, os.SEEK_END) == 0
            stream.seek(pos)
    except (AttributeError, OSError, ValueError):
        direct = False
    if direct:
        write_checked(tree, stream, header, **options)
    else:
        buf = io.BytesIO()
        write_checked(tree, buf, header, **options)
        stream.write(buf.getbuffer())
