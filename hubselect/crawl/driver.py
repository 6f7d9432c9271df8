"""The crawl driver: list, read, record, save after every page, resume after any interruption.

A crawl lists repos with one crawler plugin's query, reads each new or changed repo into a
record and writes the page's records into the zoo (upserted by model id) before the state;
both writes are atomic. A crawl killed at any point therefore loses at most the page in
flight, and a rerun skips every repo the zoo already holds at the same sha: every model ends up
in the zoo exactly once. Each save re-reads the zoo under its lock, so a profiler or another
crawl writing the same folder meanwhile loses nothing: the state too is merged, not replaced, so a
crawl of the same kind with another filter keeps the repos it skipped.

A repo re-read at the commit its record was read at (``--refresh``, a retry after a transient
failure, a gated repo re-checked, one back on the Hub) keeps the throughput figures measured at
that commit: the crawl reads metadata only, and each figure cost a download of the weights and
minutes of measuring. A new commit drops them (its weights are other weights).

A repo skipped as fresh still takes the listing's counters (downloads, likes: the Hub changes
them without a commit), at no extra request. Every pipeline's column is part of the zoo's
fingerprint, and a ranker feature (but for how its throughput was measured: see
:func:`~hubselect.rank.features.measurement_columns`), so a crawl that sees a count change
changes the zoo, and a published ranker is then stale; a crawl that sees none leaves the zoo as
it was, byte for byte. Adapters (``--kind lora``) are no part of model selection (see
``Zoo.model_ids``): crawling them leaves every ranker current.

Once its listing is done, a crawl asks the Hub about each model of its kind the zoo holds that the
listing did not return (one request each) and flags the deleted ones as gone; one flagged gone
that the Hub has again (re-created, or made public again) is read again, which clears the flag.
A listing is limited (``--limit``, ``--search``, ``--author``), so not being listed says nothing
by itself; on a zoo of hundreds of models a narrow listing makes that hundreds of requests,
every run.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hubselect.bench.throughput import bench_features, describe_settings, figure_settings
from hubselect.crawl.safety import NOT_FLAGGED, is_profilable
from hubselect.crawl.state import STATE_FILE, CrawlState, now
from hubselect.errors import HubError, HubselectError, InputError, Terminated
from hubselect.zoo import ModelRecord, Zoo, ZooMeta
from hubselect.zoo.store import META_FILE, check_zoo_folder, zoo_lock

log = logging.getLogger(__name__)

#: Why a listed repo was not recorded when it could no longer be read at all.
GONE_REASON = "gone from the Hub since it was listed (deleted, or made private)"

#: Listing fields the Hub changes without a commit: a repo skipped as fresh still takes them.
LISTING_COUNTERS = ("downloads", "likes")

#: A zoo created by crawling scores fine-tuning results by FID (lower is better), the M&C default.
CRAWLED_ZOO_META = dict(score="fid_after_finetune", higher_is_better=False, description="text-to-image models crawled from the Hub")


@dataclass
class CrawlOptions:
    """What to crawl and how politely.

    >>> CrawlOptions(kind="lora", limit=10).page_size
    50
    """

    kind: str = "t2i"
    limit: int | None = None
    search: str | None = None
    author: str | None = None
    #: Models per page: records and state are saved after every page.
    page_size: int = 50
    #: Stop (saving everything) before the next model once this many HTTP requests were sent.
    max_requests: int | None = None
    #: Re-read repos even when their sha did not change.
    refresh: bool = False
    token: str | None = None
    #: Benchmark crawled models with these settings (``None``: no benchmark).
    bench: Any = None

    def __post_init__(self) -> None:
        for name in ("limit", "page_size", "max_requests"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.author is not None and not _is_owner_name(self.author):  # a URL would list nothing, silently
            raise InputError(f"--author {self.author!r} is not a Hub user or organisation name; pass one like alice (not a URL or ORG/NAME)")


def _is_owner_name(text: str) -> bool:
    """Whether ``text`` can be a Hub user or organisation name: a repo id without its ``/NAME``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if "/" in text:
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


