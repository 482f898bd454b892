"""Reading and writing the HDF5 layout with h5py's low-level API.

The high-level API costs about 0.3 ms per dataset; the low-level calls with one
reused property list cost a fraction of that, which matters for results with
hundreds of pubs. See docs/formats/hdf5.md for the layout.
"""

from __future__ import annotations

import io
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

_U8 = np.dtype(np.uint8)
_DIGEST_DTYPE = np.dtype("<u8")
# Arrays start at multiples of this in the read buffer (cache line; any dtype's alignment).
_ALIGN = 64


def _text_type(n: int) -> h5t.TypeID:
    tid = h5t.C_S1.copy()
    tid.set_size(n)
    tid.set_strpad(h5t.STR_NULLPAD)
    tid.set_cset(h5t.CSET_ASCII)
    return tid


class _Writer:
    """One file being written: reused property lists and cached HDF5 types."""

    def __init__(self, fid: h5py.h5f.FileID) -> None:
        self.fid = fid
        self.dcpl = h5p.create(h5p.DATASET_CREATE)
        self.dcpl.set_layout(h5d.CONTIGUOUS)
        # qserial writes every byte of each dataset itself: no fill pass over the space.
        self.dcpl.set_fill_time(h5d.FILL_TIME_NEVER)
        # Space is allocated when a dataset is created, so its file offset is known and
        # its bytes can be written after HDF5 is done, with plain positioned writes:
        # HDF5's own write path costs several times more per byte.
        self.dcpl.set_alloc_time(h5d.ALLOC_TIME_EARLY)
        self.pending: list[tuple[int, np.ndarray]] = []
        self.scalar = h5s.create(h5s.SCALAR)
        self.types: dict[np.dtype, h5t.TypeID] = {}

    def h5type(self, dt: np.dtype) -> h5t.TypeID:
        tid = self.types.get(dt)
        if tid is None:
            tid = self.types[dt] = h5t.py_create(dt)
        return tid

    def text_attr(self, obj: Any, name: bytes, data: bytes) -> None:
        tid = _text_type(max(len(data), 1))
        attr = h5a.create(obj, name, tid, self.scalar)
        attr.write(np.array(data, dtype=f"S{max(len(data), 1)}"), mtype=tid)

    def group(self, parent: Any, name: str) -> h5g.GroupID:
        return h5g.create(parent, name.encode())

    def write_group(self, gid: Any, tree: Any, h_text: xxhash.xxh3_64,
                    h_arrays: xxhash.xxh3_64, reserved: set) -> bytes:
        """Store ``tree``'s arrays in ``gid`` and return its skeleton text, hashing both."""
        names: set[str] = set(reserved)
        arrays: list[np.ndarray] = []

        def add_array(arr: np.ndarray, hint: str, attrs: dict) -> tuple[str, int | None]:
            name = _unique(hint, names)
            if not arr.flags.c_contiguous:  # (ascontiguousarray would make 0-d arrays 1-d)
                arr = np.ascontiguousarray(arr)
            sdt = _skeleton.storage_dtype(arr.dtype)
            if sdt is None or arr.ndim > 31:
                data = arr.reshape(-1).view(_U8) if arr.dtype.itemsize else np.empty(0, _U8)
            else:
                data = arr
            space = h5s.create_simple(data.shape) if data.ndim else self.scalar
            did = h5d.create(gid, name.encode(), self.h5type(data.dtype), space, dcpl=self.dcpl)
            offset = did.get_offset() if data.nbytes else None
            if data.nbytes:
                if offset is None:  # not expected for a contiguous dataset; stay correct
                    did.write(h5s.ALL, h5s.ALL, data)
                else:
                    self.pending.append((offset, data))
            for key, value in attrs.items():
                attr = h5a.create(did, key.encode(), h5t.STD_I64LE, self.scalar)
                attr.write(np.array(value, dtype="<i8"))
            arrays.append(data)
            return name, offset

        skel = _skeleton.dumps_json(_skeleton.encode(tree, add_array))
        h_text.update(skel)
        for data in arrays:
            h_arrays.update(data)
        self.text_attr(gid, A_TREE, skel)
        return skel


