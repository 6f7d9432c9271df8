"""Where jobs run: in this process, one after another (``local``), or as Ray tasks (``ray``).

Both yield :class:`JobOutcome`\\ s as jobs finish; neither writes the zoo (the driver does, so
there is one writer however many workers there are). A job that fails with a
:class:`~hubselect.errors.HubselectError` yields its one-line message; any other exception yields
``unexpected <Type>: <message>`` (the traceback goes to the debug log), and the other jobs go on.

Ray: each job is one task with ``num_gpus=1`` when the cluster has GPUs (so a task owns a GPU)
and ``num_cpus=threads``; with no ``address`` (and no ``RAY_ADDRESS``) a local Ray cluster is
started on this machine and shut down afterwards. Tasks return records as plain dicts. Results
equal the local executor's for the same seeds when both run jobs with the same torch thread
count (``threads``), which the Ray executor fixes at 1 by default.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from hubselect.errors import HubselectError, InputError, stopped_by_signal
from hubselect.profile.job import ProfileJob, run_job
from hubselect.zoo import ProfileRecord

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")


@dataclass
class JobOutcome:
    """A finished job: its record, or why it failed (one line)."""

    job: ProfileJob
    record: ProfileRecord | None = None
    error: str | None = None
    seconds: float = 0.0


class Executor(Protocol):
    name: str

    def run(self, jobs: Sequence[ProfileJob]) -> Iterator[JobOutcome]:
        """Run ``jobs``, yielding each outcome as soon as its job finishes."""


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, HubselectError):
        return str(exc)
    log.debug("job failed:\n%s", "".join(traceback.format_exception(exc)))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"unexpected {type(exc).__name__}: {first} (rerun with --debug for the traceback)"


def execute(job: ProfileJob) -> dict[str, Any]:
    """Run one job and return a plain dict (what a Ray task sends back): ``record`` row or ``error``."""
    started = time.perf_counter()
    try:
        record = run_job(job)
    except Exception as exc:  # a job's failure must not take the grid down
        return {"record": None, "error": _describe_failure(exc), "seconds": time.perf_counter() - started}
    return {"record": record.to_row(), "error": None, "seconds": time.perf_counter() - started}


def _outcome(job: ProfileJob, result: dict[str, Any]) -> JobOutcome:
    record = ProfileRecord.from_row(result["record"]) if result.get("record") else None
    return JobOutcome(job, record, result.get("error"), float(result.get("seconds") or 0.0))


class LocalExecutor:
    """Jobs one after another in this process."""

    name = "local"

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads

    def run(self, jobs: Sequence[ProfileJob]) -> Iterator[JobOutcome]:
        for job in jobs:
            if self.threads and not job.threads:
                job = replace(job, threads=self.threads)
            yield _outcome(job, execute(job))


class RayExecutor:
    """Each job a Ray task; a local Ray cluster on this machine unless ``address`` names one.

    >>> outcomes = list(RayExecutor().run(jobs))  # doctest: +SKIP
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, threads: int = 1, num_cpus: int | None = None, max_in_flight: int | None = None) -> None:
        self.address = address
        self.threads = max(1, int(threads))
        self.num_cpus = num_cpus
        self.max_in_flight = max_in_flight
        if address:
            _check_ray_address(address, "--ray-address", "leave --ray-address out to start a local one")
        elif os.environ.get("RAY_ADDRESS"):
            _check_ray_address(os.environ["RAY_ADDRESS"], "RAY_ADDRESS", "unset RAY_ADDRESS to start a local one")

    def _init(self, ray: Any) -> bool:
        """Start Ray, or connect to its cluster; False where this process had already."""
        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS")
        # Workers inherit the driver's Hub settings (endpoint, cache, token path, offline mode).
        env = {k: v for k, v in os.environ.items() if k.startswith(("HF_", "HUBSELECT_"))}
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "runtime_env": {"env_vars": env}}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = self.num_cpus or os.cpu_count() or 1
        log.info("starting Ray (%s)", address or f"local cluster, {kwargs.get('num_cpus')} CPUs")
        handler = signal.getsignal(signal.SIGTERM)
        ray.init(**kwargs)
        _give_back_sigterm(handler)
        return True

    def run(self, jobs: Sequence[ProfileJob]) -> Iterator[JobOutcome]:
        if not jobs:
            return
        try:
            import ray
        except ImportError:
            raise InputError("--executor ray needs Ray: pip install 'hubselect[ray]'") from None
        from tqdm.contrib.logging import logging_redirect_tqdm

        # Ray's driver prints what its raylets report (a worker killed by the OOM killer, say) on
        # sys.stdout, from a thread of its own, whatever log_to_driver says: stdout holds the
        # results (a JSON document), so Ray's lines go to stderr until Ray is shut down. Its log
        # lines (a local cluster started, its token) are written above the progress bar, not into it.
        with contextlib.redirect_stdout(sys.stderr), logging_redirect_tqdm([logging.getLogger("ray")]):
            yield from self._run(ray, jobs)

    def _run(self, ray: Any, jobs: Sequence[ProfileJob]) -> Iterator[JobOutcome]:
        started_here = self._init(ray)
        try:
            # Where a crashed worker's logs are ("Check python-core-worker-*.log files" says not
            # where), for the local cluster started here; a cluster's are on its nodes.
            local = started_here and not (self.address or os.environ.get("RAY_ADDRESS"))
            logs = f" (Ray's logs: {_logs_folder(ray)})" if local else ""
            gpus = ray.cluster_resources().get("GPU", 0)
            task = ray.remote(execute).options(num_gpus=1 if gpus else 0, num_cpus=self.threads, max_retries=0)
            queue = [replace(job, threads=job.threads or self.threads) for job in jobs]
            limit = self.max_in_flight or len(queue)
            pending: dict[Any, ProfileJob] = {}
            while queue or pending:
                while queue and len(pending) < limit:
                    job = queue.pop(0)
                    pending[task.remote(job)] = job
                try:
                    done, _ = ray.wait(list(pending), num_returns=1)
                except SystemExit as exc:
                    # A SIGTERM or SIGHUP while it waits: Ray makes the handler's Terminated a plain
                    # SystemExit(1), which ended the run with exit 1 and no word.
                    raise (stopped_by_signal() or exc) from None
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # the worker died (out of memory, killed)
                        result = {"record": None, "error": f"the Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{logs}"}
                    yield _outcome(job, result)
        finally:
            if started_here:
                ray.shutdown()