@dataclass
class CrawlSummary:
    """What a crawl did; ``hubselect crawl`` prints it."""

    kind: str
    zoo: str
    listed: int = 0
    #: Models recorded for the first time / re-recorded because their sha changed.
    crawled: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Recorded with a safety flag (excluded from profiling): repo id -> reason.
    flagged: dict[str, str] = field(default_factory=dict)
    #: Listed but not recorded: reason -> count.
    skipped: Counter = field(default_factory=Counter)
    #: Recorded with a transient failure (retried on the next run).
    incomplete: int = 0
    #: Zoo models whose downloads or likes the Hub now counts differently (no commit needed).
    counts_updated: int = 0
    #: Zoo models of this kind the listing did not return, asked about one request each ...
    unlisted_checked: int = 0
    #: ... and those found deleted (or made private): flagged (this run or before), their records and results kept.
    gone: int = 0
    #: ... and those the Hub gave no answer about (an error after retries): left as they are.
    unlisted_unanswered: int = 0
    benchmarked: int = 0
    pages: int = 0
    requests: int = 0
    #: Why the crawl stopped before the end of its listing (None: it finished).
    stopped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "zoo": self.zoo,
            "listed": self.listed,
            "crawled": self.crawled,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "flagged": dict(self.flagged),
            "skipped": dict(self.skipped),
            "incomplete": self.incomplete,
            "counts_updated": self.counts_updated,
            "unlisted_checked": self.unlisted_checked,
            "gone": self.gone,
            "unlisted_unanswered": self.unlisted_unanswered,
            "benchmarked": self.benchmarked,
            "pages": self.pages,
            "requests": self.requests,
            "stopped": self.stopped,
        }


class _BudgetReached(Exception):
    pass


def open_or_create_zoo(folder: str | os.PathLike) -> Zoo:
    """The zoo in ``folder``, or a new empty one when the folder holds none."""
    folder = Path(folder)
    check_zoo_folder(folder, also=(STATE_FILE,))
    if (folder / META_FILE).is_file():
        return Zoo.load(folder)
    return Zoo(ZooMeta(**CRAWLED_ZOO_META))


