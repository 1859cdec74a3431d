"""Tests for `core.dataset_cache`: hits, invalidation, damage and races.

Each test loads a small synthetic dataset from tmp_path through
`load_dataset`, with the cache in tmp_path too, and watches the decodes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core import dataset_cache, datasets
from core.dataset_folder import FILE_STEMS
from tests.core.dataset_helpers import (
    NO_ENV,
    cache_entries,
    idx_bytes,
    make_dataset,
    spy_on_read_idx,
)


@pytest.fixture
def read_idx_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every payload decode, by path."""
    return spy_on_read_idx(monkeypatch)


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

    with caplog.at_level(logging.WARNING, logger="core.dataset_cache"):
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

    with caplog.at_level(logging.WARNING, logger="core.dataset_cache"):
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

    mapped = dataset_cache.write_cache("toy", entry, decoded)

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

    assert dataset_cache.default_cache_dir(home) == Path("/srv/tj/cache/datasets")
    assert dataset_cache.default_cache_dir(NO_ENV) == (
        Path.home() / ".trainjobs" / "cache" / "datasets"
    )
