"""Gene sets as one flat index array plus offsets, the layout the compiled kernels take."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SetIndex:
    flat: np.ndarray      # row indices of all sets, concatenated (intp)
    offsets: np.ndarray   # set s is flat[offsets[s]:offsets[s + 1]]

    @classmethod
    def of(cls, sets: list[np.ndarray]) -> SetIndex:
        sizes = np.array([len(s) for s in sets], dtype=np.int64)
        offsets = np.zeros(len(sets) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        flat = (np.concatenate([np.asarray(s, dtype=np.int64) for s in sets])
                if sets else np.zeros(0, dtype=np.int64))
        return cls(flat, offsets)
