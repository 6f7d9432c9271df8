"""``hubselect crawl`` and ``hubselect bench``: fill a zoo's models from the Hub; measure throughput."""

from __future__ import annotations

import functools
import shlex
from pathlib import Path

import click

from hubselect.cli import SETTINGS, NonEmptyPath, check_device, check_revision, cli, common_options, note_new_zoo_folder
from hubselect.cli.output import table
from hubselect.errors import InputError


def _bench_config(**kwargs):
    from hubselect.bench import BenchConfig

    try:
        return BenchConfig(**{k: v for k, v in kwargs.items() if v is not None})
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _default_dtype(device: str) -> str:
    """The default --dtype: float16 on CUDA, float32 on CPU and MPS (for ``auto``, the device the run will pick)."""
    from hubselect.bench import BenchConfig

    return "float16" if BenchConfig(device=device).resolved_device().startswith("cuda") else "float32"


@cli.command("crawl")
@click.option("--kind", default="t2i", show_default=True, help="What to crawl: t2i (diffusers pipelines) or lora (LoRA adapters).")
@click.option("--zoo", "zoo_dir", required=True, type=NonEmptyPath(path_type=Path), help="Zoo folder to add the models to (created if missing).")
@click.option("--limit", type=int, default=None, help="Crawl at most N listed repos (most downloaded first).")
@click.option("--search", default=None, help="Only repos whose id contains TEXT.")
@click.option("--author", default=None, help="Only repos of this user or organisation.")
@click.option("--page-size", type=int, default=50, show_default=True, help="Models per page; progress is saved after every page.")
@click.option("--max-requests", type=int, default=None, help="Stop politely (progress saved) once N Hub requests were sent.")
@click.option("--refresh", is_flag=True, help="Re-read every repo, even those whose commit did not change.")
@click.option("--bench", is_flag=True, help="Also measure throughput of every crawled model (downloads its weights).")
@click.option("--bench-steps", type=click.IntRange(min=1), default=None, help="Denoising steps per image for --bench (default 20).")
@click.option("--bench-dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default=None,
              help="Weights dtype for --bench (default: float16 on CUDA, float32 on CPU and MPS).")
@click.option("--bench-device", default="auto", show_default=True, callback=check_device,
              help="cpu, cuda, cuda:N, mps or auto (CUDA, then MPS, then CPU).")
@click.option("--bench-min-seconds", type=click.FloatRange(min=0), default=None, help="Measure each model at least this long (default 5).")
@common_options
def crawl_command(
    zoo_dir: Path, kind: str, limit, search, author, page_size, max_requests, refresh, bench, bench_steps, bench_dtype, bench_device,
    bench_min_seconds,
) -> None:  # fmt: skip
    """Crawl Hub models into a zoo: features from metadata, never weights; resumable, incremental.

    A rerun only re-reads repos whose commit changed; an interrupted crawl resumes where it
    stopped. Repos that are pickle-only, need custom code or are gated without access are
    recorded with a flag and a reason, and excluded from profiling. A repo deleted (or made
    private) between listing and reading is skipped; if the zoo already held it, its record and
    results are kept, flagged as gone. Each zoo model of this --kind that the listing did not
    return is looked up (one request each, every run) and flagged the same way if the Hub no
    longer has it; one flagged so that the Hub has again (re-created, or public again) is read
    again, which clears the flag (and sets any other its files earn). Downloads and likes are updated from the listing, even for repos at the same
    commit.
    """
    from huggingface_hub.utils import tqdm

    from hubselect.crawl import STATE_FILE, CrawlOptions, crawl
    from hubselect.zoo import check_zoo_folder

    bench_config = None
    if bench:
        bench_config = _bench_config(
            steps=bench_steps, dtype=bench_dtype or _default_dtype(bench_device), device=bench_device, min_seconds=bench_min_seconds
        )
    options = CrawlOptions(
        kind=kind, limit=limit, search=search, page_size=page_size, max_requests=max_requests,
        refresh=refresh, token=SETTINGS.token, bench=bench_config, author=author,
    )  # fmt: skip
    check_zoo_folder(zoo_dir, also=(STATE_FILE,))  # crawl checks it too, but this note would come first
    note_new_zoo_folder(zoo_dir)
    with tqdm(total=limit, unit="model", desc=f"crawl {kind}", disable=not SETTINGS.output.human) as bar:

        def on_model(summary) -> None:
            bar.update(1)
            bar.set_postfix(new=summary.crawled + summary.updated, requests=summary.requests, refresh=False)

        summary = crawl(zoo_dir, options, on_model=on_model)
    result = summary.to_dict()

    def human(console) -> None:
        rows = [
            ("listed", summary.listed),
            ("crawled (new)", summary.crawled),
            ("updated (new commit)", summary.updated),
            ("unchanged commit", summary.unchanged),
            ("flagged (excluded from profiling)", len(summary.flagged)),
            ("incomplete (retried next run)", summary.incomplete),
            ("downloads or likes updated", summary.counts_updated),
            ("not listed: checked on the Hub, a request each", summary.unlisted_checked),
            ("not listed: gone from the Hub (flagged, kept)", summary.gone),
        ]
        if summary.unlisted_unanswered:
            rows.append(("not listed: no answer from the Hub (checked next run)", summary.unlisted_unanswered))
        if bench:
            rows.append(("benchmarked", summary.benchmarked))
        rows += [(f"skipped: {reason}", count) for reason, count in sorted(summary.skipped.items())]
        rows += [("Hub requests", summary.requests), ("pages saved", summary.pages)]
        console.print(table(f"crawl {kind} → {zoo_dir}", ["", "models"], rows))
        if summary.flagged:
            console.print(table("flagged", ["model", "reason"], sorted(summary.flagged.items())))
        if summary.stopped:
            console.print(f"Stopped early: {summary.stopped}")

    SETTINGS.output.result(result, human)


