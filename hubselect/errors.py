"""The one exception type users see.

Every failure a user can act on is raised as a :class:`HubselectError` whose message is one
line: what happened and what to do next. The CLI prints it without a traceback (unless
``--debug``) and exits with :attr:`HubselectError.exit_code`.
"""

from __future__ import annotations

import argparse
import numbers
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable


class HubselectError(Exception):
    """An error with a one-line, actionable message.

    >>> raise HubselectError("zoo 'x' not found: pass a folder or an org/name id")
    Traceback (most recent call last):
    ...
    hubselect.errors.HubselectError: zoo 'x' not found: pass a folder or an org/name id
    """

    exit_code = 1


class InputError(HubselectError):
    """The user's input (a file, an id, an option) is wrong."""

    exit_code = 2


class HubError(HubselectError):
    """The Hub refused or failed a request."""

    exit_code = 3


class RepoUnavailable(HubError):
    """The Hub's definite answer that a repo cannot be read: not found (or private), gated,
    disabled. Asking again later gives the same answer, unlike a Hub that is down or
    rate-limiting. (A revision the Hub does not know is not one: a short sha some requests
    resolve and others do not.)"""


#: What the CLI says after "Interrupted:" when a command has nothing more particular to say.
INTERRUPTED = "nothing written so far is lost; rerun the same command to finish"


class Terminated(SystemExit):
    """SIGTERM or SIGHUP (the terminal closing) ended the work, as Ctrl-C would have: the process
    exits with 128 + the signal's number, as the signal's default action would have made it, and
    the CLI says it was interrupted as it does on Ctrl-C. A :class:`SystemExit`, so that a caller
    from Python exits too, without a traceback.

    ``advice`` is what the CLI says after "Interrupted:" (the command's own, as on Ctrl-C), if given.

    >>> Terminated(143).code
    143
    """

    def __init__(self, code: int, advice: str | None = None) -> None:
        super().__init__(code)
        self.advice = advice


#: The :class:`Terminated` the last signal raised (:func:`stopping_on_signals`).
_raised: list[Terminated] = []


def stopped_by_signal() -> Terminated | None:
    """The :class:`Terminated` a SIGTERM or SIGHUP raised since :func:`stopping_on_signals` was
    entered, if one did: for code around a library that turns it into another exception (Ray's
    ``ray.wait`` makes it a plain ``SystemExit(1)``)."""
    return _raised[0] if _raised else None


@contextmanager
def stopping_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP (the terminal closing) stop the work as Ctrl-C does: each raises
    :class:`Terminated` (128 + the signal's number, as the default action would have exited)
    where the main thread is, so that ``finally`` blocks and context managers run. Where they
    are ignored (``nohup``), they stay so; outside the main thread, signals cannot be handled.

    CI cancelling a job, Slurm and Kubernetes stop work with SIGTERM: without this, a command
    died without a word, or (once Ray had replaced the handler) with a native stack trace.

    >>> with stopping_on_signals():  # doctest: +SKIP
    ...     run_the_work()
    """

    def stop(signum: int, frame: Any) -> None:
        _raised[:] = [Terminated(128 + signum)]
        raise _raised[0]

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _raised.clear()  # a signal of an earlier run in this process is not this one's
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for signum, handler in previous.items():
        if handler == signal.SIG_DFL:
            signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler == signal.SIG_DFL:
                signal.signal(signum, handler)


def check_whole(name: str, value: Any, low: int, high: int | None = None, *, none_for: str | None = None) -> None:
    """Refuse ``value`` unless it is a whole number from ``low`` (to ``high``), naming the parameter;
    ``None`` passes too where ``none_for`` says what it means.

    From Python nothing else checks these: ``top=-1`` would slice the worst model off a ranking
    and ``seed=-1`` fail inside numpy. A bool is not taken for a number, a numpy integer is.
    The ranker's and ``hubselect.recommend``'s arguments are checked with it.

    >>> check_whole("top", -1, 1, none_for="every model")
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: top must be a whole number of at least 1, or None for every model, got -1
    """
    if value is None and none_for is not None:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        alternative = f", or None for {none_for}" if none_for is not None else ""
        raise InputError(f"{name} must be a whole number {span}{alternative}, got {value!r}")


def whole_option(low: int) -> Callable[[str], int]:
    """An argparse ``type=`` for a count option (runs, repeats, images, batch size): a whole number
    of at least ``low``, refused while the arguments are parsed, in argparse's one-line error.

    The benchmark scripts take their counts with it: unchecked, 0 repeats crashed in
    ``statistics.median`` after minutes of building, a negative image count divided by zero, and
    ``--batch-size 0`` was read as "the default".

    >>> whole_option(1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be at least 1, got 0
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse
