"""Mann–Whitney U test (normal approximation with tie correction), as Kayenta judges canaries.

Why this test: it compares two samples without assuming a distribution, so the
same code judges error indicators (0/1 per request), latencies and per-interval
rates. Kayenta's NetflixACAJudge uses it for the same reason.

Two entry points:

- :func:`mann_whitney_u` for raw samples (per-interval values from a range query);
- :func:`mann_whitney_grouped` for samples given as counts per ordered category,
  which is what Prometheus counters and histograms give us: ``[ok, error]``
  request counts, or the per-bucket counts of a latency histogram. It is exact
  (mid-ranks for each category), so ``grouped([a, b], [c, d])`` equals the raw
  test on ``[0]*a + [1]*b`` versus ``[0]*c + [1]*d`` — without building lists of
  a million zeros.

Both use the normal approximation with the tie-corrected variance and a
continuity correction (scipy's ``method="asymptotic"``, ``use_continuity=True``),
which is accurate for the sample sizes canary analysis needs (dozens and up).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Alternative", "MannWhitneyResult", "mann_whitney_grouped", "mann_whitney_u", "normal_sf"]

Alternative = Literal["two-sided", "greater", "less"]


@dataclass(frozen=True, slots=True)
class MannWhitneyResult:
    """``u`` is U for the first sample (the number of pairs where x beats y, ties count half).

    ``effect`` is the common-language effect size ``u / (n1 * n2)``: the chance
    that a random x exceeds a random y (0.5 = no difference).
    """

    u: float
    z: float
    p_value: float
    n1: int
    n2: int
    effect: float


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _p_value(u: float, n1: int, n2: int, tie_term: float, alternative: Alternative) -> tuple[float, float]:
    """(z, p) for U given the tie term sum(t^3 - t) over tied groups."""
    n = n1 + n2
    mean = n1 * n2 / 2.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:
        # Every value is the same: no evidence of any difference.
        return 0.0, 1.0
    sd = math.sqrt(var)
    if alternative == "greater":
        z = (u - mean - 0.5) / sd
        return z, normal_sf(z)
    if alternative == "less":
        z = (u - mean + 0.5) / sd
        return z, normal_sf(-z)
    diff = abs(u - mean)
    z = max(diff - 0.5, 0.0) / sd
    return math.copysign(z, u - mean), min(1.0, 2.0 * normal_sf(z))


def mann_whitney_u(
    x: Sequence[float], y: Sequence[float], alternative: Alternative = "two-sided"
) -> MannWhitneyResult:
    """Test whether ``x`` tends to be larger (``greater``), smaller (``less``) or different from ``y``.

    NaNs are dropped. Raises ``ValueError`` if either sample is empty after that.
    """
    xs = [float(v) for v in x if not math.isnan(v)]
    ys = [float(v) for v in y if not math.isnan(v)]
    n1, n2 = len(xs), len(ys)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney needs at least one value in each sample")
    pooled = sorted([(v, 0) for v in xs] + [(v, 1) for v in ys])
    rank_sum_x = 0.0
    tie_term = 0.0
    i = 0
    n = len(pooled)
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        t = j - i + 1
        mid = (i + j) / 2.0 + 1.0  # 1-based mid-rank of the tied group
        rank_sum_x += mid * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        tie_term += t**3 - t
        i = j + 1
    u = rank_sum_x - n1 * (n1 + 1) / 2.0
    z, p = _p_value(u, n1, n2, tie_term, alternative)
    return MannWhitneyResult(u=u, z=z, p_value=p, n1=n1, n2=n2, effect=u / (n1 * n2))


def mann_whitney_grouped(
    x_counts: Sequence[float], y_counts: Sequence[float], alternative: Alternative = "two-sided"
) -> MannWhitneyResult:
    """The same test on counts per ordered category (lowest category first).

    ``x_counts[k]`` is how many observations of x fall in category *k*. Counts
    are rounded to whole observations (Prometheus' ``increase`` may give 9.99).
    """
    if len(x_counts) != len(y_counts):
        raise ValueError("both samples need the same categories")
    xc = [max(0, round(c)) for c in x_counts]
    yc = [max(0, round(c)) for c in y_counts]
    n1, n2 = sum(xc), sum(yc)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney needs at least one value in each sample")
    below = 0
    rank_sum_x = 0.0
    tie_term = 0.0
    for a, b in zip(xc, yc, strict=True):
        t = a + b
        if t == 0:
            continue
        mid = below + (t + 1) / 2.0
        rank_sum_x += a * mid
        tie_term += float(t) ** 3 - t
        below += t
    u = rank_sum_x - n1 * (n1 + 1) / 2.0
    z, p = _p_value(u, n1, n2, tie_term, alternative)
    return MannWhitneyResult(u=u, z=z, p_value=p, n1=n1, n2=n2, effect=u / (n1 * n2))
