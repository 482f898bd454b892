"""Reading the HDF5 layout: through the index when it is valid, else through HDF5.

Files without a valid index are read through HDF5, each dataset checked against the
structure. Either way the arrays' bytes are read with plain positioned reads.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import IO, Any

import h5py
import numpy as np
import xxhash
from h5py import h5a, h5d, h5f, h5p, h5t

from qserial import (
    DecodeError,
    IntegrityError,
    LimitExceededError,
    Node,
    PubIndexError,
    QSerialError,
    TruncatedError,
    UnsupportedVersionError,
    partial,
)
from qserial.limits import DEFAULT_LIMITS

from . import _codecs, _skeleton
from ._index import Index, layout_digest
from ._layout import (
    A_DIGEST,
    A_FORMAT,
    A_MANIFEST,
    A_TREE,
    A_VERSION,
    A_WRITER,
    FORMAT_NAME,
    PUBS_GROUP,
    U8,
    U64,
    Probe,
    check_version,
    integrity_error,
    pub_hasher,
    root_arrays_hasher,
    root_digest,
)
from ._pio import read_into
from ._spans import positive_ints, root_skeleton, span_table

# Arrays start at multiples of this in the read buffer (cache line; any dtype's alignment).
_ALIGN = 64
#: Compressed arrays may expand to this many times the file's size by default (and to
#: FREE_EXPANSION bytes whatever the file's size): qserial's limits (qserial.Limits).
DEFAULT_MAX_EXPANSION = DEFAULT_LIMITS.max_expansion
FREE_EXPANSION = DEFAULT_LIMITS.free_bytes


def _fail(exc: BaseException, where: str) -> QSerialError:
    """Turn an h5py/HDF5 exception into a QSerialError."""
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower() or "end of file" in text.lower():
        return TruncatedError(f"{where}: the HDF5 file is truncated ({text})")
    return DecodeError(f"{where}: {text}")


def read(source: str | IO[bytes], probe: Probe, verify: bool = True,
         pubs: list[int] | None = None, header_only: bool = False,
         max_expansion: float | None = DEFAULT_MAX_EXPANSION) -> Any:
    """Read a tree; with ``pubs`` only those pubs of a PrimitiveResult.

    ``probe`` holds the file's size, HDF5's end of file (:func:`check_superblock`), its
    first bytes and maybe a descriptor to read through. With a valid index after HDF5's
    end and HDF5's bytes as written, HDF5 is not opened at all. ``header_only`` returns
    the checked root attributes instead of the tree.
    """
    opened = Opened(source, probe, verify, max_expansion)
    try:
        with opened.errors():
            if header_only:
                return opened.meta
            return _read_tree(opened.meta, opened.reader(), verify, pubs)
    finally:
        opened.close()


class Opened:
    """A file opened for reading: its checked root attributes, the handles to read it.

    The data is read through ``src`` (the probe's descriptor, a new descriptor of
    ``source``, or the stream); HDF5 opens the file only when it has no valid index.
    """

    def __init__(self, source: str | IO[bytes], probe: Probe, verify: bool,
                 max_expansion: float | None = DEFAULT_MAX_EXPANSION) -> None:
        self.max_expansion = max_expansion
        self.fd: int | None = probe.fd
        self.fid: Any = None
        self.file_size = file_size = probe.file_size
        end = probe.end
        # A valid index whose digest of HDF5's bytes no longer matches: those bytes were
        # changed by something other than HDF5 (whose writes drop the index).
        self.altered = False
        try:
            with self.errors():
                self.src: int | IO[bytes] = source
                if self.fd is not None:
                    self.src = self.fd
                elif isinstance(source, str):
                    self.fd = self.src = os.open(source, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                src = self.src
                index = None if end is None or end == file_size else Index(src, file_size, end)
                self.altered = (index is not None and layout_digest(
                    src, end, index.regions, probe.head) != index.layout)
                if index is not None and not self.altered:
                    self.meta = _Meta(index.version, index.writer, index.manifest,
                                      index.digests, index.tree, verify)
                else:
                    try:
                        self.fid = _open(source)
                    except Exception as exc:
                        raise _fail(exc, "cannot open the HDF5 file") from None
                    self.meta = _meta_from_hdf5(self.reader(), self.fid, verify)
        except BaseException:
            self.close()
            raise

    def reader(self) -> _Reader:
        """A reader with a buffer of its own."""
        return _Reader(self.file_size, self.src, self.fid, self.max_expansion)

    def errors(self) -> _Errors:
        """Report h5py's, HDF5's and the OS's exceptions as QSerialErrors (a context)."""
        return _Errors(self)

    def close(self) -> None:
        fd, fid, self.fd, self.fid = self.fd, self.fid, None, None
        if fd is not None:
            os.close(fd)
        if fid is not None:
            fid.close()


