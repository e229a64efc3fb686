"""The generated github.event payloads and the --event-file merge."""

from __future__ import annotations

from pheme.services.git import NULL_SHA, CommitInfo
from pheme.services.payload import RepoFacts, build_payload, deep_merge, pr_number

HEAD = CommitInfo("b" * 40, "t" * 40, "Fix the thing\n\nLonger text", "2024-05-01T12:00:00+02:00",
                  "Ada", "ada@example.com", "Bob", "bob@example.com")


def facts(**kw: object) -> RepoFacts:
    base: dict[str, object] = {"full_name": "octo/hello", "default_branch": "main", "head": HEAD,
                               "before": "a" * 40, "ref": "refs/heads/feature", "changed_files": ("x.py",)}
    base.update(kw)
    return RepoFacts(**base)  # type: ignore[arg-type]


def test_push_payload() -> None:
    p = build_payload("push", facts())
    assert (p["ref"], p["before"], p["after"], p["created"]) == ("refs/heads/feature", "a" * 40, "b" * 40, False)
    assert p["head_commit"]["id"] == "b" * 40 and p["head_commit"]["message"] == "Fix the thing\n\nLonger text"
    assert p["head_commit"]["author"] == {"name": "Ada", "email": "ada@example.com", "username": "ada"}
    assert p["head_commit"]["committer"]["name"] == "Bob"
    assert p["commits"] == [p["head_commit"]]
    assert p["repository"]["full_name"] == "octo/hello" and p["repository"]["owner"]["login"] == "octo"
    assert p["repository"]["name"] == "hello" and p["repository"]["default_branch"] == "main"
    assert p["pusher"]["email"] == "ada@example.com" and p["sender"]["login"] == "ada"


def test_first_push_has_a_null_before() -> None:
    p = build_payload("push", facts(before=None))
    assert p["before"] == NULL_SHA and p["created"] is True


def test_pull_request_payload_and_number_from_the_event_file() -> None:
    p = build_payload("pull_request", facts(base_branch="develop"))
    pr = p["pull_request"]
    assert p["action"] == "opened" and p["number"] == pr["number"] == 1
    assert (pr["head"]["ref"], pr["head"]["sha"]) == ("feature", "b" * 40)
    assert (pr["base"]["ref"], pr["base"]["sha"]) == ("develop", "a" * 40)
    assert pr["title"] == "Fix the thing" and pr["body"] == "Longer text"
    p = build_payload("pull_request", facts(), {"number": 7, "action": "synchronize", "pull_request": {"labels": [{"name": "x"}]}})
    assert p["number"] == 7 and p["pull_request"]["number"] == 7 and p["action"] == "synchronize"
    assert p["pull_request"]["labels"] == [{"name": "x"}] and p["pull_request"]["head"]["ref"] == "feature"


def test_dispatch_and_other_events() -> None:
    p = build_payload("workflow_dispatch", facts(inputs={"level": "high"}, workflow_file=".github/workflows/d.yml"))
    assert p["inputs"] == {"level": "high"} and p["workflow"] == ".github/workflows/d.yml"
    assert set(build_payload("release", facts())) == {"repository", "sender"}


def test_deep_merge_merges_objects_and_replaces_everything_else() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = deep_merge(base, {"a": {"c": [3], "e": None}, "d": {"x": 1}})
    assert merged == {"a": {"b": 1, "c": [3], "e": None}, "d": {"x": 1}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # inputs untouched


def test_pr_number() -> None:
    assert pr_number({}) == 1
    assert pr_number({"pull_request": {"number": 5}}) == 5
    assert pr_number({"number": True}) == 1
