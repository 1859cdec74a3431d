"""The decoded-dataset cache: `.npy` files that every worker maps read-only.

The first load of a dataset folder writes the decoded arrays as one entry of
four `.npy` files; every load then maps those files read-only, so worker
processes skip the decode and share one copy of the pages.

An entry is named `<dataset>-<key>`, the key a hash of the source files'
paths, sizes and modification times: editing or replacing a file makes a new
entry, and the stale ones of that dataset are pruned. Entries are written to
a temporary folder and renamed into place, so they appear whole or not at all
and are never changed afterwards.

This module holds no dataset logic; `core.datasets.load_dataset` decides what
to decode and calls in here to look up and publish the result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import numpy as np
from numpy.typing import NDArray

from core.errors import DatasetError

logger = logging.getLogger(__name__)

HOME_ENV = "TRAINJOBS_HOME"

# Bump when the cached layout changes, so old entries are never misread.
CACHE_FORMAT = 1

# One `.npy` file per `Dataset` field, in the order of the dataset's files.
_FIELDS = ("train_images", "train_labels", "test_images", "test_labels")


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$TRAINJOBS_HOME/cache/datasets`, with TRAINJOBS_HOME `~/.trainjobs`."""
    home = (os.environ if env is None else env).get(HOME_ENV) or "~/.trainjobs"
    return Path(home).expanduser() / "cache" / "datasets"


def cache_entry(cache_dir: Path, name: str, files: list[Path]) -> Path:
    """The entry that holds dataset `name` decoded from exactly these `files`.

    Raises:
        DatasetError: a file cannot be read (stat fails).
    """
    return cache_dir / f"{name}-{_cache_key(files)}"


def load_cached(name: str, entry: Path) -> list[NDArray[np.uint8]] | None:
    """Map a cache entry read-only; `None` when it is missing or unusable."""
    if not entry.is_dir():
        return None
    try:
        arrays = [
            cast(NDArray[np.uint8], np.load(entry / f"{field}.npy", mmap_mode="r"))
            for field in _FIELDS
        ]
    except (OSError, ValueError) as exc:
        # Entries are published whole and never changed in place, so this one
        # is damaged or was just pruned. Remove it: it would otherwise block
        # publishing the rebuilt entry under the same name.
        logger.warning(
            "dataset cache entry unreadable, decoding again",
            extra={"dataset": name, "path": str(entry), "error": str(exc)},
        )
        shutil.rmtree(entry, ignore_errors=True)
        return None
    train_images, train_labels, test_images, test_labels = arrays
    if not (
        all(a.dtype == np.uint8 for a in arrays)
        and train_images.ndim == test_images.ndim == 2
        and train_labels.ndim == test_labels.ndim == 1
        and len(train_images) == len(train_labels)
        and len(test_images) == len(test_labels)
    ):
        logger.warning(
            "dataset cache entry inconsistent, decoding again",
            extra={"dataset": name, "path": str(entry)},
        )
        shutil.rmtree(entry, ignore_errors=True)
        return None
    logger.debug("dataset cache hit", extra={"dataset": name, "path": str(entry)})
    return arrays


def write_cache(
    name: str, entry: Path, arrays: list[NDArray[np.uint8]]
) -> list[NDArray[np.uint8]]:
    """Publish `arrays` as cache `entry` and map it; in memory if that fails.

    The entry is written to a temporary folder and renamed into place, so it
    appears complete or not at all. When several workers race, the first
    rename wins and the others map the winner's files.
    """
    tmp: Path | None = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
        for field, array in zip(_FIELDS, arrays, strict=True):
            with (tmp / f"{field}.npy").open("wb") as out:
                np.save(out, array)
                out.flush()
                os.fsync(out.fileno())
        try:
            os.replace(tmp, entry)
            tmp = None
        except OSError:
            if not entry.is_dir():
                raise
            # Another worker published the same entry first; use theirs.
    except OSError as exc:
        logger.warning(
            "dataset cache not writable, loading in memory",
            extra={"dataset": name, "path": str(entry), "error": str(exc)},
        )
        for array in arrays:
            array.setflags(write=False)
        return arrays
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    _prune_cache(name, entry)
    cached = load_cached(name, entry)
    if cached is None:
        for array in arrays:
            array.setflags(write=False)
        return arrays
    return cached


def _cache_key(files: list[Path]) -> str:
    digest = hashlib.sha256(f"trainjobs-dataset-cache {CACHE_FORMAT}".encode())
    for path in files:
        try:
            stat = path.stat()
        except OSError as exc:
            raise DatasetError(f"cannot read dataset file {path}: {exc}") from exc
        digest.update(
            f"\0{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
        )
    return digest.hexdigest()[:16]


def _prune_cache(name: str, keep: Path) -> None:
    """Delete this dataset's stale entries, whose sources have since changed.

    NOTE: two different folders with the same name (a user's `mnist-10k`
    shadowing the sample, say) evict each other when used alternately; that
    costs a decode, never a wrong answer, since the key covers the paths.
    Mapped files stay valid after deletion on POSIX, so readers are safe.
    """
    # The full match keeps `mnist` from pruning `mnist-10k-<key>`.
    entry_name = re.compile(re.escape(name) + r"-[0-9a-f]{16}")
    for old in keep.parent.glob(f"{name}-*"):
        if old != keep and entry_name.fullmatch(old.name) and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
