"""Fitted state on disk: numpy arrays and CSR matrices as plain .npy files (never pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp


def save_array(folder: Path, name: str, value: Any) -> None:
    """Write an array as `name.npy`, or a sparse matrix as its CSR parts `name.<part>.npy`."""
    if sp.issparse(value):
        value = sp.csr_matrix(value)
        np.save(folder / f"{name}.data.npy", value.data, allow_pickle=False)
        np.save(folder / f"{name}.indices.npy", value.indices, allow_pickle=False)
        np.save(folder / f"{name}.indptr.npy", value.indptr, allow_pickle=False)
        np.save(folder / f"{name}.shape.npy", np.asarray(value.shape), allow_pickle=False)
    else:
        np.save(folder / f"{name}.npy", np.asarray(value), allow_pickle=False)


def load_array(folder: Path, name: str) -> Any:
    """Read what `save_array` wrote: an array (0-d ones as scalars) or a CSR matrix."""
    if (folder / f"{name}.npy").exists():
        value = np.load(folder / f"{name}.npy", allow_pickle=False)
        return value[()] if value.ndim == 0 else value
    parts = [np.load(folder / f"{name}.{p}.npy", allow_pickle=False) for p in ("data", "indices")]
    indptr = np.load(folder / f"{name}.indptr.npy", allow_pickle=False)
    shape = tuple(np.load(folder / f"{name}.shape.npy", allow_pickle=False))
    return sp.csr_matrix((parts[0], parts[1], indptr), shape=shape)
