"""The ``hubselect`` command line: a thin click layer over the library.

Every command accepts the shared options (``--format``, ``--debug``, ``-v``, ``--token``),
before or after its name. Results go to stdout, logs and progress bars to stderr. Errors a
user can act on print as one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import functools
import logging
import shlex
import sys
from pathlib import Path
from dataclasses import dataclass, field

import click

from hubselect import __version__
from hubselect.cli.output import Output
from hubselect.errors import INTERRUPTED, HubselectError, InputError, Terminated, stopping_on_signals


@dataclass
class Settings:
    """The shared options, wherever on the command line they were given."""

    format: str = "human"
    debug: bool = False
    verbose: int = 0
    token: str | None = None
    output: Output = field(default_factory=Output)


SETTINGS = Settings()

def _remember(name: str):
    """An option callback that records an explicitly given value in SETTINGS."""

    def callback(ctx, param, value):
        if value:
            setattr(SETTINGS, name, value)

    return callback


def common_options(func):
    """The options every command shares, declared once (accepted before or after the command)."""

    @click.option("--format", "format_", type=click.Choice(["human", "json"]), default=None, expose_value=False,
                  callback=_remember("format"), help="Output for people (tables) or machines (one JSON document).")
    @click.option("--debug", is_flag=True, default=False, expose_value=False, callback=_remember("debug"),
                  help="Show tracebacks and debug logs.")
    @click.option("-v", "--verbose", count=True, expose_value=False,
                  callback=lambda ctx, param, value: setattr(SETTINGS, "verbose", SETTINGS.verbose + value),
                  help="More logs on stderr (-vv for debug).")
    @click.option("--token", default=None, expose_value=False, callback=_remember("token"),
                  help="Hugging Face token (default: HF_TOKEN, then the cached login).")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _configure()
        return func(*args, **kwargs)

    return wrapper


def check_device(ctx, param, value: str) -> str:
    """Click callback of every device option: a device torch does not know, or one this machine
    lacks, is refused while parsing, before anything is downloaded, read or cached."""
    if value != "auto":
        from hubselect.probes.base import pick_device

        pick_device(value, option=param.opts[0])
    return value


def check_revision(ctx, param, value: str | None) -> str | None:
    """Click callback of every ``--revision``: an empty or blank one (an unset shell variable)
    is refused while parsing. Sent as given, the Hub answered 404, reported as a Hub failure
    to retry later."""
    if value is not None and not value.strip():
        raise InputError(f"{param.opts[0]} is empty; pass a branch, tag or commit sha, or leave it out for main")
    return value


def check_probe(ctx, param, value: str | None) -> str | None:
    """Click callback of every ``--probe`` and ``--dino-probe``: an empty or blank one (an unset
    shell variable) is refused while parsing. ``recommend`` read ``""`` as a path, the current
    folder (an error naming no probe, or whatever model was there, loaded as the probe), and
    ``dataset similar`` and ``dataset profile`` as "not given"."""
    if value is not None and not value.strip():
        if param.opts[0] == "--probe":
            raise InputError("--probe is empty; pass a Hub model id, a local model folder or inception, or leave it out for the zoo's probe")
        raise InputError(f"{param.opts[0]} is empty; pass a Hub model id or a local model folder, or leave it out for none")
    return value


class NonEmptyPath(click.Path):
    """``click.Path`` for every path a command takes: an empty or blank one (an unset shell
    variable) is refused while parsing, naming the option.

    ``click.Path`` turns ``""`` into ``Path("")``, which is the current folder: ``crawl --zoo ""``
    wrote a zoo there and ``zoo import --out ""`` merged into the one there, unasked. ``.`` still
    means the current folder.
    """

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            option = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
            what = "a folder (. for the current one)" if self.dir_okay else "a file"
            raise InputError(f"{option} is empty; pass {what}")
        return super().convert(value, param, ctx)


def note_new_zoo_folder(folder: Path, option: str = "--zoo") -> None:
    """A note when a zoo folder about to be created is spelled like a Hub id (``my-org/my-zoo``).

    The commands that write a zoo write a local folder: a user who meant the Hub zoo would
    otherwise find ``./my-org/my-zoo`` created quietly beside them and the Hub repo untouched.
    Said once, when the folder does not exist yet.
    """
    folder = Path(folder)
    if folder.exists() or folder.is_absolute() or len(folder.parts) != 2 or any(part in (".", "..") for part in folder.parts):
        return
    repo = folder.as_posix()
    SETTINGS.output.info(
        f"note: creating the zoo folder ./{repo} ({option} is a local folder); if you meant the Hub zoo {repo}, "
        f"`hubselect zoo pull {shlex.quote(repo)} --out FOLDER`, run this with {option} FOLDER, then `hubselect zoo push FOLDER --repo {shlex.quote(repo)}`"
    )


def seed_option(help: str):
    """``--seed``, declared once for every command that takes one.

    numpy's seeders take 0 … 2**32 - 1; click refuses anything else before the command starts
    (build and evaluate crashed on it mid-run, recommend accepted it).
    """
    return click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help=help)


def _configure() -> None:
    SETTINGS.output = Output(SETTINGS.format)
    level = logging.WARNING
    if SETTINGS.verbose == 1:
        level = logging.INFO
    elif SETTINGS.verbose >= 2 or SETTINGS.debug:
        level = logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s", force=True)
    # huggingface_hub gives its logger a stderr handler of its own when its logging module is
    # first imported, and still propagates to the root handler above: every Hub warning would
    # print twice. Import it now, so the handler exists, and remove it.
    from huggingface_hub.utils import logging as _hub_logging  # noqa: F401

    hub_logger = logging.getLogger("huggingface_hub")
    for handler in [h for h in hub_logger.handlers if type(h) is logging.StreamHandler]:
        hub_logger.removeHandler(handler)
    # A card of prose only (no YAML block) is an ordinary card, read as having no metadata; its
    # warning on every read made each one-line message two (still shown with --debug).
    logging.getLogger("huggingface_hub.repocard").setLevel(logging.ERROR if level > logging.DEBUG else logging.NOTSET)
    if not SETTINGS.output.human:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="hubselect")
@common_options
def cli() -> None:
    """Which pre-trained text-to-image model should you fine-tune on your dataset?

    hubselect ranks the models of a zoo (profiled fine-tuning results on the Hugging Face Hub)
    for a new dataset, without fine-tuning every candidate.
    """


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    # Reset in place: command modules hold a reference to this one object.
    SETTINGS.__dict__.update(Settings().__dict__)
    try:
        # SIGTERM and SIGHUP stop every command as Ctrl-C does (one line, 128 + the signal):
        # killed outright, a command died without a word, its progress bar cut mid-line.
        with stopping_on_signals():
            # Inside the try: these imports (pandas, the Hub client, torch) take the first seconds
            # of every command, when Ctrl-C is likeliest.
            from hubselect.cli import commands  # noqa: F401  (registers the commands)

            cli.main(args=argv, prog_name="hubselect", standalone_mode=False)
    except HubselectError as exc:
        if SETTINGS.debug:
            raise
        click.echo(f"Error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        if exc.ctx is None or isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
            exc.show()  # a group given no command shows its help; without a command, click's line is one already
        else:
            # One line, as every other error: click's own form is four ("Usage: ...", "Try ... for help.", blank, the error).
            click.echo(f"Error: {' '.join(exc.format_message().split())} (see `{exc.ctx.command_path} --help`)", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt) as exc:
        # Ctrl-C (click turns it into Abort). Every writer replaces its files whole (atomic_write,
        # Ranker.save) or saves as it goes (crawl pages, profile records): a rerun loses nothing.
        # A command with more to say raises click.Abort(advice) (profile names what it kept).
        click.echo(f"Interrupted: {str(exc) or INTERRUPTED}", err=True)
        return 130
    except Terminated as exc:  # SIGTERM or SIGHUP
        click.echo(f"Interrupted: {exc.advice or INTERRUPTED}", err=True)
        return exc.code
    except PermissionError as exc:
        # A path checked before the work (check_zoo_folder, check_can_create_in) refused later
        # anyway: its mode or owner changed meanwhile, or a file in it is not the process's to replace.
        if SETTINGS.debug:
            raise
        what = f"{exc.filename}: {exc.strerror}" if exc.filename is not None and exc.strerror else str(exc)
        click.echo(f"Error: {what}; fix the permissions of that path (or of its folder), or pass another path, then rerun", err=True)
        return InputError.exit_code
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if SETTINGS.debug:
            raise
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True)
        return 1
    return 0


def run() -> None:
    sys.exit(main())
