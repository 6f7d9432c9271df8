"""hubselect.machine: the processor a CPU figure was made on."""

from __future__ import annotations

import platform

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


def test_the_summary_names_torchs_instruction_set_and_the_cores():
    import os

    import torch

    summary = machine_summary()
    assert summary["instruction_set"] == torch.backends.cpu.get_cpu_capability() and summary["cores"] == os.cpu_count()
    assert summary["cpu"] == cpu_name()
