"""The profiler's job grid end to end, against the loopback Hub: tiny pipelines and datasets on CPU.

One LoRA grid (2 models × 2 datasets) is run once per module and shared: a rerun must do no
work, Ray must reproduce it, a SIGKILLed run must resume without losing or duplicating work.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.paths import unwritable
from hubselect.cli import main
from hubselect.errors import InputError
from hubselect.profile.journal import JOURNAL_FILE, read_journal
from hubselect.testing.profile_fixtures import seed_profile_hub, tiny_clip_full
from hubselect.testing.pytest_plugin import HUB_TOKEN
from hubselect.testing.tiny import tiny_dinov2
from hubselect.zoo import ProfileRecord, Zoo, ZooMeta


def test_a_seed_out_of_range_is_refused_when_the_jobs_are_planned_as_by_their_samples(tmp_path):
    """A sample refuses a seed outside 0 … 2**32 - 1, as ``--seed`` does: from Python, the grid
    refuses it while planning, not in each job it planned."""
    from hubselect.profile.grid import plan_jobs
    from hubselect.testing.tiny import tiny_clip_vision, write_image_folder

    pets = write_image_folder(tmp_path / "pets", 8, style="cool")
    with pytest.raises(InputError) as raised:
        plan_jobs("org/a", str(pets), methods="lora", probe=str(tiny_clip_vision(tmp_path / "clip")), seed=2**33)
    assert str(raised.value) == "seed must be a whole number from 0 to 4294967295, got 8589934592"


def test_probes_given_as_paths_plan_the_jobs_their_strs_plan(probes, tmp_path):
    """``plan_jobs(..., probe=Path(folder))`` failed with "AttributeError: 'PosixPath' object
    has no attribute 'id'" where ``str(folder)`` plans the jobs."""
    from hubselect.profile.grid import plan_jobs

    pets = tmp_path / "pets"  # a local dataset: planning asks the Hub nothing about it
    pets.mkdir()
    (as_str,) = plan_jobs("org/sd", str(pets), methods="lora", probe=str(probes["clip"]), dino_probe=str(probes["dino"]))
    (as_path,) = plan_jobs("org/sd", str(pets), methods="lora", probe=probes["clip"], dino_probe=probes["dino"])
    assert (as_path.probe, as_path.dino_probe, as_path.config_hash) == (as_str.probe, as_str.dino_probe, as_str.config_hash)


def test_local_models_and_datasets_given_as_paths_plan_the_jobs_their_strs_plan(probes, tmp_path):
    """A dataset folder given as a pathlib.Path (alone or in a list) failed with "TypeError:
    'PosixPath' object is not iterable" or an AttributeError where its str is taken, and
    ``DatasetRef.parse`` with "'PosixPath' object has no attribute 'strip'"."""
    from hubselect.data.refs import DatasetRef
    from hubselect.profile.grid import plan_jobs

    pets, cars = tmp_path / "pets", tmp_path / "cars"  # local datasets: planning asks the Hub nothing about them
    pets.mkdir(), cars.mkdir()
    assert DatasetRef.parse(pets) == DatasetRef.parse(str(pets))
    as_str = plan_jobs("org/sd", [str(pets), str(cars)], methods="lora", probe=str(probes["clip"]))
    assert [j.key for j in plan_jobs("org/sd", [pets, cars], methods="lora", probe=str(probes["clip"]))] == [j.key for j in as_str]
    assert [j.key for j in plan_jobs("org/sd", pets, methods="lora", probe=str(probes["clip"]))] == [as_str[0].key]


def logged(hub) -> list[str]:
    """The loopback Hub's requests, sorted, each with the commit sha it names masked: a run lists
    the files of the commit each Hub dataset is at (can a sample be read?), whichever that is."""
    return sorted(re.sub(r"\b[0-9a-f]{40}\b", "<commit>", f"{e.method} {e.path}") for e in hub.request_log)


def run_cli(*args) -> tuple[int, str, str]:
    """Run the CLI in this process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def profile_hub(loopback_hub_server, tmp_path_factory):
    """Tiny pipelines and datasets on the loopback Hub, seeded once per session."""
    # Any hf_<user>_... token is user <user> on the loopback Hub.
    return seed_profile_hub(tmp_path_factory.mktemp("profile-hub"), token="hf_profiler_loopback_write_token", namespace="profiler")


@pytest.fixture(scope="session")
def probes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("probes")
    return {"clip": tiny_clip_full(root / "clip"), "dino": tiny_dinov2(root / "dino")}


def tiny_options(probes: dict[str, Path]) -> list[str]:
    """A few training steps, a tiny sample and K=4 images of 2 denoising steps: seconds per job."""
    return [
        "--steps", "3", "--learning-rate", "1e-3", "--sample-size", "12", "--min-images", "6", "--num-images", "4",
        "--inference-steps", "2", "--curve-points", "2", "--probe", probes["clip"], "--dino-probe", probes["dino"],
        "--threads", "1", "--token", HUB_TOKEN,
    ]


@pytest.fixture(scope="module")
def lora_grid(profile_hub, probes, tmp_path_factory):
    zoo = tmp_path_factory.mktemp("grid") / "zoo"
    code, out, err = run_cli(
        "profile", "--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets), "--methods", "lora",
        "--zoo", zoo, "--format", "json", *tiny_options(probes),
    )
    assert code == 0, err
    return zoo, json.loads(out)


def test_lora_grid_runs_end_to_end(lora_grid, profile_hub):
    zoo_dir, summary = lora_grid
    assert (summary["total"], summary["done"], summary["skipped"], summary["failed"]) == (4, 4, 0, 0)
    zoo = Zoo.load(zoo_dir)
    assert zoo.meta.score == "fid_after_finetune" and zoo.meta.higher_is_better is False
    records = list(zoo.profile_records())
    assert {(r.model, r.dataset) for r in records} == {(m, d) for m in profile_hub.models for d in profile_hub.datasets}
    assert len({r.config_hash for r in records}) == 1
    for r in records:
        assert r.method == "lora"
        assert math.isfinite(r.score) and r.score >= 0 and math.isfinite(r.score_before)
        for name in ("clip_i", "clip_t", "dino", "clip_i_before", "train_seconds"):
            assert math.isfinite(r.metrics[name]), name
        assert len(r.model_revision) == 40 and len(r.dataset_revision) == 40
        details = r.details
        assert details["fid_extractor"].startswith("local:clip@") and details["dino_probe"].startswith("local:dino@")
        assert details["recipe"]["method"] == "lora" and details["recipe"]["steps"] == 3 and details["seed"] == 0
        assert {"torch", "diffusers", "peft", "hubselect"} <= set(details["versions"])
        assert [p["step"] for p in details["curve"]] == [2, 3]
        assert all(math.isfinite(p["fidelity"]) and math.isfinite(p["editability"]) for p in details["curve"])
    assert not (zoo_dir / JOURNAL_FILE).exists() or not read_journal(zoo_dir)


def test_rerun_does_no_work(lora_grid, profile_hub, probes, hub):
    zoo_dir, _ = lora_grid
    before = (zoo_dir / "records.parquet").stat().st_mtime_ns
    code, out, err = run_cli(
        "profile", "--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets),
        "--zoo", zoo_dir, "--format", "json", *tiny_options(probes),
    )
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["total"], summary["done"], summary["skipped"]) == (4, 0, 4)
    assert (zoo_dir / "records.parquet").stat().st_mtime_ns == before
    # Nothing was downloaded: no model or dataset file was requested from the Hub.
    assert not [e for e in hub.request_log if "/resolve/" in e.path]
    # Gradient checkpointing saves memory and changes no result: the jobs are done already (they were redone).
    code, out, err = run_cli(
        "profile", "--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets), "--gradient-checkpointing",
        "--zoo", zoo_dir, "--format", "json", *tiny_options(probes),
    )
    assert code == 0, err
    assert (json.loads(out)["done"], json.loads(out)["skipped"]) == (0, 4)
    assert (zoo_dir / "records.parquet").stat().st_mtime_ns == before


def test_ray_executor_gives_the_same_records(lora_grid, profile_hub, probes, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'hubselect[ray]')")
    zoo_dir, _ = lora_grid
    code, out, err = run_cli(
        "profile", "--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets),
        "--zoo", tmp_path / "ray-zoo", "--executor", "ray", "--format", "json", *tiny_options(probes),
    )
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["done"], summary["executor"]) == (4, "ray")
    local = {r.key: r for r in Zoo.load(zoo_dir).profile_records()}
    remote = {r.key: r for r in Zoo.load(tmp_path / "ray-zoo").profile_records()}
    assert set(local) == set(remote)
    for key, a in local.items():
        b = remote[key]
        assert (a.model_revision, a.dataset_revision) == (b.model_revision, b.dataset_revision)
        assert b.score == pytest.approx(a.score, rel=1e-4, abs=1e-6)
        assert b.score_before == pytest.approx(a.score_before, rel=1e-4, abs=1e-6)
        for name in ("clip_i", "clip_t", "dino"):
            assert b.metrics[name] == pytest.approx(a.metrics[name], abs=1e-5), name


def _records_written(zoo_dir: Path) -> int:
    """Distinct records in the zoo's tables and its journal.

    Distinct, because a kill between a fold's save and its emptying of the journal leaves the
    same record in both (the next run folds it again, idempotently).
    """
    try:
        held = {r.key for r in Zoo.load(zoo_dir).profile_records()} if (zoo_dir / "zoo.json").exists() else set()
    except Exception:  # a file being replaced right now
        held = set()
    return len(held | {r.key for r in read_journal(zoo_dir)})


def test_sigkilled_run_resumes_without_losing_or_duplicating_work(profile_hub, probes, tmp_path):
    zoo_dir = tmp_path / "zoo"
    args = [sys.executable, "-m", "hubselect", "profile", "--models", ",".join(profile_hub.models), "--datasets", profile_hub.datasets[0],
            "--zoo", str(zoo_dir), "--format", "json", *map(str, tiny_options(probes))]
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while _records_written(zoo_dir) < 1:
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() < deadline, "the first job never finished"
            time.sleep(0.02)
    finally:
        first.send_signal(signal.SIGKILL)  # also when an assertion above fails: no run left behind
        first.wait(timeout=30)
        first.stderr.close()
    assert first.returncode == -signal.SIGKILL
    assert _records_written(zoo_dir) == 1, "the second job finished before the kill; the test did not exercise a crash"

    second = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert (summary["total"], summary["done"], summary["skipped"]) == (2, 1, 1)
    zoo = Zoo.load(zoo_dir)
    keys = [tuple(row) for row in zoo.records[["model", "dataset", "method", "config_hash"]].itertuples(index=False)]
    assert len(keys) == 2 and len(set(keys)) == 2
    assert {k[0] for k in keys} == set(profile_hub.models)


def test_bad_inputs_are_one_line_errors_and_keep_earlier_records(lora_grid, profile_hub, probes, tmp_path):
    code, out, err = run_cli("profile", "--models", "a/b", "--datasets", "c/d", "--methods", "lora,hypernetwork", "--zoo", tmp_path / "z")
    assert code == 2 and out == ""
    assert err.strip() == "Error: unknown fine-tuning method 'hypernetwork'; choose from: lora, dreambooth, textual-inversion"
    assert not (tmp_path / "z").exists()

    # A device torch does not know is refused once, before any job (was one 'unexpected RuntimeError' per job).
    code, out, err = run_cli("profile", "--models", "a/b", "--datasets", "c/d", "--device", "tpu", "--zoo", tmp_path / "z")
    assert code == 2 and out == ""
    assert err.strip() == "Error: --device tpu: not a device; use cpu, cuda, cuda:N, mps or auto"
    assert not (tmp_path / "z").exists()

    # A Ray cluster address nothing answers at is refused at once (ray.init retried it for minutes);
    # --ray-address without --executor ray was ignored.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
    code, out, err = run_cli("profile", "--models", "a/b", "--datasets", "c/d", "--executor", "ray", "--ray-address", address, "--zoo", tmp_path / "z")
    assert code == 2 and err.startswith(f"Error: --ray-address {address}: no Ray cluster answers there") and err.count("\n") == 1, err
    code, out, err = run_cli("profile", "--models", "a/b", "--datasets", "c/d", "--ray-address", address, "--zoo", tmp_path / "z")
    assert code == 2 and "only --executor ray uses" in err
    assert not (tmp_path / "z").exists()

    # A zoo scored by something else is refused before anything is fetched (the probe named here does not exist).
    Zoo(ZooMeta(score="accuracy", higher_is_better=True)).save(tmp_path / "accuracy-zoo")
    code, out, err = run_cli("profile", "--models", "a/b", "--datasets", "c/d", "--probe", tmp_path / "no-probe", "--zoo", tmp_path / "accuracy-zoo")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "scored by 'accuracy'" in err and "profile into another zoo folder" in err

    # A zoo that already holds results: failing jobs must not touch them.
    zoo_dir, _ = lora_grid
    copy = tmp_path / "zoo"
    Zoo.load(zoo_dir).save(copy)
    held = Zoo.load(copy).records.copy()
    good, other = profile_hub.models
    code, out, err = run_cli(
        "profile", "--models", f"{profile_hub.pickle_model},{good}", "--datasets", f"{profile_hub.small_dataset},{profile_hub.datasets[0]}",
        "--zoo", copy, "--format", "json", *tiny_options(probes),
    )
    assert code == 1
    summary = json.loads(out)
    assert (summary["total"], summary["skipped"], summary["done"], summary["failed"]) == (4, 1, 0, 3)
    reasons = {(f["model"], f["dataset"]): f["reason"] for f in summary["failures"]}
    assert "flagged pickle_only" in reasons[(profile_hub.pickle_model, profile_hub.datasets[0])]
    assert "a profile needs at least 6" in reasons[(good, profile_hub.small_dataset)]
    failures = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 3 and all("\n" not in reason for reason in reasons.values())
    assert err.splitlines()[-1].startswith("Error: 3 of 4 profiling jobs failed")
    after = Zoo.load(copy).records
    assert len(after) == len(held) and set(after["score"]) == set(held["score"])


def test_zoo_models_profiles_what_the_zoo_lacks_and_retries_failed_jobs(lora_grid, profile_hub, probes, tmp_path):
    """What a scheduled refresh runs: the zoo's crawled models that lack a result on one of --datasets."""
    from hubselect.testing.tiny import write_parquet_shards

    zoo_dir, _ = lora_grid  # both models × both datasets profiled
    zoo = tmp_path / "zoo"
    Zoo.load(zoo_dir).save(zoo)
    code, out, err = run_cli("crawl", "--kind", "t2i", "--author", profile_hub.namespace, "--zoo", zoo, "--token", HUB_TOKEN, "--format", "json")
    assert code == 0, err
    assert profile_hub.pickle_model in json.loads(out)["flagged"]
    lacking = ["profile", "--zoo-models", "--zoo", zoo, "--format", "json", *tiny_options(probes)]

    code, out, err = run_cli(*lacking, "--datasets", ",".join(profile_hub.datasets))
    assert code == 0, err
    assert json.loads(out)["total"] == 0  # nothing lacking; the pickle-only model is never picked

    # A dataset added to the list is profiled for the models that already have results elsewhere,
    # at most --max-models of them (most downloaded first, then by id).
    (new,) = write_parquet_shards(tmp_path / "new", n=12, shards=1, row_group_size=12, style="cool", seed=5, size=(40, 40))
    code, out, err = run_cli(*lacking, "--datasets", ",".join([*profile_hub.datasets, str(new)]), "--max-models", "1")
    assert code == 0, err
    summary = json.loads(out)
    first = sorted(profile_hub.models)[0]
    assert (summary["total"], summary["done"], summary["skipped"], summary["failed"]) == (3, 1, 2, 0)
    assert [(r["model"], r["dataset"]) for r in summary["records"]] == [(first, new.stem)]

    # A job that failed is tried again on the next run (here it fails again: the dataset is too small).
    for _ in range(2):
        code, out, err = run_cli(*lacking, "--datasets", f"{profile_hub.datasets[0]},{profile_hub.small_dataset}")
        assert code == 1
        summary = json.loads(out)
        assert (summary["total"], summary["skipped"], summary["failed"]) == (4, 2, 2)
        assert {(f["model"], f["dataset"]) for f in summary["failures"]} == {(m, profile_hub.small_dataset) for m in profile_hub.models}

    code, out, err = run_cli("profile", "--zoo-models", "--models", first, "--datasets", str(new), "--zoo", zoo)
    assert (code, out) == (2, "") and err.strip() == "Error: say which models to profile: --models M1,M2 or --zoo-models (not both)"
    code, out, err = run_cli("profile", "--zoo-models", "--datasets", str(new), "--zoo", tmp_path / "no-zoo")
    assert (code, out) == (2, "") and "holds no zoo; crawl models into it first" in err and err.count("\n") == 1
    assert not (tmp_path / "no-zoo").exists()


