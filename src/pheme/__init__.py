"""Pheme: a self-hosted CI/CD system that runs GitHub Actions workflows as they are.

This module stays light on purpose: importing ``pheme`` must not pull in the CLI,
the database layer or any framework, so that ``pheme --version`` starts fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
