"""Make ``import ferroscope`` work in job environments where it is not installed.

Snakemake puts this folder on ``sys.path`` when it runs a script; this module then appends the
checkout's ``src/`` (after site-packages, so an installed ferroscope still wins). Per-rule conda
environments (``--sdm conda``, workflow/envs/ferroscope.yaml) hold only the dependencies.
"""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2] / "src"))