def test_ctrl_c_says_the_finished_records_are_kept(profile_hub, probes, tmp_path, monkeypatch):
    import hubselect.profile.grid

    def interrupted(*args, **kwargs):  # Ctrl-C while jobs run (the records' safety has its own SIGKILL test)
        raise KeyboardInterrupt

    monkeypatch.setattr(hubselect.profile.grid, "run_grid", interrupted)
    good, _ = profile_hub.models
    code, out, err = run_cli("profile", "--models", good, "--datasets", profile_hub.datasets[0], "--zoo", tmp_path / "z", *tiny_options(probes))
    assert (code, out) == (130, "")
    assert err.strip() == f"Interrupted: every finished job's record is kept in {tmp_path / 'z'}; rerun the same command to run the rest"


# ray takes 50 s: the slow tier; the default tier stops a Ray run in the test after this one
@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.slow)])
def test_sigterm_stops_a_run_as_ctrl_c_does_and_a_rerun_skips_the_finished_jobs(executor, profile_hub, probes, tmp_path):
    """CI cancelling a job, Slurm and Kubernetes stop work with SIGTERM: the local executor died
    without a word (exit -15), and Ray's handler printed a native stack trace and aborted (exit
    -6). Now the run stops as on Ctrl-C: one line, exit 143 (128 + SIGTERM), the finished jobs'
    records kept, and the same command, rerun, runs only the others."""
    if executor == "ray":
        pytest.importorskip("ray", reason="Ray is not installed (pip install 'hubselect[ray]')")
    zoo_dir = tmp_path / "zoo"
    args = [sys.executable, "-m", "hubselect", "profile", "--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets),
            "--zoo", str(zoo_dir), "--executor", executor, "--format", "json", *map(str, tiny_options(probes))]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 300
        while _records_written(zoo_dir) < 1:
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "no job finished"
            time.sleep(0.02)
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:  # no run left behind, whatever failed above
            first.kill()
            first.communicate()
    kept = _records_written(zoo_dir)
    assert kept < 4, "every job finished before the signal; the test did not stop a run"
    assert (first.returncode, out) == (143, ""), err
    assert err.splitlines()[-1] == f"Interrupted: every finished job's record is kept in {zoo_dir}; rerun the same command to run the rest"
    assert "SIGTERM received" not in err and "Traceback" not in err, err

    second = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy(), timeout=600, check=False)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert (summary["total"], summary["skipped"], summary["done"]) == (4, kept, 4 - kept)


def test_sigterm_while_the_ray_driver_waits_for_its_jobs_stops_the_run_as_ctrl_c_does(profile_hub, probes, tmp_path):
    """A signal while the driver waited in ``ray.wait`` (where a run spends its time) ended it with
    exit 1 and no word: Ray turns the exception the handler raises there into a plain SystemExit."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'hubselect[ray]')")
    zoo_dir = tmp_path / "zoo"
    args = [sys.executable, "-m", "hubselect", "profile", "--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets),
            "--zoo", str(zoo_dir), "--executor", "ray", "--format", "json", *map(str, tiny_options(probes))]
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        lines = []
        for line in run.stderr:
            lines.append(line)
            if "Started a local Ray instance" in line:
                break
        time.sleep(3)  # the jobs submitted, the driver waits for the first to finish
        assert _records_written(zoo_dir) == 0, "a job finished first; the test did not signal a waiting driver"
        run.send_signal(signal.SIGTERM)
        out, rest = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    err = "".join(lines) + rest
    assert (run.returncode, out) == (143, ""), err
    assert err.splitlines()[-1] == f"Interrupted: every finished job's record is kept in {zoo_dir}; rerun the same command to run the rest", err


@pytest.mark.slow  # a Ray cluster of its own, 20 s
def test_a_ray_worker_killed_mid_job_leaves_stdout_to_the_result_document(profile_hub, probes, tmp_path):
    """The OOM killer ends a Ray worker mid-job: Ray's driver printed its paragraph about it
    (colour codes included) on stdout, above the JSON document, which no longer parsed (and above
    the table in human mode). Ray's lines go to stderr; the failure says where Ray's logs are."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'hubselect[ray]')")
    psutil = pytest.importorskip("psutil")

    def executing(process) -> bool:
        with contextlib.suppress(psutil.Error):
            return " ".join(process.cmdline()).startswith("ray::execute")
        return False

    args = [sys.executable, "-m", "hubselect", "profile", "--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets),
            "--zoo", str(tmp_path / "zoo"), "--executor", "ray", "--format", "json", *map(str, tiny_options(probes))]
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 300
        while not (workers := [p for p in psutil.Process(run.pid).children(recursive=True) if executing(p)]):
            assert run.poll() is None, run.communicate()[1]
            assert time.monotonic() < deadline, "no Ray worker ever ran a job"
            time.sleep(0.05)
        workers[0].kill()  # as the OOM killer does
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:  # no run left behind, whatever failed above
            run.kill()
            run.communicate()
    assert run.returncode == 1, err
    summary = json.loads(out)
    assert (summary["done"], summary["failed"]) == (3, 1), summary
    (reason,) = [f["reason"] for f in summary["failures"]]
    assert reason.startswith("the Ray task failed: WorkerCrashedError: The worker died unexpectedly"), reason
    logs = Path(re.search(r"Ray's logs: (\S+)\)$", reason)[1])
    assert logs.name == "logs" and any(logs.glob("python-core-worker-*.log")), reason


@pytest.mark.slow  # a Ray cluster of its own, 20 s
def test_rays_log_lines_are_written_above_the_progress_bar_not_into_it(profile_hub, probes, tmp_path):
    """Ray logs as its local cluster starts ("Started a local Ray instance.", its token notice):
    the lines landed in the middle of the progress bar's line."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'hubselect[ray]')")
    done = subprocess.run(
        [sys.executable, "-m", "hubselect", "profile", "--models", profile_hub.models[0], "--datasets", profile_hub.datasets[0],
         "--zoo", str(tmp_path / "zoo"), "--executor", "ray", *map(str, tiny_options(probes))],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "0", "COLUMNS": "120"}, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Started a local Ray instance." in done.stderr
    bars = [line for line in re.split(r"[\r\n]", done.stderr) if line.startswith("Profiling:")]
    assert bars and all(line.rstrip().endswith("]") for line in bars), bars


def test_push_opens_a_pull_request_with_the_records(lora_grid, profile_hub, probes, hub, hub_repo_id, tmp_path):
    from huggingface_hub import HfApi

    Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False)).push(hub_repo_id, token=HUB_TOKEN)
    zoo_dir, _ = lora_grid
    copy = tmp_path / "zoo"
    Zoo.load(zoo_dir).save(copy)
    code, out, err = run_cli(
        "profile", "--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets),
        "--zoo", copy, "--push", hub_repo_id, "--format", "json", *tiny_options(probes),
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["skipped"] == 4 and summary["pull_request"].endswith("/discussions/1")
    api = HfApi(token=HUB_TOKEN)
    assert "refs/pr/1" in [r.ref for r in api.list_repo_refs(hub_repo_id, repo_type="dataset", include_pull_requests=True).pull_requests]
    assert Zoo.pull(hub_repo_id, token=HUB_TOKEN).records.empty  # main is untouched
    proposed = Zoo.pull(hub_repo_id, revision="refs/pr/1", token=HUB_TOKEN)
    assert len(proposed.records) == 4

    # Pushing again points at the open pull request instead of opening another.
    code, out, err = run_cli(
        "profile", "--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets),
        "--zoo", copy, "--push", hub_repo_id, "--format", "json", *tiny_options(probes),
    )
    assert code == 0 and json.loads(out)["pull_request"] == summary["pull_request"]
    assert len(api.list_repo_refs(hub_repo_id, repo_type="dataset", include_pull_requests=True).pull_requests) == 1

    # A missing zoo repo is found before any job runs (it was found after the whole grid), and
    # the error says how to create one.
    before = len(hub.request_log)
    fresh = tmp_path / "fresh"
    code, out, err = run_cli("profile", "--models", profile_hub.models[0], "--datasets", profile_hub.datasets[0],
                             "--zoo", fresh, "--push", "tester/no-such-zoo", *tiny_options(probes))
    assert (code, out) == (3, "") and err.count("\n") == 1, err
    assert err.startswith("Error: zoo repo tester/no-such-zoo was not found on ")
    assert "create it from a zoo folder with `hubselect zoo push ZOO --repo tester/no-such-zoo`" in err
    assert not fresh.exists() and len(hub.request_log) == before + 1


def test_profile_grid_checks_push_to_before_any_job(hub, tmp_path):
    from hubselect.errors import InputError
    from hubselect.profile.grid import profile_grid

    with pytest.raises(InputError, match=r"^push_to 'https://huggingface.co/datasets/org/zoo': not a Hub repo id; pass org/zoo \(ORG/NAME\), not a URL$"):
        profile_grid("org/model", str(tmp_path), tmp_path / "zoo", push_to="https://huggingface.co/datasets/org/zoo", progress=False)
    assert not (tmp_path / "zoo").exists() and not hub.request_log


@pytest.mark.parametrize("zoo", ["locked/Z", "zoo", "a-file/Z"], ids=["new-in-a-folder-it-cannot-write", "zoo-it-cannot-write", "under-a-file"])
def test_a_zoo_it_cannot_write_is_refused_before_any_request(zoo, hub, tmp_path, monkeypatch):
    """It failed as "unexpected PermissionError" once the plan was made (after a note that it was creating the folder)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False)).save(tmp_path / "zoo")
    before = {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()}
    with unwritable(tmp_path / zoo.split("/")[0]) if zoo != "a-file/Z" else contextlib.nullcontext():
        code, out, err = run_cli("profile", "--models", "tester/sd-tiny", "--datasets", "tester/images", "--zoo", zoo)
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert err.startswith(f"Error: --zoo {zoo}: ") and "unexpected" not in err and "; pass a path in a folder" in err
    assert not hub.request_log
    assert {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()} == before


