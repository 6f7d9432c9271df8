"""Worker processes that never outlive the run that started them.

The demo pre-trains and profiles in worker processes, and ``hubselect evaluate --jobs N``
evaluates targets in them. Leaving ``with ProcessPoolExecutor`` on an exception waits for the
jobs running (minutes of pre-training, of fitting) and then runs the queued ones; when the run
is interrupted (Ctrl-C, SIGTERM) or a job fails, their results are not wanted: here the
workers are terminated instead. Workers ignore SIGINT: Ctrl-C reaches the whole process group,
and in a worker the KeyboardInterrupt became the result of its job, and the worker took the
next one; the driver handles it.

Workers are spawned, not forked: a fork of a process whose OpenMP runtime (LightGBM's, torch's)
has started threads can hang in the child. Each worker computes on one thread (OpenMP, OpenBLAS,
MKL and numba are told so through the environment it starts with, unless the user set them):
N workers already keep N cores busy, and the pools of threads each library would start beside
them only fight over the cores (two evaluate workers on 2 cores fitted twice as slowly).

Workers log as the process that started them does (:func:`_logging_here`): ``hubselect -vv
evaluate --jobs 2`` showed none of its fits' logs, which ran in workers that had no logging set up.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

#: The environment variables that size the thread pools of the libraries workers run.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@contextmanager
def _one_thread_each() -> Iterator[None]:
    """Processes started meanwhile get one thread per library (where the user set no count);
    this process's environment is as it was afterwards (its own libraries, torch's included,
    may read it when they first compute: it is changed only while workers are started)."""
    unset = [name for name in THREAD_VARIABLES if name not in os.environ]
    os.environ.update({name: "1" for name in unset})
    try:
        yield
    finally:
        for name in unset:
            os.environ.pop(name, None)


#: The signals that stop a run (Ctrl-C, ``kill``, a closed terminal): held back while a worker starts.
_STOPPING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """The signals that stop a run wait while workers are started: they are delivered, not
    lost, when this ends, and each worker has them blocked from its first instruction until it
    has set SIGINT to be ignored (:func:`_start_worker`).

    A Ctrl-C that came in the middle of starting one raised after the worker's process existed
    but before the pool knew of it: nothing terminated it, and it outlived the run. One that came
    while the worker read its start-up data made it print ``EOFError: Ran out of input``, and
    one that came while it was importing, its KeyboardInterrupt traceback.

    Two things hold a signal back, because blocking it is per thread. This thread's mask is what
    the worker inherits. But a signal sent to the process goes to a thread that does not block
    it (OpenBLAS's, OpenMP's), and Python then runs its handler here all the same: so the
    handlers, too, only note it until the end (in the main thread, the only one that may set
    them). (multiprocessing starts its resource tracker the same way. No signal masks on
    Windows: only the handlers there.)
    """
    caught: list[int] = []
    swapped: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in _STOPPING:
            # None: set outside Python, and not to be put back; ignored: nothing to hold, and a
            # worker inherits it (``nohup hubselect evaluate --jobs 2``), as it would not a handler.
            if signal.getsignal(signum) not in (None, signal.SIG_IGN):
                swapped[signum] = signal.signal(signum, lambda signum, frame: caught.append(signum))
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING) if hasattr(signal, "pthread_sigmask") else None
    try:
        yield
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # what came meanwhile is noted now
        for signum, handler in swapped.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)  # handled now as it would have been then: KeyboardInterrupt, the CLI's handler, or the end


class _OneThreadPool(ProcessPoolExecutor):
    """A pool whose workers, started as jobs are submitted, compute on one thread each."""

    def submit(self, fn, /, *args, **kwargs):
        with _one_thread_each(), _interrupts_held():
            return super().submit(fn, *args, **kwargs)


def _logging_here() -> tuple[tuple[int, logging.Formatter | None] | None, dict[str, int]]:
    """How this process shows its logs, for a worker to show its own the same way: the level and
    formatter of its root logger's handler on stderr (None if it has none; ``hubselect -v`` and
    ``logging.basicConfig()`` add one), and the level of every logger that has one (the root's
    under ``""``).

    A worker writes its records to its stderr, which is this process's, rather than sending them
    here through a queue: a worker terminated while writing to one (Ctrl-C ends a run so, and the
    OOM killer a worker) can leave its lock held or a record half written, and this process then
    waited on it for good.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.stream is sys.stderr), None)
    loggers = [(name, logger) for name, logger in logging.Logger.manager.loggerDict.items() if isinstance(logger, logging.Logger)]
    levels = {"": root.level, **{name: logger.level for name, logger in loggers if logger.level != logging.NOTSET}}
    if handler is None:
        return None, levels
    try:
        formatter = pickle.loads(pickle.dumps(handler.formatter))  # a worker gets it pickled
    except (pickle.PicklingError, TypeError, AttributeError):  # one of an application's own, that holds what cannot be: the default format
        formatter = None
    return (handler.level, formatter), levels


def _log_as_started(shown: tuple[int, logging.Formatter | None] | None, levels: dict[str, int]) -> None:
    """A worker's logging, as :func:`_logging_here` found its starter's."""
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    if shown is not None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(shown[0])
        handler.setFormatter(shown[1])
        logging.getLogger().addHandler(handler)


def _start_worker(initializer: Callable[..., Any] | None, initargs: tuple, logs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C that came while it started is dropped, too
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)  # SIGTERM from the pool's teardown ends it
    _log_as_started(*logs)
    if initializer is not None:
        initializer(*initargs)


@contextmanager
def worker_pool(workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """``workers`` spawned processes, each set up by ``initializer(*initargs)``, none of which
    outlives the ``with`` block when it is left on an exception.

    >>> with worker_pool(2) as pool:  # doctest: +SKIP
    ...     results = list(pool.map(work, items))
    """
    before = set(multiprocessing.active_children())
    pool = _OneThreadPool(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
        initargs=(initializer, initargs, _logging_here()),
    )
    try:
        yield pool
    except BaseException:
        started = [p for p in multiprocessing.active_children() if p not in before]  # the pool's workers
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in started:
            worker.terminate()
        for worker in started:
            worker.join(timeout=5)
        raise
    pool.shutdown()
