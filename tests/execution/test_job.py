"""What one job reports: step display names."""

from __future__ import annotations


def test_a_run_step_without_a_name_is_named_after_its_evaluated_first_line(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "event ${{ github.event_name }} ${{ secrets.TOKEN }}"
          echo second line
      - run: echo plain
""",
        secrets={"TOKEN": "tok-value"},
    )
    names = [s.name for s in result.job("j").steps]
    assert names == ['Run echo "event push ***"', "Run echo plain"]