def test_two_inputs_with_one_zoo_name_are_refused_before_any_work(hub, tmp_path):
    # Only folders: the clash is found before any model, dataset or probe is read.
    m, other, ds, ds2 = (tmp_path / p for p in ("m/sd-ddim", "other/sd-ddim", "ds/warm", "ds2/warm"))
    for folder in (m, other, ds, ds2):
        folder.mkdir(parents=True)
    zoo = tmp_path / "zoo"
    common = ("--zoo", zoo, "--probe", tmp_path / "no-probe")

    code, out, err = run_cli("profile", "--models", f"{m},{other}", "--datasets", ds, *common)
    assert (code, out) == (2, "")
    assert err == (f"Error: models {m} and {other} are both named 'sd-ddim' in the zoo "
                   "(a local folder or file is keyed by its name); rename one of them\n")
    code, out, err = run_cli("profile", "--models", m, "--datasets", f"{ds},{ds2}", *common)
    assert code == 2 and err == (f"Error: datasets {ds} and {ds2} are both named 'warm' in the zoo "
                                 "(a local folder or file is keyed by its name); rename one of them\n")
    # Two revisions of one Hub model (or dataset) would share one record too.
    code, out, err = run_cli("profile", "--models", "tester/sdm@aaaa111,tester/sdm@bbbb222", "--datasets", ds, *common)
    assert code == 2 and err == ("Error: models tester/sdm@aaaa111 and tester/sdm@bbbb222 are both named 'tester/sdm' in the zoo "
                                 "(a zoo keeps one result per model and dataset, whatever the revision); profile one revision per run\n")
    code, out, err = run_cli("profile", "--models", m, "--datasets", "tester/ds@r1,tester/ds@r2", *common)
    assert code == 2 and "datasets tester/ds@r1 and tester/ds@r2 are both named 'tester/ds'" in err
    assert not zoo.exists() and not hub.request_log

    # The same folder spelled twice is one model listed twice, not a clash (this run fails later, on the missing probe).
    code, out, err = run_cli("profile", "--models", f"{m},{tmp_path}/other/../m/sd-ddim", "--datasets", ds, *common)
    assert code == 2 and "both named" not in err and "no-probe" in err


def test_a_model_the_zoo_records_as_a_lora_adapter_is_refused_up_front_naming_its_base_model(hub, tmp_path):
    """Was: the probe fetched, the job run and failed ("not a diffusers pipeline"), a failed job
    written into the zoo (and pushed with it), and advice to rerun the same command."""
    from hubselect.zoo import ModelRecord

    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_models([
        ModelRecord("tester/sd-tiny-ddim", "a" * 40, {"kind": "t2i", "total_params": 1e6}),
        ModelRecord("tester/lora-sks-dog", "b" * 40, {"kind": "lora", "base_model": "tester/sd-tiny-ddim"}),
        ModelRecord("tester/lora-bare", "c" * 40, {"kind": "lora", "base_model": None}),
    ])
    zoo.save(tmp_path / "zoo")
    before = {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()}
    common = ("--datasets", "tester/warm-images", "--zoo", tmp_path / "zoo", "--probe", "tester/probe")

    code, out, err = run_cli("profile", "--models", "tester/sd-tiny-ddim,tester/lora-sks-dog@main", *common)
    assert (code, out) == (2, "")
    assert err == ("Error: model tester/lora-sks-dog@main is a LoRA adapter in the zoo, not a pipeline to fine-tune; "
                   "profile the model it adapts instead: --models tester/sd-tiny-ddim\n")
    code, out, err = run_cli("profile", "--models", "tester/lora-bare", *common)
    assert code == 2 and err.endswith("is a LoRA adapter in the zoo, not a pipeline to fine-tune; "
                                      "profile the pipeline it adapts instead (its card names no base model)\n"), err
    assert {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()} == before and not hub.request_log


def test_an_empty_models_or_datasets_list_is_refused_before_the_zoo_is_created(hub, tmp_path):
    # What an unset shell variable gives (MODELS=""; --models "$MODELS"): was "0 jobs ... 0 failed", exit 0, and an empty zoo.
    zoo = tmp_path / "zoo"
    code, out, err = run_cli("profile", "--models", "", "--datasets", tmp_path, "--zoo", zoo)
    assert (code, out, err) == (2, "", "Error: no models given; pass a comma-separated list\n")
    code, out, err = run_cli("profile", "--models", "tester/sdm", "--datasets", "", "--zoo", zoo)
    assert (code, out, err) == (2, "", "Error: no datasets given; pass a comma-separated list\n")
    assert not zoo.exists() and not hub.request_log


def test_a_blank_class_word_is_refused_before_any_job(hub, probes, tmp_path):
    # Was found per job: the LoRA job ran ("a photo of sks"), then textual inversion failed on "the initializer '' has no tokens".
    for blank in ("", "  "):
        code, out, err = run_cli("profile", "--models", "tester/sdm", "--datasets", tmp_path, "--methods", "textual-inversion,lora",
                                 "--class-word", blank, "--zoo", tmp_path / "zoo", "--probe", probes["clip"])
        assert (code, out) == (2, "")
        assert err == "Error: textual-inversion: the class word is blank; pass a noun with --class-word (e.g. dog), or leave it out for 'object'\n"
    assert not (tmp_path / "zoo").exists() and not hub.request_log


def test_an_option_no_method_of_the_grid_takes_is_refused_and_a_batch_larger_than_the_sample_is_noted(hub, probes, tmp_path):
    from hubselect.testing.tiny import write_image_folder

    images = write_image_folder(tmp_path / "pets", n=3, style="warm")
    model = tmp_path / "not-a-pipeline"  # every job fails at once, before reading the dataset
    model.mkdir()
    zoo = tmp_path / "zoo"
    common = ("--models", model, "--datasets", images, "--zoo", zoo, "--probe", probes["clip"])
    # Were dropped without a word (and the job reported "already in the zoo" as if applied), or accepted until every job failed.
    refused = [
        (("--methods", "lora", "--prior-preservation"), "--prior-preservation applies to dreambooth; add it to --methods or drop the option"),
        (("--methods", "textual-inversion,dreambooth", "--rank", "16"), "--rank applies to lora; add it to --methods or drop the option"),
        (("--learning-rate", "inf"), "lora: the learning rate must be a positive, finite number, got inf"),
    ]
    for args, message in refused:
        assert run_cli("profile", *common, *args) == (2, "", f"Error: {message}\n"), args
    assert not zoo.exists()

    # Options that apply to some of the methods are taken; a batch larger than the images a job
    # can train on (here 3 read, 2 held out) is a note, once per run.
    code, _, err = run_cli("profile", *common, "--methods", "lora,dreambooth", "--prior-preservation", "--rank", "8", "--batch-size", "64",
                             "--sample-size", "3", "--min-images", "3")
    assert code == 1 and "2 of 2 profiling jobs failed" in err and "not a diffusers pipeline" in err
    note = "note: --batch-size 64 is more than the 1 image a job trains on at most (--sample-size 3 less 2 held out): each step repeats them\n"
    assert err.count(note) == 1


def test_a_record_made_from_another_revision_split_or_columns_is_not_done(lora_grid, profile_hub, probes, tmp_path):
    from huggingface_hub import HfApi

    from hubselect.testing.seed_models import save_tiny_pipeline

    api = HfApi(token="hf_profiler_loopback_write_token")  # the user profile_hub seeded the Hub as
    model = f"{profile_hub.namespace}/sd-twice"
    api.create_repo(model, exist_ok=True)
    folder = save_tiny_pipeline(tmp_path / "sd-twice", "sd-tiny-ddim")
    sha1 = api.upload_folder(repo_id=model, folder_path=str(folder), commit_message="first").oid

    def new_weights(seed: int) -> str:
        """A commit of other UNet weights: other files for a job to read."""
        other = save_tiny_pipeline(tmp_path / f"sd-{seed}", "sd-tiny-ddim", seed=seed) / "unet" / "diffusion_pytorch_model.safetensors"
        return api.upload_file(repo_id=model, path_or_fileobj=str(other), path_in_repo="unet/diffusion_pytorch_model.safetensors").oid

    sha2 = new_weights(1)
    dataset = profile_hub.datasets[0]
    zoo_dir = tmp_path / "zoo"

    def profile(*args) -> tuple[int, dict, str]:
        code, out, err = run_cli("profile", "--datasets", dataset, "--zoo", zoo_dir, "--format", "json", *tiny_options(probes), *args)
        return code, json.loads(out), err

    code, summary, err = profile("--models", f"{model}@{sha1}")
    assert code == 0 and (summary["done"], summary["reruns"]) == (1, {}), err
    # Another commit of the model is new work; its record replaces the first one.
    code, summary, err = profile("--models", f"{model}@{sha2}")
    assert code == 0, err
    assert (summary["total"], summary["done"], summary["skipped"], summary["reruns"]) == (1, 1, 0, {"model revision changed": 1})
    held = [r for r in Zoo.load(zoo_dir).profile_records() if r.model == model]
    assert [r.model_revision for r in held] == [sha2]
    code, out, err = run_cli("profile", "--models", f"{model}@{sha2[:7]}", "--datasets", dataset, "--zoo", zoo_dir, *tiny_options(probes))
    assert code == 0 and f"1 jobs: 0 done, 1 skipped (already in {zoo_dir}), 0 failed" in out, err
    # Without @revision: main is at sha2, the commit the record was made from (it was fine-tuned again, "model revision changed").
    code, summary, err = profile("--models", model)
    assert code == 0 and (summary["done"], summary["skipped"], summary["reruns"]) == (0, 1, {}), err

    # Another split is refused before any work. This dataset has none but train: that is what the refusal says (to
    # move its results to test with `dataset profile --split test --force`, as for a dataset that has one, would fail).
    code, out, err = run_cli("profile", "--models", f"{model}@{sha2}", "--datasets", dataset, "--zoo", zoo_dir, *tiny_options(probes), "--split", "test")
    assert (code, out) == (2, "") and "has no parquet or image files for split 'test'" in err and "(found: train)" in err, err
    # Another caption column is another sample: it runs (and fails here: there is none), and the record stays.
    code, summary, err = profile("--models", f"{model}@{sha2}", "--caption-column", "nosuch")
    assert code == 1 and summary["reruns"] == {"columns changed": 1} and "nosuch" in summary["failures"][0]["reason"]
    # Asking for the column detection picked reads the same sample: done.
    code, summary, err = profile("--models", f"{model}@{sha2}", "--caption-column", "text")
    assert code == 0 and (summary["done"], summary["skipped"]) == (0, 1)
    assert [r.model_revision for r in Zoo.load(zoo_dir).profile_records() if r.model == model] == [sha2]

    # Once main moves on to other weights, the record is no longer main's result (it was skipped, and kept).
    sha3 = new_weights(2)
    code, summary, err = profile("--models", model)
    assert code == 0 and (summary["done"], summary["reruns"]) == (1, {"model revision changed": 1}), err
    assert [r.model_revision for r in Zoo.load(zoo_dir).profile_records() if r.model == model] == [sha3]


