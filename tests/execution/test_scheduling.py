"""When jobs start: readiness (not stages), matrix, fail-fast, max-parallel."""

from __future__ import annotations

from pheme.execution.events import JobFinished, JobStarted


def test_a_job_starts_as_soon_as_its_own_needs_are_done_while_an_unrelated_job_still_runs(engine):
    # `slow` only finishes once `unblock` has run; `unblock` needs `quick` only.
    # A stage-based scheduler would wait for `slow` before starting `unblock`: deadlock (timeout).
    flag = engine.workspace / "go"
    result, col = engine.run(
        f"""
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    timeout-minutes: 1
    steps:
      - run: while [ ! -f "{flag}" ]; do sleep 0.02; done; echo released
  quick:
    runs-on: ubuntu-latest
    steps:
      - run: echo quick
  unblock:
    needs: quick
    runs-on: ubuntu-latest
    steps:
      - run: touch "{flag}"
""",
        max_parallel_jobs=3,
    )
    assert result.conclusion == "success", col.lines()
    order = [(type(e).__name__, e.job.key) for e in col.events if isinstance(e, (JobStarted, JobFinished))]
    assert order.index(("JobStarted", "unblock")) < order.index(("JobFinished", "slow"))


def test_max_parallel_jobs_limits_concurrency(engine):
    log = engine.workspace / "log"
    jobs = "".join(
        f"""
  j{i}:
    runs-on: ubuntu-latest
    steps:
      - run: echo start >> "{log}"; sleep 0.05; echo end >> "{log}"
"""
        for i in range(4)
    )
    result, _ = engine.run("on: push\njobs:" + jobs, max_parallel_jobs=1)
    assert result.conclusion == "success"
    assert log.read_text().split() == ["start", "end"] * 4


def test_matrix_expands_with_keys_names_and_contexts(engine):
    result, col = engine.run(
        """
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [linux, mac]
        py: ["3.11", "3.12"]
        exclude:
          - os: mac
            py: "3.11"
        include:
          - os: linux
            extra: yes
    steps:
      - run: echo "${{ matrix.os }} ${{ matrix.py }} ${{ matrix.extra }} ${{ strategy.job-index }}/${{ strategy.job-total }}"
"""
    )
    assert result.conclusion == "success"
    keys = [j.key for j in result.jobs]  # reported in matrix order
    assert keys == ["test (linux, 3.11, yes)", "test (linux, 3.12, yes)", "test (mac, 3.12)"]
    assert result.job("test (mac, 3.12)").matrix == {"os": "mac", "py": "3.12"}
    assert result.job("test (mac, 3.12)").name == "test (mac, 3.12)"
    assert col.output("test (linux, 3.12, yes)", 1) == ["linux 3.12 yes 1/3"]


def test_matrix_from_an_expression_over_needs_outputs(engine):
    result, col = engine.run(
        """
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      targets: ${{ steps.p.outputs.targets }}
    steps:
      - id: p
        run: echo 'targets=["a","b"]' >> "$GITHUB_OUTPUT"
  build:
    needs: plan
    runs-on: ubuntu-latest
    name: Build ${{ matrix.target }}
    strategy:
      matrix:
        target: ${{ fromJSON(needs.plan.outputs.targets) }}
    steps:
      - run: echo "${{ matrix.target }}"
"""
    )
    assert result.conclusion == "success", col.lines()
    builds = [j for j in result.jobs if j.job_id == "build"]
    assert sorted(j.name for j in builds) == ["Build a", "Build b"]
    assert sorted(j.key for j in builds) == ["build (a)", "build (b)"]


def test_fail_fast_cancels_the_unfinished_siblings(engine):
    result, col = engine.run(
        """
on: push
jobs:
  m:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: |
          if [ "${{ matrix.n }}" = 1 ]; then exit 1; fi
          sleep 300
      - if: always()
        run: echo "cleanup ${{ matrix.n }} ${{ job.status }}"
""",
        max_parallel_jobs=2,
    )
    assert result.job("m (1)").conclusion == "failure"
    assert result.job("m (2)").conclusion == "cancelled"
    assert result.conclusion == "failure"
    sibling = result.job("m (2)")
    if sibling.started:  # it was running: its step was killed and its always() step still ran
        assert sibling.steps[0].outcome == "cancelled"
        assert col.output("m (2)", 2) == ["cleanup 2 cancelled"]


def test_without_fail_fast_siblings_finish(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  m:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        n: [1, 2]
    steps:
      - run: test "${{ matrix.n }}" = 2
""",
        max_parallel_jobs=2,
    )
    assert result.job("m (1)").conclusion == "failure"
    assert result.job("m (2)").conclusion == "success"


def test_matrix_max_parallel_runs_siblings_one_at_a_time(engine):
    log = engine.workspace / "log"
    result, _ = engine.run(
        f"""
on: push
jobs:
  m:
    runs-on: ubuntu-latest
    strategy:
      max-parallel: 1
      matrix:
        n: [1, 2, 3]
    steps:
      - run: echo "start ${{{{ matrix.n }}}}" >> "{log}"; sleep 0.05; echo "end ${{{{ matrix.n }}}}" >> "{log}"
""",
        max_parallel_jobs=4,
    )
    assert result.conclusion == "success"
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["start", "end"] * 3


def test_job_filter_runs_the_job_and_its_needs_only(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  base:
    runs-on: ubuntu-latest
    steps:
      - run: echo base
  target:
    needs: base
    runs-on: ubuntu-latest
    steps:
      - run: echo target
  other:
    runs-on: ubuntu-latest
    steps:
      - run: echo other
""",
        jobs=["target"],
    )
    assert [j.key for j in result.jobs] == ["base", "target"]


MATRIX_AND_PLAIN = """
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo lint
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [linux, mac]
        py: [3.10, "3.12"]
    steps:
      - run: echo "${{ matrix.os }} ${{ matrix.py }} ${{ strategy.job-index }}/${{ strategy.job-total }}"
  other:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        arch: [x64, arm64]
    steps:
      - run: echo ${{ matrix.arch }}
"""


def test_matrix_filter_runs_only_the_matching_combinations(engine):
    result, col = engine.run(MATRIX_AND_PLAIN, matrix_filter={"os": ["mac"], "py": ["3.1"]})
    assert result.conclusion == "success"
    # lint has no matrix and "other" has neither key: neither is filtered.
    assert [j.key for j in result.jobs] == ["lint", "test (mac, 3.1)", "other (x64)", "other (arm64)"]
    assert col.output("test (mac, 3.1)", 1) == ["mac 3.1 0/1"]  # job-total counts what is left


def test_a_matrix_filter_matching_nothing_skips_the_job_and_logs_why(engine):
    result, col = engine.run(MATRIX_AND_PLAIN, matrix_filter={"os": ["windows"]})
    assert result.conclusion == "success"
    test = result.job("test")
    assert (test.conclusion, test.started) == ("skipped", False)
    assert test.reason == "the matrix filter os:windows matches none of its 4 combinations"
    assert col.lines("test") == ["##[notice]the matrix filter os:windows matches none of its 4 combinations"]
    assert result.job("lint").conclusion == "success"
