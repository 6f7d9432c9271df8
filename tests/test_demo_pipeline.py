"""`hubselect demo` end to end: a small run in the default tier, the full run in `slow`.

The demo runs in a child process with its own loopback Hub and caches, so these tests see
exactly what a user sees: a folder of results and a summary on stdout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubselect.cli import main
from hubselect.machine import machine_summary
from hubselect.zoo import Zoo

BASELINES = {"average_best", "nearest_dataset", "features_only", "random", "initial_score"}


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def run_demo_cli(*args) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([str(a) for a in ("demo", "--small", *args)])
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """`hubselect demo --small --format json --keep-work`: 3 models × 4 datasets through every stage (about a minute)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    code, stdout, stderr = run_demo_cli("--out", out, "--format", "json", "--keep-work")
    assert code == 0, stderr
    return out, json.loads(stdout), stderr


@pytest.fixture(scope="module")
def rerun_with_another_seed(small_demo, tmp_path_factory):
    """`hubselect demo --small --seed 1` into a copy of the seed-0 run's folder, whose .work it kept,
    with an evaluation.json put beside its ranker (where `hubselect push` reads it from)."""
    first, _, _ = small_demo
    out = tmp_path_factory.mktemp("rerun") / "out"
    shutil.copytree(first, out, symlinks=True)
    (out / "ranker" / "evaluation.json").write_text('{"mine": true}')
    code, stdout, stderr = run_demo_cli("--out", out, "--seed", 1)
    assert code == 0, stderr
    return out, stdout, stderr


@pytest.fixture(scope="module")
def rerun_with_the_same_settings(small_demo, tmp_path_factory):
    """`hubselect demo --small --keep-work` again, into a copy of the first run's folder and the .work it kept."""
    first, _, _ = small_demo
    out = tmp_path_factory.mktemp("same") / "out"
    shutil.copytree(first, out, symlinks=True)
    code, stdout, stderr = run_demo_cli("--out", out, "--keep-work")
    assert code == 0, stderr
    return out, stdout, stderr


def test_small_demo_runs_every_stage(small_demo):
    out, _, _ = small_demo
    summary = json.loads((out / "demo.json").read_text())
    assert list(summary["stages"]) == ["datasets", "models", "crawl", "probe", "profile", "evaluate", "build", "push", "recommend"]
    # Published and crawled through the loopback Hub: every model recorded, none flagged.
    assert summary["crawl"]["crawled"] == 3 and not summary["crawl"]["flagged"]
    zoo = Zoo.load(out / "zoo")
    assert zoo.summary()["records"] == 12 and zoo.summary()["distances"] == 6
    assert set(zoo.records["model"]) == set(summary["models"]) and set(zoo.records["dataset"]) == set(summary["datasets"])
    assert all(m.startswith("hubselect-demo/") for m in summary["models"])
    # Pre-training is real: each model's losses were measured, and the profiles differ by model.
    assert all(p["vae_steps"] >= 1 and p["unet_loss"] > 0 for p in summary["pretraining"])
    assert zoo.records.groupby("dataset")["score"].nunique().min() == 3


def test_small_demo_writes_evaluation_ranker_heatmap_and_recommendation(small_demo):
    from hubselect.rank import Ranker

    out, _, _ = small_demo
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert set(evaluation["baselines"]) == BASELINES and len(evaluation["targets"]) == 4
    assert {"top1_hit", "rel1", "pearson", "spearman", "ndcg5", "regret"} <= set(evaluation["method"])
    assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ranker = Ranker.load(out / "ranker")
    assert len(ranker.arrays.models) == 3 and len(ranker.arrays.datasets) == 4
    recommendations = json.loads((out / "recommendations.json").read_text())
    assert [r["dataset"] for r in recommendations] == ["my-checkerboards"]
    assert len(recommendations[0]["recommendations"]) == 3 and (out / recommendations[0]["folder"] / "metadata.jsonl").is_file()
    assert (out / ".work" / "zoo").is_dir()  # --keep-work: the loopback Hub, the caches and the zoo being built