def test_a_card_edit_on_the_model_or_dataset_reruns_nothing_and_the_records_name_the_new_commits(profile_hub, probes, hub, tmp_path):
    """A commit that changes none of the files a job reads (a README edit) reran every job on
    that model or dataset ("1 rerun: dataset revision changed"): GPU hours on a real zoo, for the
    same numbers. It is the same result: the record now names the new commits, and the next run
    costs what a run with nothing to do always cost."""
    from huggingface_hub import HfApi

    from hubselect.profile.evaluation import EvalConfig
    from hubselect.profile.grid import lacking_jobs, plan_jobs
    from hubselect.profile.journal import ZooWriter
    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_parquet_shards

    api = HfApi(token="hf_profiler_loopback_write_token")  # the user profile_hub seeded the Hub as
    model, dataset = f"{profile_hub.namespace}/sd-carded", f"{profile_hub.namespace}/carded-images"
    api.create_repo(model, exist_ok=True)
    api.upload_folder(repo_id=model, folder_path=str(save_tiny_pipeline(tmp_path / "sd", "sd-tiny-ddim")))
    api.create_repo(dataset, repo_type="dataset", exist_ok=True)
    write_parquet_shards(tmp_path / "data", n=12, shards=1, row_group_size=12, style="warm", size=(40, 40))
    api.upload_folder(repo_id=dataset, folder_path=str(tmp_path / "data"), repo_type="dataset")
    zoo_dir = tmp_path / "zoo"

    def profile(*human) -> dict | str:
        hub.clear_log()
        code, out, err = run_cli("profile", "--models", model, "--datasets", dataset, "--zoo", zoo_dir, *tiny_options(probes),
                                 *(() if human else ("--format", "json")))
        assert code == 0, err
        return out if human else json.loads(out)

    def requests() -> list[str]:
        return logged(hub)

    assert profile()["done"] == 1
    (made,) = Zoo.load(zoo_dir).profile_records()
    assert made.details["content"]["model"].startswith("files-") and made.details["content"]["dataset"].startswith("files-")
    summary = profile()
    assert (summary["skipped"], summary["moved"]) == (1, 0)
    nothing_to_do = requests()  # what the branches are at (one request per repo), and the dataset's listing
    # The dataset's commit is asked once: the listing that checks a sample can be read answers the run too.
    assert [r for r in nothing_to_do if r.startswith(f"GET /api/datasets/{dataset}") and "/tree/" not in r] == [f"GET /api/datasets/{dataset}"], nothing_to_do

    card = b"---\nlicense: mit\n---\n# Edited card\n"
    model_now = api.upload_file(repo_id=model, path_or_fileobj=card, path_in_repo="README.md").oid
    # `profile --zoo-models` (the weekly refresh) finds nothing lacking either: the result counted as outdated, and was redone.
    (job,) = plan_jobs(model, dataset, recipe_overrides={"steps": 3, "learning_rate": 1e-3}, probe=str(probes["clip"]),
                       dino_probe=str(probes["dino"]), evaluation=EvalConfig(sample_size=12, min_images=6, num_images=4, inference_steps=2,
                                                                              curve_points=2))
    assert job.key == made.key and lacking_jobs([job], ZooWriter(zoo_dir)).jobs == []
    summary = profile()
    assert (summary["done"], summary["skipped"], summary["reruns"], summary["moved"]) == (0, 1, {}, 1), summary
    # What the files hold was asked (one request: the model's siblings), and no file was fetched.
    assert len(hub.request_log) == len(nothing_to_do) + 1 and not [r for r in requests() if "/resolve/" in r], requests()
    (moved,) = Zoo.load(zoo_dir).profile_records()
    assert (moved.model_revision, moved.dataset_revision) == (model_now, made.dataset_revision)
    assert (moved.score, moved.metrics, moved.details["content"]) == (made.score, made.metrics, made.details["content"])

    dataset_now = api.upload_file(repo_id=dataset, path_or_fileobj=card, path_in_repo="README.md", repo_type="dataset").oid
    out = profile("human")
    assert f"1 jobs: 0 done, 1 skipped (already in {zoo_dir}; 1 moved to a new commit of the same files), 0 failed" in out
    # The dataset's listing and card were read, no data file.
    assert not [r for r in requests() if "/resolve/" in r and not r.split("?")[0].endswith("/README.md")], requests()
    assert [(r.model_revision, r.dataset_revision) for r in Zoo.load(zoo_dir).profile_records()] == [(model_now, dataset_now)]
    # Found current at once from now on: the requests of a run with nothing to do, as before the edits.
    summary = profile()
    assert (summary["skipped"], summary["moved"]) == (1, 0) and requests() == nothing_to_do

    # Other data is other work: the job runs again.
    write_parquet_shards(tmp_path / "data", n=12, shards=1, row_group_size=12, style="cool", size=(40, 40))
    api.upload_folder(repo_id=dataset, folder_path=str(tmp_path / "data"), repo_type="dataset")
    summary = profile()
    assert (summary["done"], summary["reruns"], summary["moved"]) == (1, {"dataset revision changed": 1}, 0), summary
    assert next(Zoo.load(zoo_dir).profile_records()).details["content"]["dataset"] != made.details["content"]["dataset"]


def test_a_local_folder_is_done_for_its_content_and_another_folder_of_its_name_is_refused(probes, tmp_path):
    """A local folder or .parquet file is keyed by its name: a record was made from its content (and path)."""
    import shutil

    from hubselect.data.sample import dataset_revision
    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_image_folder, write_parquet_shards

    model = save_tiny_pipeline(tmp_path / "models" / "sd", "sd-tiny-ddim")
    pets, other_pets = (write_image_folder(tmp_path / p / "pets", n=8, style=s, seed=i) for i, (p, s) in enumerate((("a", "warm"), ("b", "cool"))))
    # Hub exports are all named like this.
    (warm,), (cool,) = (write_parquet_shards(tmp_path / s, n=8, shards=1, row_group_size=8, style=s, seed=3) for s in ("warm", "cool"))
    zoo = tmp_path / "zoo"
    options = ("--steps", "2", "--sample-size", "8", "--min-images", "6", "--num-images", "2", "--inference-steps", "2", "--curve-points", "0",
               "--probe", probes["clip"], "--threads", "1", "--device", "cpu", "--zoo", zoo, "--format", "json")

    def profile(datasets) -> tuple[int, dict | None, str]:
        code, out, err = run_cli("profile", "--models", model, "--datasets", datasets, *options)
        return code, json.loads(out) if out else None, err

    code, summary, err = profile(f"{pets},{warm}")
    assert code == 0 and summary["done"] == 2, err
    # Another folder or file of the same name, in a later run, is refused as in one run (it was
    # "1 skipped (already in the zoo)", the zoo keeping the other one's result under its name).
    for given, held, kind in ((other_pets, pets, "folder"), (cool, warm, "file")):
        code, summary, err = profile(given)
        assert (code, summary) == (2, None)
        assert err == (f"Error: dataset {given} is named {held.stem!r} in the zoo, which holds results made from another {kind} "
                       f"of that name ({held}); rename one of them\n")

    # The folder's images replaced by others: it was "1 skipped", the record kept the old images' result.
    for image in pets.iterdir():
        image.unlink()
    for image in other_pets.iterdir():
        shutil.copy(image, pets)
    code, summary, err = profile(pets)
    assert code == 0 and (summary["done"], summary["reruns"]) == (1, {"dataset content changed": 1}), err
    assert [r.dataset_revision for r in Zoo.load(zoo).profile_records() if r.dataset == "pets"] == [dataset_revision(pets)]
    assert profile(pets)[1]["skipped"] == 1
    # Another pipeline saved into the model's folder is another model.
    shutil.rmtree(model)
    save_tiny_pipeline(model, "sd-tiny-vpred")
    code, summary, err = profile(pets)
    assert code == 0 and (summary["done"], summary["reruns"]) == (1, {"model content changed": 1}), err


def test_records_written_before_requests_were_stored_still_count_as_done(lora_grid, profile_hub, probes, tmp_path):
    zoo_dir, _ = lora_grid
    old = Zoo.load(zoo_dir)
    # What the profiler wrote before it stored the revisions and columns asked for.
    old.records["details"] = [json.dumps({k: v for k, v in json.loads(d).items() if k not in ("requested", "columns")}) for d in old.records["details"]]
    old.save(tmp_path / "zoo")
    grid = ("--models", ",".join(profile_hub.models), "--datasets", ",".join(profile_hub.datasets), "--zoo", tmp_path / "zoo", "--format", "json")
    code, out, err = run_cli("profile", *grid, *tiny_options(probes))
    assert code == 0 and (json.loads(out)["skipped"], json.loads(out)["reruns"]) == (4, {}), err
    # The revision the records were made from, named by a short sha, is the same revision.
    revision = next(r.dataset_revision for r in old.profile_records() if r.dataset == profile_hub.datasets[0])
    code, out, err = run_cli("profile", "--models", profile_hub.models[0], "--datasets", f"{profile_hub.datasets[0]}@{revision[:8]}",
                             "--zoo", tmp_path / "zoo", "--format", "json", *tiny_options(probes))
    assert code == 0 and json.loads(out)["skipped"] == 1, err
    # A column those records cannot vouch for is asked for: the job runs again.
    code, out, err = run_cli("profile", "--models", ",".join(profile_hub.models), "--datasets", profile_hub.datasets[0], "--zoo", tmp_path / "zoo",
                             "--format", "json", "--caption-column", "nosuch", *tiny_options(probes))
    assert code == 1 and json.loads(out)["reruns"] == {"columns changed": 2}


def test_a_reader_that_records_another_column_than_asked_is_not_rerun_forever():
    """A Hub image folder ignores --image-column and records the column it read (file_name):
    the same command again must count the job as done, not fine-tune it on every rerun."""
    from dataclasses import replace

    from hubselect.profile import EvalConfig
    from hubselect.profile.grid import rerun_reason
    from hubselect.profile.job import ProfileJob
    from hubselect.profile.recipes import make_recipe
    from hubselect.zoo import ProfileRecord

    job = ProfileJob("org/sd", "org/pets-imagefolder", make_recipe("lora", {}), EvalConfig(), probe=None, image_column="image")
    requested = {"model_revision": None, "dataset_revision": None, "image_column": "image", "caption_column": None}
    for read in ("file_name", None):
        details = {"requested": requested, "columns": {"image": read, "caption": "text"}, "split": "train"}
        record = ProfileRecord("org/sd", "org/pets-imagefolder", 30.0, method="lora", details=details)
        assert rerun_reason(job, record) is None
    assert rerun_reason(replace(job, image_column="picture"), record) == "columns changed"


def test_a_dead_ray_address_from_the_environment_says_to_unset_it(monkeypatch):
    from hubselect.errors import InputError
    from hubselect.profile.executors import make_executor

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    with pytest.raises(InputError, match=f"^RAY_ADDRESS {address}: no Ray cluster answers there .*; start one .* or unset RAY_ADDRESS"):
        make_executor("ray")