def crawl(
    zoo_dir: str | os.PathLike,
    options: CrawlOptions,
    *,
    on_model: Callable[[CrawlSummary], None] | None = None,
) -> CrawlSummary:
    """Crawl one kind of Hub repo into the zoo folder ``zoo_dir``; resumable and incremental.

    >>> crawl("my-zoo", CrawlOptions(kind="t2i", limit=20))  # doctest: +SKIP
    CrawlSummary(kind='t2i', zoo='my-zoo', listed=20, crawled=17, ...)
    """
    from crawlers.base import Skipped, load_crawler
    from hubselect.hub.models import HeaderSizeHints, HubRepoReader, list_model_pages, metered_requests, model_info

    crawler = load_crawler(options.kind)
    zoo_dir = Path(zoo_dir)
    zoo = open_or_create_zoo(zoo_dir)
    kind_state = CrawlState.load(zoo_dir).kind(options.kind)
    kind_state.pages, kind_state.finished = 0, False
    # What this run changed in the kind's skipped repos (None: no longer skipped). Each save
    # applies only these to the state on disk: another crawl of this kind (--author A while
    # --author B runs) saves its own skipped repos into the same file meanwhile.
    skip_changes: dict[str, dict[str, str | None] | None] = {}
    # New listing counters of models otherwise left as they are: model -> {column: value}.
    count_changes: dict[str, dict[str, int]] = {}
    # Records of other kinds share the models table; this crawl only reuses its own.
    known = {r.model: r for r in zoo.model_records() if r.features.get("kind") in (None, options.kind)}
    hints = HeaderSizeHints()
    summary = CrawlSummary(kind=options.kind, zoo=str(zoo_dir))

    def save(page: list[ModelRecord]) -> None:
        known.update((r.model, r) for r in page)
        zoo_dir.mkdir(parents=True, exist_ok=True)
        # Both re-read under the zoo's lock: a profiler, or a crawl of another kind, may have
        # written the folder since this crawl read it. Records first, state second: a kill in
        # between only makes the rerun re-skip them.
        with zoo_lock(zoo_dir):
            current = open_or_create_zoo(zoo_dir)
            if page:
                current.add_models(page)
            # Into the row as it is now, not the one this crawl read: a bench, or a crawl that
            # read a new commit, may have written it since.
            current.update_models(count_changes)
            current.save(zoo_dir)
            current_state = CrawlState.load(zoo_dir)
            on_disk = current_state.kind(options.kind)
            for repo_id, entry in skip_changes.items():
                if entry is None:
                    on_disk.skipped.pop(repo_id, None)
                else:
                    on_disk.skipped[repo_id] = entry
            on_disk.pages, on_disk.finished, on_disk.updated_at = kind_state.pages, kind_state.finished, now()
            current_state.save(zoo_dir)
        skip_changes.clear()
        count_changes.clear()
        # The other crawls' skipped repos too: this one need not read them when it lists them.
        kind_state.skipped = on_disk.skipped

    with metered_requests() as meter:

        def tick() -> None:
            summary.requests = meter.requests  # the model just read included
            if on_model is not None:
                on_model(summary)

        def check_budget() -> None:
            summary.requests = meter.requests
            if options.max_requests is not None and meter.requests >= options.max_requests:
                raise _BudgetReached()

        def read_repo(info: Any, previous: ModelRecord | None) -> None:
            """Read one repo at the commit ``info`` names into the page's records, by the crawler's
            rules: a new record, a flagged one, one gone since (``previous`` flagged so), or a skip."""
            nonlocal read
            reader = _WatchedReader(HubRepoReader(info, token=options.token, hints=hints))
            outcome = crawler.record(reader)
            read += 1
            if reader.gone:
                # Not a model of the zoo: not remembered as skipped either, so it is read
                # again if it comes back.
                summary.skipped[GONE_REASON] += 1
                if previous is None:
                    log.warning("%s: %s; not recorded", info.id, GONE_REASON)
                else:
                    log.warning("%s: %s; its earlier record is kept, excluded from profiling", info.id, GONE_REASON)
                    page_records.append(_gone(previous))
                return
            if isinstance(outcome, Skipped):
                kind_state.skipped[info.id] = skip_changes[info.id] = {"sha": info.sha, "reason": outcome.reason}
                summary.skipped[outcome.reason] += 1
                return
            kind_state.skipped.pop(info.id, None)
            skip_changes[info.id] = None
            if previous is None:
                summary.crawled += 1
            elif previous.revision != info.sha:
                summary.updated += 1
            else:  # same commit, re-read: --refresh, an earlier transient failure, gated without access, or back on the Hub
                summary.unchanged += 1
            if outcome.features.get("excluded_reason"):
                summary.flagged[outcome.model] = str(outcome.features["excluded_reason"])
            if outcome.features.get("crawl_complete") is False:
                summary.incomplete += 1
            if previous is not None and previous.revision == outcome.revision:
                outcome = ModelRecord(outcome.model, outcome.revision, {**outcome.features, **bench_features(previous.features)})
            if options.bench is not None and _needs_bench(outcome, options.bench):
                outcome = _bench(outcome, options, summary)
            page_records.append(outcome)

        query = dict(crawler.listing(search=options.search))
        pages = list_model_pages(
            **query, author=options.author, limit=options.limit, page_size=options.page_size, token=options.token
        )
        page_records: list[ModelRecord] = []
        read = 0  # repos read (recorded or skipped) by this run: its progress
        listed: set[str] = set()
        unlisted: list[ModelRecord] | None = None  # set once the listing is done
        try:
            while True:
                check_budget()
                page = next(pages, None)
                if page is None:
                    break
                page_records = []
                for info in page:
                    check_budget()
                    summary.listed += 1
                    listed.add(info.id)
                    if info.sha is None or info.siblings is None:
                        # The listing did not expand this repo's fields: one more request for them.
                        info = model_info(info.id, token=options.token)
                    previous = known.get(info.id)
                    skipped = kind_state.skipped.get(info.id)
                    fresh = (
                        previous is not None
                        and previous.revision == info.sha
                        and previous.features.get("crawl_complete", True)
                        # access to a gated repo may have been granted since: one request to find out
                        and previous.features.get("safety_flag") != "gated"
                    )
                    if not options.refresh and fresh:
                        summary.unchanged += 1
                        new_counts = _new_counts(previous, info)
                        if new_counts:
                            count_changes[info.id] = new_counts
                            summary.counts_updated += 1
                        if options.bench is not None and _needs_bench(previous, options.bench):
                            counted = ModelRecord(previous.model, previous.revision, {**previous.features, **new_counts})
                            page_records.append(_bench(counted, options, summary))
                        tick()
                        continue
                    if not options.refresh and skipped is not None and skipped.get("sha") == info.sha:
                        summary.skipped[skipped.get("reason") or "skipped"] += 1
                        tick()
                        continue
                    read_repo(info, previous)
                    tick()
                kind_state.pages += 1
                summary.pages += 1
                save(page_records)
                page_records = []
            kind_state.finished = True
            # Flagged gone ones too: one the Hub has again (re-created, or public again) is
            # read again, by the crawler's rules, which clears the flag (and sets any other).
            unlisted = [
                r
                for r in known.values()
                if r.model not in listed
                and r.features.get("kind") == options.kind
                and r.revision is not None  # crawled by this kind: a Hub repo read at a commit
            ]
            for record in unlisted:
                check_budget()
                try:
                    info = model_info(record.model, token=options.token, gone_ok=True)
                except HubselectError as exc:
                    # One repo the Hub will not answer for (after retries) must not stop the
                    # check of the others on every run: it stays as it is, checked next time.
                    log.warning("%s: not listed, and the Hub did not say whether it still exists (%s); left as it is", record.model, exc)
                    summary.unlisted_unanswered += 1
                    continue
                summary.unlisted_checked += 1
                flagged_gone = GONE_REASON in (record.features.get("excluded_reason") or "")
                if info is None:
                    summary.gone += 1
                    if not flagged_gone:  # one flagged already stays as it is: the zoo does not change
                        log.warning("%s: %s; its earlier record is kept, excluded from profiling", record.model, GONE_REASON)
                        page_records.append(_gone(record))
                    continue
                if flagged_gone:
                    log.info("%s: back on the Hub; read again", record.model)
                    read_repo(info, record)
                    continue
                new_counts = _new_counts(record, info)  # the request is made anyway
                if new_counts:
                    count_changes[record.model] = new_counts
                    summary.counts_updated += 1
        except _BudgetReached:
            if unlisted is not None:
                summary.stopped = (
                    f"request budget of {options.max_requests} reached after checking {summary.unlisted_checked} of the "
                    f"{len(unlisted)} zoo models the listing did not return (one request each); raise --max-requests to check them all"
                )
            elif read:
                summary.stopped = f"request budget of {options.max_requests} reached; rerun to continue where it stopped"
            else:  # listing what the zoo already holds used it all: a rerun would stop at the same place
                summary.stopped = f"request budget of {options.max_requests} reached before a new repo was read; raise --max-requests"
        except HubselectError as exc:
            summary.requests = meter.requests
            save(page_records)
            raise HubError(f"{exc} (what was crawled so far is saved in {zoo_dir}; a rerun resumes from there)") from None
        except BaseException as exc:
            # Ctrl-C, SIGTERM or a bug: keep what this page already read, then let it propagate.
            save(page_records)
            if isinstance(exc, (KeyboardInterrupt, Terminated)):
                log.warning("interrupted: what was crawled so far is saved in %s; rerun the same command to resume", zoo_dir)
            raise
        summary.requests = meter.requests
        save(page_records)
    return summary


