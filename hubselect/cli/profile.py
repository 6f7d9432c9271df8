"""``hubselect profile``: fine-tune and score a grid of models × datasets into a zoo."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from hubselect.cli import SETTINGS, NonEmptyPath, check_device, check_probe, cli, common_options, note_new_zoo_folder, seed_option
from hubselect.cli.output import table
from hubselect.profile.recipes import METHODS


#: How many models (or failed models) a list of what --zoo-models left out shows; --format json lists them all.
SHOWN = 5
_ALL_IN_JSON = " (--format json lists them all)"


def _first_few(names: list[str]) -> str:
    """``a, b, c, d, e and 7 more``: the first :data:`SHOWN` names, and how many more.

    >>> _first_few(["a", "b"])
    'a, b'
    """
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _cut(*lists: list) -> bool:
    """Whether :func:`_first_few` leaves out some of ``lists``' names."""
    return any(len(names) > SHOWN for names in lists)


@cli.command("profile")
@click.option("--models", default=None, help="Comma-separated Hub model ids (org/name[@revision]) or local pipeline folders (named by the folder's name in the zoo).")
@click.option("--zoo-models", is_flag=True,
              help="Instead of --models: the zoo's crawled models that may be profiled (pipelines, not flagged), most downloaded first, "
                   "that lack a result on one of --datasets with one of --methods (a failed job, or a result made from files "
                   "main no longer holds, counts as lacking: it runs again; a card edit changes no result; the zoo remembers failed jobs). "
                   "A job that failed twice at the commits its model and dataset are at now is left out, and listed, until one of them "
                   "moves (see --retry-failed). A dataset of --datasets no job could read as given (a card that now has several configs "
                   "and none the default, say) is left out, and listed, and the run exits 2 once the others are profiled.")
@click.option("--max-models", type=click.IntRange(min=1), default=None,
              help="With --zoo-models: profile at most N models in this run: those with a job never tried first, then those whose "
                   "results are outdated, then those whose jobs failed once before at the commits they are at now (a new commit counts as never tried).")
@click.option("--retry-failed", is_flag=True,
              help="With --zoo-models: also run the jobs that failed twice at the commits their model and dataset are at now "
                   "(left out otherwise), after the others: once what made them fail is fixed on this side (a token with access, more memory).")
@click.option("--datasets", required=True, help="Comma-separated Hub dataset ids (org/name[:config][@revision]), image folders or .parquet files (named by the folder's or file's name in the zoo). "
                                                 "A Hub dataset no job could read as given (a card with several configs and none the default, no such config or split) "
                                                 "is refused before any job runs.")
@click.option("--methods", default="lora", show_default=True, help=f"Comma-separated fine-tuning methods: {', '.join(METHODS)}.")
@click.option("--zoo", "zoo_dir", required=True, type=NonEmptyPath(path_type=Path, file_okay=False),
              help="Zoo folder the records go to (created if missing); jobs it already holds are skipped.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run jobs one by one here, or as Ray tasks (a local Ray cluster unless RAY_ADDRESS/--ray-address names one).")
@click.option("--ray-address", default=None, help="Address of a running Ray cluster (default: start a local one).")
@click.option("--push", "push_to", default=None, metavar="ORG/NAME",
              help="Offer this grid's records to the zoo repo ORG/NAME on the Hub as a pull request (the repo must exist: "
                   "`hubselect zoo push ZOO --repo ORG/NAME` creates one; checked before any job runs).")
@click.option("--force", is_flag=True, help="Run jobs again even if the zoo holds them.")
# recipe
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Training steps (default per method: lora 500, dreambooth 200, textual-inversion 3000).")
@click.option("--learning-rate", type=float, default=None, help="Learning rate (default per method: lora 1e-4, dreambooth 1e-6, textual-inversion 5e-4).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Training batch size (default 1).")
@click.option("--resolution", type=click.IntRange(min=8), default=None, help="Training/generation resolution (default: the model's native one).")
@click.option("--rank", type=click.IntRange(min=1), default=None, help="LoRA rank (default 4).")
@click.option("--mixed-precision", type=click.Choice(["auto", "no", "fp16", "bf16"]), default=None,
              help="Half precision on a GPU (auto: bf16 where supported, else fp16; always float32 on CPU).")