def test_zoo_models_reaches_models_without_results_before_redoing_outdated_ones(probes, tmp_path):
    """A refresh capped by --max-models profiles a model with no result before redoing one whose
    result was made from an older revision (a Hub repo's main moves with a README edit too)."""
    from hubselect.profile.grid import lacking_jobs, plan_jobs
    from hubselect.profile.journal import PROFILE_HIGHER_IS_BETTER, PROFILE_SCORE, ZooWriter
    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_image_folder
    from hubselect.zoo import ProfileRecord

    outdated, new = (save_tiny_pipeline(tmp_path / "models" / name, "sd-tiny-ddim") for name in ("a-outdated", "b-new"))
    pets = write_image_folder(tmp_path / "pets", n=8, style="warm")
    jobs = plan_jobs([str(outdated), str(new)], [str(pets)], probe=str(probes["clip"]), device="cpu")
    held = jobs[0]  # the outdated model's job, first in job order
    zoo = Zoo(ZooMeta(score=PROFILE_SCORE, higher_is_better=PROFILE_HIGHER_IS_BETTER))
    zoo.add_profiles([ProfileRecord(*held.key[:2], 250.0, method=held.method, config_hash=held.config_hash,
                                    model_revision="local-0123456789ab", dataset_revision=None,
                                    details={"model_ref": str(outdated)})])
    zoo.save(tmp_path / "zoo")
    writer = ZooWriter(tmp_path / "zoo")
    assert held.model_id == "a-outdated" and writer.get(held.key) is not None

    assert [j.model_id for j in lacking_jobs(jobs, writer, max_models=1).jobs] == ["b-new"]
    # With room for both, the outdated result is redone too.
    assert {j.model_id for j in lacking_jobs(jobs, writer, max_models=2).jobs} == {"a-outdated", "b-new"}
    assert {j.model_id for j in lacking_jobs(jobs, writer).jobs} == {"a-outdated", "b-new"}


def test_a_model_the_crawl_flagged_missing_config_is_refused_up_front_like_pickle_only():
    from hubselect.profile.grid import flagged_models
    from hubselect.zoo import ModelRecord

    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_models([ModelRecord("org/broken", "abc", {"safety_flag": "missing_config", "excluded_reason": "no unet/config.json"}),
                    ModelRecord("org/fine", "def", {"safety_flag": "", "excluded_reason": ""})])
    assert flagged_models(zoo) == {"org/broken": "missing_config: no unet/config.json"}


def _cut_after_header(pipeline: Path) -> Path:
    """Cut a pipeline's UNet weights off right after their safetensors header (and a few bytes):
    the header is valid, so the crawl and the safety checks accept the repo, and only loading fails."""
    import struct

    weights = pipeline / "unet" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: 8 + struct.unpack("<Q", data[:8])[0] + 16])
    return pipeline


def test_a_model_whose_weights_cannot_be_loaded_fails_its_jobs_in_one_line_naming_it(probes, tmp_path):
    """As `hubselect bench` says it: the repo is at fault, not hubselect ("unexpected OSError ... rerun with --debug")."""
    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_image_folder

    broken = _cut_after_header(save_tiny_pipeline(tmp_path / "sd-broken", "sd-tiny-ddim"))
    pets = write_image_folder(tmp_path / "pets", n=8, style="warm")
    code, out, err = run_cli("profile", "--models", broken, "--datasets", pets, "--zoo", tmp_path / "zoo", "--format", "json",
                             "--steps", "1", "--sample-size", "8", "--min-images", "6", "--num-images", "2", "--inference-steps", "1",
                             "--curve-points", "0", "--probe", probes["clip"], "--threads", "1", "--device", "cpu")
    assert code == 1
    (failure,) = json.loads(out)["failures"]
    assert failure["reason"] == ("model sd-broken cannot be loaded: Unable to load weights from checkpoint file for "
                                 "'unet/diffusion_pytorch_model.safetensors' at 'unet/diffusion_pytorch_model.safetensors'; "
                                 "pick another model or revision"), failure
    assert f"failed: sd-broken × pets (lora): {failure['reason']}\n" in err and "unexpected" not in err
    # Not "rerun the same command": it would fail the same way; the reason says what to do.
    assert err.splitlines()[-1] == (f"Error: 1 of 1 profiling jobs failed (reasons above); the records of the others are in {tmp_path / 'zoo'}: "
                                    "do what each reason says (another model or dataset, or a later try), then rerun: jobs with a record are skipped")


def test_a_model_whose_jobs_always_fail_gives_its_slot_to_new_models_and_is_left_out_after_two_tries(profile_hub, probes, hub, tmp_path):
    """The scheduled refresh, with --max-models 1: a popular model whose weights cannot be loaded
    took the slot of every run (a failed job left no trace, so it counted as never tried) and a
    new model was never profiled. Then, tried again whenever a run had room, it downloaded its
    weights and turned every weekly run red until its repo moved. Each run here starts from a
    fresh folder, as on a fresh runner: the failure and its count travel in the zoo (pushed, pulled)."""
    import shutil
    from dataclasses import replace

    from huggingface_hub import HfApi

    from hubselect.testing.seed_models import save_tiny_pipeline

    owner = "failtest"
    token = f"hf_{owner}_seed"
    api = HfApi(token=token)
    broken, new, zoo_repo = f"{owner}/sd-broken", f"{owner}/sd-new", f"{owner}/zoo"
    good_weights = save_tiny_pipeline(tmp_path / "good", "sd-tiny-ddim", seed=10) / "unet" / "diffusion_pytorch_model.safetensors"
    shutil.copytree(good_weights.parent.parent, tmp_path / "broken")
    for repo, folder, downloads in ((broken, _cut_after_header(tmp_path / "broken"), 1000),
                                    (new, save_tiny_pipeline(tmp_path / "new", "sd-tiny-ddim", seed=11), 10)):
        api.create_repo(repo)
        api.upload_folder(repo_id=repo, folder_path=str(folder))
        hub.set_stats(repo, downloads=downloads)
    dataset = profile_hub.datasets[0]

    def refresh(run: str, *more: str, human: bool = False, push: bool = True) -> tuple[int, dict | str, Zoo]:
        """The workflow's steps: pull the zoo (or start one), crawl, profile what it lacks (with
        ``more`` options), push. The Hub's request log then holds the profile step's and the push's."""
        zoo = tmp_path / run
        assert run_cli("zoo", "pull", zoo_repo, "--out", zoo, "--new-if-missing", "--token", token)[0] == 0
        assert run_cli("crawl", "--kind", "t2i", "--author", owner, "--zoo", zoo, "--token", token)[0] == 0
        hub.clear_log()
        code, out, err = run_cli("profile", "--zoo-models", "--max-models", "1", "--datasets", dataset, "--zoo", zoo, *more,
                                 *(() if human else ("--format", "json")), *tiny_options(probes))
        assert code in (0, 1) and "unexpected" not in err, err
        if push:
            assert run_cli("zoo", "push", zoo, "--repo", zoo_repo, "--token", token)[0] == 0
        return code, out if human else json.loads(out), Zoo.load(zoo)

    code, summary, first = refresh("run1")  # the most downloaded model first, never tried
    assert code == 1 and [(f["model"], f["dataset"]) for f in summary["failures"]] == [(broken, dataset)]

    code, out, _ = refresh("run2-said", human=True, push=False)  # the next run, as people read it (not pushed: done again below)
    assert code == 0 and f"held back 1 model whose jobs failed before at the commit it is at now: {broken} (tried again when a run has room" in out
    code, summary, zoo = refresh("run2")  # the next run, on another machine: the new model gets the slot
    assert code == 0 and [(r["model"], r["dataset"]) for r in summary["records"]] == [(new, dataset)], summary
    assert (summary["held_back"], summary["held_back_models"], summary["failed"]) == (1, [broken], 0)
    (failure,) = first.failed_job_records()
    assert (failure.model, failure.dataset) == (broken, dataset) and "cannot be loaded" in failure.error
    assert failure.model_revision == api.model_info(broken).sha and len(failure.dataset_revision) == 40
    assert list(zoo.failed_job_records()) == [failure]

    # With a slot to spare, the failed job is tried again (a failure may pass); failing the same way, the zoo counts a second attempt.
    code, out, zoo = refresh("run3", human=True)
    assert code == 1 and f"failed {broken} × {dataset} (lora): model {broken} cannot be loaded" in out
    assert list(zoo.failed_job_records()) == [replace(failure, attempts=2)]
    code, out, err = run_cli("zoo", "show", zoo_repo, "--token", token)
    assert code == 0 and "failed profiling jobs" in out and "1 (1 model)" in out, out

    # Twice at this commit: the next runs leave the job out and list it, download none of the
    # model's files, change nothing in the zoo (nothing to push) and succeed.
    code, out, _ = refresh("run4-said", human=True, push=False)
    assert code == 0 and (f"left out 1 job that failed at the commits it reads now (retried when the model or dataset moves, "
                          f"or with --retry-failed):\n  {broken} × {dataset} (lora): failed 2 times at this commit: {failure.error}\n") in out, out
    assert "Nothing to profile: every model of" in out and "on each of --datasets, but for the jobs left out above" in out
    assert not [e.path for e in hub.request_log if f"{broken}/resolve/" in e.path]
    code, summary, left_out = refresh("run4", push=False)
    assert code == 0 and (summary["total"], summary["failed"], summary["held_back"]) == (0, 0, 0), summary
    assert summary["failing_left_out"] == [{"model": broken, "dataset": dataset, "method": "lora", "attempts": 2, "reason": failure.error}]
    assert left_out.equals(zoo)
    # Asked for by name, the job runs, as always; --retry-failed runs it with the zoo's models.
    code, out, err = run_cli("profile", "--models", broken, "--datasets", dataset, "--zoo", tmp_path / "run4", *tiny_options(probes))
    assert code == 1 and f"failed {broken} × {dataset} (lora)" in out and err.splitlines()[-1].startswith("Error: 1 of 1 profiling jobs failed")
    code, summary, zoo = refresh("run5", "--retry-failed")
    assert code == 1 and [(f["model"], f["dataset"]) for f in summary["failures"]] == [(broken, dataset)] and summary["failing_left_out"] == []
    assert [f.attempts for f in zoo.failed_job_records()] == [3]
    code, out, err = run_cli("profile", "--models", broken, "--retry-failed", "--datasets", dataset, "--zoo", tmp_path / "run5")
    assert (code, out) == (2, "") and err.strip() == ("Error: --retry-failed is for --zoo-models, which leaves out jobs that keep failing; "
                                                      "with --models, every job listed runs")

    # A new commit of the model is another try; once a job succeeds, the zoo forgets its failure.
    api.upload_file(repo_id=broken, path_or_fileobj=str(good_weights), path_in_repo="unet/diffusion_pytorch_model.safetensors")
    code, summary, zoo = refresh("run6")
    assert code == 0 and [(r["model"], r["dataset"]) for r in summary["records"]] == [(broken, dataset)], summary
    assert zoo.failed_jobs.empty and Zoo.pull(zoo_repo, token=token).failed_jobs.empty


def test_zoo_models_sums_up_long_lists_of_what_it_leaves_out_and_json_lists_them_all(probes, hub, tmp_path):
    """A refresh of a zoo of 1000 models, 300 of them SDXL and 200 failing twice on 5 datasets,
    printed a line of 4,914 characters naming every SDXL model, then a line per failed job (1000
    of them, each repeating its model's error), before its results. Now: a count and the first
    few names, a line per model, and --format json for all of them."""
    from huggingface_hub import HfApi

    from hubselect.profile.grid import SourceRevisions, failed_job, plan_jobs
    from hubselect.profile.journal import ZooWriter
    from hubselect.testing.tiny import write_image_folder
    from hubselect.zoo import ModelRecord

    api = HfApi(token="hf_manyfail_seed")
    failing = [f"manyfail/sd-{i}" for i in range(7)]
    for repo in failing:
        api.create_repo(repo)
    params = {"kind": "t2i", "total_params": 1e6, "excluded_reason": None}
    zoo = tmp_path / "zoo"
    writer = ZooWriter(zoo)
    writer.zoo.add_models([ModelRecord(f"org/xl-{i}", "a" * 40, {**params, "pipeline_class": "StableDiffusionXLPipeline"}) for i in range(7)]
                          + [ModelRecord(m, api.model_info(m).sha, {**params, "pipeline_class": "StableDiffusionPipeline"}) for m in failing])
    writer.zoo.save(zoo)
    datasets = [str(write_image_folder(tmp_path / name, n=8, style="warm")) for name in ("pets", "cars")]
    writer = ZooWriter(zoo)
    for job in plan_jobs(failing, datasets, probe=str(probes["clip"])) * 2:  # failed twice at the commits they read now
        writer.write_failure(failed_job(job, f"model {job.model_id} cannot be loaded: weights cut short", SourceRevisions()))

    code, out, err = run_cli("profile", "--zoo-models", "--datasets", ",".join(datasets), "--zoo", zoo, "--probe", probes["clip"])
    assert code == 0, err
    assert out.splitlines() == [
        ("left out 7 models the recipes cannot fine-tune yet (SD 1.x/2.x-family pipelines only): "
         "StableDiffusionXLPipeline: org/xl-0, org/xl-1, org/xl-2, org/xl-3, org/xl-4 and 2 more (--format json lists them all)"),
        "left out 14 jobs that failed at the commits they read now (retried when the model or dataset moves, or with --retry-failed):",
        *(f"  {m} × 2 datasets (lora): failed 2 times at this commit: model {m} cannot be loaded: weights cut short" for m in failing[:5]),
        "  … and 4 more jobs (--format json lists them all)",
        f"Nothing to profile: every model of {zoo} that may be profiled has a result on each of --datasets, but for the jobs left out above",
    ]
    code, out, err = run_cli("profile", "--zoo-models", "--datasets", ",".join(datasets), "--zoo", zoo, "--probe", probes["clip"], "--format", "json")
    summary = json.loads(out)
    assert (len(summary["beyond_the_recipes"]), len(summary["failing_left_out"])) == (7, 14)