class _WatchedReader:
    """A crawler's reader that notes whether the repo itself is gone (not one of its files).

    A crawler turns a failed read into a note on its record; a repo deleted (or made private)
    between the listing and the read must not become a record at all, whichever plugin read it.
    """

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self.gone = False

    def __getattr__(self, name: str) -> Any:  # repo_id, revision, files, info
        return getattr(self._reader, name)

    def read_json(self, path: str) -> dict[str, Any]:
        return self._watch(self._reader.read_json, path)

    def read_text(self, path: str) -> str:
        return self._watch(self._reader.read_text, path)

    def read_safetensors_header(self, path: str) -> Any:
        return self._watch(self._reader.read_safetensors_header, path)

    def _watch(self, read: Callable[[str], Any], path: str) -> Any:
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

        from hubselect.hub.models import RepoReadError

        try:
            return read(path)
        except RepoReadError as exc:
            # The reader raises its error while handling the client's: that one says which.
            hub_error = exc.__cause__ or exc.__context__
            self.gone |= isinstance(hub_error, RepositoryNotFoundError) and not isinstance(hub_error, GatedRepoError)
            raise


def _gone(record: ModelRecord) -> ModelRecord:
    """The zoo's record of a repo now gone from the Hub, flagged rather than dropped.

    Its profiling results were measured at its revision and stay in the zoo, so its features
    stay too (the graph and the ranker use them); the flag keeps it out of profiling and
    ``recommend``, which must not name a model nobody can download. ``crawl_complete`` False
    makes a crawl that lists it again re-read it, which clears the flag; a crawl that does not
    list it reads it again once the Hub has it again.
    """
    reason = record.features.get("excluded_reason")
    if reason and GONE_REASON not in reason:  # a safety flag's reason stays readable too
        reason = f"{GONE_REASON}; {reason}"
    features = {**record.features, "excluded_reason": reason or GONE_REASON, "crawl_complete": False}
    return ModelRecord(record.model, record.revision, features)


