"""R's ``qnorm`` (Wichura 1988, Algorithm AS 241 PPND16; R's src/nmath/qnorm.c), operation for
operation, for quantiles that must equal R's to the last bit.

scipy's ``norm.ppf`` (Cephes ``ndtri``) can differ from R's ``qnorm`` by an ulp or two, e.g.
``qnorm(0.025000000000000022)``. That is harmless for a p-value, but R's ``wilcox.test``
finds its CI as the root of ``W(d) - qnorm(...)`` by ``uniroot``: a different last bit moves
every iterate, and the root lands elsewhere within uniroot's tolerance (1e-4). With this
port the iterates, and so the CI end points, are R's (``ferroscope.ranktests``).
"""

from __future__ import annotations

import math

import numpy as np


def qnorm(p: float, lower_tail: bool = True) -> float:
    """R's ``qnorm(p, 0, 1, lower.tail)`` for 0 < p < 1 (not log p)."""
    if not 0 < p < 1:
        return {0.0: -math.inf if lower_tail else math.inf,
                1.0: math.inf if lower_tail else -math.inf}.get(p, math.nan)
    p_ = p if lower_tail else 0.5 - p + 0.5
    q = p_ - 0.5
    if abs(q) <= 0.425:
        r = .180625 - q * q
        return (q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r
                          + 67265.770927008700853) * r + 45921.953931549871457) * r
                        + 13731.693765509461125) * r + 1971.5909503065514427) * r
                      + 133.14166789178437745) * r + 3.387132872796366608)
                / (((((((r * 5226.495278852545925 + 28729.085735721942674) * r
                        + 39307.89580009271061) * r + 21213.794301586595867) * r
                      + 5394.1960214247511077) * r + 687.1870074920579083) * r
                    + 42.313330701600911252) * r + 1.0))
    if q > 0:
        r = (0.5 - p + 0.5) if lower_tail else p      # R_DT_CIv(p)
    else:
        r = p_
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r += -1.6
        val = ((((((((r * 7.7454501427834140764e-4 + .0227238449892691845833) * r
                     + .24178072517745061177) * r + 1.27045825245236838258) * r
                   + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                 + 4.6303378461565452959) * r + 1.42343711074968357734)
               / (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r
                       + .0151986665636164571966) * r + .14810397642748007459) * r
                     + .68976733498510000455) * r + 1.6763848301838038494) * r
                   + 2.05319162663775882187) * r + 1.0))
    else:
        r += -5.0
        val = ((((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r
                     + .0012426609473880784386) * r + .026532189526576123093) * r
                   + .29656057182850489123) * r + 1.7848265399172913358) * r
                 + 5.4637849111641143699) * r + 6.6579046435011037772)
               / (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r
                       + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
                     + .0148753612908506148525) * r + .13692988092273580531) * r
                   + .59983220655588793769) * r + 1.0))
    return -val if q < 0 else val


def qnorm_many(p: np.ndarray, lower_tail: bool = True) -> np.ndarray:
    """:func:`qnorm` of each element, computed once per distinct level (a handful)."""
    levels, inverse = np.unique(np.asarray(p, float), return_inverse=True)
    return np.array([qnorm(v, lower_tail) for v in levels.tolist()])[inverse].reshape(
        np.shape(p))
