"""hubselect crawl against the loopback Hub, seeded through real uploads.

The session seeds (once) 6 tiny pipelines of different architectures, a gated, a pickle-only
and a custom-code pipeline, and 3 LoRA adapters under the namespace ``crawler``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.paths import unwritable
from hubselect.cli import main
from hubselect.crawl import STATE_FILE, CrawlState
from hubselect.crawl.safety import NOT_FLAGGED
from hubselect.errors import Terminated
from hubselect.zoo import Zoo

NAMESPACE = "crawler"
OWNER_TOKEN = f"hf_{NAMESPACE}_seed"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="session")
def seeded(loopback_hub_server, tmp_path_factory):
    from hubselect.testing.seed_models import seed_model_repos

    return seed_model_repos(tmp_path_factory.mktemp("seed"), token=OWNER_TOKEN, namespace=NAMESPACE, endpoint=loopback_hub_server.url)


@pytest.fixture(scope="session")
def loaded_counts(seeded) -> dict[str, dict[str, int]]:
    """Parameters per component as the loaded pipelines report them (``num_parameters()``)."""
    from hubselect.bench import load_pipeline

    counts = {}
    for repo_id in seeded.pipelines:
        pipe, _, _ = load_pipeline(str(seeded.folders[repo_id]))
        counts[repo_id] = {
            name: module.num_parameters() for name, module in pipe.components.items() if hasattr(module, "num_parameters")
        }
    return counts


def crawl_json(capsys, zoo: Path, *extra) -> dict:
    code, out, err = run_cli(capsys, "crawl", "--zoo", zoo, "--author", NAMESPACE, "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


def models_of(zoo: Path, kind: str | None = None):
    records = {r.model: r for r in Zoo.load(zoo).model_records()}
    return {k: r for k, r in records.items() if kind is None or r.features.get("kind") == kind}


def test_t2i_crawl_records_pipelines_and_flags_unsafe_repos(seeded, loaded_counts, hub, tmp_path, capsys):
    from huggingface_hub import HfApi

    summary = crawl_json(capsys, tmp_path / "Z", "--kind", "t2i")
    records = models_of(tmp_path / "Z")

    assert set(records) == set(seeded.pipelines) | set(seeded.flagged)
    assert summary["crawled"] == 9 and summary["skipped"] == {
        "no model_index.json: not a diffusers pipeline (a LoRA or single-file checkpoint?)": 3
    }
    api = HfApi(token=OWNER_TOKEN)
    for repo_id, arch in seeded.pipelines.items():
        record = records[repo_id]
        assert record.revision == api.model_info(repo_id).sha
        assert record.features["excluded_reason"] == NOT_FLAGGED and record.features["crawl_complete"]
        loaded = loaded_counts[repo_id]
        for component, count in loaded.items():
            assert record.features[f"{component}_params"] == count, (repo_id, component)
        assert record.features["total_params"] == sum(loaded.values())
        assert record.features["license"] == "apache-2.0"

    features = {arch: records[repo].features for repo, arch in seeded.pipelines.items()}
    assert features["sdxl-tiny"]["architecture"] == "sdxl" and features["sdxl-tiny"]["num_text_encoders"] == 2
    assert features["sd3-tiny"]["denoiser_family"] == "transformer"
    assert features["sd3-tiny"]["prediction_type"] == "flow_matching"
    assert features["sd-tiny-vpred"]["prediction_type"] == "v_prediction"
    assert features["sd-tiny-deep"]["resolution"] == 32 and features["sd-tiny-ddim"]["resolution"] == 16
    assert features["sd-tiny-wide"]["cross_attention_dim"] == 32

    flags = {repo: records[repo].features for repo in seeded.flagged}
    assert {repo: f["safety_flag"] for repo, f in flags.items()} == seeded.flagged
    reasons = {seeded.flagged[repo]: f["excluded_reason"] for repo, f in flags.items()}
    assert "no access" in reasons["gated"]
    assert "pickle" in reasons["pickle_only"]
    assert "pipeline.py" in reasons["remote_code"]
    assert set(summary["flagged"]) == set(seeded.flagged)


def test_lora_crawl_records_adapters_with_base_models(seeded, hub, tmp_path, capsys):
    summary = crawl_json(capsys, tmp_path / "Z", "--kind", "lora")
    records = models_of(tmp_path / "Z", "lora")

    assert summary["crawled"] == 3 and set(records) == set(seeded.loras)
    for repo_id, base in seeded.loras.items():
        features = records[repo_id].features
        assert features["base_model"] == base
        assert features["trigger_words"] and features["trigger_words"] in features["card_text"]
        assert features["lora_rank"] == 4 and features["lora_components"] == "unet"
        assert "lora" in features["tags"].split(",")
    assert records[f"{NAMESPACE}/lora-sks-dog"].features["instance_prompt"] == "a photo of sks dog"


def test_crawl_costs_few_requests_and_rerun_reads_only_changed_repos(seeded, hub, tmp_path, capsys):
    from huggingface_hub import HfApi

    crawl_json(capsys, tmp_path / "Z", "--kind", "t2i")
    first = hub.request_log
    resolves = [e for e in first if "/resolve/" in e.path]
    assert all(e.method == "GET" for e in resolves), "one GET per file: no HEAD round trips"
    # Headers, never weights: every safetensors read is a ranged GET.
    assert all(e.status == 206 for e in resolves if ".safetensors" in e.path)

    api = HfApi(token=OWNER_TOKEN)
    changed = f"{NAMESPACE}/sd-tiny-wide"
    api.upload_file(path_or_fileobj=b"# new card\n", path_in_repo="NOTES.md", repo_id=changed)
    hub.clear_log()
    summary = crawl_json(capsys, tmp_path / "Z", "--kind", "t2i")

    assert (summary["updated"], summary["crawled"], summary["unchanged"]) == (1, 0, 8)
    read = {e.path.split("/resolve/")[0].lstrip("/") for e in hub.request_log if "/resolve/" in e.path}
    # The gated repo is re-tried (access may have been granted since): one request.
    assert read == {changed, f"{NAMESPACE}/sd-tiny-gated"}
    assert models_of(tmp_path / "Z")[changed].revision == api.model_info(changed).sha


def test_crawl_completes_through_429s_500s_and_slow_answers(seeded, hub, tmp_path, capsys):
    hub.inject_fault(r"^/api/models\?", "429", times=2, retry_after=0)
    hub.inject_fault(r"/sd-tiny-ddim/resolve/.*/unet/config\.json", "500", times=1)
    hub.inject_fault(r"/sdxl-tiny/resolve/.*/model_index\.json", "delay", times=1, delay=0.5)
    hub.inject_fault(r"/sd3-tiny/resolve/.*\.safetensors", "429", times=1, retry_after=0)

    summary = crawl_json(capsys, tmp_path / "Z", "--kind", "t2i")

    statuses = [e.status for e in hub.request_log]
    assert statuses.count(429) == 3 and statuses.count(500) == 1
    assert summary["incomplete"] == 0
    records = models_of(tmp_path / "Z")
    assert all(records[repo].features["total_params"] > 0 for repo in seeded.pipelines)


def test_crawl_with_owner_token_reads_the_gated_repo(seeded, hub, tmp_path, capsys):
    crawl_json(capsys, tmp_path / "Z", "--kind", "t2i", "--search", "gated", "--token", OWNER_TOKEN)
    gated = models_of(tmp_path / "Z")[f"{NAMESPACE}/sd-tiny-gated"].features
    assert gated["gated"] is True and gated["excluded_reason"] == NOT_FLAGGED and gated["unet_params"] > 0


def test_access_granted_to_a_gated_repo_clears_its_flag_in_the_shared_zoo_too(seeded, hub, tmp_path, capsys):
    # The refresh workflow: pull the shared zoo, crawl, push (a merge into the Hub's copy).
    crawl_json(capsys, tmp_path / "Z", "--kind", "t2i", "--search", "gated")
    repo = f"{NAMESPACE}/sd-tiny-gated"
    assert models_of(tmp_path / "Z")[repo].features["excluded_reason"]
    shared = Zoo.load(tmp_path / "Z")
    crawl_json(capsys, tmp_path / "Z", "--kind", "t2i", "--search", "gated", "--token", OWNER_TOKEN)  # same commit
    pushed = {r.model: r for r in shared.merge(Zoo.load(tmp_path / "Z")).model_records()}
    assert not pushed[repo].features["excluded_reason"] and not pushed[repo].features["safety_flag"]
    assert pushed[repo].features["unet_params"] > 0


def test_request_budget_stops_politely_and_the_rerun_finishes(seeded, hub, tmp_path, capsys):
    hub.page_size = 2  # the listing itself paginates too
    summary = crawl_json(capsys, tmp_path / "Z", "--kind", "t2i", "--max-requests", "1", "--page-size", "2")
    assert summary["stopped"].endswith("before a new repo was read; raise --max-requests")  # a rerun would stop there too

    summary = crawl_json(capsys, tmp_path / "Z", "--kind", "t2i", "--max-requests", "8", "--page-size", "2")
    assert "budget of 8" in summary["stopped"]
    assert 0 < len(models_of(tmp_path / "Z")) < 9
    assert summary["requests"] <= 8 + 7  # at most one model's reads past the budget

    summary = crawl_json(capsys, tmp_path / "Z", "--kind", "t2i", "--page-size", "2")
    assert summary["stopped"] is None
    assert len(models_of(tmp_path / "Z")) == 9
    assert CrawlState.load(tmp_path / "Z").kind("t2i").finished


def test_crawl_killed_midway_then_rerun_has_every_model_exactly_once(seeded, hub, tmp_path, capsys):
    import pandas as pd

    zoo = tmp_path / "Z"
    hub.inject_fault(r"/resolve/", "delay", times=1000, delay=0.15)  # slow enough to kill mid-crawl
    command = [sys.executable, "-m", "hubselect", "crawl", "--kind", "t2i", "--zoo", str(zoo), "--author", NAMESPACE, "--page-size", "2"]
    process = subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if (zoo / STATE_FILE).is_file() and CrawlState.load(zoo).kind("t2i").pages >= 1:
                break
            time.sleep(0.05)
        assert process.poll() is None, f"the crawl ended before it could be killed: {process.stderr.read().decode()[-500:]}"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stderr.close()
    partial = pd.read_parquet(zoo / "models.parquet")
    assert 2 <= len(partial) < 9
    hub.clear_faults()

    summary = crawl_json(capsys, zoo, "--kind", "t2i", "--page-size", "2")

    models = pd.read_parquet(zoo / "models.parquet")["model"].tolist()
    assert sorted(models) == sorted(set(models)) and len(models) == 9
    assert summary["unchanged"] == len(partial)


def test_what_others_write_into_the_zoo_while_a_crawl_runs_survives_it(seeded, hub, tmp_path):
    """A profiler's record and a crawl of another kind, written between two of a crawl's saves."""
    from hubselect.crawl import CrawlOptions, crawl
    from hubselect.profile.journal import ZooWriter
    from hubselect.zoo import ProfileRecord

    zoo = tmp_path / "Z"
    record = ProfileRecord(f"{NAMESPACE}/sd-tiny-ddim", "user/pets", 31.5, method="lora")
    done = []

    def meanwhile(summary) -> None:
        if not done:  # the t2i crawl has read a model and not yet saved its first page
            done.append(True)
            ZooWriter(zoo).write(record)
            crawl(zoo, CrawlOptions(kind="lora", author=NAMESPACE))

    crawl(zoo, CrawlOptions(kind="t2i", author=NAMESPACE, page_size=2), on_model=meanwhile)

    assert [r.key for r in Zoo.load(zoo).profile_records()] == [record.key]
    assert len(models_of(zoo, "t2i")) == 9 and set(models_of(zoo, "lora")) == set(seeded.loras)
    state = CrawlState.load(zoo)
    assert state.kind("t2i").finished and state.kind("lora").finished


@pytest.mark.parametrize("stop", [KeyboardInterrupt, lambda: Terminated(143)], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_keeps_what_was_read_and_says_so(stop, seeded, hub, tmp_path, caplog):
    """SIGTERM (a cancelled CI job) said nothing of what was kept, where Ctrl-C did."""
    from hubselect.crawl import CrawlOptions, crawl

    def interrupt_at_the_third(summary) -> None:
        if summary.listed == 3:
            raise stop()

    with pytest.raises((KeyboardInterrupt, Terminated)):
        crawl(tmp_path / "Z", CrawlOptions(kind="t2i", author=NAMESPACE, page_size=50), on_model=interrupt_at_the_third)
    assert len(models_of(tmp_path / "Z")) >= 2  # the page in flight was saved, not dropped
    assert f"interrupted: what was crawled so far is saved in {tmp_path / 'Z'}; rerun the same command to resume" in caplog.text


def test_progress_counts_the_requests_already_sent(seeded, hub, tmp_path):
    """The progress bar's requests= figure includes the model just read (it lagged one model behind)."""
    from hubselect.crawl import CrawlOptions, crawl

    before, seen = len(hub.request_log), []
    crawl(tmp_path / "Z", CrawlOptions(kind="t2i", author=NAMESPACE, limit=3), on_model=lambda s: seen.append((s.requests, len(hub.request_log) - before)))
    assert len(seen) == 3 and all(shown == sent for shown, sent in seen), seen


