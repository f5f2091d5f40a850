"""The error type ferroscope raises for bad input.

Every message names the file, the field and the fix, so that a user can act on it without
reading a traceback.
"""

from __future__ import annotations


class FerroscopeError(Exception):
    """Bad input: a config key, a cohort file, a gene set, a clinical table or a download."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 fix: str | None = None) -> None:
        self.file = file
        self.field = field
        self.fix = fix
        parts = []
        if file:
            parts.append(f"{file}")
        if field:
            parts.append(f"field '{field}'")
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if fix:
            text += f" Fix: {fix}"
        super().__init__(text)