def _unique(hint: str, taken: set[str]) -> str:
    # Link names are printable ASCII without "/" (and not "." or ".."), at most 64
    # characters: readable in any tool, and safe for any key the value had.
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


def write(tree: Any, target: str | IO[bytes], manifest: dict | None = None) -> None:
    """Write ``tree`` to a path or a seekable, readable binary file object."""
    manifest_text = None
    if manifest is not None:
        try:
            manifest_text = json.dumps(manifest, sort_keys=False).encode("ascii")
        except (TypeError, ValueError) as exc:
            raise UnsupportedTypeError(f"the manifest is not JSON: {exc}") from None
    with h5py.File(target, "w", libver="latest") as f:
        w = _Writer(f.id)
        pubs = _pub_list(tree)
        root_tree = tree
        digests = []
        if pubs is not None:
            parent = w.group(f.id, PUBS_GROUP)
            for i, pub in enumerate(pubs):
                gid = w.group(parent, str(i))
                h = _pub_hasher(i)
                w.write_group(gid, pub, h, h, set())
                digests.append(h.intdigest())
            root_tree = Node(tree.tag, {**tree.value, "pub_results": Node("$pubs", len(pubs))})
        version = FORMAT_VERSION.encode()
        versions = writer_versions()
        versions["h5py"] = h5py.version.version
        versions["hdf5"] = h5py.version.hdf5_version
        writer = json.dumps(versions, sort_keys=True).encode("ascii")
        h_arrays = _root_arrays_hasher()
        root_text = w.write_group(f.id, root_tree, xxhash.xxh3_64(), h_arrays, {PUBS_GROUP})
        rest = np.array([h_arrays.intdigest(), *digests], dtype=_DIGEST_DTYPE)
        w.text_attr(f.id, A_FORMAT, FORMAT_NAME.encode())
        w.text_attr(f.id, A_VERSION, version)
        w.text_attr(f.id, A_WRITER, writer)
        if manifest_text is not None:
            w.text_attr(f.id, A_MANIFEST, manifest_text)
        root = _root_digest(version, writer, manifest_text, root_text, rest.tobytes())
        all_digests = np.concatenate([np.array([root], _DIGEST_DTYPE), rest])
        space = h5s.create_simple(all_digests.shape)
        attr = h5a.create(f.id, A_DIGEST, h5t.STD_U64LE, space)
        attr.write(all_digests)
    _write_data(target, w.pending)


def _write_data(target: str | IO[bytes], pending: list[tuple[int, np.ndarray]]) -> None:
    """Write the datasets' bytes at the offsets HDF5 allocated for them."""
    if isinstance(target, str):
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_BINARY", 0))
        try:
            for offset, data in pending:
                view = memoryview(data).cast("B")
                while view:
                    n = os.pwrite(fd, view, offset)
                    view, offset = view[n:], offset + n
        finally:
            os.close(fd)
    else:
        for offset, data in pending:
            target.seek(offset)
            view = memoryview(data).cast("B")
            while view:  # raw (unbuffered) streams may write less than asked
                n = target.write(view)
                if not n:
                    raise WriteError("the stream took no more bytes")
                view = view[n:]
        target.seek(0, os.SEEK_END)


def write_checked(tree: Any, target: str | IO[bytes], manifest: dict | None = None) -> None:
    """:func:`write`, with HDF5 and OS failures reported as :class:`WriteError`."""
    try:
        write(tree, target, manifest)
    except QSerialError:
        raise
    except RecursionError:
        raise LimitExceededError("the value nests too deeply to store") from None
    except OSError as exc:
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


