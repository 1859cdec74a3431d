"""Tests for `core.dataset_fetch`: downloads, checksums and what errors say.

Download tests only talk to a server started here on 127.0.0.1, or to a
loopback port that was just closed; the datasets served are synthetic.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core import dataset_fetch, datasets
from core.dataset_fetch import KNOWN_DATASETS, KnownDataset, RemoteFile
from core.dataset_folder import FILE_STEMS
from core.errors import DatasetError, DatasetNotFound
from tests.core.dataset_helpers import Arrays, make_dataset


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

    folder = dataset_fetch.fetch_dataset("mnist", dest, base_url=url, timeout=5)
    again = dataset_fetch.fetch_dataset("mnist", dest, base_url=url + "/", timeout=5)

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
        dataset_fetch.fetch_dataset("mnist", tmp_path / "data", base_url=url, timeout=5)

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
        dataset_fetch.fetch_dataset("mnist", tmp_path / "data", base_url=url, timeout=5)


def test_fetch_reports_http_errors_with_the_status(
    tmp_path: Path, served: tuple[Path, str, list[str]]
) -> None:
    _, url, _ = served

    with pytest.raises(DatasetError, match="HTTP Error 404") as caught:
        dataset_fetch.fetch_dataset("fashion-mnist", tmp_path / "data", base_url=url)

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
        dataset_fetch.fetch_dataset(
            name, tmp_path / "data", base_url=f"http://127.0.0.1:{port}", timeout=5
        )

    message = str(caught.value)
    assert message.startswith(f"could not download http://127.0.0.1:{port}/train-")
    assert "Connection refused" in message
    assert hint in message
    assert list((tmp_path / "data" / name).iterdir()) == []


def test_fetch_refuses_unknown_names_and_non_http_urls(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match="known: fashion-mnist, mnist"):
        dataset_fetch.fetch_dataset("mnist-10k", tmp_path)
    with pytest.raises(DatasetError, match="must be an http"):
        dataset_fetch.fetch_dataset("mnist", tmp_path, base_url="file:///etc")


def test_known_datasets_list_all_four_files_with_sha256_sums() -> None:
    assert sorted(KNOWN_DATASETS) == ["fashion-mnist", "mnist"]
    for known in KNOWN_DATASETS.values():
        assert [f.name for f in known.files] == [f"{s}.gz" for s in FILE_STEMS]
        for remote in known.files:
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
            assert remote.size > 0
