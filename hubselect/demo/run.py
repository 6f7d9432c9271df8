"""Run the demo: a child process with its own loopback Hub and caches, then read what it wrote.

The child (:mod:`hubselect.demo.pipeline`) gets an environment in which the Hub is a loopback
server on a free port, every HF cache and token path is private to the run, offline mode is off
(the loopback Hub is local) and Xet is off (the loopback Hub speaks LFS). So the demo works on
a machine with no network, never touches the user's cache or token, and can be started from a
process that has already imported ``huggingface_hub`` (a test, a notebook).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubselect.demo.config import DemoConfig
from hubselect.demo.paths import RUN_MARKER, WORK_FOLDER, WORK_SETTINGS
from hubselect.demo.pipeline import PARENT_VARIABLE  # standard library only at import
from hubselect.errors import HubselectError, InputError, stopping_on_signals
from hubselect.paths import check_can_create_in


@dataclass
class DemoResult:
    """What a demo run produced: the output folder and its summary (``OUT/demo.json``)."""

    out: Path
    summary: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    #: What the run found in ``OUT/.work`` (:func:`start_work`): ``new``, ``reused`` or ``restarted``.
    work: str = "new"

    @property
    def evaluation(self) -> dict[str, Any]:
        return self.summary["evaluation"]

    def wins(self, metrics: tuple[str, ...] = ("top1_hit", "rel1", "pearson")) -> dict[str, bool]:
        """Per metric: does the method beat every baseline (strictly; lower is better for regret)?"""
        method, baselines = self.evaluation["method"], self.evaluation["baselines"]
        out = {}
        for metric in metrics:
            sign = -1.0 if metric == "regret" else 1.0
            mine = method.get(metric)
            others = [b.get(metric) for b in baselines.values() if b.get(metric) is not None]
            out[metric] = mine is not None and all(sign * mine > sign * other for other in others)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            **self.summary,
            "wins": self.wins(),
            "work": self.work,
            "wall_seconds": round(self.wall_seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
        }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def demo_environment(work: Path, namespace: str) -> dict[str, str]:
    """The child's environment: loopback Hub, private caches, no user token, no offline mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    hf_home = work / "hf"
    env.update(
        {
            "HF_ENDPOINT": f"http://127.0.0.1:{_free_port()}",
            "HF_HOME": str(hf_home),
            "HF_HUB_CACHE": str(hf_home / "hub"),
            "HF_DATASETS_CACHE": str(hf_home / "datasets"),
            "HF_TOKEN_PATH": str(hf_home / "token"),
            # Any hf_<user>_... token is <user> on the loopback Hub.
            "HF_TOKEN": f"hf_{namespace}_loopback_demo_token",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
            "HUBSELECT_CACHE": str(work / "cache"),
            # One torch thread per process: the demo parallelises with processes instead.
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONWARNINGS": "ignore",
        }
    )
    env.pop("HUBSELECT_ZOO", None)
    return env


