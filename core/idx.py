"""Read IDX files, the format of MNIST and its drop-in replacements.

An IDX file is a big-endian header followed by a dense payload::

    bytes 0-1   zero
    byte  2     type code (0x08 = unsigned byte, the only one supported)
    byte  3     number of dimensions, K
    then K      uint32 sizes, the first one being the record count
    then        prod(sizes) bytes of data, row-major

So labels start with the magic number 0x00000801 (uint8, one dimension) and
images with 0x00000803 (uint8, three dimensions: count, rows, columns). Files
may be stored plain or gzip-compressed; a name ending in `.gz` means gzip.

Shapes: N records, R rows, C columns.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.errors import DatasetError, DatasetFormatError

UBYTE = 0x08
LABELS_MAGIC = 0x00000801
IMAGES_MAGIC = 0x00000803

# A corrupt header can claim any size up to 2**32 per dimension; refuse to
# allocate more than this instead of letting the kernel decide. Full MNIST
# images take 47 MB, so the limit only ever trips on garbage.
MAX_PAYLOAD_BYTES = 2**32

_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX header says about the payload that follows it.

    Attributes:
        path: the file the header was read from.
        type_code: the element type; always `UBYTE` once validated.
        dims: the sizes, record count first, e.g. (N, R, C) for images.
    """

    path: Path
    type_code: int
    dims: tuple[int, ...]

    @property
    def magic(self) -> int:
        """The first four bytes read as one big-endian integer."""
        return (self.type_code << 8) | len(self.dims)

    @property
    def count(self) -> int:
        """The number of records (the first dimension)."""
        return self.dims[0]

    @property
    def header_size(self) -> int:
        """Bytes taken by the header: magic plus one uint32 per dimension."""
        return 4 + 4 * len(self.dims)

    @property
    def payload_size(self) -> int:
        """Bytes of data the header promises after itself."""
        return math.prod(self.dims)


def is_gzip_path(path: Path) -> bool:
    """True when the file name says the file is gzip-compressed."""
    return path.suffix == ".gz"


def read_idx_header(path: Path, *, magic: int | None = None) -> IdxHeader:
    """Read and check an IDX header without decoding the payload.

    For a `.gz` file only the first few hundred bytes are decompressed, so
    this is cheap even for the 26 MB Fashion-MNIST training images.

    Args:
        path: an IDX file, plain or ending in `.gz`.
        magic: the magic number the caller expects, e.g. `IMAGES_MAGIC`;
            `None` accepts any uint8 IDX file.

    Returns:
        The parsed header.

    Raises:
        DatasetFormatError: the header is short, has a wrong magic number or
            an unsupported type code, or the gzip stream is corrupt.
        DatasetError: the file cannot be opened.
    """
    with _open(path) as stream:
        return _read_header(stream, path, magic)


def read_idx(path: Path, *, magic: int | None = None) -> NDArray[np.uint8]:
    """Decode a whole IDX file into an array shaped as its header says.

    Args:
        path: an IDX file, plain or ending in `.gz`.
        magic: the magic number the caller expects; `None` accepts any.

    Returns:
        A new, writable uint8 array of shape `header.dims`, e.g. (N,) for
        labels or (N, R, C) for images.

    Raises:
        DatasetFormatError: a bad header, a payload shorter or longer than
            the header promises, or a corrupt gzip stream.
        DatasetError: the file cannot be opened or read.
    """
    with _open(path) as stream:
        header = _read_header(stream, path, magic)
        if header.payload_size > MAX_PAYLOAD_BYTES:
            raise DatasetFormatError(
                f"{path}: header dims {header.dims} promise "
                f"{header.payload_size:,} bytes, more than the limit of "
                f"{MAX_PAYLOAD_BYTES:,}"
            )

        data = np.empty(header.payload_size, dtype=np.uint8)
        filled = _read_into(stream, path, data)
        if filled < header.payload_size:
            raise DatasetFormatError(
                f"{path}: truncated payload: header dims {header.dims} promise "
                f"{header.payload_size:,} bytes after the header, found {filled:,}"
            )
        extra = _count_rest(stream, path)
        if extra:
            raise DatasetFormatError(
                f"{path}: {extra:,} bytes of trailing data after the "
                f"{header.payload_size:,}-byte payload that dims {header.dims} "
                "promise"
            )

    return data.reshape(header.dims)


