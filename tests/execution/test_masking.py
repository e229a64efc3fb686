"""Secrets never reach logs, annotations, summaries or outputs in clear."""

from __future__ import annotations

import base64
import json
import urllib.parse

from pheme.execution.events import Annotation, JobFinished
from pheme.execution.masking import Masker

SECRET = 'p@ss w0rd/"quoted"&more'


def test_masks_the_value_and_the_forms_a_script_prints_it_in():
    m = Masker([SECRET])
    forms = [
        SECRET,
        base64.b64encode(SECRET.encode()).decode(),
        json.dumps(SECRET)[1:-1],
        urllib.parse.quote(SECRET, safe=""),
        urllib.parse.quote_plus(SECRET),
    ]
    for form in forms:
        assert m.mask(f"before {form} after") == "before *** after", form


def test_masks_base64_of_the_secret_inside_a_longer_base64_text_at_any_alignment():
    m = Masker(["hunter2-secret"])
    for prefix in ("", "u", "us", "use", "user:"):
        encoded = base64.b64encode(f"{prefix}hunter2-secret".encode()).decode()
        assert m.mask(encoded) != encoded, prefix
        assert "***" in m.mask(encoded)


def test_each_line_of_a_multiline_secret_is_masked():
    m = Masker(["first line\nsecond line"])
    assert m.mask("x first line y") == "x *** y"
    assert m.mask("second line") == "***"


def test_whitespace_only_and_empty_values_are_ignored_and_short_derived_forms_are_not_registered():
    m = Masker(["", "   "])
    assert not m
    short = Masker(["ab"])
    assert short.mask("ab cd") == "*** cd"
    # base64 of "ab" is "YWI="; its alignment-independent prefix "YW" is too short to mask.
    assert short.mask("YWI= YWx") == "*** YWx"


def test_longest_value_wins():
    m = Masker(["abc", "abcdef"])
    assert m.mask("abcdefg") == "***g"


def test_secrets_are_masked_in_logs_annotations_summaries_and_env_echo(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "plain: $TOKEN"
          echo "b64: $(printf '%s' "$TOKEN" | base64)"
          echo "::warning title=$TOKEN::warn $TOKEN"
          echo "summary $TOKEN" >> "$GITHUB_STEP_SUMMARY"
        env:
          TOKEN: ${{ secrets.TOKEN }}
""",
        secrets={"TOKEN": "s3cr3t-Value-42"},
    )
    assert result.conclusion == "success"
    everything = "\n".join(col.lines())
    assert "s3cr3t-Value-42" not in everything
    assert base64.b64encode(b"s3cr3t-Value-42").decode() not in everything
    assert "plain: ***" in everything and "b64: ***" in everything
    assert "  TOKEN: ***" in col.lines("j", 1)  # the env listing of the step header
    warning = next(a for a in col.of(Annotation) if a.level == "warning")
    assert (warning.message, warning.title) == ("warn ***", "***")
    assert result.summary["j"] == "summary ***\n"


def test_add_mask_hides_a_value_from_then_on(engine):
    _, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          value="generated-$((6 * 7))-token"
          echo "::add-mask::$value"
          echo "got $value"
      - run: echo "again generated-42-token"
"""
    )
    assert col.output("j", 1) == ["got ***"]
    assert col.output("j", 2) == ["again ***"]


def test_a_job_output_containing_a_secret_is_dropped_with_a_warning(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    outputs:
      leak: ${{ steps.s.outputs.v }}
      fine: ${{ steps.s.outputs.ok }}
    steps:
      - id: s
        run: |
          echo "v=${{ secrets.KEY }}" >> "$GITHUB_OUTPUT"
          echo "ok=public" >> "$GITHUB_OUTPUT"
""",
        secrets={"KEY": "very-secret-key"},
    )
    assert result.job("j").outputs == {"fine": "public"}
    finished = col.of(JobFinished)[0]
    assert finished.outputs == {"fine": "public"}
    assert any(a.message == "Skip output 'leak' since it may contain secret." for a in col.of(Annotation))


def test_a_secret_split_across_read_chunks_is_still_masked(engine):
    # 300 KB of filler puts the secret across the 256 KiB read boundary somewhere.
    _, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          for i in $(seq 1 4000); do printf '%s%s\\n' "$(printf 'x%.0s' $(seq 1 70))" "$KEY"; done
        env:
          KEY: ${{ secrets.KEY }}
""",
        secrets={"KEY": "abcdefghijklmnop"},
    )
    out = col.output("j", 1)
    assert len(out) == 4000
    assert all(line.endswith("***") and "abcdefghijklmnop" not in line for line in out)


def test_probing_a_block_first_never_changes_what_is_masked():
    """mask() looks for a few probe forms before rewriting a block: compare it with
    the plain alternation over every form, on texts built from the forms themselves."""
    import random
    import re

    from pheme.execution.masking import MASK, derived_forms

    rng = random.Random(7)
    secrets = ["s3cr3t-Value-42", "ab", "p@ss w0rd/\"q\"", "line one\nline two", "tok_" + "Z" * 30]
    m = Masker(secrets)
    forms = sorted(set().union(*(derived_forms(s) for s in secrets)), key=len, reverse=True)
    reference = re.compile("|".join(re.escape(f) for f in forms))
    pieces = [*forms, "plain", "x" * 50, "\n", " ", "a", "b", "Z"]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert m.mask(text) == reference.sub(MASK, text), text
        assert m.contains_secret(text) == (reference.search(text) is not None)
    assert m.mask("nothing to hide") == "nothing to hide"