def test_zoo_models_tries_jobs_that_failed_at_these_revisions_last_and_a_new_revision_as_never_tried(probes, tmp_path):
    """After the models never tried and the outdated results, and still when a run has room."""
    import shutil

    from hubselect.profile.grid import SourceRevisions, failed_job, lacking_jobs, plan_jobs
    from hubselect.profile.journal import ZooWriter
    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_image_folder
    from hubselect.zoo import ProfileRecord

    failing, outdated = (save_tiny_pipeline(tmp_path / "models" / name, "sd-tiny-ddim") for name in ("a-failing", "b-outdated"))
    pets = write_image_folder(tmp_path / "pets", n=8, style="warm")
    jobs = plan_jobs([str(failing), str(outdated)], [str(pets)], probe=str(probes["clip"]), device="cpu")
    writer = ZooWriter(tmp_path / "zoo")
    writer.write(ProfileRecord(*jobs[1].key[:2], 250.0, method=jobs[1].method, config_hash=jobs[1].config_hash,
                               model_revision="local-0123456789ab", details={"model_ref": str(outdated)}))
    writer.write_failure(failed_job(jobs[0], "model a-failing cannot be loaded: ...", SourceRevisions()))

    lacking = lacking_jobs(jobs, writer, max_models=1)
    assert ([j.model_id for j in lacking.jobs], lacking.held_back) == (["b-outdated"], ["a-failing"])
    lacking = lacking_jobs(jobs, writer, max_models=2)
    assert ({j.model_id for j in lacking.jobs}, lacking.held_back) == ({"a-failing", "b-outdated"}, [])
    # Failed twice at these revisions: left out whatever the room, unless asked to retry it.
    writer.write_failure(failed_job(jobs[0], "model a-failing cannot be loaded: ...", SourceRevisions()))
    lacking = lacking_jobs(jobs, writer, max_models=2)
    assert ([j.model_id for j in lacking.jobs], lacking.held_back) == (["b-outdated"], [])
    assert [(f.model, f.attempts) for f in lacking.failing] == [("a-failing", 2)]
    lacking = lacking_jobs(jobs, writer, max_models=2, retry_failed=True)
    assert ({j.model_id for j in lacking.jobs}, lacking.failing) == ({"a-failing", "b-outdated"}, [])
    # Other weights in the failing model's folder (a new commit, for a Hub repo): never tried.
    shutil.rmtree(failing)
    save_tiny_pipeline(failing, "sd-tiny-vpred")
    lacking = lacking_jobs(jobs, writer, max_models=1)
    assert ([j.model_id for j in lacking.jobs], lacking.held_back, lacking.failing) == (["a-failing"], [], [])


def test_planning_a_refresh_hashes_each_methods_settings_once_however_many_jobs_it_looks_up(probes, tmp_path, monkeypatch):
    """A weekly refresh of 1000 models × 30 datasets planned for minutes before any job ran
    (and when none was left to run): every look-up of a job's key (its record, its failure,
    each pass of --zoo-models) hashed its recipe, evaluation and probes again. A grid's jobs
    share one setting per method, which is hashed once."""
    import hubselect.profile.job
    from hubselect.profile import grid
    from hubselect.profile.journal import ZooWriter
    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_image_folder
    from hubselect.zoo import ProfileRecord

    hashed = []
    real = hubselect.profile.job.config_hash
    monkeypatch.setattr(hubselect.profile.job, "config_hash", lambda *args, **kwargs: hashed.append(args) or real(*args, **kwargs))
    models = [save_tiny_pipeline(tmp_path / "models" / name, "sd-tiny-ddim") for name in ("a-done", "b-failing", "c-new")]
    datasets = [write_image_folder(tmp_path / name, n=8, style="warm") for name in ("pets", "cars", "birds")]
    jobs = grid.plan_jobs([str(m) for m in models], [str(d) for d in datasets], methods="lora,dreambooth", probe=str(probes["clip"]), device="cpu")
    writer = ZooWriter(tmp_path / "zoo")
    done = [job for job in jobs if job.model_id == "a-done"]
    writer.write_all(ProfileRecord(*job.key[:2], 250.0, method=job.method, config_hash=job.config_hash,
                                   model_revision=grid.SourceRevisions().model(job), details={"model_ref": job.model_source}) for job in done)
    for job in [job for job in jobs if job.model_id == "b-failing"] * 2:
        writer.write_failure(grid.failed_job(job, "model b-failing cannot be loaded: ...", grid.SourceRevisions()))

    lacking = grid.lacking_jobs(jobs, writer, max_models=1)
    assert ({j.model_id for j in lacking.jobs}, {(f.model, f.attempts) for f in lacking.failing}) == ({"c-new"}, {("b-failing", 2)})
    assert grid.run_grid(done, tmp_path / "zoo", writer=writer, progress=False).skipped == len(done) == 6
    assert len(hashed) <= 2  # one per method (none where hashed before), for 18 jobs looked up again and again


def test_results_scored_at_an_older_probe_revision_stay_done_by_default(profile_hub, probes, hub, hub_token, hub_repo_id, tmp_path):
    """A zoo whose results were scored with a Hub probe before its main moved (a card edit): a
    rerun plans the same jobs (same config hash) and finds them done, not fine-tuning again."""
    from huggingface_hub import HfApi

    from hubselect.data.profile import add_to_zoo, default_probe, profile_dataset
    from hubselect.profile.grid import lacking_jobs, plan_jobs
    from hubselect.profile.journal import ZooWriter
    from hubselect.testing.tiny import write_image_folder
    from hubselect.zoo import ProfileRecord

    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    scored_at = api.upload_folder(repo_id=hub_repo_id, folder_path=str(probes["clip"])).oid
    model, dataset = profile_hub.models[0], profile_hub.datasets[0]
    (job,) = plan_jobs(model, dataset, methods="lora", probe=f"{hub_repo_id}@{scored_at}", token=hub_token)
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([ProfileRecord(*job.key[:2], 30.0, method="lora", config_hash=job.config_hash,
                                    details={"probe": hub_repo_id, "probe_revision": scored_at})])
    moved_to = api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# a tiny clip\n", path_in_repo="README.md", repo_id=hub_repo_id).oid  # main moves
    # A dataset profiled since, at main: the revision the zoo's datasets pin.
    images = write_image_folder(tmp_path / "images", 12, style="warm", seed=3)
    add_to_zoo(zoo, profile_dataset(images, probe=hub_repo_id, n=12, name="data/warm", min_images=8, token=hub_token))
    assert default_probe(zoo) == f"{hub_repo_id}@{moved_to}"
    zoo.save(tmp_path / "zoo")

    (again,) = plan_jobs(model, dataset, methods="lora", token=hub_token, zoo=Zoo.load(tmp_path / "zoo"))
    assert again.probe.key == f"{hub_repo_id}@{scored_at}" and again.key == job.key
    assert lacking_jobs([again], ZooWriter(tmp_path / "zoo")).jobs == []


def test_a_rerun_without_probe_uses_the_probe_the_zoos_results_were_scored_with_and_another_is_refused(probes, tmp_path, monkeypatch):
    """A zoo scored with Inception: a rerun that names no probe is the same job, done (it was
    redone with openai CLIP, whose FID the zoo then averaged with Inception's); another probe is
    refused before any work, as its scores are on another scale."""
    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import fake_inception_weights, write_image_folder

    monkeypatch.setenv("HUBSELECT_INCEPTION_DIR", str(fake_inception_weights(tmp_path / "inception")))
    model = save_tiny_pipeline(tmp_path / "models" / "sd", "sd-tiny-ddim")
    warm = write_image_folder(tmp_path / "warm", n=8, style="warm", seed=0)
    zoo = tmp_path / "zoo"

    def profile(*probe: str) -> tuple[int, dict | None, str]:
        code, out, err = run_cli("profile", "--models", model, "--datasets", warm, *probe, "--steps", "2", "--sample-size", "8",
                                 "--min-images", "6", "--num-images", "2", "--inference-steps", "2", "--curve-points", "0",
                                 "--threads", "1", "--device", "cpu", "--zoo", zoo, "--format", "json")
        return code, json.loads(out) if out else None, err

    code, summary, err = profile("--probe", "inception")
    assert code == 0 and summary["done"] == 1, err
    held = Zoo.load(zoo).records.copy()
    code, summary, err = profile()
    assert code == 0 and (summary["done"], summary["skipped"]) == (0, 1), err
    for given, named in ((probes["clip"], "local:clip"), ("openai/clip-vit-base-patch32", "openai/clip-vit-base-patch32")):
        code, summary, err = profile("--probe", given)
        assert (code, summary) == (2, None)
        assert err == (f"Error: the zoo's lora results were scored with clean-fid/inception-v3, not {named}, and scores from two "
                       "probes are not comparable; leave --probe out (or pass --probe inception), or profile into another zoo (--zoo)\n")
    assert Zoo.load(zoo).records.equals(held)


def test_a_zoo_scored_with_a_local_probe_asks_for_its_folder(probes, tmp_path):
    from hubselect.profile.grid import plan_jobs

    pets = tmp_path / "pets"  # a local dataset: planning asks the Hub nothing about it
    pets.mkdir()
    (job,) = plan_jobs("org/sd", str(pets), methods="lora", probe=str(probes["clip"]))
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([ProfileRecord("sd", "pets", 30.0, "lora", job.config_hash, details={"probe": job.probe.id})])
    with pytest.raises(InputError) as refused:
        plan_jobs("org/sd", str(pets), methods="lora", zoo=zoo)
    assert str(refused.value) == "the zoo's results were scored with a local probe (local:clip); pass that probe's folder with --probe PATH"
    (again,) = plan_jobs("org/sd", str(pets), methods="lora", probe=str(probes["clip"]), zoo=zoo)
    assert again.key == job.key