@cli.command("bench")
@click.argument("model", required=False)
@click.option("--revision", default=None, callback=check_revision,
              help="Branch, tag or commit sha of a Hub model; MODEL is then the Hub repo, even where a folder of that name exists.")
@click.option("--random-weights", "arch", default=None,
              help="Benchmark an architecture with random weights instead of MODEL (e.g. sd15: Stable Diffusion 1.5).")
@click.option("--resolution", type=int, default=None, help="Image side in pixels (default: the model's native resolution).")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True, help="Denoising steps per image.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Images per pipeline call.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default=None,
              help="Weights dtype (default: float16 on CUDA, float32 on CPU and MPS).")
@click.option("--device", default="auto", show_default=True, callback=check_device,
              help="cpu, cuda, cuda:N, mps or auto (CUDA, then MPS, then CPU).")
@click.option("--warmup", type=click.IntRange(min=0), default=1, show_default=True, help="Unmeasured calls first.")
@click.option("--min-iterations", type=click.IntRange(min=1), default=3, show_default=True, help="Measure at least this many calls ...")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=5.0, show_default=True, help="... and for at least this long.")
@click.option("--zoo", "zoo_dir", default=None, type=NonEmptyPath(path_type=Path, file_okay=False),
              help="Record the figures in this zoo folder's record of MODEL (checked before measuring), in place of "
                   "any it held; a note says what a figure measured with other settings was.")
@common_options
def bench_command(model, revision, arch, resolution, steps, batch, dtype, device, warmup, min_iterations, min_seconds, zoo_dir) -> None:
    """Measure images/s, per-step denoiser latency (p50/p90) and peak memory of a T2I pipeline.

    MODEL is a local diffusers folder or a Hub id (safetensors weights only; no repo code is run).
    A folder wins over a Hub id spelled the same, unless --revision is given.
    """

    from hubselect.bench import bench_model

    if (model is None) == (arch is None):
        raise click.UsageError("pass exactly one of MODEL or --random-weights ARCH")
    if zoo_dir is not None and arch is not None:
        raise click.UsageError("--zoo records a crawled model's figures; random-weights runs are not recorded")
    config = _bench_config(
        resolution=resolution, steps=steps, batch=batch, dtype=dtype or _default_dtype(device), device=device,
        warmup=warmup, min_iterations=min_iterations, min_seconds=min_seconds,
    )  # fmt: skip
    # --zoo is checked against the model id and revision the figures will carry, before measuring:
    # a run that could not be recorded is refused at once, not after minutes of measurement.
    check = functools.partial(_check_recordable, zoo_dir) if zoo_dir is not None else None
    report = bench_model(model, config, revision=revision, random_weights=arch, token=SETTINGS.token, check=check)
    result = report.to_dict()
    if zoo_dir is not None:
        result["replaced"] = _record(zoo_dir, report)

    def human(console) -> None:
        rows = [
            ("images/s", f"{report.images_per_s:.3f}"),
            ("denoiser it/s", f"{report.denoiser_it_per_s:.2f}"),
            ("denoiser step p50", f"{report.denoiser_step_ms_p50:.2f} ms"),
            ("denoiser step p90", f"{report.denoiser_step_ms_p90:.2f} ms"),
            ("peak memory", f"{report.peak_memory_mb:.0f} MiB ({report.memory_measure})" if report.peak_memory_mb is not None else "–"),
            ("settings", f"{report.resolution}px, {report.steps} steps, batch {report.batch}, {report.dtype}"),
            ("device", report.device),
            ("measured", f"{report.iterations} calls in {report.seconds:.1f} s"),
        ]
        console.print(table(f"bench {report.model}", ["", "value"], rows))

    SETTINGS.output.result(result, human)


