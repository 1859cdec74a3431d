"""One dataset folder: its name, its four IDX files, their checks and decoding.

A dataset is a folder named after it that holds four IDX files, each stored
plain or gzipped (`.gz`)::

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

Such folders live inside data folders: those listed in `TRAINJOBS_DATA_DIRS`,
the system one and the one inside the package (see `core.datasets`).

This module knows nothing of search paths, caches or downloads; it only says
what a folder must hold, whether its files agree, and how to decode them.

Shapes: N training and M test records; R rows and C columns per image, so
D = R * C features.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core import idx
from core.errors import DatasetError, DatasetFormatError

# Named here rather than with the search path because install hints for known
# datasets (`core.dataset_fetch`) tell people to use it too.
DATA_DIRS_ENV = "TRAINJOBS_DATA_DIRS"

# The four files in the order of the `Dataset` fields they fill.
FILE_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_MAGICS = (idx.IMAGES_MAGIC, idx.LABELS_MAGIC, idx.IMAGES_MAGIC, idx.LABELS_MAGIC)

# The same rule as the job spec's `dataset` field, repeated here because this
# module is also called with names that never went through a spec.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_plain_name(name: str) -> bool:
    """Whether `name` can name a dataset folder: no '/', no '..', ≤ 64 chars."""
    return ".." not in name and _PLAIN_NAME.fullmatch(name) is not None


def check_name(name: str) -> None:
    """Refuse a dataset name that is not plain.

    Raises:
        DatasetError: `name` fails `is_plain_name`; the message states the rule.
    """
    if not is_plain_name(name):
        raise DatasetError(
            "dataset name must be a plain name of letters, digits, '.', '_' or "
            f"'-' (at most 64, no '/' or '..'), got {name!r}"
        )


def dataset_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The four files of a folder (plain preferred over .gz), and those missing."""
    files: list[Path] = []
    missing: list[str] = []
    for stem in FILE_STEMS:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                files.append(candidate)
                break
        else:
            missing.append(stem)
    return files, missing


def read_headers(files: list[Path]) -> list[idx.IdxHeader]:
    """Read the four headers and check that they agree with each other.

    Args:
        files: the four files, in `FILE_STEMS` order.

    Returns:
        Their headers, in the same order.

    Raises:
        DatasetFormatError: a bad header, counts that differ within a split,
            an empty split, or image sizes that differ across splits.
    """
    headers = [
        idx.read_idx_header(path, magic=magic)
        for path, magic in zip(files, _MAGICS, strict=True)
    ]
    _check_headers(headers)
    return headers


def features_of(header: idx.IdxHeader) -> int:
    """D, the number of values per record of an images header: R * C."""
    return int(np.prod(header.dims[1:]))


def decode(files: list[Path]) -> list[NDArray[np.uint8]]:
    """Decode the four files into arrays, images flattened to one row each.

    Args:
        files: the four files, in `FILE_STEMS` order.

    Returns:
        Train images (N, D), train labels (N,), test images (M, D) and test
        labels (M,), all uint8.

    Raises:
        DatasetFormatError: as `read_headers`, or a malformed payload.
        DatasetError: a file cannot be read.
    """
    # Headers first: a count mismatch is reported before 47 MB are inflated.
    read_headers(files)
    arrays = [
        idx.read_idx(path, magic=magic)
        for path, magic in zip(files, _MAGICS, strict=True)
    ]
    # One row of D = R * C pixels per image; reshape gives a view, not a copy.
    for i in (0, 2):
        arrays[i] = arrays[i].reshape(len(arrays[i]), -1)  # (N, R, C) -> (N, D)
    return arrays


def _check_headers(headers: list[idx.IdxHeader]) -> None:
    """Counts agree within each split and features agree across splits."""
    train_images, train_labels, test_images, test_labels = headers
    for images, labels in ((train_images, train_labels), (test_images, test_labels)):
        if images.count != labels.count:
            raise DatasetFormatError(
                f"{images.path} holds {images.count:,} images but {labels.path} "
                f"holds {labels.count:,} labels; the counts must be equal"
            )
    if train_images.count == 0 or test_images.count == 0:
        raise DatasetFormatError(
            f"{train_images.path.parent}: both splits need records, got "
            f"{train_images.count} training and {test_images.count} test"
        )
    if train_images.dims[1:] != test_images.dims[1:]:
        raise DatasetFormatError(
            f"{train_images.path} has images of {train_images.dims[1:]} but "
            f"{test_images.path} has {test_images.dims[1:]}; they must be equal"
        )