def _new_counts(record: ModelRecord, info: Any) -> dict[str, int]:
    """The listing's counters (:data:`LISTING_COUNTERS`) that differ from the record's.

    Only changed ones: a crawl that finds none must leave the zoo as it was (the refresh
    workflow pushes the zoo, and rebuilds the ranker, when it changed).
    """
    counts = {name: getattr(info, name, None) for name in LISTING_COUNTERS}
    return {name: value for name, value in counts.items() if value is not None and value != record.features.get(name)}


def _profilable(record: ModelRecord) -> bool:
    return is_profilable(record.features)


def _needs_bench(record: ModelRecord, config: Any) -> bool:
    """Whether a profilable record lacks a figure measured with ``config``'s settings: device,
    dtype, steps, resolution (the model's native one where ``config`` names none), batch, and
    how peak memory is measured. A figure of an older hubselect's CPU memory measure is measured
    again: its images/s still compares with new ones, but its peak memory does not, and the
    ranker learns from ``peak_memory_mb`` only once every figure of the zoo has one measure
    (:func:`~hubselect.rank.features.measurement_columns`). The device is compared as
    :func:`~hubselect.bench.throughput.device_key` names it: ``cuda:0`` after ``auto`` is one GPU."""
    if not _profilable(record):
        return False
    measured = figure_settings(record.features)
    native = record.features.get("resolution")
    if native is None and measured is not None:
        native = measured[3]  # unknown to the crawl: taken to be the one the figure was measured at
    return measured != config.settings(native)


def _bench(record: ModelRecord, options: CrawlOptions, summary: CrawlSummary) -> ModelRecord:
    """The record with throughput features added (or a ``bench_error`` saying why not)."""
    from hubselect.bench import bench_model

    try:
        report = bench_model(record.model, options.bench, revision=record.revision, token=options.token)
    except HubselectError as exc:
        log.warning("%s: not benchmarked: %s", record.model, exc)
        return ModelRecord(record.model, record.revision, {**record.features, "bench_error": str(exc)})
    except Exception as exc:  # a model that loads but fails to run must not stop the crawl
        log.warning("%s: benchmark failed: %s: %s", record.model, type(exc).__name__, exc)
        return ModelRecord(record.model, record.revision, {**record.features, "bench_error": f"{type(exc).__name__}: {exc}"})
    summary.benchmarked += 1
    replaced = figure_settings(record.features)
    if replaced is not None:
        log.info("%s: its figure measured with %s is replaced", record.model, describe_settings(replaced))
    return ModelRecord(record.model, record.revision, {**record.features, **report.to_features(), "bench_error": NOT_FLAGGED})