def test_crawl_bench_records_throughput_of_crawled_models(seeded, hub, tmp_path, capsys, monkeypatch):
    import shutil

    # A folder of the repo's name in the working directory (a 32 px pipeline): the crawl deals in
    # Hub ids, so it must benchmark the 16 px Hub repo at the commit it read, not this folder.
    shutil.copytree(seeded.folders[f"{NAMESPACE}/sd-tiny-deep"], tmp_path / NAMESPACE / "sd-tiny-ddim")
    monkeypatch.chdir(tmp_path)
    summary = crawl_json(
        capsys, tmp_path / "Z", "--kind", "t2i", "--search", "sd-tiny-ddim", "--bench", "--bench-steps", "2",
        "--bench-min-seconds", "0", "--bench-device", "cpu",
    )  # fmt: skip
    assert summary["benchmarked"] == 1
    features = models_of(tmp_path / "Z")[f"{NAMESPACE}/sd-tiny-ddim"].features
    assert features["throughput_images_per_s"] > 0
    assert features["denoiser_step_ms_p50"] <= features["denoiser_step_ms_p90"]
    assert features["bench_device"].startswith("cpu") and features["bench_steps"] == 2 and features["bench_resolution"] == 16
    # Only safetensors and configs were downloaded for it: no pickles, no code.
    downloaded = [e.path for e in hub.request_log if "/resolve/" in e.path and e.status == 200]
    assert not [p for p in downloaded if p.endswith((".bin", ".py", ".ckpt"))]


