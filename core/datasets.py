"""Datasets: find them by name, decode them once, share the decoded pages.

A dataset is a folder named after it that holds four IDX files, each stored
plain or gzipped (`.gz`)::

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

Folders are looked up on a search path, first hit wins:

1. user folders: `data_dirs` when given, else the colon-separated entries of
   `TRAINJOBS_DATA_DIRS`;
2. `/usr/share/datasets`, where Debian's `dataset-*` packages install;
3. `core/data/`, the sample that ships inside the package (`mnist-10k`).

The first `load_dataset` of a folder writes the decoded arrays as `.npy` files
to a cache directory; every load then maps those files read-only, so worker
processes share one copy of the pages. Nothing is ever downloaded implicitly:
only `fetch_dataset` touches the network.

Shapes: N training records, M test records, D features (rows * columns).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np
from numpy.typing import NDArray

from core import idx
from core.errors import DatasetError, DatasetFormatError, DatasetNotFound

logger = logging.getLogger(__name__)

DATA_DIRS_ENV = "TRAINJOBS_DATA_DIRS"
HOME_ENV = "TRAINJOBS_HOME"
SYSTEM_DATA_DIR = Path("/usr/share/datasets")
BUILTIN_DATA_DIR = Path(__file__).resolve().parent / "data"

# Bump when the cached layout changes, so old entries are never misread.
CACHE_FORMAT = 1

Source = Literal["builtin", "system", "user"]
Split = Literal["train", "test"]

# The four files in the order of the `Dataset` fields they fill.
FILE_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_FIELDS = ("train_images", "train_labels", "test_images", "test_labels")
_MAGICS = (idx.IMAGES_MAGIC, idx.LABELS_MAGIC, idx.IMAGES_MAGIC, idx.LABELS_MAGIC)

# The same rule as the job spec's `dataset` field, repeated here because this
# module is also called with names that never went through a spec.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CHUNK = 1 << 20


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


@dataclass(frozen=True)
class RemoteFile:
    """One upstream file with the size and SHA-256 that a download must match."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class KnownDataset:
    """A dataset that `fetch_dataset` can download, and how else to get it."""

    name: str
    base_url: str
    files: tuple[RemoteFile, ...]
    install_hint: str


