"""Monitoring in the pure core: analysis templates, conditions, verdicts, statistics, DORA and generators.

Nothing here does I/O; the providers that fetch metrics live in :mod:`pheme.monitoring`.
"""
