"""Monitoring adapters: metric providers (Prometheus, scrape), the analysis runner, the alert receiver.

The decisions live in :mod:`pheme.core.monitoring`; this package fetches the
data and stores the measurements. Import submodules directly; this file stays light.
"""
