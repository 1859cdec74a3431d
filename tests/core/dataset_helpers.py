"""Helpers shared by the dataset tests: small synthetic datasets and a spy.

Happy paths use real data (the sample that ships in the package and Debian's
Fashion-MNIST); failures use the small datasets that `make_dataset` writes.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from core import idx
from core.dataset_folder import FILE_STEMS

NO_ENV: dict[str, str] = {}

Arrays = dict[str, NDArray[np.uint8]]


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


def spy_on_read_idx(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every payload decode, to tell cache hits from fresh decodes."""
    calls: list[Path] = []
    real = idx.read_idx

    def spy(path: Path, *, magic: int | None = None) -> NDArray[np.uint8]:
        calls.append(path)
        return real(path, magic=magic)

    monkeypatch.setattr(idx, "read_idx", spy)
    return calls
