"""Reading and writing the HDF5 layout with h5py's low-level API.

Writing costs HDF5 one group per pub, one dataset per array and a ``num_bits``
attribute per BitArray; every structure is JSON text in one root attribute. The
datasets' bytes are hashed and written with plain positioned writes (HDF5's own write
path costs several times more per byte).

After HDF5's last byte the writer appends an index: a copy of the root attributes a
load needs, the byte range of every dataset, and a digest of HDF5's own bytes. While
that digest matches, no dataset can have been replaced or moved, so a load reads
everything at the recorded offsets without opening HDF5 at all (opening a file and
its objects costs HDF5 far more than reading one pub's bytes). Any HDF5 write session
drops the index (HDF5 truncates a file to its own end on closing); files without a
valid one are read through HDF5, each dataset checked against the structure. See
docs/formats/hdf5.md for the layout.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import struct
from typing import IO, Any

import h5py
import numpy as np
import xxhash
from h5py import h5a, h5d, h5f, h5g, h5p, h5s, h5t

from qserial import (
    DecodeError,
    IntegrityError,
    LimitExceededError,
    Node,
    PubIndexError,
    QSerialError,
    TruncatedError,
    UnsupportedTypeError,
    UnsupportedVersionError,
    WriteError,
)
from qserial.formats import writer_versions

from . import _skeleton

FORMAT_NAME = "hdf5"
FORMAT_VERSION = "1.0"
SIGNATURE = b"\x89HDF\r\n\x1a\n"
PUBS_GROUP = "pub_results"

A_FORMAT = b"qserial_format"
A_VERSION = b"qserial_format_version"
A_WRITER = b"qserial_writer"
A_TREE = b"qserial_tree"
A_DIGEST = b"qserial_digest"
A_MANIFEST = b"qserial_manifest"

INDEX_MAGIC = b"QSHDF5IX"
_INDEX_HEAD = 24  # magic, index length, index digest
_ABSENT = (1 << 64) - 1  # the length of a field the file does not have (the manifest)

_U8 = np.dtype(np.uint8)
_U64 = np.dtype("<u8")
# Arrays start at multiples of this in the read buffer (cache line; any dtype's alignment).
_ALIGN = 64


# ---------------------------------------------------------------------------------------
# Digests and positioned I/O


def _pub_hasher(index: int) -> xxhash.xxh3_64:
    return xxhash.xxh3_64(b"qserial-hdf5 pub %d\0" % index)


def _root_arrays_hasher() -> xxhash.xxh3_64:
    return xxhash.xxh3_64(b"qserial-hdf5 root arrays\0")


def _root_digest(version: bytes, writer: bytes, manifest: bytes | None, root_text: bytes,
                 other_digests: bytes) -> int:
    """Digest of the root attributes: everything but the arrays, so headers verify alone."""
    h = xxhash.xxh3_64(b"qserial-hdf5\0")
    for part in (version, writer, manifest, root_text, other_digests):
        h.update(struct.pack("<q", -1 if part is None else len(part)))
        if part:
            h.update(part)
    return h.intdigest()


def _index_digest(body: bytes | memoryview) -> int:
    return xxhash.xxh3_64(b"qserial-hdf5 index\0" + bytes(body)).intdigest()


def _layout_digest(src: int | IO[bytes], end: int, regions: list) -> int | None:
    """xxh3-64 of HDF5's own bytes: ``[0, end)`` but the datasets' ``(offset, length)``.

    Those bytes are the superblock, object headers, attributes, links and heaps: while
    they are unchanged, every dataset is where the structure says it is. None when the
    regions are not ordered and disjoint inside the file, or the file is too short.
    """
    gaps = []
    pos = 0
    for offset, n in regions:
        if offset < pos or n <= 0:
            return None
        if offset > pos:
            gaps.append((pos, offset - pos))
        pos = offset + n
    if pos > end:
        return None
    if end > pos:
        gaps.append((pos, end - pos))
    buf = np.empty(sum(n for _, n in gaps), _U8)
    view = memoryview(buf)
    at = 0
    for offset, n in gaps:
        if _read_into(src, offset, view[at:at + n]) != n:
            return None
        at += n
    h = xxhash.xxh3_64(b"qserial-hdf5 layout\0")
    h.update(buf)
    return h.intdigest()


def _write_at(dst: int | IO[bytes], offset: int, view: memoryview) -> None:
    if isinstance(dst, int):
        while view:
            n = os.pwrite(dst, view, offset)
            view, offset = view[n:], offset + n
        return
    dst.seek(offset)
    while view:  # raw (unbuffered) streams may write less than asked
        n = dst.write(view)
        if not n:
            raise WriteError("the stream took no more bytes")
        view = view[n:]


def _read_into(src: int | IO[bytes], offset: int, view: memoryview) -> int:
    """Fill ``view`` from ``offset``; the number of bytes read (fewer at the file's end)."""
    done, n = 0, len(view)
    if isinstance(src, int):
        while done < n:
            got = os.preadv(src, [view[done:]], offset + done)
            if not got:
                break
            done += got
    else:
        src.seek(offset)
        while done < n:
            got = src.readinto(view[done:])
            if not got:
                break
            done += got
    return done


def _read_bytes(src: int | IO[bytes], offset: int, n: int) -> bytes:
    buf = bytearray(n)
    return bytes(buf[:_read_into(src, offset, memoryview(buf))])


# ---------------------------------------------------------------------------------------
# Writing


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

    def __init__(self, fid: h5py.h5f.FileID, dst: int | IO[bytes]) -> None:
        self.fid = fid
        self.dst = dst
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
        arrays: list[tuple[int | None, np.ndarray]] = []

        def add_array(arr: np.ndarray, hint: str, attrs: dict) -> tuple[str, int | None]:
            name = _unique(hint, names)
            if not arr.flags.c_contiguous:  # (ascontiguousarray would make 0-d arrays 1-d)
                arr = np.ascontiguousarray(arr)
            sdt = _skeleton.storage_dtype(arr.dtype)
            if sdt is None or arr.ndim > 31:
                data = arr.reshape(-1).view(_U8) if arr.dtype.itemsize else np.empty(0, _U8)
            else:
                data = arr
            did = h5d.create(loc, prefix + name.encode(), self.h5type(data.dtype),
                             self.space(data.shape), dcpl=self.dcpl, lcpl=self.lcpl)
            offset = did.get_offset() if data.nbytes else None
            if data.nbytes and offset is None:  # not expected when contiguous; stay correct
                did.write(h5s.ALL, h5s.ALL, data)
            for key, value in attrs.items():
                attr = h5a.create(did, key.encode(), h5t.STD_I64LE, self.scalar)
                attr.write(np.array(value, dtype="<i8"), mtype=h5t.STD_I64LE)
            arrays.append((offset, data))
            return name, offset

        return _skeleton.dumps_json(_skeleton.encode(tree, add_array)), arrays

    def write_data(self, arrays: list[tuple[int | None, np.ndarray]], h: xxhash.xxh3_64,
                   text: bytes | None) -> int:
        """Write the arrays' bytes at their offsets; the digest of them, then ``text``."""
        for offset, data in arrays:
            if offset is not None:
                _write_at(self.dst, offset, memoryview(data).cast("B"))
                self.regions.append((offset, data.nbytes))
            # Hashed just after the write brought the bytes into the CPU cache.
            h.update(data)
        if text is not None:
            h.update(text)
        return h.intdigest()


def _unique(hint: str, taken: set[str]) -> str:
    # Link names are printable ASCII without "/" (and not "." or ".."), at most 64
    # characters: readable in any tool, and safe for any key the value had.
    if (hint not in taken and 0 < len(hint) <= 64 and hint.isascii() and hint.isprintable()
            and "/" not in hint and hint.strip(".")):
        taken.add(hint)
        return hint
    base = "".join(c if " " <= c <= "~" and c != "/" else "_" for c in hint[:64])
    if base.strip(".") == "":
        base = "array"
    name, n = base, 1
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


def _pub_list(tree: Any) -> list | None:
    if (type(tree) is Node and tree.tag == "PrimitiveResult" and type(tree.value) is dict
            and type(tree.value.get("pub_results")) is list):
        return tree.value["pub_results"]
    return None


def _create(target: str | IO[bytes]) -> tuple[Any, Any]:
    """A new HDF5 file in the "latest" format (checksummed metadata): its id and closer."""
    if isinstance(target, str):
        # The low-level create skips h5py.File's bookkeeping (about 0.5 ms per file).
        fapl = h5p.create(h5p.FILE_ACCESS)
        fapl.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
        fapl.set_fclose_degree(h5f.CLOSE_STRONG)
        fid = h5f.create(os.fsencode(target), h5f.ACC_TRUNC, fapl=fapl)
        return fid, fid.close
    f = h5py.File(target, "w", libver="latest")
    return f.id, f.close


def write(tree: Any, target: str | IO[bytes], manifest: dict | None = None) -> None:
    """Write ``tree`` to a path or a seekable, readable binary file object."""
    manifest_text = None
    if manifest is not None:
        try:
            manifest_text = json.dumps(manifest, sort_keys=False).encode("ascii")
        except (TypeError, ValueError) as exc:
            raise UnsupportedTypeError(f"the manifest is not JSON: {exc}") from None
    fid, close = _create(target)
    fd = None
    try:
        try:
            if isinstance(target, str):
                fd = os.open(target, os.O_RDWR | getattr(os, "O_BINARY", 0))
            w = _Writer(fid, target if fd is None else fd)
            copied = _write_objects(w, tree, manifest_text)
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
        if check_superblock(_read_bytes(dst, 0, 48), end) != end:
            raise WriteError("HDF5 left a file whose size differs from its superblock's")
        regions = sorted(w.regions)
        layout = _layout_digest(dst, end, regions)
        if layout is None:
            raise WriteError("HDF5 placed datasets over each other or beyond the file's end")
        _write_at(dst, end, memoryview(_index_bytes(layout, regions, *copied)))
    finally:
        if fd is not None:
            os.close(fd)
        elif not isinstance(target, str):
            target.seek(0, os.SEEK_END)


def _write_objects(w: _Writer, tree: Any, manifest_text: bytes | None) -> tuple:
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
    version = FORMAT_VERSION.encode()
    versions = writer_versions()
    versions["h5py"] = h5py.version.version
    versions["hdf5"] = h5py.version.hdf5_version
    writer = json.dumps(versions, sort_keys=True).encode("ascii")
    root_text, root_arrays = w.write_group(fid, b"", root_tree, {PUBS_GROUP})
    # The bytes last, in one pass: HDF5's calls above ran without 300 kB of data going
    # through the CPU cache between each. The root's text is covered by the root
    # digest, its arrays by their own.
    digests = [w.write_data(root_arrays, _root_arrays_hasher(), None)]
    for i, (text, arrays) in enumerate(zip(texts, groups, strict=True)):
        digests.append(w.write_data(arrays, _pub_hasher(i), text))
    # One JSON array: the root's structure, then each pub's.
    tree_text = b"[" + b",".join([root_text, *texts]) + b"]"
    rest = np.array(digests, dtype=_U64)
    root = _root_digest(version, writer, manifest_text, root_text, rest.tobytes())
    all_digests = np.concatenate([np.array([root], _U64), rest])
    w.text_attr(fid, A_FORMAT, FORMAT_NAME.encode())
    w.text_attr(fid, A_VERSION, version)
    w.text_attr(fid, A_WRITER, writer)
    if manifest_text is not None:
        w.text_attr(fid, A_MANIFEST, manifest_text)
    w.text_attr(fid, A_TREE, tree_text)
    attr = h5a.create(fid, A_DIGEST, h5t.STD_U64LE, h5s.create_simple(all_digests.shape))
    attr.write(all_digests)
    return version, writer, manifest_text, all_digests, tree_text


def _index_bytes(layout: int, regions: list[tuple[int, int]], version: bytes, writer: bytes,
                 manifest: bytes | None, digests: np.ndarray, tree_text: bytes) -> bytes:
    """The index appended after HDF5's last byte (see docs/formats/hdf5.md)."""
    body = b"".join([
        struct.pack("<Q", len(version)), version,
        struct.pack("<Q", len(writer)), writer,
        struct.pack("<Q", _ABSENT) if manifest is None else struct.pack("<Q", len(manifest)),
        manifest or b"",
        struct.pack("<QQ", layout, len(regions)),
        np.array(regions, _U64).tobytes(),
        struct.pack("<Q", len(digests)), digests.astype(_U64).tobytes(),
        struct.pack("<Q", len(tree_text)), tree_text,
    ])
    return INDEX_MAGIC + struct.pack("<QQ", _INDEX_HEAD + len(body), _index_digest(body)) + body


def write_checked(tree: Any, target: str | IO[bytes], manifest: dict | None = None) -> None:
    """:func:`write`, with HDF5 and OS failures reported as :class:`WriteError`."""
    try:
        write(tree, target, manifest)
    except QSerialError:
        raise
    except RecursionError:
        raise LimitExceededError("the value nests too deeply to store") from None
    except (OSError, RuntimeError) as exc:  # h5py reports HDF5's write errors as either
        raise WriteError(f"writing the HDF5 file failed: {exc}") from exc


def dump_stream(tree: Any, stream: IO[bytes], manifest: dict | None = None) -> None:
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
        write_checked(tree, stream, manifest)
    else:
        buf = io.BytesIO()
        write_checked(tree, buf, manifest)
        stream.write(buf.getbuffer())


# ---------------------------------------------------------------------------------------
# Reading


def _fail(exc: BaseException, where: str) -> QSerialError:
    """Turn an h5py/HDF5 exception into a QSerialError."""
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower() or "end of file" in text.lower():
        return TruncatedError(f"{where}: the HDF5 file is truncated ({text})")
    return DecodeError(f"{where}: {text}")


def check_superblock(head: bytes, size: int) -> int | None:
    """HDF5's end-of-file address, checked against the real size before HDF5 opens.

    Superblock versions 2 and 3 (what this plugin writes) record it at a fixed place;
    None for older superblocks. HDF5 reports a truncated file itself, but accepts bytes
    appended to a file: :func:`read` allows exactly qserial's index there.
    """
    if len(head) < 8 or head[:8] != SIGNATURE:
        if len(head) < 8 and SIGNATURE.startswith(head):
            raise TruncatedError("the HDF5 file ends inside its signature", "$")
        raise DecodeError("not an HDF5 file (no signature at offset 0)", "$")
    if len(head) < 48:
        raise TruncatedError(f"the HDF5 file ends inside its superblock ({len(head)} bytes)",
                             "$")
    if head[8] in (2, 3) and head[9] == 8:
        base, eof = struct.unpack_from("<QxxxxxxxxQ", head, 12)
        end = base + eof
        if size < end:
            raise TruncatedError(f"the HDF5 file is truncated: {size} bytes of {end}", "$")
        return end
    return None


class _Index:
    """The index after HDF5's last byte: a checked copy of what a load needs."""

    def __init__(self, src: int | IO[bytes], size: int, end: int) -> None:
        n = size - end
        head = _read_bytes(src, end, min(n, _INDEX_HEAD))
        if head[:8] != INDEX_MAGIC:
            if len(head) < 8 and INDEX_MAGIC.startswith(head):
                raise TruncatedError("the file ends inside its qserial index", "$")
            raise DecodeError(f"{n} unexpected bytes after the end of the HDF5 file (at byte "
                              f"{end}); padded or concatenated", "$")
        if len(head) < _INDEX_HEAD:
            raise TruncatedError("the file ends inside its qserial index", "$")
        length, digest = struct.unpack_from("<QQ", head, 8)
        if length < _INDEX_HEAD:
            raise DecodeError("malformed qserial index after the HDF5 data", "$")
        if n < length:
            raise TruncatedError(f"the file is truncated: {size} bytes of {end + length}", "$")
        if n > length:
            raise DecodeError(f"{n - length} unexpected bytes after the end of the qserial "
                              f"index (at byte {end + length}); padded or concatenated", "$")
        body = _read_bytes(src, end + _INDEX_HEAD, length - _INDEX_HEAD)
        if len(body) != length - _INDEX_HEAD:
            raise TruncatedError("the file ends inside its qserial index", "$")
        if _index_digest(body) != digest:
            raise IntegrityError("digest mismatch in the qserial index after the HDF5 data: "
                                 "the file was altered or damaged", "$")
        self.body = body
        self.pos = 0
        self.version = self._field()
        _check_version(self.version)
        self.writer = self._field()
        self.manifest = self._field(optional=True)
        self.layout, count = self._u64s(2)
        self.regions = np.frombuffer(self._take(16 * count), _U64).reshape(-1, 2).tolist()
        self.digests = np.frombuffer(self._take(8 * self._u64s(1)[0]), _U64)
        self.tree = self._field()
        if self.pos != len(body):
            raise DecodeError("malformed qserial index after the HDF5 data", "$")

    def _take(self, n: int) -> bytes:
        if n > len(self.body) - self.pos:
            raise DecodeError("malformed qserial index after the HDF5 data", "$")
        self.pos += n
        return self.body[self.pos - n:self.pos]

    def _u64s(self, n: int) -> tuple[int, ...]:
        return struct.unpack(f"<{n}Q", self._take(8 * n))

    def _field(self, optional: bool = False) -> bytes | None:
        n = self._u64s(1)[0]
        return None if optional and n == _ABSENT else self._take(n)


def _version_tuple(text: bytes) -> tuple[int, int]:
    try:
        major, minor = text.decode("ascii").split(".")
        return int(major), int(minor)
    except ValueError:
        raise DecodeError(f"invalid format version {text!r:.40}", "$") from None


def _check_version(version: bytes) -> None:
    if _version_tuple(version)[0] > _version_tuple(FORMAT_VERSION.encode())[0]:
        raise UnsupportedVersionError(
            f"the file has hdf5 format version {version.decode()}, newer than version "
            f"{FORMAT_VERSION} this qserial-hdf5 reads; upgrade qserial-hdf5", "$")


def read(source: str | IO[bytes], file_size: int, end: int | None, verify: bool = True,
         pubs: list[int] | None = None, header_only: bool = False) -> Any:
    """Read a tree; with ``pubs`` only those pubs of a PrimitiveResult.

    ``end`` is HDF5's end of file (:func:`check_superblock`). With a valid index after
    it and HDF5's bytes as written, HDF5 is not opened at all. ``header_only`` returns
    the checked root attributes instead of the tree.
    """
    fd = None
    fid = None
    try:
        src: int | IO[bytes] = source
        if isinstance(source, str):
            fd = src = os.open(source, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        index = None if end is None or end == file_size else _Index(src, file_size, end)
        if index is not None and _layout_digest(src, end, index.regions) == index.layout:
            r = _Reader(file_size, src, None)
            meta = _Meta(index.version, index.writer, index.manifest, index.digests,
                         index.tree, verify)
        else:
            try:
                fid = _open(source)
            except Exception as exc:
                raise _fail(exc, "cannot open the HDF5 file") from None
            r = _Reader(file_size, src, fid)
            meta = _meta_from_hdf5(r, fid, verify)
        return meta if header_only else _read_tree(meta, r, verify, pubs)
    except QSerialError:
        raise
    except RecursionError:
        raise LimitExceededError("the stored structure nests too deeply") from None
    except MemoryError:
        raise LimitExceededError("not enough memory to read the file") from None
    except Exception as exc:
        raise _fail(exc, "invalid qserial HDF5 file") from None
    finally:
        if fd is not None:
            os.close(fd)
        if fid is not None:
            fid.close()


def read_header(source: str | IO[bytes], file_size: int, end: int | None) -> dict[str, Any]:
    """The format name, its version, the writing versions and the manifest, if any.

    Reads only the root attributes (or their copy in the index), checked against
    their digests.
    """
    meta = read(source, file_size, end, header_only=True)
    # Every file carries xxh3-64 digests (root, each pub), checked on load.
    out: dict[str, Any] = {"format": FORMAT_NAME, "version": meta.version.decode("ascii"),
                           "writer": _json_attr(meta.writer, "qserial_writer"),
                           "digest": "xxh3_64"}
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

    ``tree`` is qserial_tree, ``[root,pub0,pub1,...]``: only the root's text is parsed
    here, each pub's when it is read.
    """

    def __init__(self, version: bytes, writer: bytes, manifest: bytes | None,
                 digests: np.ndarray, tree: bytes, verify: bool) -> None:
        _check_version(version)
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
        self.text = tree[1:self.end]
        if verify and _root_digest(version, writer, manifest, self.text,
                                   digests[1:].tobytes()) != int(digests[0]):
            raise _integrity("the root attributes", "$")


def _meta_from_hdf5(r: _Reader, fid: Any, verify: bool) -> _Meta:
    try:
        name = r.text_attr(A_FORMAT, "/")
    except DecodeError:
        raise DecodeError("an HDF5 file, but not one written by qserial (no readable "
                          "qserial_format attribute)", "$") from None
    if name != FORMAT_NAME.encode():
        raise DecodeError(f"the file says it is in format {name!r:.40}, not 'hdf5'", "$")
    version = r.text_attr(A_VERSION, "/")
    _check_version(version)
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
    out = np.empty(size // 8, _U64)
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
            if type(lengths) is not list or not all(type(n) is int and n > 0
                                                    for n in lengths):
                raise DecodeError("invalid list of pub text lengths", "$")
            slot["v"] = None
            return lengths
    return None


def _pub_starts(root_end: int, lengths: list[int]) -> list[int]:
    """Where each pub's text starts in qserial_tree: after the root's and one comma each."""
    return list(itertools.accumulate((n + 1 for n in lengths[:-1]), initial=root_end + 1))


def _pub_span(text: bytes, starts: list[int], lengths: list[int], i: int) -> tuple[int, int]:
    """Pub ``i``'s slice of qserial_tree, the JSON array ``[root,pub0,pub1,...]``.

    Only the separators around the slice are checked: the slice's bytes are covered by
    the pub's digest, so a partial read depends on the selected pubs' text alone.
    """
    start = starts[i]
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

    def __init__(self, file_size: int, source: int | IO[bytes], fid: Any) -> None:
        self.file_size = file_size
        self.source = source
        self.fid = fid
        self.types: dict[np.dtype, h5t.TypeID] = {}
        self.buffer = np.empty(0, _U8)
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
        if total > self.file_size + _ALIGN * (self.file_size // _ALIGN + 1):
            raise LimitExceededError(f"the structure declares {total} bytes of arrays, more "
                                     f"than the file's {self.file_size}", "$")
        self.buffer = np.empty(total, _U8)
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
                   at: int | None, h: xxhash.xxh3_64 | None) -> np.ndarray:
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dt.itemsize
        if raw:
            sdt, sshape = _U8, (nbytes,)
        else:
            sdt = _skeleton.storage_dtype(dt)
            if sdt is None or len(shape) > 31:
                raise DecodeError(f"dataset {where}: dtype {dt} cannot be stored natively")
            sshape = shape
        start = -(-self.cursor // _ALIGN) * _ALIGN
        if start + nbytes > self.buffer.size:
            raise DecodeError(f"dataset {where} does not match the structure's sizes")
        if (at is None) != (nbytes == 0) or (at is not None
                                             and not 0 <= at <= self.file_size - nbytes):
            raise DecodeError(f"dataset {where}: {nbytes} bytes cannot be at offset {at} of a "
                              f"file of {self.file_size}")
        if self.fid is not None:
            # Digests or not: a dataset that another program replaced leaves the old
            # bytes at the old offset, which the digest would still accept.
            self.check_dataset(name, where, sdt, sshape, nbytes, at)
        self.cursor = start + nbytes
        chunk = self.buffer[start:self.cursor]
        if at is not None:
            # A contiguous, unfiltered dataset's bytes are the array's bytes: one
            # positioned read. h5py's read of the same data costs about three times more.
            done = _read_into(self.source, at, memoryview(chunk))
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
                      nbytes: int, at: int | None) -> None:
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


def _read_tree(meta: _Meta, r: _Reader, verify: bool, pubs: list[int] | None) -> Any:
    digests = meta.digests

    # Pass 1: every selected pub's structure, to size one buffer for all arrays.
    lengths = _take_pub_lengths(meta.skel)
    extents = _skeleton.array_extents(meta.skel, meta.text)
    count = None if lengths is None else len(lengths)
    if count is None:
        if pubs is not None:
            raise DecodeError("pubs= needs a file holding a PrimitiveResult", "$")
        indices: list[int] = []
    elif pubs is None:
        indices = list(range(count))
    else:
        for i in pubs:
            if type(i) is not int or not -count <= i < count:
                raise PubIndexError(f"pub index {i!r} is out of range for {count} pubs")
        indices = [i % count for i in pubs]
    if len(digests) != (count or 0) + 2:
        raise DecodeError("the number of pubs does not match the stored digests", "$")
    if not count and meta.end != len(meta.tree) - 1:
        raise DecodeError("attribute qserial_tree holds more than the structure describes",
                          "$")
    selected = []
    starts = _pub_starts(meta.end, lengths) if indices else []
    for i in indices:
        where = f"/{PUBS_GROUP}/{i}"
        try:
            start, end = _pub_span(meta.tree, starts, lengths, i)
            skel = _skeleton.loads_span(meta.tree_text, start, end,
                                        f"the structure of {where}")
        except QSerialError as e:
            _pub_path(e, i)
            raise
        text = meta.tree[start:end]
        selected.append((i, where, text, skel))
        extents += _skeleton.array_extents(skel, text)
    r.allocate(sum(-(-n // _ALIGN) * _ALIGN for _, n in extents))

    # Pass 2: read and verify.
    h_root = _root_arrays_hasher() if verify else None
    tree = r.read_group("", "/", meta.text, meta.skel, h_root, hash_text=False)
    if h_root is not None and h_root.intdigest() != int(digests[1]):
        raise _integrity("the root's datasets", "$")
    if count is None:
        return tree
    results = []
    for i, where, text, skel in selected:
        try:
            h = _pub_hasher(i) if verify else None
            results.append(r.read_group(where[1:] + "/", where, text, skel, h))
            if h is not None and h.intdigest() != int(digests[i + 2]):
                raise _integrity(where)
        except QSerialError as e:
            _pub_path(e, i)
            raise
    return Node(tree.tag, {**tree.value, "pub_results": results})


def _pub_path(e: QSerialError, i: int) -> None:
    e._prepend(f"[{i}]")
    e._prepend(".pub_results")


def _integrity(where: str, path: str | None = None) -> QSerialError:
    return IntegrityError(f"digest mismatch in {where}: the file was altered or damaged",
                          path)


def file_size_of(stream: IO[bytes]) -> int:
    pos = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(pos)
    return end - pos