class _Errors:
    """The context of :meth:`Opened.errors` (a class: cheaper to enter than a generator)."""

    __slots__ = ("opened",)

    def __init__(self, opened: Opened) -> None:
        self.opened = opened

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, (IntegrityError, UnsupportedVersionError,
                                           PubIndexError)):
            return False
        altered = self.opened.altered
        if isinstance(exc, QSerialError):
            if altered and isinstance(exc, DecodeError):
                raise _altered(exc) from None
            return False
        if isinstance(exc, RecursionError):
            raise LimitExceededError("the stored structure nests too deeply") from None
        if isinstance(exc, MemoryError):
            raise LimitExceededError("not enough memory to read the file") from None
        if isinstance(exc, Exception):
            error = _fail(exc, "invalid qserial HDF5 file")
            raise (_altered(error) if altered else error) from None
        return False  # KeyboardInterrupt and the like go on as they are


def _altered(exc: QSerialError) -> IntegrityError:
    return IntegrityError(f"HDF5's bytes differ from those its qserial index recorded: the "
                          f"file was altered or damaged ({exc.message})", exc.path)


def read_header(source: str | IO[bytes], probe: Probe) -> dict[str, Any]:
    """The format name, its version, the writing versions and the manifest, if any.

    Reads only the root attributes (or their copy in the index), checked against
    their digests.
    """
    meta = read(source, probe, header_only=True)
    # Every file carries xxh3-64 digests (root, each pub), checked on load.
    writer = _json_attr(meta.writer, "qserial_writer")
    options = writer.pop("options", None) if isinstance(writer, dict) else None
    out: dict[str, Any] = {"format": FORMAT_NAME, "version": meta.version.decode("ascii"),
                           "writer": writer, "digest": "xxh3_64"}
    if isinstance(options, dict):  # the write options, in files that record them
        out["options"] = options
    if meta.manifest is not None:
        out["manifest"] = _json_attr(meta.manifest, "qserial_manifest")
    return out


def _open(source: str | IO[bytes]) -> Any:
    if isinstance(source, str):
        # The low-level open skips h5py.File's bookkeeping (0.5 ms per file).
        fapl = h5p.create(h5p.FILE_ACCESS)
        fapl.set_fclose_degree(h5f.CLOSE_STRONG)
        return h5f.open(os.fsencode(source), h5f.ACC_RDONLY, fapl=fapl)
    return h5py.File(source, "r").id