def _logs_folder(ray: Any) -> Path:
    """The logs folder of the local Ray cluster this driver started (kept after it stops)."""
    context = ray.get_runtime_context()
    return Path(context.get_temp_dir()) / context.get_session_name() / "logs"


def _give_back_sigterm(before: Any) -> None:
    """Give SIGTERM back to Python after ``ray.init``, which replaced the driver's handler twice:
    with a Python one that exits 15 (shutting Ray down on the way), then with a C++ one that
    printed a native stack trace and aborted (exit -6). The driver's own handler comes back
    (``hubselect profile``'s stops the run as Ctrl-C does; an ignored SIGTERM stays ignored),
    or Ray's Python one where the driver had the default. ``before`` is the handler the driver
    had (``None``: not Python's); outside the main thread, signals cannot be handled."""
    handler = signal.getsignal(signal.SIGTERM) if before == signal.SIG_DFL else before
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _check_ray_address(address: str, where: str, instead: str) -> None:
    """Refuse a cluster address nothing answers at, at once: ``ray.init`` retries it for many
    minutes (and ignores SIGTERM meanwhile). ``auto``, ``local`` and unparsable forms are Ray's.
    ``where`` names the setting it came from, ``instead`` the other way out."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise InputError(
            f"{where} {address}: no Ray cluster answers there ({exc.strerror or exc}); start one (`ray start --head`) or {instead}"
        ) from None


def make_executor(name: str, *, threads: int | None = None, address: str | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``)."""
    if name == "local":
        if address:
            raise InputError("--ray-address names a Ray cluster, which only --executor ray uses; add --executor ray, or drop --ray-address")
        return LocalExecutor(threads=threads)
    if name == "ray":
        return RayExecutor(address=address, threads=threads or 1)
    raise InputError(f"unknown executor {name!r}; choose from: {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "Executor", "JobOutcome", "LocalExecutor", "RayExecutor", "execute", "make_executor"]
