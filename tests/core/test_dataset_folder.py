"""Tests for `core.dataset_folder`: plain names and files that must agree.

Each test writes a small synthetic dataset to tmp_path, breaks one rule and
checks the error that loading or describing it raises.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core import datasets
from core.dataset_folder import FILE_STEMS
from core.errors import DatasetError, DatasetFormatError
from tests.core.dataset_helpers import idx_bytes, make_dataset


@pytest.mark.parametrize("name", ["../mnist-10k", "a/b", "..", "", ".hidden", "x..y"])
def test_names_that_are_not_plain_are_refused(name: str) -> None:
    with pytest.raises(DatasetError, match="must be a plain name"):
        datasets.find_dataset(name, data_dirs=[])


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
