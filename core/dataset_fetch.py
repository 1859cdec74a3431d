"""Known datasets and `fetch_dataset`, the only code that touches the network.

`KNOWN_DATASETS` lists, for each dataset that can be downloaded, where
upstream keeps its four files, the size and SHA-256 each must have, and how
else to get it (the hint that `DatasetNotFound` and failed downloads carry).

`fetch_dataset` streams each file to a temporary name and moves it into place
only once size and checksum match, so a data folder never holds a bad file.
Loading never calls it: a missing dataset is an error that says how to fetch
or install it.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.dataset_folder import DATA_DIRS_ENV, check_name
from core.errors import DatasetError, DatasetNotFound

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


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
    check_name(name)
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
