"""Local: expression and clinical files already on disk, read in place by the prepare step.

Config keys: ``expression`` (genes x samples, TSV/CSV, optionally gzipped; first column = gene
symbol) and ``clinical_table`` (one row per sample), paths relative to the working directory
(workflow/schemas/sources/local.schema.yaml). Nothing is assembled or copied: a large matrix
is read once, by the prepare rule.
"""

from __future__ import annotations

from . import CheckContext, Cohort, Source


def raw_inputs(cohort: Cohort) -> dict[str, str]:
    return {"expression": cohort["expression"], "clinical": cohort["clinical_table"]}


def validate(cid: str, cohort: Cohort, ctx: CheckContext) -> None:
    for key in ("expression", "clinical_table"):
        ctx.require_file(cid, cohort, key)


SOURCE = Source(
    name="local",
    summary="expression and clinical files already on disk (read in place)",
    raw_inputs=raw_inputs,
    validate=validate,
)
