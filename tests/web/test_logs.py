"""Log folding: what a reader sees of ##[group] blocks and annotations."""

from __future__ import annotations

from pheme.web.logs import Group, Line, fold, line_kind


def test_groups_fold_their_lines_and_keep_github_line_numbers() -> None:
    log = fold(["##[group]Run make", "cc -o app", "##[endgroup]", "done"])
    assert log == [Group("Run make", 1, [Line(2, "cc -o app", "")], closed=True), Line(4, "done", "")]


def test_numbers_continue_from_where_the_shown_part_of_the_log_starts() -> None:
    [line] = fold(["late line"], start=4999)
    assert line == Line(5000, "late line", "")


def test_a_new_group_closes_the_open_one_like_githubs_viewer() -> None:
    first, second = fold(["##[group]A", "a", "##[group]B", "b"])
    assert isinstance(first, Group) and isinstance(second, Group)
    assert first.closed and [c.text for c in first.children] == ["a"]
    assert not second.closed and [c.text for c in second.children] == ["b"]


def test_a_stray_endgroup_is_dropped_and_an_empty_title_still_shows() -> None:
    log = fold(["##[endgroup]", "##[group]", "x", "##[endgroup]"])
    assert len(log) == 1 and isinstance(log[0], Group) and log[0].title == "group"


def test_annotations_are_marked_and_a_group_with_an_error_is_flagged() -> None:
    assert line_kind("##[error]boom") == ("error", "boom")
    assert line_kind("##[warning]careful") == ("warning", "careful")
    assert line_kind("[command]/usr/bin/git fetch") == ("command", "/usr/bin/git fetch")
    assert line_kind("##[unknown]text") == ("", "##[unknown]text")
    [group] = fold(["##[group]Test", "ok", "##[error]failed: 3 tests", "##[endgroup]"])
    assert isinstance(group, Group) and group.failed
