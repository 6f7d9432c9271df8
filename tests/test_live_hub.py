"""The live tier: the Hub tests' user paths against the real Hub (https://huggingface.co), read-only.

Run with ``HUBSELECT_LIVE_HUB=1 python -m pytest -m live`` on a machine with network access; no
token is needed and nothing is uploaded. Without ``HUBSELECT_LIVE_HUB=1`` the tier is skipped
(tests/conftest.py) and without ``-m live`` it is deselected (pyproject's addopts); the one test
here without the marker checks that wiring, offline.

Every command runs as ``python -m hubselect`` in a subprocess with a clean environment: the
loopback plugin pointed ``HF_ENDPOINT`` (read by huggingface_hub at import) at a local server and
the cache paths at temp dirs in *this* process, so only a fresh process can reach the real Hub.
Each gets its own empty HF and hubselect caches, so what it reports was read from the Hub.

Downloads stay small: crawling reads configs and safetensors headers (a few kB each); the dataset
is one 1.7 MB parquet file. The repos are tiny fixtures that diffusers' and transformers' own test
suites pin, unchanged for years; assertions are on properties a user sees, not exact numbers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hubselect.zoo import Zoo

LIVE_ENDPOINT = "https://huggingface.co"

#: StableDiffusionPipeline with safetensors weights for every component; its text encoder is
#: sharded in 4 files behind ``text_encoder/model.safetensors.index.json`` (fp16 and .bin copies
#: beside). Pinned by diffusers' tests/pipelines/test_pipelines.py (test_download_safetensors_index);
#: file list checked on huggingface.co/hf-internal-testing/tiny-stable-diffusion-pipe-indexes/tree/main
#: (tags: Text-to-Image, Diffusers, Safetensors).
SAFETENSORS_PIPELINE = "hf-internal-testing/tiny-stable-diffusion-pipe-indexes"
#: StableDiffusionPipeline whose weights are pickles only (``unet/diffusion_pytorch_model.bin``...),
#: card license apache-2.0. Loaded by diffusers' DownloadTests (test_download_no_safety_checker);
#: checked on huggingface.co/hf-internal-testing/tiny-stable-diffusion-torch/tree/main/unet.
PICKLE_PIPELINE = "hf-internal-testing/tiny-stable-diffusion-torch"
#: 20 captioned images (columns image, text) in one parquet file under data/, card with
#: dataset_info. Used by diffusers' text_to_image example tests and transformers' pipeline tests;
#: checked on huggingface.co/datasets/hf-internal-testing/dummy_image_text_data/tree/main.
IMAGE_DATASET = "hf-internal-testing/dummy_image_text_data"

#: Seconds one command may take. A crawl of one tiny repo or a sample of 8 images takes a few
#: seconds plus the imports; past this the network (or the Hub) is the problem, not hubselect.
COMMAND_TIMEOUT = 180
#: Seconds to wait for the Hub before deciding there is no network.
REACH_TIMEOUT = 10

SHA = re.compile(r"[0-9a-f]{40}")


def _clean_env(home: Path) -> dict[str, str]:
    """This process's environment without any HF_/HUBSELECT_ setting, pointed at the real Hub and fresh caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "HUBSELECT_", "TRANSFORMERS_"))}
    env.update(
        {
            "HF_ENDPOINT": LIVE_ENDPOINT,
            "HF_HOME": str(home / "hf-home"),
            "HUBSELECT_CACHE": str(home / "hubselect-cache"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            # huggingface_hub's per-request timeouts (its retries on network errors come on top).
            "HF_HUB_ETAG_TIMEOUT": str(REACH_TIMEOUT),
            "HF_HUB_DOWNLOAD_TIMEOUT": str(REACH_TIMEOUT),
        }
    )
    return env


@pytest.fixture(scope="session")
def reachable_hub() -> str:
    """The real Hub's URL, once it answered; without network every live test fails at once, saying so."""
    try:
        with urllib.request.urlopen(f"{LIVE_ENDPOINT}/api/models/{SAFETENSORS_PIPELINE}", timeout=REACH_TIMEOUT):
            return LIVE_ENDPOINT
    except OSError as exc:  # URLError, HTTPError, timeouts
        problem = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    # Outside the except block, so the failure is this one line, not a chain of tracebacks.
    pytest.fail(
        f"HUBSELECT_LIVE_HUB=1 but {LIVE_ENDPOINT} cannot be reached ({problem}); "
        "run the live tier on a machine with network access, or unset HUBSELECT_LIVE_HUB",
        pytrace=False,
    )


@pytest.fixture
def live_env(reachable_hub, tmp_path) -> dict[str, str]:
    return _clean_env(tmp_path)


def hubselect(env: dict[str, str], *args) -> dict:
    """Run ``hubselect --format json ARGS`` against the real Hub; its JSON output."""
    command = [sys.executable, "-m", "hubselect", "--format", "json", *map(str, args)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`hubselect {' '.join(map(str, args))}` took over {COMMAND_TIMEOUT} s against {LIVE_ENDPOINT}", pytrace=False)
    assert done.returncode == 0, f"`hubselect {' '.join(map(str, args))}` failed:\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.mark.live
def test_the_subprocesses_use_the_real_hub_whatever_this_process_points_at(live_env):
    probe = "from huggingface_hub import constants; print(constants.ENDPOINT, constants.HF_HUB_OFFLINE)"
    done = subprocess.run([sys.executable, "-c", probe], env=live_env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert done.stdout.split() == [LIVE_ENDPOINT, "False"], done.stderr


@pytest.mark.live
def test_crawl_reads_real_pipelines_from_configs_and_safetensors_headers(live_env, tmp_path):
    zoo_dir = tmp_path / "zoo"
    crawl = ("crawl", "--kind", "t2i", "--zoo", zoo_dir, "--author", "hf-internal-testing", "--limit", "3")

    first = hubselect(live_env, *crawl, "--search", SAFETENSORS_PIPELINE.split("/")[1])
    second = hubselect(live_env, *crawl, "--search", PICKLE_PIPELINE.split("/")[1])
    records = {r.model: r for r in Zoo.load(zoo_dir).model_records()}

    assert first["crawled"] >= 1 and first["incomplete"] == 0 and first["stopped"] is None
    pipe = records[SAFETENSORS_PIPELINE]
    features = pipe.features
    assert SHA.fullmatch(pipe.revision)
    assert features["crawl_complete"] and features["excluded_reason"] is None and features["safety_flag"] is None
    assert (features["pipeline_class"], features["architecture"]) == ("StableDiffusionPipeline", "sd")
    assert (features["denoiser_class"], features["text_encoder_class"], features["vae_class"]) == (
        "UNet2DConditionModel", "CLIPTextModel", "AutoencoderKL"
    )
    assert features["pipeline_tag"] == "text-to-image"
    # Parameter counts come from the safetensors headers (the text encoder's from its 4 shards).
    components = ("unet", "vae", "text_encoder")
    assert all(features[f"{name}_params"] > 0 for name in components), {n: features.get(f"{n}_params") for n in components}
    assert features["total_params"] >= sum(features[f"{name}_params"] for name in components)
    assert features["latent_channels"] > 0  # from the VAE header's tensor shapes

    # Pickle-only weights: recorded with a flag and a reason, never loaded; listing features kept.
    flagged = records[PICKLE_PIPELINE].features
    assert flagged["safety_flag"] == "pickle_only" and "pickle" in second["flagged"][PICKLE_PIPELINE]
    assert flagged["license"] == "apache-2.0" and flagged["pipeline_class"] == "StableDiffusionPipeline"

    # A rerun asks the Hub for the listing only: the commit did not change, nothing is read again.
    again = hubselect(live_env, *crawl, "--search", SAFETENSORS_PIPELINE.split("/")[1])
    assert (again["crawled"], again["updated"], again["unchanged"]) == (0, 0, first["crawled"])
    assert {r.model: r.revision for r in Zoo.load(zoo_dir).model_records()}[SAFETENSORS_PIPELINE] == pipe.revision


@pytest.mark.live
def test_dataset_profile_streams_a_sample_of_a_real_hub_dataset(live_env, tmp_path):
    # The demo probe ships with hubselect: only the dataset comes from the Hub.
    profile = hubselect(live_env, "dataset", "profile", IMAGE_DATASET, "--zoo", tmp_path / "zoo", "--probe", "hubselect/demo-probe", "--n", 8)

    assert profile["dataset"] == IMAGE_DATASET and SHA.fullmatch(profile["revision"])
    assert profile["images"] == 8 and profile["skipped"] == {}
    assert profile["total_images"] >= 8  # the card's dataset_info row count
    assert profile["features"]["caption_coverage"] > 0  # captions read from the text column
    # The zoo pins the dataset at the commit the sample was read at.
    assert {d.dataset: d.revision for d in Zoo.load(tmp_path / "zoo").dataset_records()} == {IMAGE_DATASET: profile["revision"]}


@pytest.mark.live
def test_recommend_ranks_the_demo_zoo_for_a_real_hub_dataset(live_env):
    result = hubselect(live_env, "recommend", IMAGE_DATASET, "--zoo", "demo", "--n", 8, "--top-k", 3)

    assert result["dataset"]["dataset"] == IMAGE_DATASET and SHA.fullmatch(result["dataset"]["revision"])
    assert result["dataset"]["images"] == 8
    ranked = result["recommendations"]
    assert [r["rank"] for r in ranked] == [1, 2, 3]
    assert all(r["model"].startswith("hubselect-demo/") and r["score"] is not None for r in ranked)


def test_without_the_opt_in_the_live_tier_is_skipped_and_says_how_to_run_it():
    env = {k: v for k, v in os.environ.items() if k != "HUBSELECT_LIVE_HUB"}
    command = [sys.executable, "-m", "pytest", __file__, "-m", "live", "-q", "-rs"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, cwd=Path(__file__).parent.parent)

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(r"\d+ skipped(, \d+ deselected)? in .*", done.stdout.strip().splitlines()[-1]), done.stdout
    assert "SKIPPED" in done.stdout and "run it with HUBSELECT_LIVE_HUB=1 python -m pytest -m live" in done.stdout
