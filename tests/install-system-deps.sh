#!/usr/bin/env bash
# Debian packages some tests use (reference implementations, browser, scheduler).
# Installed only when running as root with apt-get available; otherwise those tests skip with
# a reason. R + GSVA/survival/maxstat/glmnet/riskRegression/metafor (r-base-dev and cli: the GSVA 2.x
# reference is compiled from ../shared by the tests): a few minutes the first time; chromium for the
# browser test of the report; slurm-wlm + munge for the single-node SLURM test (tests/slurm).
set -euo pipefail
PACKAGES=(r-base-core r-base-dev r-cran-cli r-bioc-gsva r-cran-survival r-cran-maxstat r-cran-glmnet
  r-cran-riskregression r-cran-metafor
  chromium slurm-wlm munge)
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-system-deps: not root or no apt-get; tests needing ${PACKAGES[*]} will skip" >&2
  exit 0
fi
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
