"""YAML with positions, for files other than workflows (``.pheme/deploy.yml``, ...).

A thin public face of the workflow reader's YAML layer
(:mod:`pheme.core.workflow._yaml`): the same YAML 1.2 core schema (``on``/``yes``
stay strings), the same 1-based line/column on every node, the same one-line
errors. Other file formats build on this module instead of reaching into the
workflow package's private modules, so the workflow package stays free to
reorganise itself.

    root = compose(text)            # Node | None (empty file); raises YamlError
    for key, value in root.value:   # a MAP node's value is a list of (key, value) pairs
        ...
"""

from __future__ import annotations

from pheme.core.workflow._yaml import (
    BOOL,
    FLOAT,
    INT,
    MAP,
    NULL,
    SEQ,
    STR,
    Node,
    YamlError,
    compose,
    to_string,
)

__all__ = ["BOOL", "FLOAT", "INT", "KIND_NAMES", "MAP", "NULL", "SEQ", "STR", "Node", "YamlError", "compose", "to_string"]

KIND_NAMES = {STR: "a string", INT: "a number", FLOAT: "a number", BOOL: "a boolean", NULL: "null", MAP: "a mapping", SEQ: "a sequence"}
