"""Tests for `core.datasets`: search path, consistency, cache and downloads.

Happy paths use real data (the sample that ships in the package and Debian's
Fashion-MNIST); failures use small synthetic datasets written to tmp_path.
Download tests only talk to a server started here on 127.0.0.1, or to a
loopback port that was just closed.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import logging
import multiprocessing
import os
import re
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from core import datasets, idx
from core.datasets import (
    BUILTIN_DATA_DIR,
    FILE_STEMS,
    KNOWN_DATASETS,
    KnownDataset,
    RemoteFile,
)
from core.errors import DatasetError, DatasetFormatError, DatasetNotFound

FASHION = Path("/usr/share/datasets/fashion-mnist")
SAMPLE = BUILTIN_DATA_DIR / "mnist-10k"
SAMPLE_CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
NO_ENV: dict[str, str] = {}

Arrays = dict[str, NDArray[np.uint8]]


# -- helpers -------------------------------------------------------------------


def idx_bytes(array: NDArray[np.uint8]) -> bytes:
    header = (0x0800 | array.ndim).to_bytes(4, "big")
    header += b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    return header + array.tobytes()


def make_dataset(
    folder: Path,
    *,
    train: int = 12,
    test: int = 5,
    classes: int = 3,
    shape: tuple[int, int] = (4, 3),
    gz: bool = False,
    seed: int = 0,
) -> Arrays:
    """Write a small four-file dataset; return its arrays keyed by file stem."""
    rng = np.random.default_rng(seed)
    arrays: Arrays = {
        FILE_STEMS[0]: rng.integers(0, 256, (train, *shape), dtype=np.uint8),
        FILE_STEMS[1]: (np.arange(train) % classes).astype(np.uint8),
        FILE_STEMS[2]: rng.integers(0, 256, (test, *shape), dtype=np.uint8),
        FILE_STEMS[3]: (np.arange(test) % classes).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


def cache_entries(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir())


@pytest.fixture
def system_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty stand-in for /usr/share/datasets."""
    folder = tmp_path / "system"
    folder.mkdir()
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", folder)
    return folder


