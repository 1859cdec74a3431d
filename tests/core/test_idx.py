"""Tests for `core.idx`: synthetic files for every failure, real MNIST for success."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from core import idx
from core.errors import DatasetError, DatasetFormatError

SAMPLE = Path(idx.__file__).resolve().parent / "data" / "mnist-10k"


def idx_bytes(array: NDArray[np.uint8], *, magic: int | None = None) -> bytes:
    """Encode `array` as an IDX file, optionally with a forged magic number."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big")
    header += b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    return header + array.tobytes()


def write(path: Path, data: bytes) -> Path:
    """Write IDX bytes to `path`, gzipped when the name ends in .gz."""
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.fixture
def images() -> NDArray[np.uint8]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(7, 4, 3), dtype=np.uint8)  # (N, R, C)


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_read_images_roundtrips_plain_and_gzip(
    tmp_path: Path, images: NDArray[np.uint8], name: str
) -> None:
    path = write(tmp_path / name, idx_bytes(images))

    decoded = idx.read_images(path)

    assert decoded.dtype == np.uint8
    assert decoded.shape == (7, 4, 3)
    np.testing.assert_array_equal(decoded, images)
    assert decoded.flags.writeable


@pytest.mark.parametrize("name", ["labels-idx1-ubyte", "labels-idx1-ubyte.gz"])
def test_read_labels_roundtrips_plain_and_gzip(tmp_path: Path, name: str) -> None:
    labels = np.arange(10, dtype=np.uint8) % 3
    path = write(tmp_path / name, idx_bytes(labels))

    np.testing.assert_array_equal(idx.read_labels(path), labels)


def test_read_idx_header_reports_dims_magic_and_sizes(
    tmp_path: Path, images: NDArray[np.uint8]
) -> None:
    path = write(tmp_path / "x-idx3-ubyte.gz", idx_bytes(images))

    header = idx.read_idx_header(path, magic=idx.IMAGES_MAGIC)

    assert header.path == path
    assert header.magic == idx.IMAGES_MAGIC
    assert header.type_code == idx.UBYTE
    assert header.dims == (7, 4, 3)
    assert header.count == 7
    assert header.header_size == 16
    assert header.payload_size == 7 * 4 * 3


