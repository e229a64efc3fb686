"""Version specs chosen the way setup-node / setup-python choose them."""

from __future__ import annotations

import pytest

from pheme.core.versions import (
    Version,
    VersionSpec,
    VersionSpecError,
    choose_version,
    node_version_from_file,
    parse_version,
    python_version_from_file,
)

NODE = ["16.20.2", "18.19.0", "18.20.4", "20.11.1", "20.20.2", "21.7.3", "22.3.0"]
PYTHON = ["3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.12.4", "3.13.0rc1"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("20", "20.20.2"),
        ("20.x", "20.20.2"),
        ("v20", "20.20.2"),
        ("20.11", "20.11.1"),
        ("20.11.1", "20.11.1"),
        ("16.x", "16.20.2"),
        (">=18", "22.3.0"),
        ("^18", "18.20.4"),
        ("^18.19.0", "18.20.4"),
        ("~18.19.0", "18.19.0"),
        ("~20", "20.20.2"),
        (">20", "22.3.0"),
        (">20 <22", "21.7.3"),
        (">20.11 <21", "20.20.2"),
        ("<=20.11", "20.11.1"),
        ("<20", "18.20.4"),
        (">=18 <20", "18.20.4"),
        ("18 || 16", "18.20.4"),
        ("18 - 20.11", "20.11.1"),
        ("*", "22.3.0"),
        ("x", "22.3.0"),
        ("latest", "22.3.0"),
        ("node", "22.3.0"),
        ("current", "22.3.0"),
        ("lts/*", "22.3.0"),
        ("lts/-1", "20.20.2"),
        ("lts/hydrogen", "18.20.4"),
        ("lts/Iron", "20.20.2"),
    ],
)
def test_node_specs_pick_the_highest_satisfying_version(spec: str, expected: str) -> None:
    assert str(choose_version(spec, NODE)) == expected


@pytest.mark.parametrize("spec", ["14", "19.x", "^23", "<16", "20.12.9"])
def test_unsatisfiable_node_spec_gives_none(spec: str) -> None:
    assert choose_version(spec, NODE) is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("3.12", "3.12.4"),
        ("3.x", "3.12.4"),
        (">=3.11", "3.12.4"),
        (">=3.10 <3.12", "3.11.7"),
        ("~3.12.1", "3.12.4"),
        ("3.11.7", "3.11.7"),
        ("3.13-dev", "3.13.0-rc.1"),
        ("3.12-dev", "3.12.4"),
        (">=3.13.0-rc.1", "3.13.0-rc.1"),
    ],
)
def test_python_specs(spec: str, expected: str) -> None:
    assert str(choose_version(spec, PYTHON)) == expected


def test_prereleases_only_match_when_asked_for() -> None:
    assert choose_version("3.13", PYTHON) is None
    assert choose_version("3.x", ["3.13.0rc1"]) is None
    assert choose_version("latest", ["3.12.0", "3.13.0rc1"]) == Version(3, 12, 0)


def test_lts_skips_odd_majors() -> None:
    assert choose_version("lts/*", ["21.0.0", "20.1.0", "19.9.9"]) == Version(20, 1, 0)
    assert choose_version("lts/-1", ["20.1.0"]) is None


def test_version_ordering_is_semver() -> None:
    assert parse_version("3.13.0rc1") < parse_version("3.13.0")
    assert parse_version("3.13.0-rc.2") > parse_version("3.13.0-rc.1")
    assert parse_version("1.0.0-alpha") > parse_version("1.0.0-1")
    assert parse_version("20.11.1") > parse_version("20.9.0")
    assert str(parse_version("v20.1")) == "20.1.0"


def test_invalid_candidates_are_ignored_and_bad_specs_reported() -> None:
    assert choose_version("20", ["garbage", "20.1.0"]) == Version(20, 1, 0)
    for bad in ["", "lts/nosuch", "abc", ">=x.y.z.q"]:
        with pytest.raises(VersionSpecError):
            VersionSpec.parse(bad)


def test_node_version_files() -> None:
    assert node_version_from_file(".nvmrc", "# pinned\nv20.11.1\n") == "v20.11.1"
    assert node_version_from_file(".node-version", "18\n") == "18"
    assert node_version_from_file(".tool-versions", "python 3.11\nnodejs 20.1.0\n") == "20.1.0"
    assert node_version_from_file("package.json", '{"engines": {"node": ">=18"}}') == ">=18"
    assert node_version_from_file("a/package.json", '{"volta": {"node": "20.2.0"}, "engines": {"node": "18"}}') == "20.2.0"
    with pytest.raises(VersionSpecError):
        node_version_from_file("package.json", '{"name": "x"}')
    with pytest.raises(VersionSpecError):
        node_version_from_file("package.json", "{not json")


def test_python_version_files() -> None:
    assert python_version_from_file(".python-version", "3.11\n3.12\n") == ["3.11", "3.12"]
    assert python_version_from_file("pyproject.toml", '[project]\nrequires-python = ">=3.10,<3.13"\n') == [
        ">=3.10 <3.13"
    ]
    spec = python_version_from_file("pyproject.toml", '[tool.poetry.dependencies]\npython = "~=3.11"\n')[0]
    assert choose_version(spec, PYTHON) == Version(3, 12, 4)
    with pytest.raises(VersionSpecError):
        python_version_from_file(".python-version", "# nothing\n")
