"""Mann–Whitney U against values worked out by hand (see the comments), and its grouped form."""

from __future__ import annotations

import random

import pytest

from pheme.core.monitoring.stats import mann_whitney_grouped, mann_whitney_u, normal_sf


def test_normal_tail_matches_the_table() -> None:
    # Standard normal table: P(Z > 1.96) = 0.0250, P(Z > 1) = 0.1587, P(Z > 0) = 0.5.
    assert normal_sf(1.96) == pytest.approx(0.0250, abs=1e-4)
    assert normal_sf(1.0) == pytest.approx(0.1587, abs=1e-4)
    assert normal_sf(0.0) == 0.5


def test_no_ties_textbook_example() -> None:
    # x = [19, 22, 16, 29, 24], y = [20, 11, 17, 12]. Pairs where x beats y:
    # 19 > 11,17,12 (3); 22 > all 4; 16 > 11,12 (2); 29 > 4; 24 > 4  => U = 17.
    # mean = 5*4/2 = 10, var = 5*4*(9+1)/12 = 16.667, z = (17 - 10 - 0.5) / 4.0825 = 1.592,
    # two-sided p = 2 * P(Z > 1.592) = 2 * 0.0557 = 0.1113 (normal table).
    r = mann_whitney_u([19, 22, 16, 29, 24], [20, 11, 17, 12])
    assert r.u == 17
    assert r.p_value == pytest.approx(0.1113, abs=5e-4)
    assert r.effect == pytest.approx(17 / 20)


def test_ties_use_mid_ranks_and_the_tie_corrected_variance() -> None:
    # x = [1, 2, 2, 3], y = [2, 3, 3, 4]; pooled ranks: 1→1, the three 2s→3, the three 3s→6, 4→8.
    # R_x = 1 + 3 + 3 + 6 = 13, U = 13 - 4*5/2 = 3.
    # Tie term: (27 - 3) + (27 - 3) = 48; var = 16/12 * (9 - 48/56) = 10.857, sd = 3.2950.
    # Two-sided: z = (|3 - 8| - 0.5) / 3.2950 = 1.3657, p = 2 * 0.0860 = 0.1720.
    r = mann_whitney_u([1, 2, 2, 3], [2, 3, 3, 4])
    assert r.u == 3
    assert r.p_value == pytest.approx(0.1720, abs=5e-4)
    # One-sided "x is smaller": p = P(Z > 1.3657) = 0.0860; "x is larger": 1 - P(Z > -1.669)...
    assert mann_whitney_u([1, 2, 2, 3], [2, 3, 3, 4], "less").p_value == pytest.approx(0.0860, abs=5e-4)
    assert mann_whitney_u([1, 2, 2, 3], [2, 3, 3, 4], "greater").p_value > 0.9


def test_identical_constant_samples_give_no_evidence() -> None:
    r = mann_whitney_u([1, 1, 1], [1, 1])
    assert r.p_value == 1.0
    assert r.effect == 0.5


def test_a_clear_shift_is_significant_in_the_right_direction_only() -> None:
    slow = [float(v) for v in range(100, 130)]
    fast = [float(v) for v in range(0, 30)]
    assert mann_whitney_u(slow, fast, "greater").p_value < 1e-6
    assert mann_whitney_u(slow, fast, "less").p_value > 0.99


def test_empty_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_u([], [1.0])
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_grouped([0, 0], [3, 4])


def test_nan_values_are_dropped() -> None:
    nan = float("nan")
    assert mann_whitney_u([19, 22, nan, 16, 29, 24], [20, 11, 17, 12, nan]).u == 17


@pytest.mark.parametrize("seed", range(5))
def test_grouped_counts_equal_the_raw_test(seed: int) -> None:
    rng = random.Random(seed)
    x_counts = [rng.randint(0, 30) for _ in range(6)]
    y_counts = [rng.randint(0, 30) for _ in range(6)]
    x = [float(k) for k, c in enumerate(x_counts) for _ in range(c)]
    y = [float(k) for k, c in enumerate(y_counts) for _ in range(c)]
    for alt in ("two-sided", "greater", "less"):
        raw = mann_whitney_u(x, y, alt)
        grouped = mann_whitney_grouped(x_counts, y_counts, alt)
        assert grouped.u == pytest.approx(raw.u)
        assert grouped.p_value == pytest.approx(raw.p_value)


def test_error_counts_two_proportions() -> None:
    # Canary: 50 errors in 1000; stable: 20 errors in 1000. As 0/1 outcomes [ok, error]:
    # the canary is significantly worse ("greater" error indicator) and not better.
    r = mann_whitney_grouped([950, 50], [980, 20], "greater")
    assert r.p_value < 0.001
    assert mann_whitney_grouped([950, 50], [980, 20], "less").p_value > 0.99


def test_false_alarm_rate_is_at_most_alpha_on_identical_versions() -> None:
    # 2,000 A/A comparisons of 2 % error rates with 1,000 requests each: at alpha 0.05
    # a calibrated test rejects about 5 %; the continuity correction keeps it at or below.
    rng = random.Random(7)
    rejected = 0
    trials = 2000
    for _ in range(trials):
        a = sum(rng.random() < 0.02 for _ in range(1000))
        b = sum(rng.random() < 0.02 for _ in range(1000))
        if mann_whitney_grouped([1000 - a, a], [1000 - b, b], "greater").p_value < 0.05:
            rejected += 1
    assert rejected / trials <= 0.06
