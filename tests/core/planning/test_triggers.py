"""Trigger matching: GitHub's documented on.<event> rules, with reasons for `pheme list`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pheme.core.planning.triggers import Event, known_events, match_event, normalize_ref
from pheme.core.workflow.model import EventTrigger, Workflow


def wf(*triggers: EventTrigger) -> Workflow:
    return Workflow(path=".github/workflows/ci.yml", on={t.event: t for t in triggers}, jobs={})


def push(**kw: Any) -> EventTrigger:
    return EventTrigger(event="push", **kw)


def pr(event: str = "pull_request", **kw: Any) -> EventTrigger:
    return EventTrigger(event=event, **kw)


# --- which events -----------------------------------------------------------------


def test_an_event_the_workflow_does_not_list_is_rejected_with_the_events_it_listens_to() -> None:
    decision = match_event(wf(push(), EventTrigger("workflow_dispatch")), Event("pull_request"))
    assert not decision.triggered
    assert "push, workflow_dispatch" in decision.reason


def test_short_form_push_triggers_for_any_branch_or_tag() -> None:
    w = wf(push())
    assert match_event(w, Event("push", ref="refs/heads/anything")).triggered
    assert match_event(w, Event("push", ref="refs/tags/v9")).triggered
    assert match_event(w, Event("push")).triggered


@pytest.mark.parametrize("name", ["workflow_dispatch", "workflow_call", "release", "issues"])
def test_events_without_filters_trigger_when_listed(name: str) -> None:
    assert match_event(wf(EventTrigger(name)), Event(name, action="published")).triggered


def test_known_events_match_githubs_schema(conformance: Any) -> None:
    schema_path = conformance.path("actions-languageservices", "workflow-parser", "src", "workflow-v1.0.json")
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    names = set(schema["definitions"]["on-mapping-strict"]["mapping"]["properties"])
    assert known_events() == names


# --- push: branches and tags ------------------------------------------------------------


def test_branches_filter() -> None:
    w = wf(push(branches=("main", "releases/**")))
    assert match_event(w, Event("push", ref="refs/heads/main")).triggered
    assert match_event(w, Event("push", ref="refs/heads/releases/1.0/hotfix")).triggered
    decision = match_event(w, Event("push", ref="refs/heads/dev"))
    assert not decision.triggered
    assert "branch 'dev'" in decision.reason and "branches" in decision.reason


def test_branches_with_negation_later_pattern_wins() -> None:
    w = wf(push(branches=("releases/**", "!releases/**-alpha")))
    assert match_event(w, Event("push", ref="refs/heads/releases/10")).triggered
    assert not match_event(w, Event("push", ref="refs/heads/releases/10-alpha")).triggered


def test_branches_ignore() -> None:
    w = wf(push(branches_ignore=("mona/octocat", "releases/**-alpha")))
    assert match_event(w, Event("push", ref="refs/heads/main")).triggered
    decision = match_event(w, Event("push", ref="refs/heads/releases/beta/3-alpha"))
    assert not decision.triggered
    assert "branches-ignore" in decision.reason


def test_only_branches_given_means_tag_pushes_never_trigger() -> None:
    decision = match_event(wf(push(branches=("**",))), Event("push", ref="refs/tags/v1"))
    assert not decision.triggered
    assert "tag 'v1'" in decision.reason


def test_only_tags_given_means_branch_pushes_never_trigger() -> None:
    w = wf(push(tags=("v*",)))
    assert match_event(w, Event("push", ref="refs/tags/v1.2")).triggered
    assert not match_event(w, Event("push", ref="refs/heads/main")).triggered
    assert not match_event(w, Event("push", ref="refs/tags/release-1")).triggered


def test_tags_ignore_alone_still_blocks_branches() -> None:
    w = wf(push(tags_ignore=("v1.*",)))
    assert match_event(w, Event("push", ref="refs/tags/v2.0")).triggered
    assert not match_event(w, Event("push", ref="refs/tags/v1.0")).triggered
    assert not match_event(w, Event("push", ref="refs/heads/main")).triggered


def test_branches_and_tags_together_each_apply_to_their_own_kind() -> None:
    w = wf(push(branches=("main",), tags=("v*",)))
    assert match_event(w, Event("push", ref="refs/heads/main")).triggered
    assert match_event(w, Event("push", ref="refs/tags/v1")).triggered
    assert not match_event(w, Event("push", ref="refs/heads/dev")).triggered
    assert not match_event(w, Event("push", ref="refs/tags/x1")).triggered


def test_an_empty_branches_list_matches_nothing() -> None:
    assert not match_event(wf(push(branches=())), Event("push", ref="refs/heads/main")).triggered


def test_bare_ref_names_are_branches() -> None:
    assert normalize_ref("main") == "refs/heads/main"
    assert normalize_ref("refs/tags/v1") == "refs/tags/v1"
    assert match_event(wf(push(branches=("main",))), Event("push", ref="main")).triggered


# --- push: paths ------------------------------------------------------------------


def test_paths_need_one_matching_changed_file() -> None:
    w = wf(push(paths=("src/**", "!src/**/*.md")))
    assert match_event(w, Event("push", ref="refs/heads/main", changed_files=("src/a.py",))).triggered
    assert match_event(w, Event("push", changed_files=("README.md", "src/a/b.py"))).triggered
    decision = match_event(w, Event("push", changed_files=("src/a/notes.md", "README.md")))
    assert not decision.triggered
    assert "paths" in decision.reason


def test_paths_ignore_needs_one_changed_file_outside() -> None:
    w = wf(push(paths_ignore=("docs/**",)))
    assert match_event(w, Event("push", changed_files=("docs/a.md", "app.py"))).triggered
    decision = match_event(w, Event("push", changed_files=("docs/a.md", "docs/b/c.md")))
    assert not decision.triggered
    assert "paths-ignore" in decision.reason


def test_unknown_changed_files_let_path_filters_pass() -> None:
    assert match_event(wf(push(paths=("src/**",))), Event("push", ref="refs/heads/main")).triggered


def test_branches_and_paths_must_both_be_satisfied() -> None:
    w = wf(push(branches=("main",), paths=("src/**",)))
    assert match_event(w, Event("push", ref="refs/heads/main", changed_files=("src/x",))).triggered
    assert not match_event(w, Event("push", ref="refs/heads/dev", changed_files=("src/x",))).triggered
    assert not match_event(w, Event("push", ref="refs/heads/main", changed_files=("doc/x",))).triggered


def test_path_filters_are_not_evaluated_for_tag_pushes() -> None:
    w = wf(push(tags=("v*",), paths=("src/**",)))
    assert match_event(w, Event("push", ref="refs/tags/v1", changed_files=("README.md",))).triggered
    w2 = wf(push(paths=("src/**",)))
    assert match_event(w2, Event("push", ref="refs/tags/v1", changed_files=("README.md",))).triggered


# --- pull_request ------------------------------------------------------------------


@pytest.mark.parametrize("event_name", ["pull_request", "pull_request_target"])
def test_pull_request_default_types(event_name: str) -> None:
    w = wf(pr(event_name))
    for action in ("opened", "synchronize", "reopened"):
        assert match_event(w, Event(event_name, action=action)).triggered
    decision = match_event(w, Event(event_name, action="closed"))
    assert not decision.triggered
    assert "'closed'" in decision.reason


def test_pull_request_explicit_types_replace_the_default() -> None:
    w = wf(pr(types=("closed", "labeled")))
    assert match_event(w, Event("pull_request", action="closed")).triggered
    assert not match_event(w, Event("pull_request", action="opened")).triggered


def test_pull_request_branches_filter_the_base_branch_not_the_head() -> None:
    w = wf(pr(branches=("main",)))
    ok = Event("pull_request", ref="refs/pull/7/merge", base_ref="main", action="opened")
    assert match_event(w, ok).triggered
    other = Event("pull_request", ref="refs/pull/7/merge", base_ref="refs/heads/dev", action="opened")
    decision = match_event(w, other)
    assert not decision.triggered
    assert "base branch 'dev'" in decision.reason


def test_pull_request_base_branch_from_the_payload() -> None:
    w = wf(pr(branches_ignore=("legacy/**",)))
    payload = {"pull_request": {"base": {"ref": "legacy/v1"}}}
    assert not match_event(w, Event("pull_request", action="opened", payload=payload)).triggered


def test_pull_request_paths() -> None:
    w = wf(pr(paths=("**.py",)))
    assert match_event(w, Event("pull_request", changed_files=("pkg/mod.py",))).triggered
    assert not match_event(w, Event("pull_request", changed_files=("pkg/mod.txt",))).triggered


# --- others ----------------------------------------------------------------------


def test_release_types() -> None:
    w = wf(EventTrigger("release", types=("published",)))
    assert match_event(w, Event("release", action="published")).triggered
    assert not match_event(w, Event("release", action="created")).triggered


def test_schedule_matches_the_cron_in_the_payload() -> None:
    w = wf(EventTrigger("schedule", crons=("0 3 * * *",)))
    assert match_event(w, Event("schedule")).triggered
    assert match_event(w, Event("schedule", payload={"schedule": "0 3 * * *"})).triggered
    assert not match_event(w, Event("schedule", payload={"schedule": "5 * * * *"})).triggered


def test_workflow_run_workflows_and_branches() -> None:
    w = wf(EventTrigger("workflow_run", workflows=("Build",), types=("completed",), branches=("main",)))
    payload = {"workflow": {"name": "Build"}, "workflow_run": {"head_branch": "main"}}
    assert match_event(w, Event("workflow_run", action="completed", payload=payload)).triggered
    other = {"workflow": {"name": "Lint"}, "workflow_run": {"head_branch": "main"}}
    assert not match_event(w, Event("workflow_run", action="completed", payload=other)).triggered
    dev = {"workflow": {"name": "Build"}, "workflow_run": {"head_branch": "dev"}}
    assert not match_event(w, Event("workflow_run", action="completed", payload=dev)).triggered
    assert not match_event(w, Event("workflow_run", action="requested", payload=payload)).triggered
