"""The machine a CPU figure was made on: the processor's name and the instruction set torch uses.

Two CPUs give different float rounding for the same computation: torch and MKL pick their
kernels by instruction set (AVX2, AVX-512, …), and a result trained over hundreds of steps
carries the difference. A figure made on a CPU therefore names it: ``hubselect demo`` writes it
into ``demo.json``, and profile records into their ``device_name``.

>>> cpu_name()  # doctest: +SKIP
'Intel(R) Xeon(R) Processor'
>>> cpu_description()  # doctest: +SKIP
'Intel(R) Xeon(R) Processor, AVX512'
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

#: ``/proc/cpuinfo`` keys that name the processor (x86: ``model name``; ARM boards: ``Model``, ``Hardware``).
_NAME_KEYS = ("model name", "Model", "Hardware")


#: Where Linux lists the processors (a Mac has none).
CPUINFO = "/proc/cpuinfo"


def cpu_name(cpuinfo: str | os.PathLike | None = None) -> str:
    """The processor's model name (on a Mac, its chip: ``Apple M2 Pro``), or its architecture
    (``arm64``) where the system does not say. ``cpuinfo``: a file as Linux's :data:`CPUINFO`."""
    try:
        text = Path(CPUINFO if cpuinfo is None else cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux, or /proc not mounted
        text = ""
    for key in _NAME_KEYS:
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return " ".join(value.split())
    if sys.platform == "darwin" and (chip := _sysctl("machdep.cpu.brand_string")):
        return chip
    return platform.processor() or platform.machine() or "an unknown CPU"


def _sysctl(key: str) -> str:
    """macOS's ``sysctl -n key``, or "" where it cannot say."""
    try:
        done = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return " ".join(done.stdout.split()) if done.returncode == 0 else ""


def cpu_capability() -> str:
    """The instruction set torch's CPU kernels use here (``AVX512``, ``AVX2``, ``DEFAULT``, …)."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def cpu_description() -> str:
    """``"<processor>, <instruction set>"``: what decides the rounding of a CPU computation here."""
    return f"{cpu_name()}, {cpu_capability()}"


def machine_summary() -> dict[str, Any]:
    """The processor, torch's instruction set and the core count, for a report (``demo.json``)."""
    return {"cpu": cpu_name(), "instruction_set": cpu_capability(), "cores": os.cpu_count()}


__all__ = ["cpu_capability", "cpu_description", "cpu_name", "machine_summary"]