def test_small_demo_reports_one_json_document_on_stdout(small_demo):
    """The command's own output is the summary; the stages' progress went to stderr."""
    out, result, stderr = small_demo
    assert set(result["wins"]) == {"top1_hit", "rel1", "pearson"} and result["wall_seconds"] > 0 and result["cpu_seconds"] > 0
    assert result["evaluation"]["targets"] == 4 and Path(result["out"]) == out.resolve()
    assert result["evaluation"]["method"] == json.loads((out / "evaluation.json").read_text())["method"]
    assert set(result["evaluation"]["margins"]) == BASELINES  # method − each baseline, with its interval
    assert "[9/9]" not in stderr  # --format json: no progress chatter
    assert result["work"] == "new"  # nothing in OUT/.work to reuse (a rerun says "reused" or "restarted")
    # The FIDs depend on the CPU's float rounding: the summary says which CPU made them.
    assert result["machine"] == machine_summary() and result["machine"]["cpu"]


@pytest.mark.slow  # a second demo run, a minute
def test_a_rerun_with_another_seed_uses_none_of_the_kept_work_and_keeps_files_beside_the_ranker(small_demo, rerun_with_another_seed):
    """The kept zoo holds seed 0's records under another config hash: the rerun starts its work
    afresh (and says so) rather than average them into seed 1's zoo, evaluation and ranker."""
    first, _, _ = small_demo
    out, _, stderr = rerun_with_another_seed
    assert "held a run with other settings (seed 0 → 1): started it afresh" in stderr
    assert json.loads((out / "demo.json").read_text())["config"]["seed"] == 1
    zoo, before = Zoo.load(out / "zoo"), Zoo.load(first / "zoo")
    assert len(zoo.records) == 12 and zoo.records["config_hash"].nunique() == 1
    assert set(zoo.records["config_hash"]).isdisjoint(before.records["config_hash"])
    assert len(json.loads((out / "evaluation.json").read_text())["targets"]) == 4
    assert (out / "ranker" / "evaluation.json").read_text() == '{"mine": true}'  # rebuilt as `build` does
    assert not (out / ".work").exists()  # no --keep-work this time: the loopback Hub and caches are cleaned up


def test_a_rerun_with_the_same_settings_reuses_the_kept_datasets_and_pre_trained_models(small_demo, rerun_with_the_same_settings):
    """--keep-work promises that a rerun with the same settings reuses the kept work's results:
    it pre-trained every model again (the longest stage) and uploaded every repo again, each a
    "No files have been modified" warning. Now it publishes and pre-trains nothing, and ends
    with the same zoo and evaluation."""
    first, _, _ = small_demo
    out, stdout, stderr = rerun_with_the_same_settings
    assert "No files have been modified" not in stderr
    assert "[2/9] Reusing 3 of 3 tiny text-to-image models the kept work pre-trained and published\n" in stderr
    assert "[1/9] Reusing 4 of 4 datasets the kept work published to the loopback Hub\n" in stderr
    # The later stages count what the kept work spared too: "0 models recorded" and "0 records" read as lost work.
    assert "0 models recorded, 3 unchanged since the kept run's crawl" in stderr and "; 12 kept from the kept run's zoo" in stderr, stderr
    assert "from an earlier run with the same settings: the datasets, pre-trained models and fine-tuning results it holds are not made again" in stderr
    summary, before = json.loads((out / "demo.json").read_text()), json.loads((first / "demo.json").read_text())
    assert summary["reused"] == {"datasets": summary["datasets"], "models": summary["models"], "records": 12}
    assert before["reused"] == {"datasets": [], "models": [], "records": 0}
    assert summary["pretraining"] == before["pretraining"]  # what the kept work's pre-training measured
    assert Zoo.load(out / "zoo").records["score"].tolist() == Zoo.load(first / "zoo").records["score"].tolist()
    machine = summary["machine"]
    assert f" on {machine['cpu']} ({machine['instruction_set']}). Wrote " in stdout, stdout
    assert json.loads((out / "evaluation.json").read_text())["method"] == json.loads((first / "evaluation.json").read_text())["method"]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the full demo takes 7–12 min on 2 cores by CPU, 17 on a busy one; the suite default is 300 s