def test_read_idx_header_does_not_decode_a_broken_payload(
    tmp_path: Path, images: NDArray[np.uint8]
) -> None:
    # Cut the gzip stream well after the header: the header reader must not
    # notice, which shows it stops decompressing after the first bytes.
    compressed = gzip.compress(idx_bytes(images) + bytes(100_000))
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(compressed[: len(compressed) // 2])

    assert idx.read_idx_header(path).dims == (7, 4, 3)
    with pytest.raises(DatasetFormatError, match="corrupt or truncated gzip"):
        idx.read_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_images_rejects_a_labels_file_naming_both_magic_numbers(
    tmp_path: Path, suffix: str
) -> None:
    path = write(tmp_path / f"t-idx1-ubyte{suffix}", idx_bytes(np.zeros(3, np.uint8)))

    with pytest.raises(DatasetFormatError) as caught:
        idx.read_images(path)

    message = str(caught.value)
    assert str(path) in message
    assert "expected 0x00000803" in message
    assert "found 0x00000801" in message


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path: Path) -> None:
    path = write(tmp_path / "junk-idx1-ubyte", b"PK\x03\x04 not an idx file")

    with pytest.raises(DatasetFormatError, match=r"not an IDX file.*0x504B0304"):
        idx.read_idx(path)


def test_read_idx_hints_at_gzip_data_under_a_plain_name(
    tmp_path: Path, images: NDArray[np.uint8]
) -> None:
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(gzip.compress(idx_bytes(images)))

    with pytest.raises(DatasetFormatError, match=r"should end in \.gz"):
        idx.read_idx(path)


def test_read_idx_rejects_an_unsupported_type_code(tmp_path: Path) -> None:
    floats = idx_bytes(np.zeros(4, np.uint8), magic=0x00000D01)
    path = write(tmp_path / "f-idx1-ubyte", floats)

    with pytest.raises(DatasetFormatError) as caught:
        idx.read_idx(path)

    assert str(path) in str(caught.value)
    assert "expected 0x08 (unsigned byte), found 0x0D (float32)" in str(caught.value)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_rejects_a_truncated_header(tmp_path: Path, suffix: str) -> None:
    data = idx_bytes(np.zeros((2, 2, 2), np.uint8))[:9]
    path = write(tmp_path / f"x-idx3-ubyte{suffix}", data)

    with pytest.raises(DatasetFormatError, match="truncated header: expected 12"):
        idx.read_idx_header(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_rejects_a_truncated_payload(
    tmp_path: Path, images: NDArray[np.uint8], suffix: str
) -> None:
    path = write(tmp_path / f"x-idx3-ubyte{suffix}", idx_bytes(images)[:-5])

    with pytest.raises(DatasetFormatError) as caught:
        idx.read_idx(path)

    message = str(caught.value)
    assert str(path) in message
    assert "truncated payload" in message
    assert "promise 84 bytes after the header, found 79" in message


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_rejects_trailing_data(
    tmp_path: Path, images: NDArray[np.uint8], suffix: str
) -> None:
    path = write(tmp_path / f"x-idx3-ubyte{suffix}", idx_bytes(images) + b"extra")

    with pytest.raises(DatasetFormatError, match="5 bytes of trailing data"):
        idx.read_idx(path)


def test_read_idx_rejects_garbage_after_the_gzip_stream(
    tmp_path: Path, images: NDArray[np.uint8]
) -> None:
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)) + b"garbage")

    with pytest.raises(DatasetFormatError, match="corrupt gzip stream") as caught:
        idx.read_idx(path)
    assert str(path) in str(caught.value)


def test_read_idx_rejects_a_corrupted_gzip_stream(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    compressed = bytearray(gzip.compress(idx_bytes(noisy)))
    # Flip bits in the middle of the deflate data; zlib or the CRC catches it.
    compressed[len(compressed) // 2] ^= 0xFF
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(bytes(compressed))

    with pytest.raises(DatasetFormatError, match="gzip") as caught:
        idx.read_idx(path)
    assert str(path) in str(caught.value)


def test_read_idx_rejects_a_gz_name_holding_plain_data(
    tmp_path: Path, images: NDArray[np.uint8]
) -> None:
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(idx_bytes(images))

    with pytest.raises(DatasetFormatError, match="corrupt gzip stream"):
        idx.read_idx_header(path)


def test_read_idx_refuses_a_payload_over_the_limit(
    tmp_path: Path, images: NDArray[np.uint8], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idx, "MAX_PAYLOAD_BYTES", 50)
    path = write(tmp_path / "x-idx3-ubyte", idx_bytes(images))

    with pytest.raises(DatasetFormatError, match="84 bytes, more than the limit"):
        idx.read_idx(path)


def test_read_idx_reports_a_missing_file_as_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "absent-idx1-ubyte"

    with pytest.raises(DatasetError, match="cannot open IDX file") as caught:
        idx.read_idx(path)
    assert not isinstance(caught.value, DatasetFormatError)
    assert str(path) in str(caught.value)


def test_sample_headers_describe_8000_and_2000_digits_of_28_by_28() -> None:
    train = idx.read_idx_header(SAMPLE / "train-images-idx3-ubyte.gz")
    test = idx.read_idx_header(SAMPLE / "t10k-labels-idx1-ubyte.gz")

    assert train.magic == idx.IMAGES_MAGIC
    assert train.dims == (8000, 28, 28)
    assert test.magic == idx.LABELS_MAGIC
    assert test.dims == (2000,)


def test_sample_images_decode_to_full_range_pixels() -> None:
    images = idx.read_images(SAMPLE / "t10k-images-idx3-ubyte.gz")

    assert images.shape == (2000, 28, 28)
    assert images.min() == 0
    assert images.max() == 255