def test_bench_zoo_keeps_a_local_folders_figures_out_of_the_hub_models_record(seeded, hub, tmp_path, capsys, monkeypatch):
    """`bench org/name` measures ./org/name where it exists; its figures are not the Hub commit's."""
    import shutil

    repo = f"{NAMESPACE}/sd-tiny-ddim"
    crawl_json(capsys, tmp_path / "Z", "--kind", "t2i", "--search", "sd-tiny-ddim")
    sha = models_of(tmp_path / "Z")[repo].revision
    shutil.copytree(seeded.folders[f"{NAMESPACE}/sd-tiny-deep"], tmp_path / repo)
    monkeypatch.chdir(tmp_path)
    settings = ("--steps", "1", "--min-iterations", "1", "--min-seconds", "0", "--device", "cpu", "--zoo", "Z", "--format", "json")

    code, out, err = run_cli(capsys, "bench", repo, *settings)
    assert code == 2 and out == ""
    assert err == (
        f"Error: {repo} is the local folder ./{repo} here, not the Hub repo {repo} the zoo holds at {sha[:12]}; "
        f"pass --revision {sha} to benchmark the Hub repo, or drop --zoo\n"
    )
    assert models_of(tmp_path / "Z")[repo].features.get("throughput_images_per_s") is None

    code, out, err = run_cli(capsys, "bench", repo, "--revision", sha, *settings)  # the Hub repo, as the error says
    assert code == 0, err
    report = json.loads(out)
    assert (report["model"], report["revision"], report["resolution"]) == (repo, sha, 16)
    assert models_of(tmp_path / "Z")[repo].features["bench_resolution"] == 16


