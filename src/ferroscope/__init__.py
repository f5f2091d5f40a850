"""ferroscope: ferroptosis-defence and drug-resistance scores versus outcome in HCC cohorts.

The package holds all logic; ``workflow/scripts`` only read inputs, call it and write outputs.

Modules
-------
errors      the one exception type users see (:class:`FerroscopeError`)
io          atomic writes, table readers with named errors, sha256
config      config validation against ``workflow/schemas`` with named-key errors
genesets    GMT parsing, HGNC alias table, gene coverage
demo        deterministic synthetic cohort with planted effects
expression  expression matrix: read, names, missing values, scale, plausible values
clinical    raw clinical table -> the standard one (strict value mapping)
prepare     the prepare step: joins both on sample id into an AnnData
uns         what the prepared AnnData's ``uns`` holds (one dataclass)
scoring     one module per scoring method, registered in ``scoring.METHODS``
survival    Cox per SD, Kaplan-Meier, log-rank, C-index (lifelines)
response    AUC with DeLong CI, Mann-Whitney (scipy)
statistics  merging per-cohort results, Benjamini-Hochberg
provenance  software versions and input checksums
report      the self-contained HTML report
"""

__version__ = "0.1.0"