@click.option("--gradient-checkpointing", is_flag=True, default=None, help="Trade compute for memory; the results are the same, so jobs done without it are not redone.")
@click.option("--class-word", default=None, help="Class noun of the caption template 'a photo of <token> <class>' (default 'object').")
@click.option("--prior-preservation", is_flag=True, default=None,
              help="DreamBooth: add the prior-preservation loss on 100 class images the base model generates (25 denoising steps each) "
                   "before training; generated once per model, class word, seed and resolution, and kept in hubselect's cache "
                   "(class-images/ in HUBSELECT_CACHE, default HF_HOME/hubselect; 30-45 MB for a 512-px model) for the model's next "
                   "jobs, until no job has used them for 30 days.")
# evaluation
@click.option("--sample-size", type=click.IntRange(min=3), default=None, help="Images read from each dataset, train + held out (default 100).")
@click.option("--min-images", type=click.IntRange(min=3), default=None, help="Fewest decodable images a dataset needs (default 8).")
@click.option("--num-images", type=click.IntRange(min=2), default=None, help="K: images generated before and after fine-tuning (default 32).")
@click.option("--inference-steps", type=click.IntRange(min=1), default=None, help="Denoising steps per generated image (default 25).")
@click.option("--curve-points", type=click.IntRange(min=0), default=None, help="Checkpoints scored for the fidelity/editability curve (default 4).")
@click.option("--early-stop", is_flag=True, default=None, help="Stop training when editability falls well below its best.")
@click.option("--probe", default=None, callback=check_probe, help="Feature extractor for FID and CLIP-I/CLIP-T: a CLIP model (Hub id or folder) or 'inception' (default: the probe the zoo's results of the method were scored with, at that revision, and another one is refused: FIDs from two probes are not comparable; for a zoo with no results yet, the probe its datasets were profiled with, at that revision; else openai/clip-vit-base-patch32).")
@click.option("--dino-probe", default=None, callback=check_probe, help="A DINO/DINOv2 backbone (Hub id or folder) for the DINO score (default: none).")
# data and execution
@seed_option("Seed of the sample, the split, training and generation.")
@click.option("--split", default="train", show_default=True,
              help="Split of Hub datasets. A dataset the zoo holds a profile of (`hubselect dataset profile`) is refused on another split "
                   "than the profile's, and one it holds results of but no profile, on another split than its results' (of any method); "
                   "`hubselect dataset profile DATASET --split S --force` moves it to split S, then its results are redone here.")
