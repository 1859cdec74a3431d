"""Datasets: find them by name, describe them, load them decoded and shared.

Each dataset is a folder of four IDX files named after it (the layout is in
`core.dataset_folder`). Folders are looked up on a search path, first hit
wins:

1. user folders: `data_dirs` when given, else the colon-separated entries of
   `TRAINJOBS_DATA_DIRS`;
2. `/usr/share/datasets`, where Debian's `dataset-*` packages install;
3. `core/data/`, the sample that ships inside the package (`mnist-10k`).

The first `load_dataset` of a folder writes the decoded arrays to a cache
(`core.dataset_cache`); every load then maps them read-only, so worker
processes share one copy of the pages. Nothing is ever downloaded implicitly:
only `fetch_dataset` (`core.dataset_fetch`) touches the network.

This is the public face of datasets: the names other code uses from those
modules are re-exported here.

Shapes: N training records, M test records, D features (rows * columns).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from core import idx
from core.dataset_cache import (
    CACHE_FORMAT,
    HOME_ENV,
    cache_entry,
    default_cache_dir,
    load_cached,
    write_cache,
)
from core.dataset_fetch import KNOWN_DATASETS, KnownDataset, RemoteFile, fetch_dataset
from core.dataset_folder import (
    DATA_DIRS_ENV,
    FILE_STEMS,
    check_name,
    dataset_files,
    decode,
    features_of,
    is_plain_name,
    read_headers,
)
from core.errors import DatasetError, DatasetNotFound

__all__ = [
    "BUILTIN_DATA_DIR",
    "CACHE_FORMAT",
    "DATA_DIRS_ENV",
    "FILE_STEMS",
    "HOME_ENV",
    "KNOWN_DATASETS",
    "SYSTEM_DATA_DIR",
    "Dataset",
    "DatasetInfo",
    "KnownDataset",
    "RemoteFile",
    "Source",
    "Split",
    "dataset_info",
    "default_cache_dir",
    "fetch_dataset",
    "find_dataset",
    "list_datasets",
    "load_dataset",
    "search_path",
]

logger = logging.getLogger(__name__)

SYSTEM_DATA_DIR = Path("/usr/share/datasets")
BUILTIN_DATA_DIR = Path(__file__).resolve().parent / "data"

Source = Literal["builtin", "system", "user"]
Split = Literal["train", "test"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A decoded dataset. Pixels stay uint8; the trainer scales per batch.

    The arrays are read-only: memory-mapped from the cache, or in memory when
    the cache could not be written.
    """

    name: str
    path: Path
    train_images: NDArray[np.uint8]  # (N, D)
    train_labels: NDArray[np.uint8]  # (N,)
    test_images: NDArray[np.uint8]  # (M, D)
    test_labels: NDArray[np.uint8]  # (M,)
    num_classes: int

    @property
    def features(self) -> int:
        """D, the number of inputs per record (784 for 28 x 28 images)."""
        return int(self.train_images.shape[1])

    @property
    def train_size(self) -> int:
        """N, the number of training records."""
        return int(self.train_images.shape[0])

    @property
    def test_size(self) -> int:
        """M, the number of test records."""
        return int(self.test_images.shape[0])


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset holds, read from headers without decoding images."""

    name: str
    path: Path
    train_size: int
    test_size: int
    features: int
    num_classes: int
    source: Source


# -- search path ---------------------------------------------------------------


def search_path(
    data_dirs: Sequence[Path] | None = None, *, env: Mapping[str, str] | None = None
) -> list[tuple[Path, Source]]:
    """The folders searched for datasets, in order, each with its source.

    Args:
        data_dirs: user folders to search first; when `None`, the entries of
            `TRAINJOBS_DATA_DIRS` (empty entries are skipped).
        env: the environment to read; `os.environ` when `None`.

    Returns:
        (folder, source) pairs: the user folders, then `SYSTEM_DATA_DIR`,
        then `BUILTIN_DATA_DIR`. Folders need not exist.
    """
    if data_dirs is None:
        raw = (os.environ if env is None else env).get(DATA_DIRS_ENV, "")
        data_dirs = [Path(entry).expanduser() for entry in raw.split(":") if entry]
    path: list[tuple[Path, Source]] = [(Path(d), "user") for d in data_dirs]
    path.append((SYSTEM_DATA_DIR, "system"))
    path.append((BUILTIN_DATA_DIR, "builtin"))
    return path


def find_dataset(
    name: str,
    *,
    data_dirs: Sequence[Path] | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """The folder of dataset `name`: the first on the path with all four files.

    Args:
        name: a plain dataset name such as `mnist-10k`.
        data_dirs: user folders, as in `search_path`.
        env: the environment to read; `os.environ` when `None`.

    Returns:
        The dataset folder.

    Raises:
        DatasetError: `name` is not a plain name.
        DatasetNotFound: no folder on the path holds the four files; the
            message lists the folders searched and, for known datasets, how
            to install one.
    """
    return _locate(name, data_dirs, env)[0]


def list_datasets(
    *,
    data_dirs: Sequence[Path] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[DatasetInfo]:
    """Every dataset on the search path; the first folder of each name wins.

    A winning folder that fails its checks is logged and left out rather
    than failing the whole listing.

    Args:
        data_dirs: user folders, as in `search_path`.
        env: the environment to read; `os.environ` when `None`.

    Returns:
        One `DatasetInfo` per name, sorted by name.
    """
    seen: set[str] = set()
    infos: list[DatasetInfo] = []
    for base, source in search_path(data_dirs, env=env):
        try:
            children = sorted(p for p in base.iterdir() if p.is_dir())
        except OSError:
            continue
        for folder in children:
            name = folder.name
            if name in seen or not is_plain_name(name):
                continue
            files, missing = dataset_files(folder)
            if missing:
                continue
            seen.add(name)
            try:
                infos.append(_info(name, folder, source, files))
            except DatasetError as exc:
                logger.warning(
                    "dataset folder skipped",
                    extra={"dataset": name, "path": str(folder), "error": str(exc)},
                )
    return sorted(infos, key=lambda info: info.name)


def dataset_info(
    name: str,
    *,
    data_dirs: Sequence[Path] | None = None,
    env: Mapping[str, str] | None = None,
) -> DatasetInfo:
    """Sizes and class count of a dataset, from headers and the label files.

    Images are not decoded, so this is cheap for any dataset size.

    Args:
        name: a plain dataset name.
        data_dirs: user folders, as in `search_path`.
        env: the environment to read; `os.environ` when `None`.

    Returns:
        The dataset's `DatasetInfo`.

    Raises:
        DatasetNotFound: as `find_dataset`.
        DatasetFormatError: a bad header, or counts or features that disagree.
    """
    folder, source, files = _locate(name, data_dirs, env)
    return _info(name, folder, source, files)


# -- loading -------------------------------------------------------------------


def load_dataset(
    name: str,
    *,
    data_dirs: Sequence[Path] | None = None,
    cache_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Dataset:
    """Load a dataset, decoding it only when the cache has no current copy.

    The cache entry is keyed by the source files' paths, sizes and
    modification times, so editing or replacing a file invalidates it. When
    the cache cannot be written the dataset is decoded into memory and a
    warning is logged.

    Args:
        name: a plain dataset name.
        data_dirs: user folders, as in `search_path`.
        cache_dir: where decoded arrays live; `default_cache_dir()` if `None`.
        env: the environment to read; `os.environ` when `None`.

    Returns:
        The dataset, its arrays memory-mapped read-only from the cache.

    Raises:
        DatasetNotFound: as `find_dataset`.
        DatasetFormatError: a malformed file, or counts or features that
            disagree.
        DatasetError: a file cannot be read.
    """
    folder, _, files = _locate(name, data_dirs, env)
    cache_dir = default_cache_dir(env) if cache_dir is None else cache_dir
    entry = cache_entry(cache_dir, name, files)

    arrays = load_cached(name, entry)
    if arrays is None:
        started = time.perf_counter()
        decoded = decode(files)
        logger.info(
            "dataset decoded",
            extra={
                "dataset": name,
                "path": str(folder),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        arrays = write_cache(name, entry, decoded)

    train_images, train_labels, test_images, test_labels = arrays
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    return Dataset(
        name=name,
        path=folder,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        num_classes=num_classes,
    )


# -- helpers -------------------------------------------------------------------


def _locate(
    name: str, data_dirs: Sequence[Path] | None, env: Mapping[str, str] | None
) -> tuple[Path, Source, list[Path]]:
    check_name(name)
    searched: list[str] = []
    incomplete: list[str] = []
    for base, source in search_path(data_dirs, env=env):
        folder = base / name
        searched.append(str(folder))
        if not folder.is_dir():
            continue
        files, missing = dataset_files(folder)
        if not missing:
            return folder, source, files
        # A half-copied folder must not silently shadow nothing: say so, then
        # keep looking so that the sample or the system copy still works.
        logger.warning(
            "dataset folder incomplete, skipped",
            extra={"dataset": name, "path": str(folder), "missing": missing},
        )
        incomplete.append(f"{folder} lacks {', '.join(missing)} (plain or .gz)")

    message = f"dataset {name!r} not found; searched {', '.join(searched)}"
    if incomplete:
        message += f"; incomplete: {'; '.join(incomplete)}"
    known = KNOWN_DATASETS.get(name)
    if known is not None:
        message += f"; to get it, {known.install_hint}"
    raise DatasetNotFound(message)


def _info(name: str, folder: Path, source: Source, files: list[Path]) -> DatasetInfo:
    headers = read_headers(files)
    train_labels = idx.read_labels(files[1])
    test_labels = idx.read_labels(files[3])
    return DatasetInfo(
        name=name,
        path=folder,
        train_size=headers[0].count,
        test_size=headers[2].count,
        features=features_of(headers[0]),
        num_classes=int(max(train_labels.max(), test_labels.max())) + 1,
        source=source,
    )
