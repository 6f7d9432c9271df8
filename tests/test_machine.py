"""hubselect.machine: the processor a CPU figure was made on."""

from __future__ import annotations

import os
import platform
import sys

import hubselect.machine
from hubselect.machine import cpu_name, machine_summary


def test_the_cpu_is_named_by_its_model_name_as_linux_lists_it(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)   Platinum 8480+\nflags\t\t: fpu avx2\n\n"
                   "processor\t: 1\nmodel name\t: Intel(R) Xeon(R)   Platinum 8480+\n")
    assert cpu_name(x86) == "Intel(R) Xeon(R) Platinum 8480+"
    board = tmp_path / "arm"
    board.write_text("processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n")
    assert cpu_name(board) == "Raspberry Pi 4 Model B Rev 1.4"


def test_without_a_model_name_the_cpu_is_named_by_what_the_system_says(tmp_path):
    blank = tmp_path / "blank"
    blank.write_text("processor\t: 0\nmodel name\t:   \n")
    expected = platform.processor() or platform.machine()
    assert cpu_name(blank) == expected and cpu_name(tmp_path / "missing") == expected and expected


def test_a_mac_names_its_chip_as_sysctl_gives_it(tmp_path, monkeypatch):
    """macOS has no /proc/cpuinfo, and Python names every Apple silicon chip "arm": an M1 and an
    M3 Max were one setting for bench (``mps (arm64)``). The chip's name comes from ``sysctl``.
    (No Mac here: a ``sysctl`` that answers as macOS's does.)"""
    import torch  # noqa: F401  (imported as on Linux, before sys.platform says "darwin")

    from hubselect.bench.throughput import device_name

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sysctl = bin_dir / "sysctl"
    sysctl.write_text('#!/bin/sh\n[ "$1 $2" = "-n machdep.cpu.brand_string" ] && echo "Apple M2 Pro" && exit 0\nexit 1\n')
    sysctl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(hubselect.machine, "CPUINFO", str(tmp_path / "missing"))
    assert cpu_name() == "Apple M2 Pro"
    assert device_name("mps") == "mps (Apple M2 Pro)" and device_name("mps:0") == "mps (Apple M2 Pro)"
    sysctl.write_text("#!/bin/sh\nexit 1\n")  # an older macOS, or no such key: what Python says
    assert cpu_name() == (platform.processor() or platform.machine())


def test_the_summary_names_torchs_instruction_set_and_the_cores():
    import os

    import torch

    summary = machine_summary()
    assert summary["instruction_set"] == torch.backends.cpu.get_cpu_capability() and summary["cores"] == os.cpu_count()
    assert summary["cpu"] == cpu_name()
