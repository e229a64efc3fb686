"""Shared by the benchmarks: the machine they ran on, and where their figures go."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from pathlib import Path
from typing import Any


def machine(**extra: Any) -> dict[str, Any]:
    """Cores, CPU model, Python and platform, plus whatever the benchmark adds."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **extra,
    }


RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_results(name: str, figures: dict[str, Any], *, quick: bool) -> Path:
    """Write the figures to ``bench/results/NAME.json``; a ``--quick`` run to ``NAME.quick.json``.

    Why two files: ``make test`` runs some benchmarks with ``--quick``, and that
    must not replace the recorded full-size figures the README summarises.
    """
    path = RESULTS_DIR / (f"{name}.quick.json" if quick else f"{name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path
