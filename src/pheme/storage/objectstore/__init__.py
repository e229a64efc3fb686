"""Blobs for caches and artifacts: the ObjectStore port and what is built on it.

Light on purpose: import the concrete modules (``.local``, ``.memory``,
``.cache``, ``.artifacts``) where they are used.
"""

from __future__ import annotations

from ._base import ObjectNotFound, ObjectStore, default_objects_root, pheme_home, validate_key

__all__ = ["ObjectNotFound", "ObjectStore", "default_objects_root", "open_default_store", "pheme_home", "validate_key"]


def open_default_store() -> ObjectStore:
    """The local store under ``$PHEME_HOME/objects``."""
    from .local import LocalObjectStore

    return LocalObjectStore(default_objects_root())
