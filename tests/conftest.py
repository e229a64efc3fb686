"""Shared test helpers.

The conformance suites live outside the repository, in ``../shared/conformance``
(or wherever ``PHEME_CONFORMANCE_DIR`` points). Tests that read them skip with a
message when they are absent; they are never copied into this repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def conformance_path(*parts: str) -> Path:
    """Path inside the shared conformance data; skips the test if it is missing."""
    base = Path(os.environ.get("PHEME_CONFORMANCE_DIR", REPO_ROOT.parent / "shared" / "conformance"))
    path = base.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"conformance data not found at {path} (set PHEME_CONFORMANCE_DIR)")
    return path


@pytest.fixture
def conformance() -> type:
    """Give tests ``conformance.path(...)``."""

    class _C:
        path = staticmethod(conformance_path)

    return _C
