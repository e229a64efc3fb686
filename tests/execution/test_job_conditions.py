"""Status functions in a job's ``if:`` after skipped and failed needs (GitHub's rules)."""

from __future__ import annotations

import pytest

WORKFLOW = """
on: push
jobs:
  gate:
    if: github.event_name == 'never'
    runs-on: ubuntu-latest
    steps:
      - run: echo gate
  after:
    needs: gate
    if: {cond}
    runs-on: ubuntu-latest
    steps:
      - run: echo ran
"""


@pytest.mark.parametrize(
    ("cond", "runs"),
    [
        ("success()", False),
        ("${{ success() }}", False),
        ("failure()", False),
        ("${{ !failure() && !cancelled() }}", True),
        ("always()", True),
        ("${{ needs.gate.result == 'skipped' }}", False),  # no status function: implicit success() first
    ],
)
def test_a_skipped_need_is_not_a_success(engine, cond, runs):
    result, col = engine.run(WORKFLOW.format(cond=cond))
    assert result.job("gate").conclusion == "skipped"
    assert result.job("after").conclusion == ("success" if runs else "skipped"), col.lines()


def test_failure_is_true_when_an_ancestor_failed_even_if_the_direct_need_was_skipped(engine):
    result, col = engine.run(
        """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  notify:
    needs: test
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo "test=${{ needs.test.result }}"
"""
    )
    assert result.job("test").conclusion == "skipped"
    assert result.job("notify").conclusion == "success"
    assert "test=skipped" in col.output("notify", 1)


def test_success_is_true_when_every_need_succeeded(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo a
  b:
    needs: a
    if: success() && github.event_name == 'push'
    runs-on: ubuntu-latest
    steps:
      - run: echo b
"""
    )
    assert result.job("b").conclusion == "success"