def test_a_pipeline_the_recipes_cannot_fine_tune_is_refused_before_its_weights_and_left_out_of_zoo_models(hub, hub_token, hub_repo_id, probes, tmp_path):
    """An SDXL repo was downloaded whole (gigabytes on the Hub) before its job failed, and
    --zoo-models scheduled every crawled SDXL, SD3 or Flux model again at each refresh (a failed
    job each, a red weekly run). Its class is read from model_index.json first, and --zoo-models
    leaves out the classes the crawl recorded that the recipes cannot fine-tune, and lists them."""
    from huggingface_hub import HfApi

    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_image_folder
    from hubselect.zoo import ModelRecord

    HfApi(token=hub_token).create_repo(hub_repo_id)
    HfApi(token=hub_token).upload_folder(repo_id=hub_repo_id, folder_path=save_tiny_pipeline(tmp_path / "xl", "sdxl-tiny"))
    pets = write_image_folder(tmp_path / "pets", n=12, style="warm")
    zoo = tmp_path / "zoo"
    hub.clear_log()
    code, out, err = run_cli("profile", "--models", hub_repo_id, "--datasets", pets, "--zoo", zoo, "--format", "json", *tiny_options(probes))
    assert code == 1
    failure = json.loads(out)["failures"][0]["reason"]
    assert failure == (f"model {hub_repo_id} is a StableDiffusionXLPipeline; the profiler fine-tunes Stable Diffusion-family pipelines "
                       "(UNet + one CLIP text encoder, e.g. SD 1.x/2.x) so far")
    assert not [e.path for e in hub.request_log if e.path.endswith(".safetensors") and e.method == "GET"]

    crawled = Zoo.load(zoo)
    params = {"kind": "t2i", "total_params": 1e6, "excluded_reason": None}
    crawled.add_models([ModelRecord("org/xl", "a" * 40, {**params, "pipeline_class": "StableDiffusionXLPipeline"}),
                        ModelRecord("org/sd3", "b" * 40, {**params, "pipeline_class": "StableDiffusion3Pipeline"})])
    crawled.save(zoo)
    code, out, err = run_cli("profile", "--zoo-models", "--datasets", pets, "--zoo", zoo, *tiny_options(probes))
    assert code == 0, err
    assert out.splitlines() == [
        "left out 2 models the recipes cannot fine-tune yet (SD 1.x/2.x-family pipelines only): "
        "StableDiffusion3Pipeline: org/sd3; StableDiffusionXLPipeline: org/xl",
        f"Nothing to profile: {zoo} holds no model that may be profiled (crawl some with `hubselect crawl`)",
    ]
    code, out, err = run_cli("profile", "--zoo-models", "--datasets", pets, "--zoo", zoo, "--format", "json", *tiny_options(probes))
    assert json.loads(out)["beyond_the_recipes"] == {"org/sd3": "StableDiffusion3Pipeline", "org/xl": "StableDiffusionXLPipeline"}


def test_another_split_than_the_zoos_profile_of_a_dataset_is_refused_and_moving_the_dataset_starts_with_its_profile(
    profile_hub, probes, hub, tmp_path
):
    """`profile --split test` on a dataset whose zoo profile (`dataset profile`) was made on train
    replaced its train results silently ("1 rerun: split changed"): the graph, evaluate and
    recommend then read train distances for test results, and `dataset profile` refused the zoo
    from the other side. It is refused before any work, --force too; the way to move a dataset to
    another split is `dataset profile --split test --force`, and its results are then redone
    here, for the split (a card edit since the record does not turn it into "dataset revision
    changed")."""
    from huggingface_hub import HfApi

    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_parquet_shards

    api = HfApi(token="hf_profiler_loopback_write_token")  # the user profile_hub seeded the Hub as
    model, dataset = f"{profile_hub.namespace}/sd-splits", f"{profile_hub.namespace}/two-splits"
    api.create_repo(model, exist_ok=True)
    api.upload_folder(repo_id=model, folder_path=str(save_tiny_pipeline(tmp_path / "sd", "sd-tiny-ddim")))
    api.create_repo(dataset, repo_type="dataset", exist_ok=True)
    for split, style in (("train", "warm"), ("test", "cool")):
        write_parquet_shards(tmp_path / "data", n=12, shards=1, row_group_size=12, style=style, size=(40, 40), split=split)
    api.upload_folder(repo_id=dataset, folder_path=str(tmp_path / "data"), repo_type="dataset")
    zoo_dir = tmp_path / "zoo"

    def profile(*args) -> tuple[int, str, str]:
        return run_cli("profile", "--models", model, "--datasets", dataset, "--zoo", zoo_dir, *tiny_options(probes), *args)

    def dataset_profile(*args) -> tuple[int, str, str]:
        return run_cli("dataset", "profile", dataset, "--zoo", zoo_dir, "--probe", probes["clip"], "--n", "8", "--token", HUB_TOKEN, *args)

    def held() -> list[tuple[str, str]]:
        return [(r.details["split"], r.dataset_revision) for r in Zoo.load(zoo_dir).profile_records()]

    code, out, err = profile()
    assert code == 0, err
    made = held()
    assert [split for split, _ in made] == ["train"]
    assert dataset_profile()[0] == 0
    clip2 = tiny_clip_full(tmp_path / "clip2", seed=1)  # a second probe's profile of the dataset, on train too

    def dataset_profile_clip2(*args) -> tuple[int, str, str]:
        return run_cli("dataset", "profile", dataset, "--zoo", zoo_dir, "--probe", clip2, "--n", "8", "--token", HUB_TOKEN, *args)

    assert dataset_profile_clip2()[0] == 0

    refused = (f"Error: the zoo's profile of {dataset} was made on split 'train', and its fine-tuning results must be of that split: "
               f"pass --split train, or move {dataset} to split 'test' first (`hubselect dataset profile {dataset} --split test --force "
               f"--probe <the clip folder>` and `hubselect dataset profile {dataset} --split test --force --probe <the clip2 folder>` "
               "into this zoo profile it again), then rerun this: its results are redone on 'test'\n")
    for force in ((), ("--force",)):
        hub.clear_log()
        code, out, err = profile("--split", "test", *force)
        assert (code, out, err) == (2, "", refused)
        assert not [e for e in hub.request_log if "/resolve/" in e.path]  # before any work: no file fetched
        assert held() == made

    # From the other side, the refusal names the same way forward.
    code, out, err = dataset_profile("--split", "test")
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert f"or move {dataset} to split 'test' with --force, then redo its results there (hubselect profile ... --split test)" in err

    # The move: the profile first (it says what follows), then the results, for the split.
    code, out, err = dataset_profile("--split", "test", "--force")
    assert code == 0, err
    assert f"Updated in {zoo_dir} (replacing its profile of split train → test)" in out
    assert (f"note: the zoo's fine-tuning results of {dataset} were made on split 'train': move its profile with local:clip2 too "
            f"(this command with that --probe), then redo them on 'test' with "
            f"`hubselect profile --models ... --datasets {dataset} --split test --zoo {zoo_dir}` (or --zoo-models), which replaces them") in err
    code, out, err = dataset_profile_clip2("--split", "test", "--force")
    assert code == 0, err
    assert "note: the zoo's fine-tuning results of" in err and "move its profile" not in err  # every profile is on test now
    card_edit = api.upload_file(repo_id=dataset, path_or_fileobj=b"---\nlicense: mit\n---\n# Two splits\n", path_in_repo="README.md",
                                repo_type="dataset").oid
    code, out, err = profile("--split", "test", "--format", "json")
    assert code == 0, err
    assert (json.loads(out)["done"], json.loads(out)["reruns"]) == (1, {"split changed": 1})
    assert held() == [("test", card_edit)]
    code, out, err = profile()  # train is now the other split
    assert code == 2 and "the zoo's profile of" in err and "was made on split 'test'" in err and "pass --split test" in err


def test_a_dataset_keeps_the_split_of_its_results_before_it_has_a_profile_whatever_the_method(profile_hub, probes, hub, tmp_path):
    """Before a dataset had a zoo profile, `profile --split` was checked against nothing: LoRA on
    train, then textual inversion on test under the same name, and `dataset profile` then took
    either split silently, so one method's results described other images than the profile.
    Another split than its results' is refused before any work, whatever the method; a run of two
    methods on one split runs. A zoo whose results are on two splits (a move half done) is refused
    by `dataset profile`, which says which method is on which split and how to finish the move."""
    from huggingface_hub import HfApi

    from hubselect.testing.tiny import write_parquet_shards

    api = HfApi(token="hf_profiler_loopback_write_token")  # the user profile_hub seeded the Hub as
    model, dataset = profile_hub.models[0], f"{profile_hub.namespace}/split-results"
    api.create_repo(dataset, repo_type="dataset", exist_ok=True)
    for split, style in (("train", "warm"), ("test", "cool")):
        write_parquet_shards(tmp_path / "data", n=12, shards=1, row_group_size=12, style=style, size=(40, 40), split=split)
    api.upload_folder(repo_id=dataset, folder_path=str(tmp_path / "data"), repo_type="dataset")
    zoo_dir = tmp_path / "zoo"

    def profile(methods: str, *args) -> tuple[int, str, str]:
        return run_cli("profile", "--models", model, "--datasets", dataset, "--methods", methods, "--zoo", zoo_dir, *tiny_options(probes), *args)

    def dataset_profile(*args) -> tuple[int, str, str]:
        return run_cli("dataset", "profile", dataset, "--zoo", zoo_dir, "--probe", probes["clip"], "--token", HUB_TOKEN, *args)

    def held() -> list[tuple[str, str]]:
        return sorted((r.method, r.details["split"]) for r in Zoo.load(zoo_dir).profile_records())

    code, out, err = profile("lora,textual-inversion")  # two methods in one run, on one split
    assert code == 0 and "2 jobs: 2 done" in out, err
    assert held() == [("lora", "train"), ("textual-inversion", "train")]
    refused = (f"Error: the zoo's fine-tuning results of {dataset} were made on split 'train', and all its results must be of one split: "
               f"pass --split train, or move {dataset} to split 'test' first (`hubselect dataset profile {dataset} --split test --force` "
               "into this zoo profiles it there), then rerun this: its results are redone on 'test'\n")
    for methods in ("textual-inversion", "lora"):  # another method's results, or its own
        hub.clear_log()
        code, out, err = profile(methods, "--split", "test")
        assert (code, out, err) == (2, "", refused)
        assert not [e for e in hub.request_log if "/resolve/" in e.path]  # before any work: no file fetched
    assert held() == [("lora", "train"), ("textual-inversion", "train")]

    # The move, half done: the profile on test, one method's results redone there.
    assert dataset_profile("--split", "test", "--force", "--n", "8")[0] == 0
    code, out, err = profile("textual-inversion", "--split", "test", "--format", "json")
    assert code == 0 and json.loads(out)["reruns"] == {"split changed": 1}, err
    assert held() == [("lora", "train"), ("textual-inversion", "test")]
    for split in ("test", "train"):
        code, out, err = dataset_profile("--split", split, "--n", "9")
        assert (code, out) == (2, "") and err == (
            f"Error: zoo {zoo_dir} holds fine-tuning results of {dataset} made on splits 'test' (textual-inversion) and 'train' (lora), "
            f"so its profile and results are of no one split: move {dataset} to split {split!r} with --force, then redo its results "
            f"made on another split there (`hubselect profile --models ... --datasets {dataset} --split {split} --zoo {zoo_dir}`, which replaces them)\n"
        )
    code, out, err = dataset_profile("--split", "test", "--force", "--n", "8")
    assert code == 0 and (f"note: the zoo's lora results of {dataset} were made on split 'train': redo them on 'test' with "
                          f"`hubselect profile --models ... --datasets {dataset} --split test --zoo {zoo_dir}`") in err, err
    code, out, err = profile("lora,textual-inversion", "--split", "test", "--format", "json")  # the rest of the move, as advised
    assert code == 0 and (json.loads(out)["done"], json.loads(out)["skipped"], json.loads(out)["reruns"]) == (1, 1, {"split changed": 1}), err
    assert held() == [("lora", "test"), ("textual-inversion", "test")]
    assert dataset_profile("--split", "test", "--n", "9")[0] == 0


