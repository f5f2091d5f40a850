"""Names the workflow needs at parse time, kept free of numerical imports.

Snakemake validates the config (:func:`ferroscope.config.validate_config`) every time it parses
the workflow, including on a no-op rerun; importing numpy, pandas, anndata or numba there would
cost seconds. The modules that use these names at run time (``prepare``, ``scoring``, ``demo``)
import them from here (the demo generator's version is its source's:
:data:`ferroscope.sources.demo.GENERATOR_VERSION`), and ``tests/test_constants.py`` checks
both routes agree.
"""

from __future__ import annotations

#: Time-to-event endpoints: overall, recurrence-free, disease-free, progression-free interval,
#: disease-specific survival. Each maps ``{ep}_time`` + ``{ep}_event`` in a cohort's config.
ENDPOINTS = ("os", "rfs", "dfs", "pfi", "dss")

#: Days in a month: a Julian year over twelve (365.25 / 12). Every conversion of a survival time
#: to months uses it (prepare, the demo generator).
DAYS_PER_MONTH = 30.4375
#: Months in one unit of a survival time (config ``{ep}_time.unit``).
MONTHS_PER_UNIT = {"days": 1 / DAYS_PER_MONTH, "weeks": 7 / DAYS_PER_MONTH, "months": 1.0,
                   "years": 12.0}

#: Names of the scoring methods registered in :data:`ferroscope.scoring.METHODS` (the registry
#: itself imports numba and scipy; config validation needs only the names).
METHOD_NAMES = ("ssgsea", "gsva", "singscore", "zscore", "plage", "mean_z",
                "scanpy_score_genes", "gseapy_ssgsea")