def check_out_folder(out: str | os.PathLike) -> Path:
    """``out``, resolved, if a demo may write there: a new or empty folder, or an earlier demo's
    (finished: ``demo.json``; interrupted: the marker in its ``.work`` folder), that can be created
    and written (as ``build --out`` checks it). Anything else is refused, before minutes of work.

    >>> check_out_folder("/etc")  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: --out /etc is a folder with other files in it; pass an empty or new folder, or an earlier demo's folder
    """
    out = Path(out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; pass a folder (it is created if missing)")
    check_can_create_in(out, f"--out {out}")  # a file among its parents, /proc, a read-only folder
    demo_folder = (out / "demo.json").is_file() or (out / WORK_FOLDER / RUN_MARKER).is_file()
    if out.is_dir() and not demo_folder and any(out.iterdir()):
        raise InputError(f"--out {out} is a folder with other files in it; pass an empty or new folder, or an earlier demo's folder")
    return out


#: The key of :func:`_settings` that holds :func:`code_fingerprint`.
CODE_SETTING = "hubselect"


@functools.cache
def code_fingerprint() -> str:
    """hubselect's version and a hash of its ``.py`` sources (about 100 files, a few ms).

    The models' architectures, pre-training steps and seeds and the datasets' generators are
    code, not settings: a kept ``.work`` made by other code (a maintainer's edit, an upgrade)
    holds models and datasets this run would not build, which its rerun would reuse unseen.

    >>> code_fingerprint()  # doctest: +SKIP
    '0.1.0+3f2a9c41d07b6e15'
    """
    import hubselect

    package = Path(hubselect.__file__).parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    return f"{hubselect.__version__}+{digest.hexdigest()[:16]}"


def _settings(config: DemoConfig) -> dict[str, Any]:
    """What decides a run's results: every setting but the number of worker processes, and the
    code that runs them (:func:`code_fingerprint`)."""
    return {**{k: v for k, v in config.to_dict().items() if k != "workers"}, CODE_SETTING: code_fingerprint()}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The settings that changed: ``seed 0 → 1``, with their values when there are few.

    >>> _differences({"seed": 0, "models": ["a", "b"]}, {"seed": 1, "models": ["a", "c"]})
    'models, seed 0 → 1'
    >>> _differences({"seed": 0, "hubselect": "0.1.0+aa"}, {"seed": 0, "hubselect": "0.1.0+bb"})
    "hubselect's code changed"
    """
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))

    def named(k: str) -> str:
        if k == CODE_SETTING:  # two hashes say nothing to people
            return "hubselect's code changed"
        if len(changed) > 3 or isinstance(new.get(k), list) or k not in old or k not in new:  # > 3: --small against the full demo
            return k
        return f"{k} {old[k]} → {new[k]}"

    return ", ".join(named(k) for k in changed)


def start_work(out: Path, config: DemoConfig) -> tuple[str, str | None]:
    """Make ``OUT/.work`` ready for a run of ``config``: ``(status, note)``, the note for people.

    What a run with the same settings left there (``--keep-work``, or an interrupted run) is
    reused: the datasets and pre-trained models it published to its loopback Hub are not made
    again, and profiling skips the jobs its zoo already holds (``reused``). The work of a run with
    other settings is deleted first (``restarted``): its zoo holds records of another seed or
    budget under other config hashes, and its loopback Hub the repos of other models, which
    this run would otherwise crawl, profile and average into its own results. So is the work
    of other hubselect code (:func:`code_fingerprint`), whose models and datasets may not be
    the ones this code builds, and a working folder that does not say which settings it holds.

    >>> start_work(Path("demo-run"), DemoConfig.small(seed=1))  # doctest: +SKIP
    ('restarted', 'demo-run/.work held a run with other settings (seed 0 → 1): started it afresh, so none of its results mix into this run')
    """
    work = out / WORK_FOLDER
    settings = _settings(config)
    status, note = "new", None
    if work.is_dir():
        try:
            held = json.loads((work / WORK_SETTINGS).read_text())
        except (OSError, ValueError):
            held = None
        if held == settings:
            status, note = "reused", (
                f"Reusing {work} from an earlier run with the same settings: the datasets, pre-trained models and fine-tuning results it holds are not made again"
            )
        else:
            what = f"with other settings ({_differences(held, settings)})" if isinstance(held, dict) else "whose settings it does not record"
            status, note = "restarted", f"{work} held a run {what}: started it afresh, so none of its results mix into this run"
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / RUN_MARKER).touch()  # before anything is written: a Ctrl-C leaves it a demo folder
    (work / WORK_SETTINGS).write_text(json.dumps(settings, indent=2) + "\n")
    return status, note


def run_demo(out: str | os.PathLike, config: DemoConfig | None = None, *, progress: bool = True, keep_work: bool = False) -> DemoResult:
    """Build the demo zoo into ``out`` (``zoo/``, ``ranker/``, ``evaluation.json``,
    ``scores.png``, ``recommendations.json``, ``examples/``, ``demo.json``).

    Progress goes to stderr. Raises :class:`~hubselect.errors.HubselectError` when a stage fails.
    ``OUT/.work`` is deleted at the end unless ``keep_work``; a rerun reuses what it holds only
    when the settings are the same (:func:`start_work`).

    >>> result = run_demo("demo-out", DemoConfig.small())  # doctest: +SKIP
    >>> result.wins()  # doctest: +SKIP
    {'top1_hit': True, 'rel1': True, 'pearson': True}
    """
    config = config or DemoConfig()
    out = check_out_folder(out)
    work, note = start_work(out, config)
    if progress and note:
        print(note, file=sys.stderr, flush=True)
    env = demo_environment(out / WORK_FOLDER, config.namespace)
    env[PARENT_VARIABLE] = str(os.getpid())  # the child stops once this process is gone
    if not progress:
        env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    command = [sys.executable, "-m", "hubselect.demo.pipeline", str(out), json.dumps(config.to_dict())]
    if not progress:
        command.append("--quiet")
    if keep_work:
        command.append("--keep-work")
    (out / "demo.json").unlink(missing_ok=True)
    started = time.perf_counter()
    before = os.times()
    completed = _run_child(command, env)
    after = os.times()
    wall = time.perf_counter() - started
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    summary_file = out / "demo.json"
    if completed.returncode != 0 or not summary_file.is_file():
        raise HubselectError(
            f"the demo stopped with exit code {completed.returncode} (the reason is above); rerun with --debug, "
            f"or `HUBSELECT_DEMO_LOG=INFO` for the stages' logs"
        )
    return DemoResult(out, json.loads(summary_file.read_text()), wall, cpu, work)


#: How long an interrupted child gets to terminate its workers and stop its loopback Hub
#: before what is left of its process group is killed.
STOP_SECONDS = 15


def _run_child(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the child with its stdout and stderr on our stderr (it only reports progress;
    results are read from OUT), relaying them when our stderr is not a real file.

    The child and its worker processes (about 1 GB each) must not outlive this call, however
    it ends: on Ctrl-C, SIGTERM or SIGHUP the child is stopped (:func:`_stop`), then the
    exception goes on; where this process dies without a word (SIGKILL, Ctrl-\\, the job's
    group killed), the child notices and stops itself (``pipeline._stop_when_orphaned``). It
    runs in a process group of its own, so that its workers can be killed with it; the
    terminal's signals reach only this process, which passes them on: Ctrl-Z stops the child's
    group with this process and ``fg`` / ``bg`` resumes it (:func:`_suspending_with`). (In the
    terminal's group, a Ctrl-C would reach each worker too, in the middle of a job.)
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is not None:
        sys.stderr.flush()
    output = {"stdout": fd, "stderr": fd} if fd is not None else {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
    with stopping_on_signals():  # stops the child as Ctrl-C does (below), then exits 128 + the signal's number
        with subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, process_group=0, **output) as child, _suspending_with(child):
            try:
                if child.stdout is not None:
                    for chunk in iter(lambda: child.stdout.read1(4096), b""):
                        sys.stderr.write(chunk.decode("utf-8", "replace"))
                child.wait()
            except BaseException:
                _stop(child)
                raise
    return subprocess.CompletedProcess(command, child.returncode)


def _stop(child: subprocess.Popen) -> None:
    """Stop the child as Ctrl-C would: SIGINT, on which it terminates its workers and stops its
    loopback Hub. Whatever of its process group is left after :data:`STOP_SECONDS` (or a
    second Ctrl-C) is killed. (``subprocess.run`` killed the child alone, 0.25 s after Ctrl-C:
    its workers went on with the queued jobs against a Hub that was gone, for ever.)"""
    try:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            child.wait(timeout=STOP_SECONDS)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        pass
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:  # the child and its workers are gone, as they should be
            pass
        child.wait()


@contextmanager
def _suspending_with(child: subprocess.Popen) -> Iterator[None]:
    """Ctrl-Z (SIGTSTP, sent to the terminal's group, not the child's) stops the child's process
    group, then this process as SIGTSTP's default action does; when this process is continued
    (``fg``, ``bg``), so is the child's group. Where SIGTSTP is handled or ignored already, or
    outside the main thread, nothing changes."""

    def suspend(signum: int, frame: Any) -> None:
        with suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until continued
        signal.signal(signal.SIGTSTP, suspend)
        with suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGCONT)

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTSTP) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTSTP, suspend)
    try:
        yield
    finally:
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)


__all__ = ["DemoResult", "demo_environment", "run_demo", "start_work"]
