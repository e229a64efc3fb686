"""The scrape provider's arithmetic: parsing, increase with resets, success rates, histogram_quantile."""

from __future__ import annotations

import math

import pytest

from pheme.core.monitoring.promtext import histogram_quantile, increase, parse_exposition, window_counts

TEXT = """\
# HELP http_requests_total HTTP requests served, by status code.
# TYPE http_requests_total counter
http_requests_total{status="200"} 90
http_requests_total{status="404"} 4
http_requests_total{status="500"} 6
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 50
http_request_duration_seconds_bucket{le="0.5"} 90
http_request_duration_seconds_bucket{le="1.0"} 100
http_request_duration_seconds_bucket{le="+Inf"} 100
http_request_duration_seconds_sum 20.5
http_request_duration_seconds_count 100
"""


def test_counts_requests_errors_and_buckets() -> None:
    counts = window_counts(parse_exposition(TEXT))
    assert counts.requests == 100
    assert counts.errors == 6  # only 5xx; the 404s are the client's fault
    assert counts.success_rate == pytest.approx(0.94)
    assert counts.error_rate == pytest.approx(0.06)
    assert counts.buckets == ((0.1, 50), (0.5, 90), (1.0, 100), (math.inf, 100))
    assert counts.bucket_counts() == [50, 40, 10, 0]


def test_no_requests_gives_nan_rates_not_zero() -> None:
    counts = window_counts(parse_exposition(""))
    assert counts.requests == 0
    assert math.isnan(counts.success_rate)
    assert math.isnan(counts.error_rate)


def test_increase_between_scrapes_and_after_a_restart() -> None:
    before = parse_exposition('http_requests_total{status="200"} 40\nhttp_requests_total{status="500"} 10\n')
    after = parse_exposition(
        'http_requests_total{status="200"} 55\nhttp_requests_total{status="500"} 3\nhttp_requests_total{status="503"} 2\n'
    )
    counts = window_counts(increase(before, after))
    # 200: +15; 500 went down (restart) so its whole value 3 counts; 503 is new: +2.
    assert counts.requests == 20
    assert counts.errors == 5


def test_selector_and_custom_error_statuses() -> None:
    text = (
        'http_requests_total{status="200",track="canary"} 10\n'
        'http_requests_total{status="429",track="canary"} 5\n'
        'http_requests_total{status="500",track="stable"} 7\n'
    )
    counts = window_counts(parse_exposition(text), selector={"track": "canary"}, error_status="5..|429")
    assert (counts.requests, counts.errors) == (15, 5)


def test_malformed_text_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="malformed metrics text"):
        parse_exposition('http_requests_total{status="200" 1\n')


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # rank 50 falls exactly at the end of the first bucket [0, 0.1]
        (0.5, 0.1),
        # rank 90: second bucket (0.1, 0.5] holds ranks 51..90 → its upper bound
        (0.9, 0.5),
        # rank 95: third bucket (0.5, 1] holds 10 → 0.5 + 0.5 * 5/10
        (0.95, 0.75),
        # rank 99: 0.5 + 0.5 * 9/10
        (0.99, 0.95),
        # rank 25: 0 + 0.1 * 25/50
        (0.25, 0.05),
    ],
)
def test_histogram_quantile_interpolates_like_prometheus(q: float, expected: float) -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


def test_histogram_quantile_edge_cases() -> None:
    # Rank in the +Inf bucket: the highest finite bound.
    assert histogram_quantile(0.99, [(0.1, 50.0), (1.0, 100.0), (math.inf, 110.0)]) == 1.0
    # No observations, no +Inf bucket, a single bucket: NaN, as PromQL gives.
    assert math.isnan(histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 0.0)]))
    assert math.isnan(histogram_quantile(0.99, [(0.1, 5.0), (1.0, 10.0)]))
    assert math.isnan(histogram_quantile(0.99, [(math.inf, 10.0)]))
    assert histogram_quantile(-0.1, [(0.1, 5.0), (math.inf, 5.0)]) == -math.inf
    assert histogram_quantile(1.1, [(0.1, 5.0), (math.inf, 5.0)]) == math.inf
    # Cumulative counts that dip (racing scrapes) are made monotonic first.
    assert histogram_quantile(0.5, [(0.1, 10.0), (0.5, 9.0), (math.inf, 20.0)]) == pytest.approx(0.1)