def _json_attr(text: bytes, name: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise DecodeError(f"attribute {name} is not valid JSON", "$") from None


class _Meta:
    """What a load needs from the root attributes, checked against the root digest.

    ``tree`` is qserial_tree, ``[root,span0,...,pub0,pub1,...]`` (no spans in layout 1.x,
    or when the root holds them): only the root's text is parsed here, each span's and
    pub's when it is read. ``spans`` holds each span's text length and table row, or is
    None; ``end`` is where the last span's text ends (the root's without spans).
    """

    def __init__(self, version: bytes, writer: bytes, manifest: bytes | None,
                 digests: np.ndarray, tree: bytes, verify: bool) -> None:
        check_version(version)
        if len(digests) < 2:
            raise DecodeError("malformed qserial_digest attribute", "$")
        self.version = version
        self.writer = writer
        self.manifest = manifest
        self.digests = digests
        self.tree = tree
        try:
            self.tree_text = tree.decode("ascii")
        except UnicodeDecodeError:
            raise DecodeError("attribute qserial_tree is not ASCII text", "$") from None
        if self.tree_text[:1] != "[":
            raise DecodeError("attribute qserial_tree is not a JSON array", "$")
        self.skel, self.end = _skeleton.loads_prefix(self.tree_text, 1,
                                                     "/ attribute qserial_tree")
        if self.tree_text[self.end:self.end + 1] not in (",", "]"):
            raise DecodeError("attribute qserial_tree is not a JSON array", "$")
        # The root's own text: the one that names its arrays (spans hold none).
        self.root_text = tree[1:self.end]
        self.spans = span_table(self.skel)
        self.span_first = self.end + 1
        if self.spans is not None and self.spans[0]:
            lengths = self.spans[0]
            self.end += len(lengths) + sum(lengths)  # a comma and its text each
            if self.tree_text[self.end:self.end + 1] not in (",", "]"):
                raise DecodeError("qserial_tree does not hold the span texts the placeholder "
                                  "describes", "$")
        # The root digest covers the root's text and the spans' (layout 2.0).
        self.text = tree[1:self.end]
        if verify and root_digest(version, writer, manifest, self.text,
                                   digests[1:].tobytes()) != int(digests[0]):
            raise integrity_error("the root attributes", "$")


def _meta_from_hdf5(r: _Reader, fid: Any, verify: bool) -> _Meta:
    try:
        name = r.text_attr(A_FORMAT, "/")
    except DecodeError:
        raise DecodeError("an HDF5 file, but not one written by qserial (no readable "
                          "qserial_format attribute)", "$") from None
    if name != FORMAT_NAME.encode():
        raise DecodeError(f"the file says it is in format {name!r:.40}, not 'hdf5'", "$")
    version = r.text_attr(A_VERSION, "/")
    check_version(version)
    manifest = r.text_attr(A_MANIFEST, "/") if h5a.exists(fid, A_MANIFEST) else None
    return _Meta(version, r.text_attr(A_WRITER, "/"), manifest, _read_digests(r, fid),
                 r.text_attr(A_TREE, "/"), verify)


def _read_digests(r: _Reader, fid: Any) -> np.ndarray:
    try:
        attr = h5a.open(fid, A_DIGEST)
    except Exception:  # KeyError or ValueError, by the cause
        raise DecodeError("the file has no readable qserial_digest attribute", "$") from None
    tid = attr.get_type()
    size = attr.get_storage_size()
    if (tid.get_class() != h5t.INTEGER or tid.get_size() != 8 or size < 16
            or size > r.file_size or attr.get_space().get_simple_extent_ndims() != 1):
        raise DecodeError("malformed qserial_digest attribute", "$")
    out = np.empty(size // 8, U64)
    attr.read(out)
    return out


def _take_pub_lengths(skel: Any) -> list | None:
    """The byte length of each pub's text, when the root is a PrimitiveResult.

    The list is taken out of the root skeleton (leaving ``None``), so decoding the root
    costs nothing per pub.
    """
    if type(skel) is dict and skel.get("$t") == "PrimitiveResult" and type(skel.get("v")) is dict:
        slot = skel["v"].get("pub_results")
        if type(slot) is dict and slot.get("$t") == "$pubs" and len(slot) == 2:
            lengths = slot["v"]
            if type(lengths) is not list or not positive_ints(lengths):
                raise DecodeError("invalid list of pub text lengths", "$")
            slot["v"] = None
            return lengths
    return None


def _pub_starts(first: int, lengths: list[int]) -> list[int]:
    """Where each pub's text starts in qserial_tree: the first's, then one comma each."""
    return list(itertools.accumulate(map((1).__add__, lengths[:-1]), initial=first))


def _pub_span(meta: _Meta, i: int, start: int | None) -> tuple[int, int]:
    """Pub ``i``'s slice of qserial_tree, the JSON array ``[root,pub0,pub1,...]``.

    ``start`` is where it begins, when known. Only the separators around the slice are
    checked: the slice's bytes are covered by the pub's digest, so a partial read
    depends on the selected pubs' text alone.
    """
    text = meta.tree
    lengths = meta.lengths
    if start is None:
        start = meta.first + i + sum(lengths[:i])
    end = start + lengths[i]
    last = len(text) - 1
    if (end > last or text[start - 1] != 44  # b","
            or text[end] != (93 if end == last else 44)  # b"]" or b","
            or (end == last) != (i == len(lengths) - 1)):
        raise DecodeError("qserial_tree does not hold the pub texts its lengths describe")
    return start, end


class _Reader:
    """One file being read, from ``source`` (a descriptor or a stream).

    Arrays are read into slices of one buffer allocated for the whole selection: a
    large allocation gets huge pages from numpy, where a hundred separate ones pay a
    page fault every 4 kB, which costs more than reading the data. With ``fid`` (the
    file opened by HDF5), each dataset is first checked against the structure.
    """

    def __init__(self, file_size: int, source: int | IO[bytes], fid: Any,
                 max_expansion: float | None = DEFAULT_MAX_EXPANSION) -> None:
        self.max_expansion = max_expansion
        self.file_size = file_size
        self.source = source
        self.fid = fid
        self.types: dict[np.dtype, h5t.TypeID] = {}
        self.buffer = np.empty(0, U8)
        self.cursor = 0

    def text_attr(self, name: bytes, where: str) -> bytes:
        try:
            attr = h5a.open(self.fid, name)
        except Exception as exc:  # KeyError or ValueError, by the cause
            raise DecodeError(f"{where}: no readable {name.decode()} attribute ({exc})") from None
        tid = attr.get_type()
        n = tid.get_size()
        # One fixed-size string: its storage is exactly one element (cheaper than .shape).
        if (tid.get_class() != h5t.STRING or tid.is_variable_str()
                or attr.get_storage_size() != n):
            raise DecodeError(f"{where}: attribute {name.decode()} is not a fixed-size string")
        if n > self.file_size:
            raise DecodeError(f"{where}: attribute {name.decode()} declares {n} bytes, more "
                              f"than the file holds")
        buf = np.empty((), dtype=f"S{n}")
        attr.read(buf, mtype=tid)
        return buf.item()

    def allocate(self, total: int) -> None:
        # Compressed chunks may expand; beyond the limit only for a trusted file.
        limit = self.file_size + _ALIGN * (self.file_size // _ALIGN + 1)
        if self.max_expansion is None:
            limit = None
        else:
            limit = max(limit, FREE_EXPANSION, int(self.max_expansion * self.file_size))
        if limit is not None and total > limit:
            raise LimitExceededError(f"the structure declares {total} bytes of arrays, more "
                                     f"than {self.max_expansion} times the file's "
                                     f"{self.file_size} (pass max_expansion=None for a "
                                     "trusted file)", "$")
        self.buffer = np.empty(total, U8)
        self.cursor = 0

    def read_group(self, member: str, where: str, text: bytes, skel: Any,
                   h: xxhash.xxh3_64 | None, hash_text: bool = True) -> Any:
        """Decode a group's skeleton, reading its arrays; ``member`` is its path prefix.

        ``h`` takes the arrays' bytes, then ``text`` (unless ``hash_text`` is false).
        """
        prefix = where.rstrip("/")

        def read_array(name: str, dt: np.dtype, shape: tuple, raw: bool,
                       at: int | None) -> np.ndarray:
            return self.read_array(member + name, f"{prefix}/{name}", dt, shape, raw, at, h)

        out = _skeleton.decode(skel, read_array)
        if h is not None and hash_text:
            h.update(text)
        return out

    def read_array(self, name: str, where: str, dt: np.dtype, shape: tuple, raw: bool,
                   at: Any, h: xxhash.xxh3_64 | None) -> np.ndarray:
        packed = None
        if type(at) is tuple:  # one compressed chunk: (offset, stored size, codec)
            at, stored, codec = at
            packed = (stored, codec)
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dt.itemsize
        if raw:
            sdt, sshape = U8, (nbytes,)
        else:
            sdt = _skeleton.storage_dtype(dt)
            if sdt is None or len(shape) > 31:
                raise DecodeError(f"dataset {where}: dtype {dt} cannot be stored natively")
            sshape = shape
        start = -(-self.cursor // _ALIGN) * _ALIGN
        if start + nbytes > self.buffer.size:
            raise DecodeError(f"dataset {where} does not match the structure's sizes")
        length = nbytes if packed is None else packed[0]
        if (at is None) != (length == 0) or (at is not None
                                             and not 0 <= at <= self.file_size - length):
            raise DecodeError(f"dataset {where}: {length} bytes cannot be at offset {at} of a "
                              f"file of {self.file_size}")
        if self.fid is not None:
            # Digests or not: a dataset that another program replaced leaves the old
            # bytes at the old offset, which the digest would still accept.
            self.check_dataset(name, where, sdt, sshape, nbytes, at, packed)
        self.cursor = start + nbytes
        chunk = self.buffer[start:self.cursor]
        if packed is not None:
            data = np.empty(length, U8)
            done = read_into(self.source, at, memoryview(data))
            if done != length:
                raise TruncatedError(f"dataset {where}: the file ends after {done} of its "
                                     f"{length} compressed bytes")
            _codecs.inflate(data, packed[1], chunk, f"dataset {where}")
        elif at is not None:
            # A contiguous, unfiltered dataset's bytes are the array's bytes: one
            # positioned read. h5py's read of the same data costs about three times more.
            done = read_into(self.source, at, memoryview(chunk))
            if done != nbytes:
                raise TruncatedError(f"dataset {where}: the file ends after {done} of its "
                                     f"{nbytes} bytes")
        out = chunk.view(sdt).reshape(sshape)
        if h is not None:
            h.update(out)
        if raw:
            return out.view(dt).reshape(shape) if dt.itemsize else np.empty(shape, dt)
        return out

    def check_dataset(self, name: str, where: str, sdt: np.dtype, sshape: tuple,
                      nbytes: int, at: int | None, packed: tuple | None = None) -> None:
        """The dataset exists with the structure's type, shape, size and offset."""
        try:
            did = h5d.open(self.fid, name.encode())
        except Exception as exc:  # h5py raises KeyError or ValueError, by the cause
            raise DecodeError(f"dataset {where} is missing or damaged ({exc})") from None
        if did.shape != sshape:
            raise DecodeError(f"dataset {where} has shape {did.shape}, expected {sshape}")
        tid = self.types.get(sdt)
        if tid is None:
            tid = self.types[sdt] = h5t.py_create(sdt)
        if not did.get_type().equal(tid):
            raise DecodeError(f"dataset {where} has the wrong element type (expected {sdt})")
        if packed is not None:
            # One chunk, filtered by the codec the structure names, where it says.
            try:
                plist = did.get_create_plist()
                chunked = plist.get_layout() == h5d.CHUNKED
                filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
                info = did.get_chunk_info(0) if chunked else None
            except Exception as exc:
                raise DecodeError(f"dataset {where} is damaged ({exc})") from None
            if (not chunked or filters != [_skeleton.CODECS[packed[1]]]
                    or did.get_num_chunks() != 1 or info.byte_offset != at
                    or info.size != packed[0]):
                raise DecodeError(f"dataset {where} is not the one {packed[1]} chunk of "
                                  f"{packed[0]} bytes at offset {at} the structure says")
            return
        if nbytes:
            # Only contiguous datasets have an offset; chunked, filtered or compact ones
            # are not what qserial writes and are refused rather than decompressed.
            offset = did.get_offset()
            if offset is None:
                raise DecodeError(f"dataset {where} is not stored contiguously")
            stored = did.get_storage_size()
            if stored != nbytes or offset != at:
                raise DecodeError(f"dataset {where} stores {stored} bytes at offset {offset}, "
                                  f"the structure says {nbytes} at {at}")


def structure(meta: _Meta) -> None:
    """Take the pubs' text lengths out of the root skeleton (once) and check them.

    Sets ``meta.count`` (None when the root is no PrimitiveResult), ``meta.lengths``
    and ``meta.first``, where pub 0's text starts.
    """
    if hasattr(meta, "count"):
        return
    lengths = _take_pub_lengths(meta.skel)
    count = None if lengths is None else len(lengths)
    if len(meta.digests) != (count or 0) + 2:
        raise DecodeError("the number of pubs does not match the stored digests", "$")
    if count is None and meta.spans is not None:
        raise DecodeError("execution spans stored apart from a result without pubs", "$")
    meta.first = meta.end + 1
    # "[root,spans...,pub0,...,pubN-1]": the lengths account for every byte of the text.
    if len(meta.tree) != meta.first + (sum(lengths) + count if count else 0):
        raise DecodeError("attribute qserial_tree holds other than the structure describes",
                          "$")
    meta.lengths = lengths
    meta.count = count


def pub_structure(meta: _Meta, i: int, start: int | None = None
                  ) -> tuple[int, str, bytes, Any]:
    """Pub ``i``'s index, HDF5 path, text and skeleton (see :func:`structure`).

    ``start``, where its text begins, is found from the lengths when not given.
    """
    where = f"/{PUBS_GROUP}/{i}"
    try:
        start, end = _pub_span(meta, i, start)
        skel = _skeleton.loads_span(meta.tree_text, start, end, f"the structure of {where}")
    except QSerialError as e:
        _pub_path(e, i)
        raise
    return i, where, meta.tree[start:end], skel


def allocate(r: _Reader, meta: _Meta | None, pubs: list[tuple[int, str, bytes, Any]]) -> None:
    """Size ``r``'s buffer for the root's arrays (unless ``meta`` is None) and ``pubs``'."""
    extents = [] if meta is None else _skeleton.array_extents(meta.skel, meta.root_text)
    for _i, _where, text, skel in pubs:
        extents += _skeleton.array_extents(skel, text)
    r.allocate(sum(-(-n // _ALIGN) * _ALIGN for _, n in extents))


def read_root(meta: _Meta, r: _Reader, verify: bool, skel: Any) -> Any:
    """The root's tree, from ``skel`` (the root skeleton, maybe pruned)."""
    h_root = root_arrays_hasher() if verify else None
    tree = r.read_group("", "/", meta.text, skel, h_root, hash_text=False)
    if h_root is not None and h_root.intdigest() != int(meta.digests[1]):
        raise integrity_error("the root's datasets", "$")
    return tree


def read_pub(meta: _Meta, r: _Reader, verify: bool, i: int, where: str, text: bytes,
             skel: Any) -> Any:
    """Pub ``i``'s tree, checked against its digest."""
    try:
        h = pub_hasher(i) if verify else None
        out = r.read_group(where[1:] + "/", where, text, skel, h)
        if h is not None and h.intdigest() != int(meta.digests[i + 2]):
            raise integrity_error(where)
    except QSerialError as e:
        _pub_path(e, i)
        raise
    return out


def _read_tree(meta: _Meta, r: _Reader, verify: bool, pubs: list[int] | None) -> Any:
    # Pass 1: every selected pub's structure, to size one buffer for all arrays.
    structure(meta)
    count = meta.count
    if count is None:
        if pubs is not None:
            raise DecodeError("pubs= needs a file holding a PrimitiveResult", "$")
        indices: list[int] = []
    elif pubs is None:
        indices = list(range(count))
    else:
        indices = partial.pub_indices(pubs, count)
    if pubs is None and count:
        starts = _pub_starts(meta.first, meta.lengths)
        selected = [pub_structure(meta, i, starts[i]) for i in indices]
    else:
        selected = [pub_structure(meta, i) for i in indices]
    allocate(r, meta, selected)
    # Only the selected pubs' execution spans are parsed and decoded (their text is
    # verified already, by the root digest).
    root = root_skeleton(meta, None if pubs is None else indices)

    # Pass 2: read and verify.
    tree = read_root(meta, r, verify, root)
    if count is None:
        return tree
    results = [read_pub(meta, r, verify, *sel) for sel in selected]
    return Node(tree.tag, {**tree.value, "pub_results": results})


def _pub_path(e: QSerialError, i: int) -> None:
    e.prepend_path(f"[{i}]")
    e.prepend_path(".pub_results")