def check_superblock(head: bytes, size: int) -> None:
    """Compare the size recorded in the superblock with the real one, before HDF5 opens.

    HDF5 reports a truncated file itself, but accepts bytes appended to a file, which
    would hide a concatenated or padded file. Superblock versions 2 and 3 (what this
    plugin writes) record the end-of-file address at a fixed place.
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
        if size > end:
            raise DecodeError(f"{size - end} unexpected bytes after the end of the HDF5 file "
                              f"(at byte {end}); padded or concatenated", "$")


class _Reader:
    """One file being read.

    Arrays are read into slices of one buffer allocated for the whole selection: a
    large allocation gets huge pages from numpy, where a hundred separate ones pay a
    page fault every 4 kB, which costs more than reading the data.
    """

    def __init__(self, fid: h5py.h5f.FileID, file_size: int, source: int | IO[bytes]) -> None:
        self.fid = fid
        self.file_size = file_size
        self.source = source
        self.types: dict[np.dtype, h5t.TypeID] = {}
        self.buffer = np.empty(0, _U8)
        self.cursor = 0

    def h5type(self, dt: np.dtype) -> h5t.TypeID:
        tid = self.types.get(dt)
        if tid is None:
            tid = self.types[dt] = h5t.py_create(dt)
        return tid

    def read_at(self, offset: int, out: np.ndarray, where: str) -> None:
        view = memoryview(out)
        done, n = 0, len(view)
        src = self.source
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
        if done != n:
            raise TruncatedError(f"dataset {where}: the file ends after {done} of its {n} "
                                 "bytes")

    def text_attr(self, obj: Any, name: bytes, where: str, member: bytes = b".") -> bytes:
        try:
            attr = h5a.open(obj, name, obj_name=member)
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

    def skeleton(self, loc: Any, where: str, member: bytes = b".") -> tuple[bytes, Any, int]:
        """A group's skeleton text, its parsed form and the bytes its arrays need."""
        text = self.text_attr(loc, A_TREE, where, member)
        skel = _skeleton.loads_json(text, f"{where} attribute qserial_tree")
        return text, skel, _skeleton.array_bytes(skel, _ALIGN)

    def allocate(self, total: int) -> None:
        if total > self.file_size + _ALIGN * (self.file_size // _ALIGN + 1):
            raise LimitExceededError(f"the structure declares {total} bytes of arrays, more "
                                     f"than the file's {self.file_size}", "$")
        self.buffer = np.empty(total, _U8)
        self.cursor = 0

    def read_group(self, loc: Any, member: str, where: str, text: bytes, skel: Any,
                   h: xxhash.xxh3_64 | None, hash_text: bool = True) -> Any:
        """Decode a group's skeleton, reading its arrays; ``member`` is its path from ``loc``."""
        if h is not None and hash_text:
            h.update(text)
        prefix = where.rstrip("/")

        def read_array(name: str, dt: np.dtype, shape: tuple, raw: bool,
                       at: int | None) -> np.ndarray:
            return self.read_array(loc, f"{member}{name}", f"{prefix}/{name}", dt, shape, raw,
                                   at, h)

        return _skeleton.decode(skel, read_array)

    def read_array(self, loc: Any, name: str, where: str, dt: np.dtype, shape: tuple,
                   raw: bool, at: int | None, h: xxhash.xxh3_64 | None) -> np.ndarray:
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
        if (at is None) != (nbytes == 0) or (at is not None and at + nbytes > self.file_size):
            raise DecodeError(f"dataset {where}: {nbytes} bytes cannot be at offset {at} of a "
                              f"file of {self.file_size}")
        # Always asked of HDF5 (about 30 us a dataset), digests or not: a dataset that
        # another program replaced leaves the old bytes at the old offset, which the
        # digest would still accept.
        self.check_dataset(loc, name, where, sdt, sshape, nbytes, at)
        self.cursor = start + nbytes
        chunk = self.buffer[start:self.cursor]
        if at is not None:
            # A contiguous, unfiltered dataset's bytes are the array's bytes: one
            # positioned read. h5py's read of the same data costs about three times more.
            self.read_at(at, chunk, where)
        out = chunk.view(sdt).reshape(sshape)
        if h is not None:
            h.update(out)
        if raw:
            return out.view(dt).reshape(shape) if dt.itemsize else np.empty(shape, dt)
        return out


    def check_dataset(self, loc: Any, name: str, where: str, sdt: np.dtype, sshape: tuple,
                      nbytes: int, at: int | None) -> None:
        """The dataset exists with the structure's type, shape, size and offset."""
        try:
            did = h5d.open(loc, name.encode())
        except Exception as exc:  # h5py raises KeyError or ValueError, by the cause
            raise DecodeError(f"dataset {where} is missing or damaged ({exc})") from None
        if did.shape != sshape:
            raise DecodeError(f"dataset {where} has shape {did.shape}, expected {sshape}")
        if not did.get_type().equal(self.h5type(sdt)):
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


def _version_tuple(text: bytes) -> tuple[int, int]:
    try:
        major, minor = text.decode("ascii").split(".")
        return int(major), int(minor)
    except ValueError:
        raise DecodeError(f"invalid format version {text!r:.40}", "$") from None


def read(source: str | IO[bytes], file_size: int, verify: bool = True,
         pubs: list[int] | None = None) -> Any:
    """Read a tree; with ``pubs`` only those pubs of a PrimitiveResult."""
    try:
        fid = _open(source)
    except Exception as exc:
        raise _fail(exc, "cannot open the HDF5 file") from None
    fd = None
    try:
        if isinstance(source, str):
            fd = os.open(source, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        return _read_open(fid, file_size, verify, pubs, source if fd is None else fd)
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
        fid.close()


def read_header(source: str | IO[bytes], file_size: int) -> dict[str, Any]:
    """The format name, its version, the writing versions and the manifest, if any.

    Reads only root attributes, checked against the root digest.
    """
    try:
        fid = _open(source)
    except Exception as exc:
        raise _fail(exc, "cannot open the HDF5 file") from None
    try:
        return _Root(_Reader(fid, file_size, -1), fid, True).header()
    except QSerialError:
        raise
    except Exception as exc:
        raise _fail(exc, "invalid qserial HDF5 file") from None
    finally:
        fid.close()


def _open(source: str | IO[bytes]) -> Any:
    if isinstance(source, str):
        # The low-level open skips h5py.File's bookkeeping (0.5 ms per file).
        fapl = h5p.create(h5p.FILE_ACCESS)
        fapl.set_fclose_degree(h5f.CLOSE_STRONG)
        return h5f.open(os.fsencode(source), h5f.ACC_RDONLY, fapl=fapl)
    return h5py.File(source, "r").id


def _pub_count(skel: Any) -> int | None:
    """The number of pubs when the root skeleton is a PrimitiveResult with split pubs."""
    if type(skel) is dict and skel.get("$t") == "PrimitiveResult" and type(skel.get("v")) is dict:
        slot = skel["v"].get("pub_results")
        if type(slot) is dict and slot.get("$t") == "$pubs":
            count = slot.get("v")
            if type(count) is not int or count < 0:
                raise DecodeError("invalid pub count", "$")
            return count
    return None


class _Root:
    """The root attributes, checked against the root digest."""

    def __init__(self, r: _Reader, fid: Any, verify: bool) -> None:
        if not h5a.exists(fid, A_FORMAT):
            raise DecodeError("an HDF5 file, but not one written by qserial (no "
                              "qserial_format attribute)", "$")
        name = r.text_attr(fid, A_FORMAT, "/")
        if name != FORMAT_NAME.encode():
            raise DecodeError(f"the file says it is in format {name!r:.40}, not 'hdf5'", "$")
        self.version = r.text_attr(fid, A_VERSION, "/")
        major, _minor = _version_tuple(self.version)
        if major > _version_tuple(FORMAT_VERSION.encode())[0]:
            raise UnsupportedVersionError(
                f"the file has hdf5 format version {self.version.decode()}, newer than "
                f"version {FORMAT_VERSION} this qserial-hdf5 reads; upgrade qserial-hdf5",
                "$")
        self.writer = r.text_attr(fid, A_WRITER, "/")
        self.manifest = (r.text_attr(fid, A_MANIFEST, "/") if h5a.exists(fid, A_MANIFEST)
                         else None)
        self.digests = _read_digests(r, fid)
        self.text, self.skel, self.need = r.skeleton(fid, "/")
        if verify:
            expected = _root_digest(self.version, self.writer, self.manifest, self.text,
                                    self.digests[1:].tobytes())
            if expected != int(self.digests[0]):
                raise _integrity("the root attributes", "$")

    def header(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT_NAME, "version": self.version.decode("ascii"),
                               "writer": _json_attr(self.writer, "qserial_writer")}
        if self.manifest is not None:
            out["manifest"] = _json_attr(self.manifest, "qserial_manifest")
        return out


def _json_attr(text: bytes, name: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise DecodeError(f"attribute {name} is not valid JSON", "$") from None


def _read_open(fid: Any, file_size: int, verify: bool, pubs: list[int] | None,
               source: int | IO[bytes]) -> Any:
    r = _Reader(fid, file_size, source)
    root = _Root(r, fid, verify)
    digests = root.digests

    # Pass 1: every selected group's structure, to size one buffer for all arrays.
    total = root.need
    count = _pub_count(root.skel)
    if count is None:
        if pubs is not None:
            raise DecodeError("pubs= needs a file holding a PrimitiveResult", "$")
        indices: list[int] = []
    else:
        if pubs is None:
            indices = list(range(count))
        else:
            for i in pubs:
                if type(i) is not int or not -count <= i < count:
                    raise PubIndexError(f"pub index {i!r} is out of range for {count} pubs")
            indices = [i % count for i in pubs]
    if len(digests) != (count or 0) + 2:
        raise DecodeError("the number of pubs does not match the stored digests", "$")
    groups = []
    if indices:
        # Pubs are reached by path from /pub_results: no object per pub group.
        try:
            parent = h5g.open(fid, PUBS_GROUP.encode())
        except Exception as exc:  # KeyError or ValueError, by the cause
            raise DecodeError(f"group /{PUBS_GROUP} is missing or damaged ({exc})",
                              "$.pub_results") from None
        for i in indices:
            where = f"/{PUBS_GROUP}/{i}"
            member = f"{i}/"
            try:
                text, skel, need = r.skeleton(parent, where, member[:-1].encode())
            except QSerialError as e:
                _pub_path(e, i)
                raise
            groups.append((i, member, where, text, skel))
            total += need
    r.allocate(total)

    # Pass 2: read and verify.
    h_root = _root_arrays_hasher() if verify else None
    tree = r.read_group(fid, "", "/", root.text, root.skel, h_root, hash_text=False)
    if h_root is not None and h_root.intdigest() != int(digests[1]):
        raise _integrity("the root's datasets", "$")
    if count is None:
        return tree
    results = []
    for i, member, where, text, skel in groups:
        try:
            h = _pub_hasher(i) if verify else None
            results.append(r.read_group(parent, member, where, text, skel, h))
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
    from qserial import IntegrityError

    return IntegrityError(f"digest mismatch in {where}: the file was altered or damaged",
                          path)


def _read_digests(r: _Reader, fid: Any) -> np.ndarray:
    if not h5a.exists(fid, A_DIGEST):
        raise DecodeError("the file has no qserial_digest attribute", "$")
    attr = h5a.open(fid, A_DIGEST)
    tid = attr.get_type()
    shape = attr.shape
    if (tid.get_class() != h5t.INTEGER or tid.get_size() != 8 or len(shape) != 1
            or shape[0] < 2 or shape[0] * 8 > r.file_size):
        raise DecodeError("malformed qserial_digest attribute", "$")
    out = np.empty(shape, _DIGEST_DTYPE)
    attr.read(out)
    return out


def file_size_of(stream: IO[bytes]) -> int:
    pos = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(pos)
    return end - pos