def test_bench_hub_model_into_zoo_and_errors_are_one_line(seeded, hub, tmp_path, capsys):
    crawl_json(capsys, tmp_path / "Z", "--kind", "t2i", "--search", "sd3-tiny")
    repo = f"{NAMESPACE}/sd3-tiny"
    code, out, err = run_cli(
        capsys, "bench", repo, "--steps", "2", "--min-iterations", "2", "--min-seconds", "0", "--device", "cpu",
        "--zoo", tmp_path / "Z", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["model"] == repo
    assert models_of(tmp_path / "Z")[repo].features["throughput_images_per_s"] > 0

    code, out, err = run_cli(capsys, "bench", f"{NAMESPACE}/sd-tiny-pickle", "--device", "cpu")
    assert code == 2 and "pickle" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(capsys, "bench", f"{NAMESPACE}/no-such-model", "--device", "cpu")
    assert code == 3 and "not found" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("reread", ["--refresh", "incomplete", "gated"])
def test_figures_measured_at_a_commit_survive_a_crawl_that_reads_that_commit_again(reread, seeded, hub, tmp_path, capsys):
    """A crawl that re-read a model at the commit its figures were measured at (--refresh, a retry
    of an incomplete read, the re-check of a gated repo) rebuilt its row from metadata and deleted
    them, though its summary said "unchanged commit". A new commit drops them."""
    from huggingface_hub import HfApi

    owner = f"rereading-{reread.strip('-')}"
    repo, token = f"{owner}/sd", f"hf_{owner}_seed"
    upload_pipelines(seeded, hub, owner, {"sd": 1})
    zoo = tmp_path / "Z"
    if reread == "incomplete":  # the crawl gives up on one file: read again by the next crawl
        # (a rate limit that asks for no wait: five retries of a 500 would wait 23 s)
        hub.inject_fault(rf"/{repo}/resolve/.*/unet/config\.json", "429", times=100, retry_after=0)
    if reread == "gated":  # the crawl's token has no access: re-checked by every crawl
        hub.set_gated(repo)
    first = crawl_as(capsys, zoo, "--author", owner)
    assert (first["incomplete"], len(first["flagged"])) == {"--refresh": (0, 0), "incomplete": (1, 0), "gated": (0, 1)}[reread]
    hub.clear_faults()
    sha = models_of(zoo)[repo].revision
    code, out, err = run_cli(
        capsys, "bench", repo, "--revision", sha, "--steps", "1", "--min-iterations", "1", "--min-seconds", "0", "--device", "cpu",
        "--zoo", zoo, "--token", token,
    )  # fmt: skip
    assert code == 0, err
    measured = {k: v for k, v in models_of(zoo)[repo].features.items() if "throughput" in k or k.startswith("bench_") or "memory" in k}
    assert measured["throughput_images_per_s"] > 0 and measured["bench_steps"] == 1

    hub.clear_log()
    summary = crawl_as(capsys, zoo, "--author", owner, *([reread] if reread == "--refresh" else []))
    assert (summary["unchanged"], summary["listed"]) == (1, 1)
    assert [e for e in hub.request_log if f"/{repo}/resolve/" in e.path], "the crawl did not read the repo again"
    record = models_of(zoo)[repo]
    assert record.revision == sha and {k: record.features.get(k) for k in measured} == measured

    if reread == "--refresh":
        HfApi(endpoint=hub.url, token=token).upload_file(path_or_fileobj=b"# new card\n", path_in_repo="NOTES.md", repo_id=repo)
        assert crawl_as(capsys, zoo, "--author", owner)["updated"] == 1
        assert models_of(zoo)[repo].features.get("throughput_images_per_s") is None  # its weights may have changed with it


def test_crawl_bench_measures_again_a_figure_of_other_settings_and_only_that(seeded, hub, tmp_path, capsys):
    """crawl --bench compared steps, batch and dtype only: a figure measured at another resolution
    (or on another device) was kept as if it were the one asked for."""
    repo = f"{NAMESPACE}/sd-tiny-ddim"
    bench = ("--search", "sd-tiny-ddim", "--bench", "--bench-steps", "1", "--bench-min-seconds", "0", "--bench-device", "cpu")
    assert crawl_json(capsys, tmp_path / "Z", *bench)["benchmarked"] == 1
    assert models_of(tmp_path / "Z")[repo].features["bench_resolution"] == 16  # native
    assert crawl_json(capsys, tmp_path / "Z", *bench)["benchmarked"] == 0  # the figure asked for is there

    sha = models_of(tmp_path / "Z")[repo].revision
    code, out, err = run_cli(
        capsys, "bench", repo, "--revision", sha, "--steps", "1", "--resolution", "8", "--min-iterations", "1", "--min-seconds", "0",
        "--device", "cpu", "--zoo", tmp_path / "Z",
    )  # fmt: skip
    assert code == 0, err
    assert crawl_json(capsys, tmp_path / "Z", *bench)["benchmarked"] == 1
    assert models_of(tmp_path / "Z")[repo].features["bench_resolution"] == 16


def test_crawl_unknown_kind_is_a_one_line_error(tmp_path, capsys):
    code, out, err = run_cli(capsys, "crawl", "--kind", "checkpoints", "--zoo", tmp_path / "Z")
    assert code == 2
    assert err.strip() == "Error: no crawler called 'checkpoints'; choose one of: lora, t2i"


def test_crawl_into_a_folder_that_is_not_a_zoo_is_refused_and_leaves_it_alone(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code, out, err = run_cli(capsys, "crawl", "--zoo", tmp_path, "--author", NAMESPACE)
    assert code == 2
    assert err.strip() == f"Error: --zoo {tmp_path} is a folder but not a zoo (no zoo.json); pass an empty or new folder, or a zoo folder"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("zoo", ["locked/Z", "zoo", "a-file/Z"], ids=["new-in-a-folder-it-cannot-write", "zoo-it-cannot-write", "under-a-file"])
def test_a_zoo_it_cannot_write_is_refused_before_any_request(zoo, hub, tmp_path, monkeypatch, capsys):
    """It failed as "unexpected PermissionError" after crawling every repo (after a note that it was creating the folder)."""
    from hubselect.zoo import ZooMeta

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    Zoo(ZooMeta()).save(tmp_path / "zoo")
    before = {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()}
    with unwritable(tmp_path / zoo.split("/")[0]) if zoo != "a-file/Z" else contextlib.nullcontext():
        code, out, err = run_cli(capsys, "crawl", "--zoo", zoo, "--author", NAMESPACE)
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert err.startswith(f"Error: --zoo {zoo}: ") and "unexpected" not in err and "; pass a path in a folder" in err
    assert hub.request_log == []
    assert {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()} == before


@pytest.mark.parametrize("value", ["", "  "], ids=["empty", "blank"])
@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["crawl", "--author", NAMESPACE, "--zoo"], "--zoo"),
        (["bench", f"{NAMESPACE}/sd-tiny-ddim", "--device", "cpu", "--zoo"], "--zoo"),
        (["zoo", "pull", f"{NAMESPACE}/zoo2", "--out"], "--out"),
        (["zoo", "import", "bundle", "--higher-is-better", "--out"], "--out"),
        (["profile", "--models", f"{NAMESPACE}/sd-tiny-ddim", "--datasets", "images", "--zoo"], "--zoo"),
        (["profile", "--models", f"{NAMESPACE}/sd-tiny-ddim", "--datasets", "images", "--zoo", "Z", "--weights-dir"], "--weights-dir"),
        (["dataset", "profile", "images", "--zoo"], "--zoo"),
        (["demo", "--out"], "--out"),
    ],
    ids=["crawl", "bench", "zoo-pull", "zoo-import", "profile", "profile-weights-dir", "dataset-profile", "demo"],
)
def test_an_empty_folder_to_write_is_refused_not_taken_for_the_current_one(command, option, value, hub, tmp_path, monkeypatch, capsys):
    """`crawl --zoo "$ZOO"` with ZOO unset wrote a zoo into the current folder (and `zoo import
    --out ""` merged into the zoo there): "" as a path is the current folder."""
    from hubselect.zoo import ZooMeta

    monkeypatch.chdir(tmp_path)
    Zoo(ZooMeta()).save(tmp_path)  # a zoo the command would have written or merged into
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "records.csv").write_text("model,dataset,score\nm1,d1,0.5\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, out, err = run_cli(capsys, *command, value)
    assert (code, out) == (2, "") and err == f"Error: {option} is empty; pass a folder (. for the current one)\n", err
    assert hub.request_log == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_bad_bench_settings_are_refused_before_the_crawl_starts(hub, tmp_path, capsys):
    """Each error names the option typed; nothing is listed, downloaded or written."""
    import torch

    before = len(hub.request_log)
    cases = [(("--bench-steps", "0"), "Invalid value for '--bench-steps'"), (("--bench-min-seconds", "-1"), "Invalid value for '--bench-min-seconds'"),
             (("--bench-device", "tpu"), "Error: --bench-device tpu: not a device; use cpu, cuda, cuda:N, mps or auto")]
    if not torch.cuda.is_available():
        cases.append((("--bench-device", "cuda"), "Error: --bench-device cuda: torch sees no CUDA device here; use --bench-device cpu"))
    for extra, message in cases:
        code, out, err = run_cli(capsys, "crawl", "--zoo", tmp_path / "Z", "--author", NAMESPACE, "--bench", *extra)
        assert code == 2 and message in err, err
    assert len(hub.request_log) == before and not (tmp_path / "Z").exists()


def test_crawl_offline_says_it_needs_the_hub_not_the_cache(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    code, out, err = run_cli(capsys, "crawl", "--zoo", tmp_path / "Z", "--limit", "1")
    assert code == 3 and err.count("\n") == 1, err
    assert "model listing: this needs the Hub, and HF_HUB_OFFLINE=1 is set; unset HF_HUB_OFFLINE" in err and "cache" not in err


def test_an_author_that_is_not_a_user_name_is_refused(hub, tmp_path, capsys):
    """A pasted URL listed nothing and the crawl ended with 0 models and exit 0."""
    before = len(hub.request_log)
    for author in ("https://huggingface.co/crawler", "crawler/sd-tiny-ddim"):
        code, out, err = run_cli(capsys, "crawl", "--zoo", tmp_path / "Z", "--author", author)
        assert code == 2 and err.strip() == f"Error: --author {author!r} is not a Hub user or organisation name; pass one like alice (not a URL or ORG/NAME)"
    assert len(hub.request_log) == before and not (tmp_path / "Z").exists()


def test_two_crawls_of_one_kind_at_once_keep_the_repos_each_skipped(seeded, hub, tmp_path):
    """Two t2i crawls with different filters (say --author A and --author B) saving into one zoo
    at once: the state remembers the repos both skipped, so neither crawl reads them again."""
    from hubselect.crawl import CrawlOptions, crawl

    zoo = tmp_path / "Z"
    done = []

    def meanwhile(summary) -> None:
        if not done:  # the first crawl has skipped a repo and not yet saved its page
            done.append(True)
            crawl(zoo, CrawlOptions(kind="t2i", author=NAMESPACE, search="lora-pixel"))

    crawl(zoo, CrawlOptions(kind="t2i", author=NAMESPACE, search="lora-sks"), on_model=meanwhile)

    skipped = CrawlState.load(zoo).kind("t2i").skipped
    assert sorted(skipped) == [f"{NAMESPACE}/lora-pixel-style", f"{NAMESPACE}/lora-sks-dog"]
    assert all(entry["reason"].startswith("no model_index.json") for entry in skipped.values())


def test_a_repo_deleted_between_listing_and_reading_is_not_recorded(seeded, hub, tmp_path):
    """A repo gone by the time the crawl reads it is skipped, not recorded as a crawled model;
    one the zoo held from an earlier crawl keeps its row and its results, flagged as gone."""
    from huggingface_hub import HfApi

    from hubselect.crawl import CrawlOptions, crawl
    from hubselect.crawl.safety import is_profilable
    from hubselect.profile.journal import ZooWriter
    from hubselect.zoo import ProfileRecord

    owner = "vanishing"
    api = HfApi(endpoint=hub.url, token=f"hf_{owner}_seed")
    pipeline = seeded.folders[f"{NAMESPACE}/sd-tiny-ddim"]
    for name in ("first", "held"):  # listed in creation order: "first" is read first
        api.create_repo(f"{owner}/{name}")
        api.upload_folder(repo_id=f"{owner}/{name}", folder_path=str(pipeline))
    zoo = tmp_path / "Z"
    crawl(zoo, CrawlOptions(author=owner))
    held = models_of(zoo)[f"{owner}/held"]
    result = ProfileRecord(f"{owner}/held", "user/pets", 31.5, method="lora", model_revision=held.revision)
    ZooWriter(zoo).write(result)
    api.upload_file(repo_id=f"{owner}/held", path_or_fileobj=b"---\nlicense: mit\n---\n# held\n", path_in_repo="README.md")  # a new commit to read
    api.create_repo(f"{owner}/new")
    api.upload_folder(repo_id=f"{owner}/new", folder_path=str(pipeline))
    done = []

    def delete_the_others(summary) -> None:
        if not done:  # listed, "first" read; "held" and "new" not yet
            done.append(True)
            api.delete_repo(f"{owner}/held")
            api.delete_repo(f"{owner}/new")

    summary = crawl(zoo, CrawlOptions(author=owner), on_model=delete_the_others)

    assert (summary.listed, summary.crawled, summary.updated, summary.unchanged) == (3, 0, 0, 1)
    assert dict(summary.skipped) == {"gone from the Hub since it was listed (deleted, or made private)": 2}
    models = models_of(zoo)
    assert sorted(models) == [f"{owner}/first", f"{owner}/held"]
    flagged = models[f"{owner}/held"]
    assert flagged.revision == held.revision and flagged.features["total_params"] == held.features["total_params"]
    assert flagged.features["excluded_reason"] == "gone from the Hub since it was listed (deleted, or made private)"
    assert not is_profilable(flagged.features)
    assert [r.key for r in Zoo.load(zoo).profile_records()] == [result.key]
    assert not any(repo.startswith(f"{owner}/") for repo in CrawlState.load(zoo).kind("t2i").skipped)

    # Back on the Hub: the next crawl reads both again, as any new commit.
    for name in ("held", "new"):
        api.create_repo(f"{owner}/{name}")
        api.upload_folder(repo_id=f"{owner}/{name}", folder_path=str(pipeline))
    again = crawl(zoo, CrawlOptions(author=owner))
    assert (again.crawled, again.updated, again.unchanged, dict(again.skipped)) == (1, 1, 1, {})
    assert all(is_profilable(r.features) for r in models_of(zoo).values())


def test_a_pipeline_without_its_unet_config_is_flagged_until_a_commit_restores_it(hub, tmp_path, capsys):
    """diffusers cannot build such a pipeline: kept out of profiling and --bench, like other unusable repos."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    from hubselect.crawl.safety import is_profilable
    from hubselect.testing.seed_models import save_tiny_pipeline

    owner, repo = "cfgtest", "cfgtest/sd-no-unet-config"
    api = HfApi(token=f"hf_{owner}_seed")
    folder = save_tiny_pipeline(tmp_path / "sd", "sd-tiny-ddim")
    api.create_repo(repo)
    api.upload_folder(repo_id=repo, folder_path=str(folder))
    api.create_commit(repo, [CommitOperationDelete("unet/config.json")], commit_message="lose the unet config")

    bench = ("--bench", "--bench-steps", "1", "--bench-min-seconds", "0", "--bench-device", "cpu")
    code, out, err = run_cli(capsys, "crawl", "--zoo", tmp_path / "Z", "--author", owner, "--format", "json", *bench)
    assert code == 0, err
    summary = json.loads(out)
    features = models_of(tmp_path / "Z")[repo].features
    assert features["safety_flag"] == "missing_config" and "unet/config.json" in features["excluded_reason"]
    assert not is_profilable(features) and summary["benchmarked"] == 0 and repo in summary["flagged"]

    api.create_commit(repo, [CommitOperationAdd("unet/config.json", folder / "unet" / "config.json")], commit_message="restore it")
    assert run_cli(capsys, "crawl", "--zoo", tmp_path / "Z", "--author", owner)[0] == 0
    features = models_of(tmp_path / "Z")[repo].features
    assert features["safety_flag"] == NOT_FLAGGED and features["excluded_reason"] == NOT_FLAGGED and is_profilable(features)


@pytest.mark.parametrize("metadata_bytes", [0, 40_000])  # a header inside the first ranged read, and one past it
def test_a_truncated_adapter_header_is_reported_as_a_truncated_file(hub, tmp_path, capsys, metadata_bytes):
    import struct

    from huggingface_hub import HfApi
    from safetensors.torch import load_file, save_file

    from hubselect.testing.seed_models import save_tiny_lora

    owner = f"truncated{metadata_bytes}"
    repo = f"{owner}/lora-cut"
    folder = save_tiny_lora(tmp_path / "lora", f"{NAMESPACE}/sd-tiny-ddim")
    weights = folder / "pytorch_lora_weights.safetensors"
    save_file(load_file(weights), weights, metadata={"pad": "x" * metadata_bytes})
    data = weights.read_bytes()
    claimed = 8 + struct.unpack("<Q", data[:8])[0]
    weights.write_bytes(data[: claimed - 1])  # the header claims 1 byte more than the file holds
    api = HfApi(token=f"hf_{owner}_seed")
    api.create_repo(repo)
    api.upload_folder(repo_id=repo, folder_path=str(folder))

    code, out, err = run_cli(capsys, "crawl", "--zoo", tmp_path / "Z", "--kind", "lora", "--author", owner)
    assert code == 0, err
    notes = models_of(tmp_path / "Z")[repo].features["crawl_notes"]
    assert notes == f"adapter header unreadable: pytorch_lora_weights.safetensors: the file is shorter than its safetensors header claims ({claimed} bytes): truncated"


def test_tokenizer_classes_transformers_serves_by_alias_are_not_custom_code():
    """Flux's T5TokenizerFast, Sana's GemmaTokenizerFast, Stable Cascade's CLIPTokenizerFast:
    transformers 5 resolves these names on access and dir() does not list them, so such repos
    were flagged remote_code and kept out of profiling. In a fresh process, so that what other
    tests imported cannot decide it."""
    script = (
        "from hubselect.crawl.safety import unsafe_reasons\n"
        "files = frozenset({'model_index.json', 'transformer/config.json', 'transformer/diffusion_pytorch_model.safetensors',"
        " 'scheduler/scheduler_config.json'})\n"
        "index = {'_class_name': 'FluxPipeline', 'transformer': ['diffusers', 'FluxTransformer2DModel'],"
        " 'scheduler': ['diffusers', 'FlowMatchEulerDiscreteScheduler'], 'tokenizer': ['transformers', 'CLIPTokenizerFast'],"
        " 'tokenizer_2': ['transformers', 'T5TokenizerFast'], 'tokenizer_3': ['transformers', 'GemmaTokenizerFast']}\n"
        "print(unsafe_reasons(files, index))\n"
        "print(unsafe_reasons(files, {**index, 'tokenizer_4': ['transformers', 'NoSuchTokenizerFast']}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "[]"
    assert "remote_code" in out[1] and "NoSuchTokenizerFast" in out[1]


def crawl_as(capsys, zoo: Path, *args) -> dict:
    code, out, err = run_cli(capsys, "crawl", "--zoo", zoo, "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


def upload_pipelines(seeded, hub, owner: str, downloads: dict[str, int]) -> None:
    """Repos ``owner/NAME`` holding a tiny pipeline, with these download counts."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token=f"hf_{owner}_seed")
    for name, count in downloads.items():
        api.create_repo(f"{owner}/{name}", exist_ok=True)
        api.upload_folder(repo_id=f"{owner}/{name}", folder_path=str(seeded.folders[f"{NAMESPACE}/sd-tiny-ddim"]))
        hub.set_stats(f"{owner}/{name}", downloads=count)


def test_a_rerun_takes_the_new_download_counts_of_repos_at_the_same_commit(seeded, hub, tmp_path, capsys):
    """`profile --zoo-models` goes most downloaded first by the zoo's counts, and a repo whose
    commit did not change kept the counts of its first crawl for ever. The listing carries them:
    no extra request. A rerun that sees no count change leaves the zoo as it was, byte for byte
    (the refresh workflow then pushes nothing)."""
    from hubselect.profile.grid import profilable_models

    owner = "counted"
    upload_pipelines(seeded, hub, owner, {"popular": 100, "rising": 0})
    zoo = tmp_path / "Z"
    crawl_as(capsys, zoo, "--author", owner)
    assert profilable_models(Zoo.load(zoo)) == [f"{owner}/popular", f"{owner}/rising"]
    before, zoo_before = (zoo / "models.parquet").read_bytes(), Zoo.load(zoo)
    sha = models_of(zoo)[f"{owner}/rising"].revision

    summary = crawl_as(capsys, zoo, "--author", owner)
    assert (summary["unchanged"], summary["counts_updated"]) == (2, 0)
    assert (zoo / "models.parquet").read_bytes() == before

    hub.set_stats(f"{owner}/rising", downloads=500, likes=7)
    hub.clear_log()
    summary = crawl_as(capsys, zoo, "--author", owner)

    assert (summary["unchanged"], summary["counts_updated"]) == (2, 1)
    assert [e.path for e in hub.request_log if not e.path.startswith("/api/models?")] == []  # the listing only
    rising = models_of(zoo)[f"{owner}/rising"]
    assert (rising.features["downloads"], rising.features["likes"]) == (500, 7)
    assert rising.revision == sha
    assert profilable_models(Zoo.load(zoo)) == [f"{owner}/rising", f"{owner}/popular"]
    assert not Zoo.load(zoo).equals(zoo_before)  # the workflow's "Did the zoo change?"


def test_a_zoo_model_deleted_while_the_listing_left_it_out_is_flagged_gone(seeded, hub, tmp_path, capsys):
    """A crawl only read the repos its listing returned: a zoo model deleted from the Hub kept
    an unflagged record, so `recommend` named it and `profile --zoo-models` kept trying it. Not
    being listed says nothing (the listing is limited): one request each tells."""
    from huggingface_hub import HfApi

    from hubselect.crawl.driver import GONE_REASON
    from hubselect.profile.grid import profilable_models
    from hubselect.profile.journal import ZooWriter
    from hubselect.zoo import ProfileRecord

    owner = "deleting"
    kept, doomed, quiet = (f"{owner}/{name}" for name in ("kept", "doomed", "quiet"))
    gated = f"{NAMESPACE}/sd-tiny-gated"  # this token has no access: still there, not gone
    upload_pipelines(seeded, hub, owner, {"kept": 30, "doomed": 20, "quiet": 10})
    zoo = tmp_path / "Z"
    crawl_as(capsys, zoo, "--author", owner)
    crawl_as(capsys, zoo, "--author", NAMESPACE, "--search", "gated")
    crawl_as(capsys, zoo, "--kind", "lora", "--author", NAMESPACE, "--search", "lora-sks")  # another kind's: not checked
    result = ProfileRecord(doomed, "user/pets", 31.5, method="lora", model_revision=models_of(zoo)[doomed].revision)
    ZooWriter(zoo).write(result)
    HfApi(endpoint=hub.url, token=f"hf_{owner}_seed").delete_repo(doomed)
    hub.clear_log()

    summary = crawl_as(capsys, zoo, "--author", owner, "--search", "kept")

    assert (summary["listed"], summary["unlisted_checked"], summary["gone"]) == (1, 3, 1)
    asked = sorted(e.path.split("?")[0] for e in hub.request_log if e.path.startswith("/api/models/"))
    assert asked == sorted(f"/api/models/{repo}" for repo in (doomed, quiet, gated))
    models = models_of(zoo)
    assert models[doomed].features["excluded_reason"] == GONE_REASON and models[doomed].features["total_params"] > 0
    assert not models[quiet].features["excluded_reason"] and GONE_REASON not in models[gated].features["excluded_reason"]
    assert profilable_models(Zoo.load(zoo)) == [kept, quiet]
    assert [r.key for r in Zoo.load(zoo).profile_records()] == [result.key]

    hub.clear_log()
    before = Zoo.load(zoo)
    summary = crawl_as(capsys, zoo, "--author", owner, "--search", "kept")  # flagged already: asked again, still gone
    assert (summary["unlisted_checked"], summary["gone"]) == (3, 1)
    asked = sorted(e.path.split("?")[0] for e in hub.request_log if e.path.startswith("/api/models/"))
    assert asked == sorted(f"/api/models/{repo}" for repo in (doomed, quiet, gated))
    assert Zoo.load(zoo).equals(before)  # nothing new: the zoo is as it was

    summary = crawl_as(capsys, zoo, "--author", owner, "--search", "no-such-name", "--max-requests", "2")  # 4 to check
    assert (summary["listed"], summary["requests"], summary["unlisted_checked"]) == (0, 2, 1)  # the listing, one check
    assert summary["stopped"].startswith("request budget of 2 reached after checking 1 of the 4 zoo models the listing did not return")

    # A repo the Hub does not answer about (after retries) is left as it is; the others are still checked.
    hub.inject_fault(rf"^/api/models/{quiet}\b", "429", times=100, retry_after=0)
    summary = crawl_as(capsys, zoo, "--author", owner, "--search", "kept")
    hub.clear_faults()
    assert (summary["unlisted_checked"], summary["unlisted_unanswered"], summary["stopped"]) == (2, 1, None)
    assert not models_of(zoo)[quiet].features["excluded_reason"]

    upload_pipelines(seeded, hub, owner, {"doomed": 20})  # back: listed again, read again, cleared
    crawl_as(capsys, zoo, "--author", owner)
    assert profilable_models(Zoo.load(zoo)) == [kept, doomed, quiet]


def test_a_zoo_model_flagged_gone_that_is_back_on_the_hub_is_read_again_though_the_listing_leaves_it_out(seeded, hub, tmp_path, capsys):
    """A model flagged gone was left out of the look-up of the models the listing did not return:
    re-created (or made public again) outside the top --limit, it kept its flag and its old
    revision, out of profiling and `recommend`, every run. Looked up like the others, one that is
    back is read again by the crawler's rules: unflagged, or flagged as what it is now (gated)."""
    from huggingface_hub import HfApi

    from hubselect.crawl.driver import GONE_REASON
    from hubselect.profile.grid import profilable_models

    owner = "returning"
    popular, back, back_gated = (f"{owner}/{name}" for name in ("popular", "back", "back-gated"))
    upload_pipelines(seeded, hub, owner, {"popular": 30, "back": 20, "back-gated": 10})
    zoo = tmp_path / "Z"
    crawl_as(capsys, zoo, "--author", owner)
    api = HfApi(endpoint=hub.url, token=f"hf_{owner}_seed")
    for repo in (back, back_gated):
        api.delete_repo(repo)
    summary = crawl_as(capsys, zoo, "--author", owner, "--limit", "1")
    assert (summary["listed"], summary["gone"]) == (1, 2)
    assert all(models_of(zoo)[repo].features["excluded_reason"] == GONE_REASON for repo in (back, back_gated))
    was = models_of(zoo)[back].revision

    upload_pipelines(seeded, hub, owner, {"back": 20, "back-gated": 10})  # re-created: new commits, still not in the top 1
    hub.set_gated(back_gated)  # this token has no access
    summary = crawl_as(capsys, zoo, "--author", owner, "--limit", "1")

    assert (summary["listed"], summary["unlisted_checked"], summary["gone"], summary["updated"]) == (1, 2, 0, 2), summary
    models = models_of(zoo)
    assert not models[back].features["excluded_reason"] and models[back].revision == api.model_info(back).sha != was
    assert GONE_REASON not in models[back_gated].features["excluded_reason"] and "no access" in models[back_gated].features["excluded_reason"]
    assert profilable_models(Zoo.load(zoo)) == [popular, back]
    hub.clear_log()
    summary = crawl_as(capsys, zoo, "--author", owner, "--limit", "1")  # back as they were: one request each
    assert (summary["unlisted_checked"], summary["updated"], summary["gone"]) == (2, 0, 0)
    assert len([e for e in hub.request_log if e.path.startswith("/api/models/")]) == 2