def test_full_demo_selects_better_than_the_baselines(tmp_path, capsys):
    """`hubselect demo` as shipped: 6 models × 24 datasets, evaluated leave-one-dataset-out.

    The method beats the baselines that do not learn from the graph (average_best, random,
    initial_score) on top-1 hits, rel1 and pearson, and is at least as good as features_only
    (the same evidence and learner) up to 0.01; its recommendation for each unseen dataset is
    the model that fine-tunes best there.

    Against nearest_dataset it asserts only that no difference is one the 24 targets can show
    against the method (each margin's 95% interval reaches above 0). Issue 8 asks for more and
    is open on it: nearest_dataset picks the best model more often here, and which of the two
    wins rel1 (and by how much pearson) depends on the CPU, whose float rounding pre-training
    and fine-tuning carry into every FID (a median 6 apart between two CPUs, enough to swap
    near-tied models):

    - the bundled zoo's CPU: top-1 18 vs 20 of 24, rel1 0.976 vs 0.971, pearson 0.873 vs 0.832
      (with --seed 1 and 2, top-1 21 vs 20 and 19 vs 18);
    - an Intel Xeon with AVX-512 (2026-11-22, twice, the same to the digit): top-1 19 vs 21,
      rel1 0.972 vs 0.986, pearson 0.889 vs 0.848.
    """
    code, stdout, stderr = run_cli(capsys, "demo", "--out", tmp_path / "demo", "--format", "json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["zoo"]["models"] >= 6 and result["zoo"]["datasets"] >= 12
    method, baselines = result["evaluation"]["method"], result["evaluation"]["baselines"]
    for metric in ("top1_hit", "rel1", "pearson"):
        for name in ("average_best", "random", "initial_score"):
            assert method[metric] > baselines[name][metric], (metric, name)
        assert method[metric] >= baselines["features_only"][metric] - 0.01, metric
        margin = result["evaluation"]["margins"]["nearest_dataset"][metric]
        assert margin["high"] > 0, (metric, margin)
    assert all(r["top1_hit"] for r in result["recommendations"])


# ---- Ctrl-C: nothing the demo started outlives it ----

def _processes() -> dict[int, tuple[int, str, str]]:
    """Every process: pid → (parent pid, state, start time), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            table[int(entry.name)] = (int(fields[1]), fields[0], fields[19])
    return table


def _descendants(root: int) -> dict[int, str]:
    """The processes ``root`` started, and theirs: pid → start time (a pid may be reused)."""
    table, found, frontier = _processes(), {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, started) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def _still_running(processes: dict[int, str], within: float) -> list[int]:
    """Those of ``processes`` still running (not a zombie) after ``within`` seconds at most."""
    deadline = time.monotonic() + within
    while True:
        table = _processes()
        running = [pid for pid, started in processes.items() if pid in table and table[pid][2] == started and table[pid][1] != "Z"]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.2)


def _kill_left(processes: dict[int, str]) -> None:
    """A failing test leaves nothing behind either (each worker holds about 1 GB)."""
    for pid in _still_running(processes, within=0):
        os.kill(pid, signal.SIGKILL)


def _wait_for(condition, what: str, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


WORKER_POOL_SCRIPT = """
import sys, time
from pathlib import Path

from hubselect.workers import worker_pool


def job(folder, n):
    Path(folder, f"started-{n}").touch()
    time.sleep(120)


if __name__ == "__main__":
    try:
        with worker_pool(2) as pool:
            for future in [pool.submit(job, sys.argv[1], n) for n in range(4)]:
                future.result()
    except KeyboardInterrupt:
        sys.exit(130)
"""


def test_ctrl_c_terminates_the_demos_workers_and_they_take_no_queued_job(tmp_path):
    """The demo's pool, driven with a job that sleeps: Ctrl-C (SIGINT to the process group, as a
    terminal sends it) while both workers are in a job and two more are queued. A worker's
    KeyboardInterrupt used to become its job's result, and it took the next job."""
    script = tmp_path / "pool.py"
    script.write_text(WORKER_POOL_SCRIPT)
    driver = subprocess.Popen([sys.executable, str(script), str(tmp_path)], start_new_session=True, stderr=subprocess.PIPE)
    started: dict[int, str] = {}
    try:
        _wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, "both workers in a job")
        started = _descendants(driver.pid)
        os.killpg(driver.pid, signal.SIGINT)
        assert driver.wait(timeout=10) == 130, driver.stderr.read().decode()
        assert _still_running(started, within=5) == []
        assert sorted(p.name for p in tmp_path.glob("started-*")) == ["started-0", "started-1"]  # the queued jobs never ran
    finally:
        _kill_left({driver.pid: _processes().get(driver.pid, (0, "", ""))[2], **started})