def _check_recordable(zoo_dir: Path, model: str, revision: str | None, zoo=None):
    """The zoo's record of ``model``, which figures measured at ``revision`` may update; else a
    one-line :class:`InputError`. ``zoo``: the zoo as read under its lock (default: read it now)."""
    from hubselect.zoo import Zoo, check_zoo_folder

    if zoo is None:
        if not (zoo_dir / "zoo.json").is_file():
            raise InputError(f"{zoo_dir} is not a zoo; crawl into it first (`hubselect crawl --zoo {shlex.quote(str(zoo_dir))}`)")
        check_zoo_folder(zoo_dir)  # one it cannot write, too: the figures are recorded after the measuring
        zoo = Zoo.load(zoo_dir)
    previous = next((r for r in zoo.model_records() if r.model == model), None)
    if previous is None:
        raise InputError(f"{model} is not in the zoo {zoo_dir}; crawl it first, or drop --zoo")
    if previous.revision and revision is None:
        # Figures of a local folder (no revision) spelled like the crawled Hub repo: recorded
        # under the Hub model, they would claim that commit's speed for other weights.
        raise InputError(
            f"{model} is the local folder ./{model} here, not the Hub repo {model} the zoo holds at {previous.revision[:12]}; "
            f"pass --revision {previous.revision} to benchmark the Hub repo, or drop --zoo"
        )
    if previous.revision and revision and previous.revision != revision:
        raise InputError(
            f"the zoo holds {model} at {previous.revision[:12]} but these figures are of {revision[:12]}; "
            f"recrawl it first, or pass --revision {previous.revision}"
        )
    return previous


def _record(zoo_dir: Path, report) -> dict | None:
    """Put ``report``'s figures in the zoo's record of its model, in place of any it held; a
    note says what a replaced figure was measured with, where that differs (a quick CPU figure
    over an hour's GPU one must not pass unnoticed). Returns that figure and its settings, for
    the JSON result, where notes are silent; ``None`` where none was replaced so."""
    from hubselect.bench.throughput import describe_settings, figure_settings, named_settings
    from hubselect.crawl.safety import NOT_FLAGGED
    from hubselect.zoo import ModelRecord, Zoo, update_zoo

    replaced = []

    def add(zoo: Zoo) -> Zoo:
        previous = _check_recordable(zoo_dir, report.model, report.revision, zoo)  # again: another process may have changed it
        features = report.to_features()
        settings = figure_settings(previous.features)
        if settings is not None and settings[:5] != figure_settings(features)[:5]:
            replaced.append({
                "throughput_images_per_s": previous.features["throughput_images_per_s"],
                "settings": named_settings(settings),
            })  # fmt: skip
        zoo.add_models([ModelRecord(previous.model, previous.revision, {**previous.features, **features, "bench_error": NOT_FLAGGED})])
        return zoo

    update_zoo(zoo_dir, add)
    for figure in replaced:
        SETTINGS.output.info(
            f"note: {zoo_dir} held another figure of {report.model}, measured with other settings, which this one replaces: "
            f"{figure['throughput_images_per_s']:.3g} images/s on {describe_settings(tuple(figure['settings'].values()))}"
        )
    return replaced[0] if replaced else None
