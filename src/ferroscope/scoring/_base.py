"""Shared types for scoring methods."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: A scoring function takes an expression matrix (genes x samples, float), a list of index
#: arrays (one per gene set, rows of the matrix) and method parameters, and returns a
#: (sets x samples) float64 array.
ScoreFunc = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Method:
    """A registered scoring method.

    single_sample: the score of a sample does not depend on the other samples, so the matrix
    may be scored in chunks of samples (memory bound). Methods that standardise genes across
    samples (mean_z) are not single-sample.
    post: optional whole-matrix step after all chunks (ssGSEA's range normalisation).
    """

    name: str
    func: ScoreFunc
    single_sample: bool
    summary: str
    reference: str
    post: Callable[[np.ndarray, dict], np.ndarray] | None = None
