"""The scripts in benchmarks/, run as a user runs them: ``python benchmarks/NAME.py`` in a new
process from the repository root.

Only their refusals (and one small kernel_frontier run) are run here: the figures themselves
take minutes and come from the scripts, never from tests. A refusal is argparse's: usage, then
one error line, exit 2, before anything is built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of --device cuda on a machine without CUDA")


def run_script(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *map(str, args)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "250"}, timeout=120,  # help on unwrapped lines
    )  # fmt: skip


def refusal(done: subprocess.CompletedProcess) -> str:
    """The one error line of a refusal."""
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr, done.stderr
    return done.stderr.strip().splitlines()[-1]


# -- train_throughput.py --------------------------------------------------------------------------

TRAINED = "sd-tiny-ddim, sd-tiny-wide, sd-tiny-deep, sd-tiny-vpred, sd15"


@pytest.mark.parametrize("arch", ["sdxl-tiny", "sd3-tiny", "nope"])
def test_train_throughput_refuses_an_architecture_its_loops_do_not_train(arch):
    """sdxl-tiny and sd3-tiny crashed in the plain loop (no added conditioning; no UNet) after
    the pipeline was built, and hubselect's trainer does not fine-tune them either: there is no
    comparison to make. An unknown name was a KeyError traceback."""
    assert refusal(run_script("train_throughput.py", "--arch", arch)) == (
        f"train_throughput.py: error: argument --arch: {arch!r} is not an architecture both loops train "
        f"(hubselect's trainer fine-tunes SD-1.x-style pipelines: a UNet and one CLIP text encoder); choose one of: {TRAINED}"
    )


def test_train_throughput_help_offers_only_the_architectures_it_runs():
    done = run_script("train_throughput.py", "--help")
    assert done.returncode == 0 and f"Architecture ({TRAINED})." in done.stdout and "sdxl" not in done.stdout


# -- counts, refused before any work --------------------------------------------------------------


@pytest.mark.parametrize(
    "script, args, error",
    [
        ("recommend_latency.py", ["--repeats", "0"], "argument --repeats: must be at least 1, got 0"),
        ("recommend_latency.py", ["--images", "4"], "argument --images: must be at least 8, got 4"),
        ("recommend_latency.py", ["--per-dataset", "1"], "argument --per-dataset: must be at least 2, got 1"),
        (
            "recommend_latency.py",
            ["--models", "10", "--per-dataset", "20"],
            "--per-dataset 20 is more than --models 10: each dataset is profiled with distinct models",
        ),
        ("train_throughput.py", ["--repeats", "0"], "argument --repeats: must be at least 1, got 0"),
        ("train_throughput.py", ["--batch-size", "two"], "argument --batch-size: must be a whole number, got 'two'"),
        ("train_throughput.py", ["--resolution", "12"], "argument --resolution: must be a multiple of 8, got 12"),
        ("train_throughput.py", ["--resolution", "0"], "argument --resolution: must be at least 8, got 0"),
        ("probe_throughput.py", ["--min-runs", "0", "--min-seconds", "0"], "argument --min-runs: must be at least 1, got 0"),
        ("probe_throughput.py", ["--images", "-3"], "argument --images: must be at least 1, got -3"),
        ("probe_throughput.py", ["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        ("dataset_distances.py", ["--pairs-of", "1"], "argument --pairs-of: must be at least 2, got 1"),
        ("dataset_distances.py", ["--datasets", "1"], "argument --datasets: must be at least 2, got 1"),
    ],
)
def test_a_count_no_run_can_use_is_refused_before_anything_is_built(script, args, error):
    """Each of these crashed (StatisticsError after the build, ValueError, ZeroDivisionError,
    train_throughput.py's --resolution 12 an InputError traceback after its plain loop had run) or,
    for --batch-size 0, was silently replaced by the default."""
    assert refusal(run_script(script, *args)) == f"{script}: error: {error}"


@NO_CUDA
@pytest.mark.parametrize("script", ["probe_throughput.py", "train_throughput.py"])
def test_device_cuda_without_cuda_is_one_line(script):
    """probe_throughput.py printed a full traceback above this line."""
    assert refusal(run_script(script, "--device", "cuda")) == f"{script}: error: --device cuda: torch sees no CUDA device here; use --device cpu"


# -- kernel_frontier.py ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_method_zoo(tmp_path_factory) -> Path:
    """A small zoo with `default` results on 6 datasets and `lora` results on 4 of them."""
    from hubselect.rank.synthetic import synthetic_zoo
    from hubselect.zoo import ProfileRecord

    zoo = synthetic_zoo(12, 6, n_clusters=2, seed=0)
    lora = zoo.records[zoo.records["dataset"].isin(zoo.dataset_ids[:4])]
    zoo.add_profiles(ProfileRecord(r.model, r.dataset, float(r.score), method="lora") for r in lora.itertuples())
    return zoo.save(tmp_path_factory.mktemp("zoo") / "zoo")


def test_kernel_frontier_runs_on_the_method_it_is_given(two_method_zoo, tmp_path):
    """On a zoo of several methods it said "choose one with --method", an option it did not have."""
    assert refusal(run_script("kernel_frontier.py", two_method_zoo)) == (
        "error: the zoo holds several methods (default, lora); choose one with --method (method= in Python)"
    )
    done = run_script("kernel_frontier.py", two_method_zoo, "--method", "lora", "--json", tmp_path / "lora.json")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "lora.json").read_text())["targets"] == 4  # the datasets with lora results
    assert refusal(run_script("kernel_frontier.py", two_method_zoo, "--method", "dreambooth")) == (
        "error: method 'dreambooth' has no records in this zoo; choose one of: default, lora"
    )


# -- evaluate_scale.py ----------------------------------------------------------------------------


def test_evaluate_scale_runs_on_the_smallest_zoo_its_checks_accept(tmp_path):
    """`--models 2 --per-dataset 2` passed the argument checks, then crashed building the zoo
    (a ValueError traceback: fewer models than the zoo's clusters of datasets, at least 3)."""
    done = run_script("evaluate_scale.py", "--models", 2, "--datasets", 3, "--per-dataset", 2, "--targets", 2, "--jobs", 1,
                      "--json", tmp_path / "figures.json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "zoo: 2 models x 3 datasets, 2 results per dataset; evaluating 2 of its 3 targets" in done.stdout
    assert [run["jobs"] for run in json.loads((tmp_path / "figures.json").read_text())["runs"]] == [1]
