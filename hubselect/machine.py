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
from pathlib import Path
from typing import Any

#: ``/proc/cpuinfo`` keys that name the processor (x86: ``model name``; ARM boards: ``Model``, ``Hardware``).
_NAME_KEYS = ("model name", "Model", "Hardware")


def cpu_name(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str:
    """The processor's model name, or its architecture (``arm64``) where the system does not say."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux, or /proc not mounted
        text = ""
    for key in _NAME_KEYS:
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return " ".join(value.split())
    return platform.processor() or platform.machine() or "an unknown CPU"


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
