"""Tests for `core.datasets`: the shipped sample, the search path and lookups.

Happy paths use real data (the sample that ships in the package and Debian's
Fashion-MNIST); failures use small synthetic datasets written to tmp_path.
The folder rules, the cache and downloads have their own test modules.
"""

from __future__ import annotations

import hashlib
import logging
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from core import dataset_cache, dataset_fetch, dataset_folder, datasets
from core.datasets import BUILTIN_DATA_DIR, FILE_STEMS
from core.errors import DatasetNotFound
from tests.core.dataset_helpers import (
    NO_ENV,
    idx_bytes,
    make_dataset,
    spy_on_read_idx,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")
SAMPLE = BUILTIN_DATA_DIR / "mnist-10k"
SAMPLE_CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


@pytest.fixture
def system_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty stand-in for /usr/share/datasets."""
    folder = tmp_path / "system"
    folder.mkdir()
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", folder)
    return folder


@pytest.fixture
def read_idx_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every payload decode, by path."""
    return spy_on_read_idx(monkeypatch)


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


# -- public names ------------------------------------------------------------------


def test_names_used_elsewhere_are_importable_from_core_datasets() -> None:
    for name in datasets.__all__:
        assert hasattr(datasets, name), name
    assert datasets.default_cache_dir is dataset_cache.default_cache_dir
    assert datasets.fetch_dataset is dataset_fetch.fetch_dataset
    assert datasets.KNOWN_DATASETS is dataset_fetch.KNOWN_DATASETS
    assert datasets.FILE_STEMS is dataset_folder.FILE_STEMS