KNOWN_DATASETS: dict[str, KnownDataset] = {
    # Sizes and sums as listed by TensorFlow Datasets (url_checksums/mnist.txt)
    # for the mirror it downloads from; the files are identical on every
    # mirror, including the original yann.lecun.com/exdb/mnist.
    "mnist": KnownDataset(
        name="mnist",
        base_url="https://storage.googleapis.com/cvdf-datasets/mnist",
        files=(
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                9912422,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                28881,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                1648877,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                4542,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ),
        ),
        install_hint=(
            "run `trainjobs datasets fetch mnist`, or put the four MNIST files "
            f"in a folder named 'mnist' inside a folder listed in {DATA_DIRS_ENV}"
        ),
    ),
    # Sizes and sums of the upstream files as listed by TensorFlow Datasets
    # (url_checksums/fashion_mnist.txt). NOTE: Debian's copies under
    # /usr/share/datasets/fashion-mnist hash differently: they were re-gzipped
    # without the stored file name (each is shorter by exactly that name plus
    # its NUL byte), so these sums only hold for files from upstream.
    "fashion-mnist": KnownDataset(
        name="fashion-mnist",
        base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        files=(
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                26421880,
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                29515,
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                4422102,
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                5148,
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            ),
        ),
        install_hint=(
            "install it with `apt-get install dataset-fashion-mnist`, or put the "
            "four Fashion-MNIST files in a folder named 'fashion-mnist' inside a "
            f"folder listed in {DATA_DIRS_ENV}"
        ),
    ),
}


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
            if name in seen or not _PLAIN_NAME.fullmatch(name) or ".." in name:
                continue
            files, missing = _dataset_files(folder)
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


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$TRAINJOBS_HOME/cache/datasets`, with TRAINJOBS_HOME `~/.trainjobs`."""
    home = (os.environ if env is None else env).get(HOME_ENV) or "~/.trainjobs"
    return Path(home).expanduser() / "cache" / "datasets"


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
    entry = cache_dir / f"{name}-{_cache_key(files)}"

    arrays = _load_cached(name, entry)
    if arrays is None:
        started = time.perf_counter()
        decoded = _decode(folder, files)
        logger.info(
            "dataset decoded",
            extra={
                "dataset": name,
                "path": str(folder),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        arrays = _write_cache(name, entry, decoded)

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


# -- downloading ---------------------------------------------------------------


def fetch_dataset(
    name: str,
    dest_dir: Path,
    *,
    base_url: str | None = None,
    timeout: float = 30,
) -> Path:
    """Download a known dataset into `dest_dir/name/`, checking every SHA-256.

    Each file is streamed to a temporary name and moved into place only once
    its size and checksum match, so the folder never holds a bad file. Files
    already present with the right checksum are not downloaded again.

    Args:
        name: a name in `KNOWN_DATASETS`.
        dest_dir: a data folder, e.g. one listed in `TRAINJOBS_DATA_DIRS`.
        base_url: an http(s) URL to fetch the files from instead of the
            dataset's own (a mirror, or a test server).
        timeout: seconds to wait on each connect or read.

    Returns:
        The dataset folder, `dest_dir / name`.

    Raises:
        DatasetNotFound: no download is known for `name`.
        DatasetError: the download failed or a checksum did not match; the
            message says how else to get the files.
    """
    _check_name(name)
    known = KNOWN_DATASETS.get(name)
    if known is None:
        raise DatasetNotFound(
            f"no download is known for dataset {name!r}; known: "
            f"{', '.join(sorted(KNOWN_DATASETS))}"
        )
    root = (known.base_url if base_url is None else base_url).rstrip("/")
    if urllib.parse.urlsplit(root).scheme not in ("http", "https"):
        raise DatasetError(f"base_url must be an http(s) URL, got {root!r}")

    folder = dest_dir / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create dataset folder {folder}: {exc}") from exc
    for remote in known.files:
        target = folder / remote.name
        if target.is_file() and _sha256_file(target) == remote.sha256:
            continue
        _download(f"{root}/{remote.name}", target, remote, known, timeout)

    logger.info("dataset fetched", extra={"dataset": name, "path": str(folder)})
    return folder


# -- helpers -------------------------------------------------------------------


def _check_name(name: str) -> None:
    if ".." in name or not _PLAIN_NAME.fullmatch(name):
        raise DatasetError(
            "dataset name must be a plain name of letters, digits, '.', '_' or "
            f"'-' (at most 64, no '/' or '..'), got {name!r}"
        )


def _dataset_files(folder: Path) -> tuple[list[Path], list[str]]:
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


def _locate(
    name: str, data_dirs: Sequence[Path] | None, env: Mapping[str, str] | None
) -> tuple[Path, Source, list[Path]]:
    _check_name(name)
    searched: list[str] = []
    incomplete: list[str] = []
    for base, source in search_path(data_dirs, env=env):
        folder = base / name
        searched.append(str(folder))
        if not folder.is_dir():
            continue
        files, missing = _dataset_files(folder)
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
    headers = [
        idx.read_idx_header(path, magic=magic)
        for path, magic in zip(files, _MAGICS, strict=True)
    ]
    _check_headers(headers)
    train_labels = idx.read_labels(files[1])
    test_labels = idx.read_labels(files[3])
    return DatasetInfo(
        name=name,
        path=folder,
        train_size=headers[0].count,
        test_size=headers[2].count,
        features=_features(headers[0]),
        num_classes=int(max(train_labels.max(), test_labels.max())) + 1,
        source=source,
    )


def _features(header: idx.IdxHeader) -> int:
    return int(np.prod(header.dims[1:]))


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


def _decode(folder: Path, files: list[Path]) -> list[NDArray[np.uint8]]:
    pairs = list(zip(files, _MAGICS, strict=True))
    # Headers first: a count mismatch is reported before 47 MB are inflated.
    _check_headers([idx.read_idx_header(path, magic=magic) for path, magic in pairs])
    arrays = [idx.read_idx(path, magic=magic) for path, magic in pairs]
    # One row of D = R * C pixels per image; reshape gives a view, not a copy.
    for i in (0, 2):
        arrays[i] = arrays[i].reshape(len(arrays[i]), -1)  # (N, R, C) -> (N, D)
    return arrays


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


def _load_cached(name: str, entry: Path) -> list[NDArray[np.uint8]] | None:
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


def _write_cache(
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
    cached = _load_cached(name, entry)
    if cached is None:
        for array in arrays:
            array.setflags(write=False)
        return arrays
    return cached


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


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _download(
    url: str, target: Path, remote: RemoteFile, known: KnownDataset, timeout: float
) -> None:
    """Stream `url` to `target` through a temporary file, checking size and sum."""
    digest = hashlib.sha256()
    size = 0
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with (
            tmp.open("wb") as out,
            urllib.request.urlopen(url, timeout=timeout) as response,
        ):
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                # Stop early rather than fill the disk from a wrong URL.
                if size > remote.size:
                    break
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != remote.size or digest.hexdigest() != remote.sha256:
            got = f"more than {remote.size:,}" if size > remote.size else f"{size:,}"
            raise DatasetError(
                f"checksum mismatch for {url}: expected {remote.size:,} bytes with "
                f"sha256 {remote.sha256}, got {got} bytes with sha256 "
                f"{digest.hexdigest()}; the file was not kept. To get "
                f"{known.name} instead, {known.install_hint}"
            )
        os.replace(tmp, target)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        # HTTPError's text carries the status code; URLError's wraps the cause.
        reason: object = exc
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the response and its socket open
        elif isinstance(exc, urllib.error.URLError):
            reason = exc.reason
        raise DatasetError(
            f"could not download {url} into {target.parent}: {reason}. To get "
            f"{known.name} without the network, {known.install_hint}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("dataset file downloaded", extra={"url": url, "bytes": size})