def _start_demo(out: Path, stderr: Path) -> subprocess.Popen:
    """`hubselect demo --small --out OUT` as a shell's job runs: a process group of its own, in this
    session (one of another session's would be orphaned, where Ctrl-Z's SIGTSTP stops nothing)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with stderr.open("w") as err:
        return subprocess.Popen([sys.executable, "-m", "hubselect", "demo", "--small", "--out", str(out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, process_group=0)


@contextlib.contextmanager
def _demo_at(tmp_path: Path, stage: str, what: str, timeout: float = 240.0):
    """`hubselect demo --small` (:func:`_start_demo`) once ``stage`` shows on its stderr: the
    process, its stderr file, and the processes it started by then (pid → start time). Whatever
    is left of them at the end is killed, whether the test passed or not."""
    stderr = tmp_path / "stderr"
    demo = _start_demo(tmp_path / "out", stderr)
    own = {demo.pid: _processes().get(demo.pid, (0, "", ""))[2]}
    started: dict[int, str] = {}
    try:
        _wait_for(lambda: stage in stderr.read_text(), what, timeout=timeout)
        started = _descendants(demo.pid)
        yield demo, stderr, started
    finally:
        _kill_left({**own, **started})


def _states(processes: dict[int, str]) -> set[str]:
    table = _processes()
    return {table[pid][1] for pid, started in processes.items() if pid in table and table[pid][2] == started}


def test_sigterm_ends_the_demo_with_the_ctrl_c_line_and_ctrl_z_suspends_its_pipeline_too(tmp_path):
    """SIGTERM (a process manager, `kill`) ended the demo with exit 143 and not a word; it says what
    Ctrl-C says now. Ctrl-Z stopped hubselect alone: the pipeline, in a process group of its own
    (which the terminal's signals do not reach), went on writing to the terminal. Now it is
    stopped with hubselect and continued with it."""
    with _demo_at(tmp_path, "[1/9]", "the pipeline's first stage", timeout=120) as (demo, stderr, started):
        demo.send_signal(signal.SIGTSTP)
        _wait_for(lambda: _states({demo.pid: _processes()[demo.pid][2], **started}) == {"T"}, "the demo and its pipeline to stop", timeout=10)
        demo.send_signal(signal.SIGCONT)
        _wait_for(lambda: "T" not in _states({demo.pid: _processes()[demo.pid][2], **started}), "the pipeline to go on", timeout=10)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=20) == 128 + signal.SIGTERM
        assert stderr.read_text().rstrip().splitlines()[-1].startswith("Interrupted: "), stderr.read_text()[-2000:]
        assert _still_running(started, within=5) == []


def test_a_demo_killed_without_a_word_leaves_no_process_behind(tmp_path):
    """SIGKILL (or Ctrl-\\, or its job's process group killed) gives hubselect no chance to stop the
    pipeline, in a process group of its own: it went on for minutes, orphaned, and finished the
    demo into OUT with no owner. It stops itself now, once hubselect is gone."""
    with _demo_at(tmp_path, "[1/9]", "the pipeline's first stage", timeout=120) as (demo, _, started):
        os.killpg(demo.pid, signal.SIGKILL)  # `kill -9 -- -PGID`: hubselect's group, not the pipeline's
        demo.wait()
        assert started and _still_running(started, within=10) == []


@pytest.mark.slow  # a minute: the workers of --small are in a job only once they have imported torch, diffusers, …
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_an_interrupted_demo_leaves_no_process_behind(how, tmp_path):
    """Ctrl-C once the first model is pre-trained (a worker on the next one, a job queued): the
    demo exits 130 with the line other commands give ("Interrupted: …"), and nothing it started is left. It
    used to leave its two ~1 GB workers and their resource tracker running for ever, retrying a
    loopback Hub that was gone. SIGTERM to hubselect alone (a process manager) stops it the same way,
    and so does SIGKILL to hubselect's process group (the pipeline, in its own, notices it is orphaned)."""
    with _demo_at(tmp_path, "Pre-training:  33%", "the first model to be pre-trained") as (demo, stderr, started):
        assert len(started) >= 4  # the pipeline, its two workers, their resource tracker
        if how == "ctrl-c":
            os.killpg(demo.pid, signal.SIGINT)
        elif how == "sigterm":
            demo.send_signal(signal.SIGTERM)
        else:
            os.killpg(demo.pid, signal.SIGKILL)
        # Well within the 15 s after which the pipeline's process group is killed: it stopped its workers itself.
        code = demo.wait(timeout=10)
        if how == "sigkill":
            assert code == -signal.SIGKILL
        else:
            assert code == {"ctrl-c": 130, "sigterm": 128 + signal.SIGTERM}[how]
            assert stderr.read_text().rstrip().splitlines()[-1].startswith("Interrupted: "), stderr.read_text()[-2000:]
        assert _still_running(started, within=10) == []
        assert "Traceback" not in stderr.read_text()


def test_pool_workers_compute_on_one_thread_each_unless_the_user_said_otherwise(monkeypatch):
    """Two evaluate workers on 2 cores, each with OpenMP and OpenBLAS pools of 2 threads, fitted
    twice as slowly as one: a worker starts with one thread per library. A count the user set
    is theirs, and the driver's own environment is left as it was."""
    from hubselect.workers import THREAD_VARIABLES, worker_pool

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    with worker_pool(1) as pool:
        seen = {name: pool.submit(os.getenv, name).result() for name in THREAD_VARIABLES}
    assert seen == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "3", "NUMBA_NUM_THREADS": "1"}
    assert [name for name in THREAD_VARIABLES if name in os.environ] == ["MKL_NUM_THREADS"]


def test_a_ctrl_c_another_thread_takes_waits_until_the_worker_has_started():
    """A signal sent to a process goes to a thread that does not block it. The driver blocked
    SIGINT in its main thread only while it started a worker, so the kernel gave a Ctrl-C to
    another thread (OpenBLAS's), and Python raised the KeyboardInterrupt in the main thread
    anyway, half-way through handing the worker its start-up data: the worker printed
    ``EOFError: Ran out of input``. Now it comes when the worker has started, not before."""
    import threading

    from hubselect.workers import _interrupts_held

    go = threading.Event()

    def ctrl_c_to_this_thread():
        go.wait()
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    other = threading.Thread(target=ctrl_c_to_this_thread)  # started before the signals are held, as OpenBLAS's threads are
    other.start()
    steps = []
    with pytest.raises(KeyboardInterrupt), _interrupts_held():
        go.set()
        other.join()
        steps.extend(range(1000))  # Python code, which checks for signals as it runs
        steps.append("worker started")
    assert steps[-1] == "worker started"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    "stop, settle, code, last_line, within",
    [
        # Ctrl-C to the process group while the workers still import: each printed a KeyboardInterrupt
        # traceback (it had not yet ignored SIGINT).
        (lambda pid: os.killpg(pid, signal.SIGINT), 0, 130, "Interrupted: ", 5),
        # `kill` (or `timeout`, a cancelled CI job) to the driver alone: it died without a word and
        # left its workers running for good.
        (lambda pid: os.kill(pid, signal.SIGTERM), 3, 143, "Interrupted", 10),
    ],
    ids=["ctrl-c-while-workers-start", "sigterm-to-the-driver"],
)
def test_stopping_evaluate_with_jobs_is_one_line_and_leaves_no_worker(stop, settle, code, last_line, within, tmp_path):
    """`evaluate --jobs 2` stopped by Ctrl-C or SIGTERM says one "Interrupted" line, exits 130
    (143), and no worker is left."""
    driver = subprocess.Popen(
        [sys.executable, "-m", "hubselect", "evaluate", "demo", "--jobs", "2"], cwd=tmp_path, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    started: dict[int, str] = {}
    try:
        # multiprocessing's resource tracker and the two workers
        started = _wait_for(lambda: (found := _descendants(driver.pid)) and len(found) >= 3 and found, "both workers started", timeout=120)
        time.sleep(settle)
        stop(driver.pid)
        _, err = driver.communicate(timeout=30)
        assert driver.returncode == code and "Traceback" not in err.decode(), err.decode()
        assert err.decode().strip().splitlines()[-1].startswith(last_line), err.decode()
        assert _still_running(started, within=within) == []
    finally:
        _kill_left({driver.pid: _processes().get(driver.pid, (0, "", ""))[2], **started})


def test_evaluate_on_one_job_stopped_by_sigterm_says_so_in_one_line(tmp_path):
    """SIGTERM (a cancelled CI job, Slurm, Kubernetes) stopped `evaluate` on one job without a
    word, its progress bar cut mid-line (`--jobs 2` said "Interrupted"): every command now stops
    as on Ctrl-C, with one "Interrupted" line and exit 143."""
    driver = subprocess.Popen(
        [sys.executable, "-m", "hubselect", "-vv", "evaluate", "demo"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = []
        for line in driver.stderr:  # with -vv, the first fit's lines say the work has begun
            lines.append(line)
            if "inner cross-validation picked" in line:
                break
        driver.send_signal(signal.SIGTERM)
        _, rest = driver.communicate(timeout=30)
        err = "".join(lines) + rest
        assert driver.returncode == 143 and "Traceback" not in err, err
        assert err.strip().splitlines()[-1].startswith("Interrupted"), err
    finally:
        driver.kill()
        driver.wait()


def test_a_worker_of_evaluate_jobs_that_dies_is_one_line_naming_its_target(tmp_path):
    """A worker of `evaluate --jobs 2` killed mid-target (as the OOM killer kills one) ended the run
    with "unexpected BrokenProcessPool: A process in the process pool was terminated abruptly …":
    no target named, no advice. It names the targets being evaluated, says to rerun with fewer
    jobs, and exits 1, leaving no worker behind."""
    targets = ["hubselect-demo/shapes-small", "hubselect-demo/shapes-warm"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "hubselect", "-vv", "evaluate", "demo", "--targets", ",".join(targets), "--jobs", "2", "--format", "json"],
        cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    started: dict[int, str] = {}
    try:
        # With -vv a fit's first line comes from a worker that has begun a target (the two start together).
        lines = []
        for line in driver.stderr:
            lines.append(line)
            if "inner cross-validation picked" in line:
                break
        started = _descendants(driver.pid)
        workers = [pid for pid in started if b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(workers) == 2, "".join(lines)
        os.kill(workers[0], signal.SIGKILL)
        _, rest = driver.communicate(timeout=60)
        err = "".join(lines) + rest
        last = err.strip().splitlines()[-1]
        assert driver.returncode == 1 and "Traceback" not in err, err
        assert last.startswith("Error: ") and "died (out of memory?)" in last and "rerun with --jobs 1, or fewer jobs" in last, err
        assert any(f"'{target}'" in last for target in targets), last
        assert _still_running(started, within=10) == []
    finally:
        _kill_left({driver.pid: _processes().get(driver.pid, (0, "", ""))[2], **started})