def test_zoo_models_moves_the_records_a_card_edit_left_current_and_the_next_refresh_costs_a_run_with_nothing_to_do(probes, hub, tmp_path):
    """`profile --zoo-models` (the weekly refresh) found a record made before a card edit current
    by content, and dropped its job before run_grid, the only place records were moved: the record
    kept its old commits, and every later refresh asked again what the files hold (6 Hub requests
    instead of 3 in the report). It is moved, as with --models."""
    from huggingface_hub import HfApi

    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_parquet_shards

    owner = "cardrefresh"
    token = f"hf_{owner}_seed"
    api = HfApi(token=token)
    model, dataset = f"{owner}/sd-carded", f"{owner}/carded-images"
    api.create_repo(model)
    api.upload_folder(repo_id=model, folder_path=str(save_tiny_pipeline(tmp_path / "sd", "sd-tiny-ddim")))
    api.create_repo(dataset, repo_type="dataset")
    write_parquet_shards(tmp_path / "data", n=12, shards=1, row_group_size=12, style="warm", size=(40, 40))
    api.upload_folder(repo_id=dataset, folder_path=str(tmp_path / "data"), repo_type="dataset")
    zoo = tmp_path / "zoo"
    assert run_cli("crawl", "--kind", "t2i", "--author", owner, "--zoo", zoo, "--token", token)[0] == 0

    def refresh(*human) -> tuple[dict | str, list[str]]:
        hub.clear_log()
        code, out, err = run_cli("profile", "--zoo-models", "--datasets", dataset, "--zoo", zoo, *tiny_options(probes),
                                 *(() if human else ("--format", "json")))
        assert code == 0, err
        return out if human else json.loads(out), logged(hub)

    assert refresh()[0]["done"] == 1
    out, nothing_to_do = refresh("human")
    assert out.startswith(f"Nothing to profile: every model of {zoo} that may be profiled has a result"), out
    (made,) = Zoo.load(zoo).profile_records()

    card = b"---\nlicense: mit\n---\n# Edited card\n"
    model_now = api.upload_file(repo_id=model, path_or_fileobj=card, path_in_repo="README.md").oid
    dataset_now = api.upload_file(repo_id=dataset, path_or_fileobj=card, path_in_repo="README.md", repo_type="dataset").oid
    summary, requests = refresh()
    assert (summary["done"], summary["skipped"], summary["reruns"], summary["moved"]) == (0, 1, {}, 1), summary
    assert not [r for r in requests if "/resolve/" in r and not r.split("?")[0].endswith("/README.md")], requests  # no file fetched
    (moved,) = Zoo.load(zoo).profile_records()
    assert (moved.model_revision, moved.dataset_revision) == (model_now, dataset_now)
    assert (moved.score, moved.metrics, moved.details["content"]) == (made.score, made.metrics, made.details["content"])

    # From now on, found current at once: the requests of a refresh with nothing to do, as before the edits.
    out, requests = refresh("human")
    assert out.startswith("Nothing to profile") and requests == nothing_to_do, requests


def _configs_repo(api, repo_id: str, folder: Path, *configs: str) -> str:
    """A Hub dataset of configs cats (warm images) and dogs (cool), each in its folder, whose card
    declares ``configs`` (none marked default); the commit's sha."""
    from hubselect.testing.tiny import write_parquet_shards

    for config, style in (("cats", "warm"), ("dogs", "cool")):
        if not (folder / config).is_dir():
            write_parquet_shards(folder / config, n=12, shards=1, row_group_size=12, style=style, size=(40, 40))
    (folder / "README.md").write_text("---\nconfigs:\n" + "".join(f"- config_name: {c}\n  data_dir: {c}\n" for c in configs) + "---\n")
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    return api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset").oid


def test_a_dataset_of_several_configs_and_no_default_is_refused_before_any_model_is_fetched(profile_hub, probes, hub, hub_token, hub_repo_id, tmp_path):
    """`profile --datasets ID` of a card with several configs and none the default was refused
    late: each job downloaded its model, then failed on the card, and the zoo noted a failed job
    per model ("2 failed", exit 1). It is refused up front, as another split is: one line, exit 2,
    no model asked for, no zoo written. So are a config the card lacks, a split the config lacks,
    and a dataset the Hub does not have."""
    from huggingface_hub import HfApi

    dataset = hub_repo_id
    _configs_repo(HfApi(token=hub_token), dataset, tmp_path / "data", "cats", "dogs")
    zoo = tmp_path / "zoo"
    for given, split, error in (
        (dataset, "train", f"dataset {dataset}: its card has several configs (cats, dogs) and none is the default; pick one as {dataset}:CONFIG, e.g. {dataset}:cats"),
        (f"{dataset}:birds", "train", f"dataset {dataset} has no config 'birds'; choose one of: cats, dogs"),
        (f"{dataset}:cats", "test", f"dataset {dataset} config 'cats' has no parquet or image files for split 'test' at "),
    ):
        hub.clear_log()
        code, out, err = run_cli("profile", "--models", ",".join(profile_hub.models), "--datasets", given, "--split", split, "--zoo", zoo,
                                 *tiny_options(probes))
        assert (code, out) == (2, "") and err.startswith(f"Error: {error}") and err.count("\n") == 1, err
        assert not [e.path for e in hub.request_log if any(model in e.path for model in profile_hub.models)]
        assert not zoo.exists()  # no failed job noted, no zoo folder made
    # The Hub's answer that no sample can be read, whoever asks again, is refused up front too.
    for given, error in ((f"{dataset}-nosuch", "was not found on"),):
        hub.clear_log()
        code, out, err = run_cli("profile", "--models", ",".join(profile_hub.models), "--datasets", given, "--zoo", zoo, *tiny_options(probes))
        assert (code, out) == (2, "") and error in err and err.count("\n") == 1, err
        assert not [e.path for e in hub.request_log if any(model in e.path for model in profile_hub.models)]
        assert not zoo.exists()

    # The config the error names is profiled under its own name.
    code, out, err = run_cli("profile", "--models", profile_hub.models[0], "--datasets", f"{dataset}:cats", "--zoo", zoo, "--format", "json",
                             *tiny_options(probes))
    assert code == 0, err
    assert [(r["dataset"], r["fid_after_finetune"] is not None) for r in json.loads(out)["records"]] == [(f"{dataset}:cats", True)]


def test_zoo_models_leaves_out_a_dataset_no_job_can_read_and_profiles_the_others(probes, hub, tmp_path):
    """The weekly refresh (`profile --zoo-models`) of a --datasets whose third-party card now has
    several configs and no default downloaded every model picked and noted a failed job for each,
    every week. That dataset is left out before any job, and listed; the other datasets are
    profiled, and the run then exits 2, naming it, so the workflow shows it. Given alone, it is
    refused as with --models."""
    from huggingface_hub import HfApi

    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import write_image_folder

    owner = "cfgrefresh"
    api = HfApi(token=f"hf_{owner}_seed")
    model, dataset = f"{owner}/sd-refreshed", f"{owner}/pets"
    api.create_repo(model)
    api.upload_folder(repo_id=model, folder_path=str(save_tiny_pipeline(tmp_path / "sd", "sd-tiny-ddim")))
    _configs_repo(api, dataset, tmp_path / "data", "cats", "dogs")
    flowers = write_image_folder(tmp_path / "flowers", n=12, style="mono")
    zoo = tmp_path / "zoo"
    assert run_cli("crawl", "--kind", "t2i", "--author", owner, "--zoo", zoo, "--token", HUB_TOKEN)[0] == 0
    refused = f"dataset {dataset}: its card has several configs (cats, dogs) and none is the default; pick one as {dataset}:CONFIG, e.g. {dataset}:cats"

    code, out, err = run_cli("profile", "--zoo-models", "--datasets", f"{dataset},{flowers}", "--zoo", zoo, *tiny_options(probes))
    assert code == 2
    assert out.startswith(f"left out 1 dataset no job could read as given:\n  {refused}\n"), out
    assert err.splitlines()[-1] == (
        f"Error: left out dataset {dataset}, which no job could read as given (reason above); the records of the other datasets are in {zoo}: "
        "give it in --datasets as the reason says (ID:CONFIG for a card of several configs), or drop it"
    )
    held = Zoo.load(zoo)
    assert [(r.model, r.dataset) for r in held.profile_records()] == [(model, "flowers")]
    assert held.failed_jobs.empty

    # Nothing lacking but for it: left out again, listed, and still a failing run; in JSON too.
    code, out, err = run_cli("profile", "--zoo-models", "--datasets", f"{dataset},{flowers}", "--zoo", zoo, "--format", "json", *tiny_options(probes))
    assert code == 2 and err.startswith(f"Error: left out dataset {dataset}")
    assert (json.loads(out)["total"], json.loads(out)["datasets_left_out"]) == (0, {dataset: refused})
    hub.clear_log()
    code, out, err = run_cli("profile", "--zoo-models", "--datasets", dataset, "--zoo", zoo, *tiny_options(probes))
    assert (code, out, err) == (2, "", f"Error: {refused}\n")
    assert not [e.path for e in hub.request_log if model in e.path]
    assert Zoo.load(zoo).equals(held)


def test_a_zoo_holding_results_under_the_bare_id_of_a_repo_of_several_configs_is_told_where_they_came_from(
    profile_hub, probes, hub_token, hub_repo_id, tmp_path
):
    """Before hubselect refused a card of several configs and no default, it profiled the first
    config under the repo's bare id: such a zoo kept "2 skipped (already in the zoo)", and once
    the repo moved its jobs failed with the advice to pick ID:CONFIG, which says nothing of the
    zoo's rows. The refusal says that the zoo's results and profile of ID were made from its first
    config by an earlier hubselect, and to profile ID:CONFIG anew; the old rows stay under ID."""
    from dataclasses import replace

    from huggingface_hub import HfApi

    dataset, model = hub_repo_id, profile_hub.models[0]
    _configs_repo(HfApi(token=hub_token), dataset, tmp_path / "data", "cats", "dogs")
    zoo = tmp_path / "zoo"

    def profile(given: str) -> tuple[int, str, str]:
        return run_cli("profile", "--models", model, "--datasets", given, "--zoo", zoo, "--format", "json", *tiny_options(probes))

    # What an earlier hubselect left: cats' results and profile under the bare id.
    assert profile(f"{dataset}:cats")[0] == 0
    assert run_cli("dataset", "profile", f"{dataset}:cats", "--name", dataset, "--zoo", zoo, "--probe", probes["clip"], "--n", "8", "--token", HUB_TOKEN)[0] == 0
    earlier = Zoo.load(zoo)
    (record,) = earlier.profile_records()
    earlier.records = earlier.records.iloc[0:0]
    earlier.add_profiles([replace(record, dataset=dataset, details={**record.details, "dataset_ref": dataset})])
    earlier.save(zoo)

    code, out, err = profile(dataset)
    assert (code, out) == (2, "")
    assert err == (
        f"Error: dataset {dataset}: its card has several configs (cats, dogs) and none is the default; pick one as {dataset}:CONFIG, e.g. {dataset}:cats; "
        f"the zoo holds results and profile of {dataset} under the bare name, made from the one config hubselect read then (an earlier hubselect "
        f"read the first, cats, without asking; or the card had one config then): to go on, profile {dataset}:CONFIG anew with the config they "
        f"were made from (for cats: --datasets {dataset}:cats, and `hubselect dataset profile {dataset}:cats` for its profile); the old rows stay under {dataset}\n"
    )
    assert Zoo.load(zoo).equals(earlier)

    # As it says: cats is profiled under its own name, beside the old rows.
    code, out, err = profile(f"{dataset}:cats")
    assert code == 0, err
    assert sorted(r.dataset for r in Zoo.load(zoo).profile_records()) == [dataset, f"{dataset}:cats"]


def test_a_dataset_whose_card_gains_a_config_after_planning_is_refused_not_rerun(profile_hub, probes, hub, hub_token, hub_repo_id, tmp_path, caplog):
    """Jobs planned (`plan_jobs`) and run later (`run_grid`): a card that gained a second config,
    none the default, since the zoo's record was made (from its only config) made the record's
    check of what the data files hold warn "cannot tell what its data files hold now", and the
    job was rerun: it downloaded its model, failed on the card, and was noted as a failed job.
    What the card says of the dataset is no Hub that cannot tell: the run is refused before any job."""
    from huggingface_hub import HfApi

    from hubselect.profile.evaluation import EvalConfig
    from hubselect.profile.grid import plan_jobs, run_grid

    api = HfApi(token=hub_token)
    dataset, model = hub_repo_id, profile_hub.models[0]
    _configs_repo(api, dataset, tmp_path / "data", "cats")  # cats is the card's only config: read without :config
    zoo = tmp_path / "zoo"
    jobs = plan_jobs(model, dataset, methods="lora", recipe_overrides={"steps": 3, "learning_rate": 1e-3}, probe=str(probes["clip"]),
                     evaluation=EvalConfig(sample_size=12, min_images=6, num_images=4, inference_steps=2, curve_points=2), threads=1, token=HUB_TOKEN)
    assert run_grid(jobs, zoo, progress=False).done == 1
    made = Zoo.load(zoo)

    _configs_repo(api, dataset, tmp_path / "data", "cats", "dogs")
    hub.clear_log()
    with pytest.raises(InputError, match=f"^dataset {dataset}: its card has several configs \\(cats, dogs\\) and none is the default; pick one"):
        run_grid(jobs, zoo, progress=False)
    assert not [e.path for e in hub.request_log if model in e.path and "/resolve/" in e.path]  # its commit asked, no file
    assert "cannot tell what its data files hold" not in caplog.text
    assert Zoo.load(zoo).equals(made) and Zoo.load(zoo).failed_jobs.empty
