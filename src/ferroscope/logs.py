"""Logging for workflow steps: to the rule's log file and to stderr, exceptions included."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def step_logging(log_file: str | Path | None, step: str) -> Iterator[logging.Logger]:
    """Configure logging for one step; a failure is written to the log before it propagates."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger = logging.getLogger(f"ferroscope.{step}")
    try:
        yield logger
    except Exception as exc:
        logger.error("%s failed: %s", step, exc)
        raise


def log_provenance(logger: logging.Logger, record: dict[str, Any]) -> None:
    logger.info("provenance %s", json.dumps(record, sort_keys=True))