def read_images(path: Path) -> NDArray[np.uint8]:
    """Decode an `*-idx3-ubyte` file.

    Returns:
        uint8 array of shape (N, R, C).

    Raises:
        DatasetFormatError: as `read_idx`, or the magic is not 0x00000803.
        DatasetError: the file cannot be opened or read.
    """
    return read_idx(path, magic=IMAGES_MAGIC)


def read_labels(path: Path) -> NDArray[np.uint8]:
    """Decode an `*-idx1-ubyte` file.

    Returns:
        uint8 array of shape (N,).

    Raises:
        DatasetFormatError: as `read_idx`, or the magic is not 0x00000801.
        DatasetError: the file cannot be opened or read.
    """
    return read_idx(path, magic=LABELS_MAGIC)


# -- helpers -------------------------------------------------------------------


def _open(path: Path) -> io.BufferedIOBase:
    try:
        if is_gzip_path(path):
            return gzip.open(path, "rb")
        return path.open("rb")
    except OSError as exc:
        raise DatasetError(f"cannot open IDX file {path}: {exc.strerror}") from exc


def _read_exact(stream: io.BufferedIOBase, path: Path, size: int) -> bytes:
    """Read up to `size` bytes, turning gzip and I/O failures into our errors."""
    try:
        return stream.read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DatasetFormatError(
            f"{path}: corrupt gzip stream, expected a complete gzip member ({exc})"
        ) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc}") from exc


def _read_header(stream: io.BufferedIOBase, path: Path, magic: int | None) -> IdxHeader:
    head = _read_exact(stream, path, 4)
    if len(head) < 4:
        raise DatasetFormatError(
            f"{path}: truncated header: expected 4 magic bytes, found {len(head)}"
        )
    found = int.from_bytes(head, "big")
    if head[:2] != b"\x00\x00":
        hint = ""
        if head[:2] == _GZIP_MAGIC:
            hint = " (the data is gzip-compressed; the file name should end in .gz)"
        raise DatasetFormatError(
            f"{path}: not an IDX file: expected a magic number 0x000008NN, "
            f"found 0x{found:08X}{hint}"
        )
    type_code, ndim = head[2], head[3]
    if type_code != UBYTE:
        name = _TYPE_NAMES.get(type_code, "unknown")
        raise DatasetFormatError(
            f"{path}: unsupported IDX type code: expected 0x08 (unsigned byte), "
            f"found 0x{type_code:02X} ({name})"
        )
    if magic is not None and found != magic:
        raise DatasetFormatError(
            f"{path}: wrong magic number: expected 0x{magic:08X} "
            f"({_describe(magic)}), found 0x{found:08X} ({_describe(found)})"
        )
    if ndim == 0:
        raise DatasetFormatError(
            f"{path}: IDX header declares 0 dimensions, expected at least 1"
        )

    raw = _read_exact(stream, path, 4 * ndim)
    if len(raw) < 4 * ndim:
        raise DatasetFormatError(
            f"{path}: truncated header: expected {4 * ndim} bytes of "
            f"dimensions for {ndim} dims, found {len(raw)}"
        )
    dims = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4"))
    return IdxHeader(path=path, type_code=type_code, dims=dims)


def _read_into(stream: io.BufferedIOBase, path: Path, data: NDArray[np.uint8]) -> int:
    """Fill `data` from the stream; return how many bytes arrived."""
    view = data.data  # a memoryview over the array, so readinto fills it in place
    filled = 0
    try:
        # readinto avoids holding the payload twice (bytes plus array), which
        # matters for the 47 MB Fashion-MNIST training images.
        while filled < len(view):
            got = stream.readinto(view[filled : filled + _CHUNK])
            if not got:
                break
            filled += got
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DatasetFormatError(
            f"{path}: corrupt or truncated gzip stream after {filled:,} payload "
            f"bytes, expected {len(view):,} ({exc})"
        ) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc}") from exc
    return filled


def _count_rest(stream: io.BufferedIOBase, path: Path) -> int:
    extra = 0
    while chunk := _read_exact(stream, path, _CHUNK):
        extra += len(chunk)
    return extra


def _describe(magic: int) -> str:
    if magic == LABELS_MAGIC:
        return "uint8 labels, 1 dim"
    if magic == IMAGES_MAGIC:
        return "uint8 images, 3 dims"
    return f"{_TYPE_NAMES.get((magic >> 8) & 0xFF, 'unknown')}, {magic & 0xFF} dims"