@pytest.fixture
def read_idx_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every payload decode, to tell cache hits from fresh decodes."""
    calls: list[Path] = []
    real = idx.read_idx

    def spy(path: Path, *, magic: int | None = None) -> NDArray[np.uint8]:
        calls.append(path)
        return real(path, magic=magic)

    monkeypatch.setattr(idx, "read_idx", spy)
    return calls


# -- the shipped sample ----------------------------------------------------------


def test_sample_loads_with_8000_train_2000_test_784_features_10_classes(
    tmp_path: Path,
) -> None:
    ds = datasets.load_dataset("mnist-10k", data_dirs=[], cache_dir=tmp_path)

    assert ds.path == SAMPLE
    assert (ds.train_size, ds.test_size, ds.features) == (8000, 2000, 784)
    assert ds.num_classes == 10
    assert ds.train_images.shape == (8000, 784)
    assert ds.train_labels.shape == (8000,)
    assert ds.test_images.shape == (2000, 784)
    assert ds.test_labels.shape == (2000,)
    for array in (ds.train_images, ds.train_labels, ds.test_images, ds.test_labels):
        assert array.dtype == np.uint8
        assert not array.flags.writeable


def test_sample_class_counts_match_its_readme(tmp_path: Path) -> None:
    ds = datasets.load_dataset("mnist-10k", data_dirs=[], cache_dir=tmp_path)
    labels = np.concatenate([ds.train_labels, ds.test_labels])  # (N + M,)

    assert np.bincount(labels).tolist() == SAMPLE_CLASS_COUNTS
    readme = (SAMPLE / "README.md").read_text()
    assert ", ".join(map(str, SAMPLE_CLASS_COUNTS)) in readme


def test_sample_readme_checksums_match_the_files() -> None:
    readme = (SAMPLE / "README.md").read_text()
    listed = dict(
        (name, digest)
        for digest, name in re.findall(r"^\s+([0-9a-f]{64})  (\S+)$", readme, re.M)
    )

    assert sorted(listed) == sorted(f"{stem}.gz" for stem in FILE_STEMS)
    for name, digest in listed.items():
        assert hashlib.sha256((SAMPLE / name).read_bytes()).hexdigest() == digest


def test_sample_info_comes_from_headers_and_labels_only(
    read_idx_calls: list[Path],
) -> None:
    info = datasets.dataset_info("mnist-10k", data_dirs=[], env=NO_ENV)

    assert info == datasets.DatasetInfo(
        name="mnist-10k",
        path=SAMPLE,
        train_size=8000,
        test_size=2000,
        features=784,
        num_classes=10,
        source="builtin",
    )
    assert all("labels" in path.name for path in read_idx_calls)


# -- Debian's Fashion-MNIST --------------------------------------------------------


def test_fashion_mnist_is_found_in_usr_share_datasets() -> None:
    info = datasets.dataset_info("fashion-mnist", data_dirs=[], env=NO_ENV)

    assert info.path == FASHION
    assert info.source == "system"
    assert (info.train_size, info.test_size) == (60000, 10000)
    assert (info.features, info.num_classes) == (784, 10)


def test_fashion_mnist_loads_as_memory_maps(tmp_path: Path) -> None:
    ds = datasets.load_dataset("fashion-mnist", data_dirs=[], cache_dir=tmp_path)

    assert isinstance(ds.train_images, np.memmap)
    assert ds.train_images.shape == (60000, 784)
    assert ds.test_labels.shape == (10000,)
    assert np.bincount(ds.train_labels).tolist() == [6000] * 10


# -- search path -------------------------------------------------------------------


def test_search_path_reads_env_then_system_then_builtin(system_dir: Path) -> None:
    env = {"TRAINJOBS_DATA_DIRS": "/a::/b:"}

    assert datasets.search_path(env=env) == [
        (Path("/a"), "user"),
        (Path("/b"), "user"),
        (system_dir, "system"),
        (BUILTIN_DATA_DIR, "builtin"),
    ]


def test_search_path_data_dirs_replace_the_env(system_dir: Path) -> None:
    env = {"TRAINJOBS_DATA_DIRS": "/ignored"}

    path = datasets.search_path([Path("/mine")], env=env)

    assert [folder for folder, _ in path] == [
        Path("/mine"),
        system_dir,
        BUILTIN_DATA_DIR,
    ]


def test_system_copy_shadows_the_builtin_sample(system_dir: Path) -> None:
    make_dataset(system_dir / "mnist-10k")

    info = datasets.dataset_info("mnist-10k", data_dirs=[])

    assert (info.source, info.path) == ("system", system_dir / "mnist-10k")
    assert info.train_size == 12


def test_user_copy_from_env_shadows_system_and_builtin(
    tmp_path: Path, system_dir: Path
) -> None:
    make_dataset(system_dir / "mnist-10k")
    make_dataset(tmp_path / "first" / "mnist-10k", train=20, gz=True)
    make_dataset(tmp_path / "second" / "mnist-10k", train=30)
    env = {"TRAINJOBS_DATA_DIRS": f"{tmp_path / 'first'}:{tmp_path / 'second'}"}

    info = datasets.dataset_info("mnist-10k", env=env)

    assert (info.source, info.train_size) == ("user", 20)
    assert datasets.find_dataset("mnist-10k", env=env) == tmp_path / "first/mnist-10k"


def test_incomplete_user_folder_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "user" / "mnist-10k"
    make_dataset(folder)
    (folder / "t10k-labels-idx1-ubyte").unlink()

    with caplog.at_level(logging.WARNING, logger="core.datasets"):
        found = datasets.find_dataset("mnist-10k", data_dirs=[tmp_path / "user"])

    assert found == SAMPLE
    assert [r.getMessage() for r in caplog.records] == [
        "dataset folder incomplete, skipped"
    ]


def test_list_datasets_takes_the_first_folder_of_each_name(
    tmp_path: Path, system_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = tmp_path / "user"
    make_dataset(user / "mnist-10k", train=20)
    make_dataset(system_dir / "mnist-10k")
    make_dataset(system_dir / "toy", classes=7)
    make_dataset(user / "half")
    (user / "half" / "train-images-idx3-ubyte").unlink()
    (user / "notes").mkdir()
    broken = make_dataset(user / "broken")
    (user / "broken" / FILE_STEMS[1]).write_bytes(idx_bytes(broken[FILE_STEMS[1]][:3]))

    with caplog.at_level(logging.WARNING, logger="core.datasets"):
        infos = datasets.list_datasets(data_dirs=[user])

    assert [(i.name, i.source, i.train_size) for i in infos] == [
        ("mnist-10k", "user", 20),
        ("toy", "system", 12),
    ]
    assert infos[1].num_classes == 7
    assert [r.getMessage() for r in caplog.records] == ["dataset folder skipped"]


def test_list_datasets_by_default_includes_the_sample_and_fashion_mnist() -> None:
    infos = {i.name: i for i in datasets.list_datasets(data_dirs=[], env=NO_ENV)}

    assert infos["mnist-10k"].source == "builtin"
    assert infos["fashion-mnist"].source == "system"


@pytest.mark.parametrize("name", ["../mnist-10k", "a/b", "..", "", ".hidden", "x..y"])
def test_names_that_are_not_plain_are_refused(name: str) -> None:
    with pytest.raises(DatasetError, match="must be a plain name"):
        datasets.find_dataset(name, data_dirs=[])


def test_missing_dataset_error_lists_the_folders_searched(
    tmp_path: Path, system_dir: Path
) -> None:
    with pytest.raises(DatasetNotFound) as caught:
        datasets.find_dataset("nope", data_dirs=[tmp_path / "user"])

    message = str(caught.value)
    assert message.startswith("dataset 'nope' not found; searched ")
    for folder in (tmp_path / "user", system_dir, BUILTIN_DATA_DIR):
        assert str(folder / "nope") in message
    assert "to get it" not in message


def test_missing_fashion_mnist_error_says_which_package_to_install(
    system_dir: Path,
) -> None:
    with pytest.raises(DatasetNotFound, match="apt-get install dataset-fashion-mnist"):
        datasets.load_dataset("fashion-mnist", data_dirs=[])


def test_missing_mnist_error_says_how_to_fetch_it_and_never_downloads(
    system_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_dataset must not download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)

    with pytest.raises(DatasetNotFound) as caught:
        datasets.load_dataset("mnist", data_dirs=[])

    assert "trainjobs datasets fetch mnist" in str(caught.value)
    assert "TRAINJOBS_DATA_DIRS" in str(caught.value)


# -- consistency -------------------------------------------------------------------


@pytest.mark.parametrize("load", [datasets.dataset_info, datasets.load_dataset])
def test_unequal_image_and_label_counts_are_a_format_error(
    tmp_path: Path, load: Callable[..., object]
) -> None:
    arrays = make_dataset(tmp_path / "user" / "toy", gz=True)
    short = idx_bytes(arrays[FILE_STEMS[3]][:4])
    (tmp_path / "user" / "toy" / f"{FILE_STEMS[3]}.gz").write_bytes(
        gzip.compress(short)
    )

    with pytest.raises(DatasetFormatError) as caught:
        load("toy", data_dirs=[tmp_path / "user"])

    message = str(caught.value)
    assert "holds 5 images but" in message
    assert "t10k-labels-idx1-ubyte.gz holds 4 labels" in message


def test_train_and_test_images_of_different_sizes_are_a_format_error(
    tmp_path: Path,
) -> None:
    make_dataset(tmp_path / "user" / "toy")
    test_images = np.zeros((5, 5, 5), np.uint8)
    (tmp_path / "user" / "toy" / FILE_STEMS[2]).write_bytes(idx_bytes(test_images))

    with pytest.raises(DatasetFormatError, match=r"\(4, 3\) but .* has \(5, 5\)"):
        datasets.load_dataset("toy", data_dirs=[tmp_path / "user"])


def test_labels_where_images_belong_are_a_format_error(tmp_path: Path) -> None:
    arrays = make_dataset(tmp_path / "user" / "toy")
    (tmp_path / "user" / "toy" / FILE_STEMS[0]).write_bytes(
        idx_bytes(arrays[FILE_STEMS[1]])
    )

    with pytest.raises(DatasetFormatError, match="expected 0x00000803"):
        datasets.dataset_info("toy", data_dirs=[tmp_path / "user"])


# -- decoded cache -----------------------------------------------------------------


def test_second_load_maps_the_cache_without_decoding(
    tmp_path: Path, read_idx_calls: list[Path]
) -> None:
    arrays = make_dataset(tmp_path / "user" / "toy", gz=True)
    cache = tmp_path / "cache"

    first = datasets.load_dataset("toy", data_dirs=[tmp_path / "user"], cache_dir=cache)
    decodes = len(read_idx_calls)
    second = datasets.load_dataset(
        "toy", data_dirs=[tmp_path / "user"], cache_dir=cache
    )

    assert decodes == 4
    assert len(read_idx_calls) == decodes
    assert len(cache_entries(cache)) == 1
    for ds in (first, second):
        assert isinstance(ds.train_images, np.memmap)
        assert isinstance(ds.test_labels, np.memmap)
        np.testing.assert_array_equal(
            ds.train_images, arrays[FILE_STEMS[0]].reshape(12, 12)
        )
        np.testing.assert_array_equal(ds.test_labels, arrays[FILE_STEMS[3]])
        assert ds.num_classes == 3


def test_changed_source_file_invalidates_the_cache(
    tmp_path: Path, read_idx_calls: list[Path]
) -> None:
    user, cache = tmp_path / "user", tmp_path / "cache"
    make_dataset(user / "toy")
    datasets.load_dataset("toy", data_dirs=[user], cache_dir=cache)
    old_entries = cache_entries(cache)
    labels = user / "toy" / FILE_STEMS[1]
    labels.write_bytes(idx_bytes(np.full(12, 5, np.uint8)))
    stat = labels.stat()
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    read_idx_calls.clear()

    ds = datasets.load_dataset("toy", data_dirs=[user], cache_dir=cache)

    assert len(read_idx_calls) == 4
    assert ds.train_labels.tolist() == [5] * 12
    assert ds.num_classes == 6
    assert len(cache_entries(cache)) == 1
    assert cache_entries(cache) != old_entries


def test_damaged_cache_entry_is_rebuilt_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user, cache = tmp_path / "user", tmp_path / "cache"
    arrays = make_dataset(user / "toy")
    datasets.load_dataset("toy", data_dirs=[user], cache_dir=cache)
    (entry,) = cache.iterdir()
    (entry / "train_images.npy").write_bytes(b"\x93NUMPY garbage")

    with caplog.at_level(logging.WARNING, logger="core.datasets"):
        ds = datasets.load_dataset("toy", data_dirs=[user], cache_dir=cache)

    assert [r.getMessage() for r in caplog.records] == [
        "dataset cache entry unreadable, decoding again"
    ]
    np.testing.assert_array_equal(
        ds.train_images, arrays[FILE_STEMS[0]].reshape(12, 12)
    )


def test_unwritable_cache_falls_back_to_memory_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_dataset(tmp_path / "user" / "toy")
    # A path below a regular file can never be created, even by root.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    with caplog.at_level(logging.WARNING, logger="core.datasets"):
        ds = datasets.load_dataset(
            "toy", data_dirs=[tmp_path / "user"], cache_dir=blocker / "cache"
        )

    assert [r.getMessage() for r in caplog.records] == [
        "dataset cache not writable, loading in memory"
    ]
    assert not isinstance(ds.train_images, np.memmap)
    assert not ds.train_images.flags.writeable
    assert ds.train_size == 12


def test_losing_the_publish_race_maps_the_winners_entry(tmp_path: Path) -> None:
    user, cache = tmp_path / "user", tmp_path / "cache"
    arrays = make_dataset(user / "toy")
    datasets.load_dataset("toy", data_dirs=[user], cache_dir=cache)
    (entry,) = cache.iterdir()
    decoded = [arrays[stem].copy() for stem in FILE_STEMS]
    decoded[0] = decoded[0].reshape(12, -1)
    decoded[2] = decoded[2].reshape(5, -1)

    mapped = datasets._write_cache("toy", entry, decoded)

    assert all(isinstance(array, np.memmap) for array in mapped)
    assert cache_entries(cache) == [entry.name]


def test_parallel_workers_share_one_cache_entry(tmp_path: Path) -> None:
    user, cache = tmp_path / "user", tmp_path / "cache"
    make_dataset(user / "toy", train=300, shape=(28, 28))
    context = multiprocessing.get_context("spawn")

    with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
        futures = [
            pool.submit(datasets.load_dataset, "toy", data_dirs=[user], cache_dir=cache)
            for _ in range(3)
        ]
        results = [future.result(timeout=120) for future in futures]

    assert {r.train_size for r in results} == {300}
    # One published entry, and no temporary folder left behind by the losers.
    assert len(cache_entries(cache)) == 1


def test_default_cache_dir_follows_trainjobs_home() -> None:
    home = {"TRAINJOBS_HOME": "/srv/tj"}

    assert datasets.default_cache_dir(home) == Path("/srv/tj/cache/datasets")
    assert datasets.default_cache_dir(NO_ENV) == (
        Path.home() / ".trainjobs" / "cache" / "datasets"
    )


# -- downloads ---------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that stops reading early (the oversize test) breaks the
        # pipe; that is the point of the test, not a failure worth a trace.
        pass


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep urllib from sending loopback requests to a configured proxy."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def served(tmp_path: Path, no_proxy: None) -> Iterator[tuple[Path, str, list[str]]]:
    """A folder served on 127.0.0.1, its base URL and the paths requested."""
    root = tmp_path / "served"
    root.mkdir()
    requested: list[str] = []

    class Handler(_QuietHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            requested.append(self.path)
            super().do_GET()

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/files", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def publish(
    served_root: Path, monkeypatch: pytest.MonkeyPatch, name: str = "mnist"
) -> Arrays:
    """Serve a synthetic dataset under /files and register its sums as `name`."""
    source = served_root / "files"
    arrays = make_dataset(source, gz=True)
    files = tuple(
        RemoteFile(
            f"{stem}.gz",
            (source / f"{stem}.gz").stat().st_size,
            hashlib.sha256((source / f"{stem}.gz").read_bytes()).hexdigest(),
        )
        for stem in FILE_STEMS
    )
    known = KnownDataset(name, "http://192.0.2.1/unused", files, "ask a colleague")
    monkeypatch.setitem(KNOWN_DATASETS, name, known)
    return arrays


def test_fetch_downloads_verifies_and_then_loads(
    tmp_path: Path,
    served: tuple[Path, str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, url, requested = served
    arrays = publish(root, monkeypatch)
    dest = tmp_path / "data"

    folder = datasets.fetch_dataset("mnist", dest, base_url=url, timeout=5)
    again = datasets.fetch_dataset("mnist", dest, base_url=url + "/", timeout=5)

    assert folder == again == dest / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{stem}.gz" for stem in FILE_STEMS
    )
    assert len(requested) == 4  # the second fetch found every file in place
    ds = datasets.load_dataset("mnist", data_dirs=[dest], cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(ds.test_labels, arrays[FILE_STEMS[3]])


def test_fetch_rejects_a_corrupted_file_and_keeps_nothing(
    tmp_path: Path,
    served: tuple[Path, str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, url, _ = served
    publish(root, monkeypatch)
    bad = root / "files" / "t10k-images-idx3-ubyte.gz"
    data = bytearray(bad.read_bytes())
    data[-10] ^= 0x01
    bad.write_bytes(bytes(data))

    with pytest.raises(DatasetError) as caught:
        datasets.fetch_dataset("mnist", tmp_path / "data", base_url=url, timeout=5)

    message = str(caught.value)
    assert f"checksum mismatch for {url}/t10k-images-idx3-ubyte.gz" in message
    assert "the file was not kept" in message
    left = sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir())
    assert left == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    with pytest.raises(DatasetNotFound):
        datasets.find_dataset("mnist", data_dirs=[tmp_path / "data"])


def test_fetch_stops_reading_a_file_larger_than_expected(
    tmp_path: Path,
    served: tuple[Path, str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, url, _ = served
    publish(root, monkeypatch)
    big = root / "files" / "train-images-idx3-ubyte.gz"
    big.write_bytes(big.read_bytes() + bytes(3 << 20))

    with pytest.raises(DatasetError, match="got more than"):
        datasets.fetch_dataset("mnist", tmp_path / "data", base_url=url, timeout=5)


def test_fetch_reports_http_errors_with_the_status(
    tmp_path: Path, served: tuple[Path, str, list[str]]
) -> None:
    _, url, _ = served

    with pytest.raises(DatasetError, match="HTTP Error 404") as caught:
        datasets.fetch_dataset("fashion-mnist", tmp_path / "data", base_url=url)

    assert "apt-get install dataset-fashion-mnist" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("fashion-mnist", "apt-get install dataset-fashion-mnist"),
        ("mnist", "put the four MNIST files in a folder named 'mnist'"),
    ],
)
def test_fetch_from_a_closed_port_says_what_to_do_instead(
    tmp_path: Path, no_proxy: None, name: str, hint: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed now: connecting is refused at once.

    with pytest.raises(DatasetError) as caught:
        datasets.fetch_dataset(
            name, tmp_path / "data", base_url=f"http://127.0.0.1:{port}", timeout=5
        )

    message = str(caught.value)
    assert message.startswith(f"could not download http://127.0.0.1:{port}/train-")
    assert "Connection refused" in message
    assert hint in message
    assert list((tmp_path / "data" / name).iterdir()) == []


def test_fetch_refuses_unknown_names_and_non_http_urls(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match="known: fashion-mnist, mnist"):
        datasets.fetch_dataset("mnist-10k", tmp_path)
    with pytest.raises(DatasetError, match="must be an http"):
        datasets.fetch_dataset("mnist", tmp_path, base_url="file:///etc")


def test_known_datasets_list_all_four_files_with_sha256_sums() -> None:
    assert sorted(KNOWN_DATASETS) == ["fashion-mnist", "mnist"]
    for known in KNOWN_DATASETS.values():
        assert [f.name for f in known.files] == [f"{s}.gz" for s in FILE_STEMS]
        for remote in known.files:
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
            assert remote.size > 0