@click.option("--caption-column", default=None, help="Column holding the captions (default: detected; none → the template).")
@click.option("--image-column", default=None, help="Column holding the images (default: detected).")
@click.option("--device", default="auto", show_default=True, callback=check_device, help="auto, cpu, cuda, cuda:1, mps.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch CPU threads per job (default: torch's for local, 1 for ray).")
@click.option("--weights-dir", type=NonEmptyPath(path_type=Path, file_okay=False), default=None, help="Keep the trained weights here.")
@common_options
def profile(models: str | None, zoo_models: bool, max_models: int | None, retry_failed: bool, datasets: str, methods: str, zoo_dir: Path,
            executor: str, ray_address: str | None, push_to: str | None, force: bool, **options) -> None:
    """Fine-tune every model on every dataset with every method, score it, and write the records
    into the zoo (FID after and before fine-tuning, CLIP-I, CLIP-T, DINO, cost, the overfitting
    curve).

    Idempotent and crash-safe: a job whose model, dataset, method and config hash the zoo
    already holds is skipped, and each record is written as soon as its job finishes. A job
    whose record was made from another revision of its model or dataset runs again, and its
    new record replaces the old one: for a Hub id, other files than the commit its @revision
    (default main) is at now holds (the files a job reads: a model's pipeline configs, weights
    and tokenizer files, a dataset's data files, for parquet also the repo's image files its
    rows may name; a commit that changed none of them, a card
    edit say, changes nothing, and the record then names that commit); for a local folder or
    .parquet file, other content. So does a job whose record read other columns, or another
    split (once the dataset moved to this one, as below).
    A Hub dataset's results and its zoo profile describe one split: a split other than the
    profile's (before it has one, than its results', of any method) is refused before any work;
    to move a dataset to another split, profile it on that split first (`hubselect dataset
    profile DATASET --split test --force`), then its jobs here run again on it ("split changed").
    So is a Hub dataset no job could read a sample of as given: a card with several configs
    and none the default (name one: ID:CONFIG), no such config, no files for the split, a
    repo the Hub does not have or does not let the token read (gated).
    A local folder or file is refused when the zoo holds results, under its name, made from
    another one that is still there with other content: rename one of them.

    With --zoo-models (and --max-models N), a scheduled refresh profiles what the zoo still
    lacks: new models, a dataset added to --datasets, jobs that failed last time, models and
    datasets whose main branch moved on to other files. Each failed job is noted in the zoo (pushed with it), so
    a model that fails at the commit it is at now (weights cut short, a deleted repo) is tried
    again only after the models never tried, once: a job that failed twice at the commits its
    model and dataset are at now is left out, and listed, until one of them moves (or with
    --retry-failed), and a run that only left such jobs out succeeds. Pipelines
    the recipes cannot fine-tune yet (SDXL, SD3, Flux: by the class the crawl recorded) are
    left out, and the output lists them.
    """
    from hubselect.errors import HubselectError, InputError, Terminated, stopping_on_signals
    from hubselect.hub.client import check_repo_id
    from hubselect.hub.contribute import check_zoo_repo
    from hubselect.profile.evaluation import EvalConfig
    from hubselect.profile.executors import make_executor
    from hubselect.profile.grid import (
        SourceRevisions, beyond_the_recipes, describe_reruns, existing_zoo, lacking_jobs, plan_jobs, profilable_models, push_grid, run_grid,
        unreadable_datasets,
    )
    from hubselect.profile.journal import JOURNAL_FILE, ZooWriter
    from hubselect.profile.recipes import parse_methods
    from hubselect.zoo import check_zoo_folder

    if (models is None) == (not zoo_models):
        raise InputError("say which models to profile: --models M1,M2 or --zoo-models (not both)")
    if max_models is not None and not zoo_models:
        raise InputError("--max-models limits --zoo-models; with --models, list the models you want")
    if retry_failed and not zoo_models:
        raise InputError("--retry-failed is for --zoo-models, which leaves out jobs that keep failing; with --models, every job listed runs")
    if zoo_models and force:
        raise InputError("--zoo-models picks what the zoo lacks, --force reruns what it holds; with --force, list the models with --models")
    method_names = parse_methods(methods)  # an unknown method fails before anything is read
    check_zoo_folder(zoo_dir, also=(JOURNAL_FILE,))  # ZooWriter checks it again, after the plan's Hub requests
    if push_to:
        # Not after hours of fine-tuning: the id, then (one request) that the zoo repo is there.
        check_repo_id(push_to, "--push", owner=True)
        check_zoo_repo(push_to, token=SETTINGS.token)
    runner = make_executor(executor, threads=options["threads"], address=ray_address)  # a cluster that does not answer, too
    recipe_overrides = {
        "steps": options["steps"], "learning_rate": options["learning_rate"], "batch_size": options["batch_size"],
        "resolution": options["resolution"], "rank": options["rank"], "mixed_precision": options["mixed_precision"],
        "gradient_checkpointing": options["gradient_checkpointing"], "class_word": options["class_word"],
        "prior_preservation": options["prior_preservation"],
    }
    eval_fields = {
        "sample_size": options["sample_size"], "min_images": options["min_images"], "num_images": options["num_images"],
        "inference_steps": options["inference_steps"], "curve_points": options["curve_points"], "early_stop": options["early_stop"],
    }
    evaluation = EvalConfig(**{k: v for k, v in eval_fields.items() if v is not None})
    held = existing_zoo(zoo_dir)
    unsupported: dict[str, str] = {}
    left_out: dict[str, str] = {}  # the --datasets --zoo-models leaves out: dataset → why no job could read it
    revisions = SourceRevisions()  # each Hub repo asked for its current commit once, for the plan and both steps below
    if zoo_models:
        if held is None:
            raise InputError(f"--zoo-models: {zoo_dir} holds no zoo; crawl models into it first (`hubselect crawl --zoo {shlex.quote(str(zoo_dir))}`)")
        models = profilable_models(held)
        unsupported = beyond_the_recipes(held)
    jobs = []
    # --zoo-models of a zoo with no profilable model: nothing to plan. An empty --models (an
    # unset shell variable) is planned, and plan_jobs refuses it before the zoo is created.
    if models or not zoo_models:
        if zoo_models:
            # A third-party card that gains a config (say) must not stop the weekly refresh of the
            # other datasets: that dataset is left out, and the run fails once they are profiled.
            left_out = unreadable_datasets(datasets, split=options["split"], zoo=held, revisions=revisions, token=SETTINGS.token)
            readable = [d.strip() for d in datasets.split(",") if d.strip() and d.strip() not in left_out]
            if left_out and not readable:
                raise InputError("; ".join(left_out.values()))
            datasets = ",".join(readable)
        jobs = plan_jobs(
            models, datasets, methods=method_names, recipe_overrides=recipe_overrides, evaluation=evaluation,
            probe=options["probe"], dino_probe=options["dino_probe"], seed=options["seed"], split=options["split"],
            image_column=options["image_column"], caption_column=options["caption_column"], device=options["device"],
            threads=options["threads"], weights_dir=str(options["weights_dir"]) if options["weights_dir"] else None,
            token=SETTINGS.token, zoo=held, revisions=revisions,
        )
    note_new_zoo_folder(zoo_dir)
    writer = ZooWriter(zoo_dir)  # created (or checked) once the plan holds
    most = evaluation.sample_size - evaluation.holdout_count(evaluation.sample_size)
    if jobs and options["batch_size"] is not None and options["batch_size"] > most:
        # Not an error (training still works), but every step repeats the same few images;
        # a dataset smaller than --sample-size trains on fewer still, which only its job knows.
        SETTINGS.output.info(f"note: --batch-size {options['batch_size']} is more than the {most} image{'s' if most > 1 else ''} a job trains on at most "
                             f"(--sample-size {evaluation.sample_size} less {evaluation.sample_size - most} held out): each step repeats them")
    held_back: list[str] = []
    failing: list = []  # the FailedJobs --zoo-models leaves out
    if zoo_models:
        lacking = lacking_jobs(jobs, writer, max_models=max_models, revisions=revisions, retry_failed=retry_failed)
        # The moved ones run nothing: run_grid writes their records at the commits now, as for --models.
        jobs, held_back, failing = lacking.jobs + lacking.moved, lacking.held_back, lacking.failing

    def report(outcome) -> None:
        # One line per failed job as it happens (the bar's own write keeps the bar intact);
        # finished jobs show in the bar and the closing table.
        if outcome.error:
            from huggingface_hub.utils import tqdm

            tqdm.write(f"failed: {outcome.job.describe()}: {outcome.error}", file=sys.stderr)

    kept = f"every finished job's record is kept in {zoo_dir}; rerun the same command to run the rest"
    try:
        # SIGTERM (CI cancelling the run, Slurm, Kubernetes) and SIGHUP stop it as Ctrl-C does.
        with stopping_on_signals():
            summary = run_grid(jobs, zoo_dir, executor=runner, force=force, progress=SETTINGS.output.human, on_outcome=report, writer=writer,
                               revisions=revisions)
    except KeyboardInterrupt:
        raise click.Abort(kept) from None
    except Terminated as exc:
        raise Terminated(exc.code, kept) from None
    summary.held_back, summary.failing_left_out = held_back, failing
    push_error = None
    if push_to:
        try:
            summary.pull_request = push_grid(jobs, writer, push_to, token=SETTINGS.token)
        except HubselectError as exc:  # the records are safe in the zoo: say so, then fail
            push_error = exc
    result = summary.to_dict()
    if zoo_models:
        result["beyond_the_recipes"] = unsupported
        result["datasets_left_out"] = left_out

    def human(console) -> None:
        # A refresh of a large zoo leaves out hundreds of models and jobs, every week: each list
        # shows its first few (--format json lists them all), so the results stay readable.
        if zoo_models and unsupported:
            by_class: dict[str, list[str]] = {}
            for model, pipeline_class in unsupported.items():
                by_class.setdefault(pipeline_class, []).append(model)
            listed = "; ".join(f"{c}: {_first_few(ms)}" for c, ms in sorted(by_class.items()))
            console.print(f"left out {len(unsupported)} model{'s' if len(unsupported) > 1 else ''} the recipes cannot fine-tune yet "
                          f"(SD 1.x/2.x-family pipelines only): {listed}{_ALL_IN_JSON if _cut(*by_class.values()) else ''}",
                          markup=False, highlight=False)
        if left_out:
            console.print(f"left out {len(left_out)} dataset{'s' if len(left_out) > 1 else ''} no job could read as given:", markup=False, highlight=False)
            for reason in left_out.values():
                console.print(f"  {reason}", markup=False, highlight=False)
        if failing:
            console.print(f"left out {len(failing)} job{'s' if len(failing) > 1 else ''} that failed at the commits {'they read' if len(failing) > 1 else 'it reads'} now "
                          "(retried when the model or dataset moves, or with --retry-failed):", markup=False, highlight=False)
            # A line per model (and error): a model that cannot be loaded fails the same way on every dataset.
            by_model: dict[tuple, list[str]] = {}
            for failure in failing:
                by_model.setdefault((failure.model, failure.method, failure.attempts, failure.error), []).append(failure.dataset)
            for (model, method, attempts, error), on in list(by_model.items())[:SHOWN]:
                datasets_failed = on[0] if len(on) == 1 else f"{len(on)} datasets"
                console.print(f"  {model} × {datasets_failed} ({method}): failed {attempts} times at this commit: {error}", markup=False, highlight=False)
            if len(by_model) > SHOWN:
                more = sum(len(on) for on in list(by_model.values())[SHOWN:])
                console.print(f"  … and {more} more job{'s' if more > 1 else ''}{_ALL_IN_JSON}", markup=False, highlight=False)
        if zoo_models and not jobs:
            left = " and ".join(what for what, there in (("datasets", left_out), ("jobs", failing)) if there)
            or_failed = f", but for the {left} left out above" if left else ""
            console.print(f"Nothing to profile: every model of {zoo_dir} that may be profiled has a result on each of --datasets{or_failed}"
                          if models else f"Nothing to profile: {zoo_dir} holds no model that may be profiled (crawl some with `hubselect crawl`)")
            return
        if summary.records:
            rows = [(r.model, r.dataset, r.method, r.score_before, r.score, r.metrics.get("clip_i"), r.metrics.get("clip_t"),
                     r.metrics.get("train_seconds")) for r in summary.records]
            console.print(table("new profile records", ["model", "dataset", "method", "FID before", "FID after", "CLIP-I", "CLIP-T", "train s"],
                                rows, numeric_format="{:.4g}"))
        moved = f"; {summary.moved} moved to a new commit of the same files" if summary.moved else ""
        console.print(f"{summary.total} jobs{describe_reruns(summary.reruns)}: {summary.done} done, {summary.skipped} skipped (already in {zoo_dir}{moved}), "
                      f"{len(summary.failed)} failed ({summary.seconds:.1f}s, executor {summary.executor})")
        for failure in summary.failed:
            console.print(f"  failed {failure['model']} × {failure['dataset']} ({failure['method']}): {failure['reason']}", markup=False, highlight=False)
        if held_back:
            at_now = "the commits they are" if len(held_back) > 1 else "the commit it is"
            all_in_json = "; --format json lists them all" if _cut(held_back) else ""
            console.print(f"held back {len(held_back)} model{'s' if len(held_back) > 1 else ''} whose jobs failed before at {at_now} at now: "
                          f"{_first_few(held_back)} (tried again when a run has room: raise --max-models{all_in_json})", markup=False, highlight=False)
        if summary.pull_request:
            console.print(f"Opened a pull request on {push_to}: {summary.pull_request}")
        elif push_to and push_error is None:
            console.print(f"Nothing to push: {push_to} already holds these records")

    SETTINGS.output.result(result, human)
    if push_error is not None:
        raise push_error
    if left_out:
        several = len(left_out) > 1
        failed = f"; {len(summary.failed)} of {summary.total} profiling jobs failed too (reasons above)" if summary.failed else ""
        raise InputError(
            f"left out dataset{'s' if several else ''} {', '.join(left_out)}, which no job could read as given (reason{'s' if several else ''} above){failed}; "
            f"the records of the other datasets are in {zoo_dir}: give {'each' if several else 'it'} in --datasets as {'its' if several else 'the'} reason says "
            f"(ID:CONFIG for a card of several configs), or drop {'them' if several else 'it'}"
        )
    if summary.failed:
        # A third-party repo cannot be fixed: --zoo-models runs try the others first from now on,
        # and stop trying it at this commit after a second failure, so the refresh turns green again.
        # Rerunning the same command helps a Hub hiccup, not a model that is no pipeline: each
        # reason says which it is.
        rerun = ("the zoo notes them: --zoo-models runs try models never tried before them, and leave out a job that failed twice "
                 "at the commits it reads (until its model or dataset moves, or --retry-failed)" if zoo_models else
                 "do what each reason says (another model or dataset, or a later try), then rerun: jobs with a record are skipped")
        raise HubselectError(
            f"{len(summary.failed)} of {summary.total} profiling jobs failed (reasons above); the records of the others are in {zoo_dir}: {rerun}"
        )
