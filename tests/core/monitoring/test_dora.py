"""DORA metrics on a synthetic history; every expected value is worked out from the fixture by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pheme.core.monitoring.dora import DeploymentFact, dora_by_group, dora_metrics


def t(
    day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 1, year: int = 2025
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


END = t(31)
WINDOW = timedelta(days=30)  # [2025-01-01, 2025-01-31)

HISTORY = [
    # Before the window: ignored.
    DeploymentFact(
        "d0",
        "api",
        "production",
        "0.9",
        "succeeded",
        t(20, 9, month=12, year=2024),
        t(20, 10, month=12, year=2024),
    ),
    # Lead time: 2025-01-02 11:00 - 2024-12-31 10:00 = 49 h = 176,400 s.
    DeploymentFact(
        "d1",
        "api",
        "production",
        "1.0",
        "succeeded",
        t(2, 10),
        t(2, 11),
        "a1",
        t(31, 10, month=12, year=2024),
    ),
    # Rolled back 15 s after taking traffic: a failed change, recovered in 15 s.
    DeploymentFact("d2", "api", "production", "1.1", "rolled_back", t(5, 12), t(5, 12, 0, 15), "a2", t(5, 9)),
    # Succeeded, lead 2 h 30 min = 9,000 s; but the next deployment is a fix, so a failed change,
    # recovered when the fix finished: 12:10 - 10:00 = 7,800 s.
    DeploymentFact("d3", "api", "production", "1.2", "succeeded", t(6, 10), t(6, 10, 30), "a3", t(6, 8)),
    # The fix: lead 12:10 - 11:00 = 4,200 s.
    DeploymentFact(
        "d4", "api", "production", "1.2.1", "succeeded", t(6, 12), t(6, 12, 10), "a4", t(6, 11), is_fix=True
    ),
    # Aborted after 5 min: failed change, recovered in 300 s. No commit time.
    DeploymentFact("d5", "api", "production", "1.3", "aborted", t(10, 9), t(10, 9, 5)),
    # Succeeded without a known commit time: counts as a deployment, not in lead time.
    DeploymentFact("d6", "api", "production", "1.4", "succeeded", t(20, 9), t(20, 9, 20)),
    # Still running: not finished, so in no metric.
    DeploymentFact("d7", "api", "production", "1.5", "in_progress", t(30, 0)),
    # Finished exactly at the end of the (half-open) window: outside it.
    DeploymentFact("d9", "api", "production", "1.6", "succeeded", t(30, 23), t(31), "a9", t(30, 22)),
    # Another environment and another service.
    DeploymentFact("s1", "api", "staging", "1.4", "succeeded", t(19, 9), t(19, 9, 1), "a6", t(19, 8, 31)),
    DeploymentFact("w1", "web", "production", "2.0", "failed", t(15, 9), t(15, 9, 2)),
]


def test_production_metrics_for_the_fixture() -> None:
    m = dora_metrics(HISTORY, service="api", environment="production", end=END, window=WINDOW)
    # Successful deployments finished in the window: d1, d3, d4, d6.
    assert m.deployments == 4
    assert m.deployments_per_day == pytest.approx(4 / 30)
    # Lead times 176,400, 9,000, 4,200 s.
    assert m.lead_time_median_s == 9000
    assert m.lead_time_mean_s == pytest.approx((176_400 + 9_000 + 4_200) / 3)
    # Finished: d1..d6 (6); failed changes: d2 (rolled back), d3 (followed by a fix), d5 (aborted).
    assert (m.finished, m.failed) == (6, 3)
    assert m.change_failure_rate == pytest.approx(0.5)
    # Recovery: 15, 7,800, 300 s.
    assert m.recovery_median_s == 300
    assert m.recovery_mean_s == pytest.approx((15 + 7_800 + 300) / 3)
    assert m.unrecovered == 0
    assert (m.window_start, m.window_end) == (t(1), END)


def test_groups_and_filters() -> None:
    groups = dora_by_group(HISTORY, end=END, window=WINDOW)
    assert [(g.service, g.environment) for g in groups] == [
        ("api", "production"),
        ("api", "staging"),
        ("web", "production"),
    ]
    staging = groups[1]
    # One deployment, lead 09:01 - 08:31 = 1,800 s, no failures.
    assert (staging.deployments, staging.lead_time_median_s, staging.change_failure_rate) == (1, 1800, 0.0)
    web = groups[2]
    # One failed deployment, nothing succeeded: frequency 0, CFR 1, recovery 120 s.
    assert (web.deployments, web.change_failure_rate, web.recovery_median_s) == (0, 1.0, 120)
    assert web.lead_time_median_s is None
    assert [
        g.environment
        for g in dora_by_group(HISTORY, end=END, window=WINDOW, service="api", environment="staging")
    ] == ["staging"]


def test_a_fix_still_running_leaves_the_failure_unrecovered() -> None:
    history = [
        DeploymentFact("a", "api", "production", "1", "succeeded", t(2, 10), t(2, 11)),
        DeploymentFact("b", "api", "production", "2", "in_progress", t(3, 10), is_fix=True),
    ]
    m = dora_metrics(history, service="api", environment="production", end=END, window=WINDOW)
    assert (m.failed, m.unrecovered, m.recovery_median_s) == (1, 1, None)


def test_an_empty_window_has_no_rates() -> None:
    m = dora_metrics([], service="api", environment="production", end=END, window=WINDOW)
    assert (m.deployments, m.deployments_per_day, m.change_failure_rate, m.lead_time_median_s) == (
        0,
        0.0,
        None,
        None,
    )
    assert m.to_json()["change_failure_rate"] == {"rate": None, "failed": 0, "finished": 0}


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        dora_metrics([], service="a", environment="b", end=END, window=timedelta(0))


def _record(
    rid: int,
    kind: str,
    status: str,
    start: datetime,
    end: datetime | None,
    commit: str = "",
    version: str = "v",
):
    from pheme.core.deploy.records import DeploymentRecord

    return DeploymentRecord(
        id=rid, service="api", environment="production", kind=kind, revision=rid, version=version,  # type: ignore[arg-type]
        strategy="canary", status=status, commit=commit, created_at=start, finished_at=end,
    )  # fmt: skip


def test_facts_from_deployment_records() -> None:
    from pheme.core.monitoring.dora import CommitInfo, facts_from_deployments

    records = [
        _record(1, "deploy", "succeeded", t(2, 10), t(2, 11), "c1"),
        _record(2, "deploy", "succeeded", t(3, 10), t(3, 10, 5), "c2"),
        # A manual rollback of deployment 2, done at 10:30: 2 becomes rolled back, recovered then.
        _record(3, "rollback", "succeeded", t(3, 10, 29), t(3, 10, 30)),
        _record(4, "deploy", "failed", t(4, 9), t(4, 9, 0, 20), "c4"),
        _record(5, "deploy", "succeeded", t(5, 9), t(5, 9, 10), "c5"),
        _record(6, "deploy", "paused", t(6, 9), None, "c6"),
    ]
    commits = {
        "c1": CommitInfo(t(1, 10), "feat: greet in French"),
        "c2": CommitInfo(t(3, 9), "feat: faster greeting"),
        "c5": CommitInfo(t(5, 8), 'Revert "feat: faster greeting"'),
    }
    facts = facts_from_deployments(records, commits)
    assert [(f.id, f.outcome) for f in facts] == [
        ("1", "succeeded"),
        ("2", "rolled_back"),
        ("4", "failed"),
        ("5", "succeeded"),
        ("6", "in_progress"),
    ]
    assert facts[0].commit_time == t(1, 10)
    assert facts[1].finished_at == t(3, 10, 30)
    assert facts[3].is_fix and not facts[0].is_fix
    m = dora_metrics(facts, service="api", environment="production", end=END, window=WINDOW)
    # Finished: 1, 2, 4, 5 (4). Failed: 2 (rolled back), 4 (failed) and 1? No: 1 is followed by 2, not a fix.
    # 5 is a fix, but it follows 4, which already counts as failed.
    assert (m.deployments, m.finished, m.failed) == (2, 4, 2)
    # Lead times: 1 → 25 h = 90,000 s; 5 → 1 h 10 min = 4,200 s.
    assert m.lead_time_median_s == pytest.approx((90_000 + 4_200) / 2)
    # Recovery: 2 → 10:00..10:30 = 1,800 s; 4 → 20 s.
    assert m.recovery_median_s == pytest.approx((1_800 + 20) / 2)
