"""YAML read as GitHub reads it: YAML 1.2 core types, positions, tags, anchors."""

from __future__ import annotations

import math

import pytest

from pheme.core.workflow._yaml import BOOL, FLOAT, INT, MAP, NULL, STR, YamlError, compose


def values(text: str) -> dict[str, object]:
    root = compose(text)
    assert root is not None and root.kind == MAP
    return {k.value: v.value for k, v in root.value}


def test_yaml_11_words_stay_strings() -> None:
    got = values("on: push\nyes: y\nno: n\noff: ON\n")
    assert got == {"on": "push", "yes": "y", "no": "n", "off": "ON"}


def test_core_schema_scalars() -> None:
    got = values(
        "a: true\nb: FALSE\nc: 0755\nd: 0x1F\ne: 0o10\nf: 1.5e2\ng: .inf\nh: ~\ni: 12_345\nj: '3'\nk: 3.10\n"
    )
    assert got["a"] is True and got["b"] is False
    assert got["c"] == 755 and got["d"] == 31 and got["e"] == 8
    assert got["f"] == 150.0 and got["g"] == math.inf
    assert got["h"] is None
    assert got["i"] == "12_345"  # underscores: a string in YAML 1.2
    assert got["j"] == "3"
    assert got["k"] == 3.1


def test_kinds_and_positions() -> None:
    root = compose("jobs:\n  build:\n    runs-on: [a, 'b']\n")
    assert root is not None
    ((_key, jobs),) = root.value
    ((bkey, build),) = jobs.value
    ((_rkey, runs_on),) = build.value
    assert (bkey.line, bkey.col) == (2, 3)
    assert (runs_on.line, runs_on.col) == (3, 14)
    assert [(n.kind, n.value, n.col) for n in runs_on.value] == [(STR, "a", 15), (STR, "b", 18)]
    root = compose("a: 1\nb: 1.0\nc: true\nd:\n")
    assert root is not None
    assert [v.kind for _k, v in root.value] == [INT, FLOAT, BOOL, NULL]


def test_explicit_tags() -> None:
    assert values("a: !!str 1\nb: !!int 0x10\nc: !!float 1\n") == {"a": "1", "b": 16, "c": 1.0}
    with pytest.raises(YamlError) as info:
        compose("x:\n  y: !!bool test\n")
    assert (
        info.value.message
        == "The value 'test' on line 2 and column 6 is invalid for the type 'tag:yaml.org,2002:bool'"
    )
    with pytest.raises(YamlError) as info:
        compose('x: !!int "300"\n')
    assert info.value.message == (
        "The scalar style 'DoubleQuoted' on line 1 and column 4 is not valid with the tag 'tag:yaml.org,2002:int'"
    )
    with pytest.raises(YamlError) as info:
        compose("x: !!timestamp 2022-10-26\n")
    assert info.value.message == "Unexpected tag 'tag:yaml.org,2002:timestamp'"


def test_anchors_expand_or_are_refused() -> None:
    root = compose("a: &x {k: v}\nb: *x\n")
    assert root is not None
    a, b = (v for _k, v in root.value)
    assert b.value[0][1].value == "v" and b is not a  # a copy, never shared
    with pytest.raises(YamlError) as info:
        compose("a: &x 1\n", allow_anchors=False)
    assert (info.value.message, info.value.line, info.value.col) == (
        "Anchors are not currently supported. Remove the anchor 'x'",
        1,
        4,
    )


def test_syntax_errors_have_positions() -> None:
    with pytest.raises(YamlError) as info:
        compose("a: [1\nb: 2\n")
    assert (info.value.line, info.value.col) == (2, 2)
    assert info.value.message.startswith("While parsing a flow sequence")


def test_depth_limit_and_empty_and_multiple_documents() -> None:
    with pytest.raises(YamlError) as info:
        compose("a:\n  b:\n    c: 1\n", max_depth=2)
    assert info.value.message == "Maximum object depth exceeded"
    assert compose("") is None
    assert compose("# just a comment\n") is None
    with pytest.raises(YamlError) as info:
        compose("a: 1\n---\nb: 2\n")
    assert info.value.line == 2
