"""The demo's stages, run in a process of their own whose Hub is a loopback server.

``huggingface_hub`` and ``datasets`` read ``HF_ENDPOINT`` (and their cache paths) when they are
imported, so :func:`hubselect.demo.run.run_demo` starts this module as a child process with
the environment already pointing at a free loopback port and at a private cache; this module
starts :class:`~hubselect.testing.LoopbackHub` on that port and runs every stage against it
with the library calls the commands make:

1. datasets: procedural images → parquet → ``HfApi.upload_folder`` (dataset repos);
2. models: pre-trained on their domain mixes (worker processes) → ``HfApi.upload_folder``;
3. crawl: :func:`hubselect.crawl.crawl` lists and reads them (the t2i crawler plugin);
4. probe: :func:`hubselect.data.profile_dataset` + :func:`~hubselect.data.add_to_zoo`
   (features, Fréchet statistics, distances);
5. profile: :func:`hubselect.profile.profile_grid` (LoRA, FID before/after; the jobs run in
   worker processes, one writer journals the records);
6. evaluate: :func:`hubselect.rank.evaluate` (leave-one-dataset-out, method vs baselines);
7. build: :meth:`hubselect.rank.Ranker.fit` / ``save``;
8. push: :meth:`hubselect.zoo.Zoo.push` to the loopback Hub, then :meth:`~hubselect.zoo.Zoo.pull`
   back into ``OUT/zoo``; the score heatmap;
9. recommend: :func:`hubselect.recommend` for each held-out dataset (and, optionally, every
   model fine-tuned on it too, to see whether the recommendation was right).

Everything is written under ``OUT``; ``OUT/demo.json`` is the run's summary.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hubselect.jsonable import finite  # standard library only: safe before HF_ENDPOINT is set
from hubselect.demo.paths import WORK_FOLDER  # standard library only, too
from hubselect.workers import worker_pool  # standard library only, too

log = logging.getLogger("hubselect.demo")

#: Files of the run's output folder.
SUMMARY_FILE = "demo.json"
EVALUATION_FILE = "evaluation.json"
HEATMAP_FILE = "scores.png"
RECOMMENDATIONS_FILE = "recommendations.json"
ZOO_REPO = "demo-zoo"
#: In OUT/.work: the datasets and models published to the loopback Hub, with their commits (and
#: a model's pre-training summary), for a rerun of the same settings to reuse.
PUBLISHED_FILE = "published.json"


class Stages:
    """Times each stage and tells the user what is happening (stderr)."""

    def __init__(self, total: int, progress: bool) -> None:
        self.total, self.progress, self.number = total, progress, 0
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextmanager
    def stage(self, name: str, message: str) -> Iterator[None]:
        self.number += 1
        if self.progress:
            print(f"[{self.number}/{self.total}] {message}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 2)

    def note(self, message: str) -> None:
        if self.progress:
            print(f"      {message}", file=sys.stderr, flush=True)


def _init_worker() -> None:
    import torch
    from huggingface_hub.utils import disable_progress_bars

    torch.set_num_threads(1)
    disable_progress_bars()  # the driver's bars say what the workers do


def _pretrain_task(name: str, folder: str, scale: float) -> dict[str, Any]:
    from hubselect.demo.pretrain import DEMO_MODELS, pretrain_pipeline

    model = next(m for m in DEMO_MODELS if m.name == name)
    return pretrain_pipeline(model, folder, steps_scale=scale)


class PoolExecutor:
    """Profile jobs in worker processes (one torch thread each); outcomes as they finish.

    The grid driver stays in this process and is the zoo's only writer; workers only compute.
    """

    name = "processes"

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.pool = pool

    def run(self, jobs):
        from hubselect.profile.executors import JobOutcome, execute
        from hubselect.zoo import ProfileRecord

        pending: dict[Future, Any] = {self.pool.submit(execute, job): job for job in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001  (the worker died: the job fails, the grid goes on)
                    result = {"record": None, "error": f"the worker failed: {type(exc).__name__}: {exc}"}
                record = ProfileRecord.from_row(result["record"]) if result.get("record") else None
                yield JobOutcome(job, record, result.get("error"), float(result.get("seconds") or 0.0))


def _specs(config):
    from hubselect.demo.data import DEMO_DATASETS, HELD_OUT_DATASETS
    from hubselect.demo.pretrain import DEMO_MODELS

    models = [next(m for m in DEMO_MODELS if m.name == n) for n in config.models]
    datasets = [next(d for d in DEMO_DATASETS if d.name == n) for n in config.datasets]
    held_out = [next(d for d in HELD_OUT_DATASETS if d.name == n) for n in config.held_out]
    return models, datasets, held_out


def build(out: Path, config, *, progress: bool = True) -> dict[str, Any]:
    """Run every stage into ``out`` (the loopback Hub must already serve on ``HF_ENDPOINT``)."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import disable_progress_bars, tqdm

    from hubselect.crawl import CrawlOptions, crawl
    from hubselect.data.profile import add_to_zoo, profile_dataset
    from hubselect.demo.data import write_image_folder, write_parquet_dataset
    from hubselect.demo.paths import demo_probe_ref
    from hubselect.graph import Node2VecConfig
    from hubselect.machine import machine_summary
    from hubselect.plots import score_heatmap
    from hubselect.profile import EvalConfig, LoraRecipe, profile_grid
    from hubselect.rank import Ranker, RankerConfig, evaluate
    from hubselect.rank.ranker import RANKER_FILE
    from hubselect.zoo import Zoo, update_zoo

    started = time.perf_counter()
    token = os.environ["HF_TOKEN"]
    ns = config.namespace
    api = HfApi(token=token)
    models, datasets, held_out = _specs(config)
    work = out / WORK_FOLDER
    zoo_dir = work / "zoo"
    stages = Stages(9, progress)
    # The figures depend on the CPU's float rounding (hubselect.machine): they say where they were made.
    summary: dict[str, Any] = {"config": config.to_dict(), "hub": os.environ.get("HF_ENDPOINT"), "machine": machine_summary()}

    def publish(repo_id: str, folder: Path, repo_type: str, **about: Any) -> None:
        # The stage's own bar says what is happening; the client's per-file bars would bury it.
        with disable_progress_bars():
            api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
            commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type=repo_type, commit_message=f"add {repo_id}").oid
        _note_published(work, repo_id, {"type": repo_type, "commit": commit, **about})

    # What a run of these settings left in OUT/.work (--keep-work, or Ctrl-C) is not built again.
    kept = _kept_published(work, api)
    reused_models = {m.name: kept[f"{ns}/{m.name}"]["pretraining"] for m in models if f"{ns}/{m.name}" in kept}
    summary["reused"] = {"datasets": [f"{ns}/{d.name}" for d in datasets if f"{ns}/{d.name}" in kept], "models": [f"{ns}/{m}" for m in reused_models]}

    with worker_pool(config.workers, _init_worker) as pool:
        # Pre-training is the longest stage: start it first, longest models first.
        model_dirs = {m.name: work / "models" / m.name for m in models}
        order = sorted(
            (m for m in models if m.name not in reused_models),
            key=lambda m: -(m.vae_steps + m.unet_steps) * (m.arch.block_out_channels[-1] if m.arch.block_out_channels else 1),
        )
        pretraining = {pool.submit(_pretrain_task, m.name, str(model_dirs[m.name]), config.pretrain_scale): m for m in order}

        fresh = [spec for spec in datasets if f"{ns}/{spec.name}" not in kept]
        what = f"Generating {len(datasets)} datasets × {config.images} images and publishing them to the loopback Hub"
        if len(fresh) < len(datasets):
            what = f"Reusing {len(datasets) - len(fresh)} of {len(datasets)} datasets the kept work published to the loopback Hub"
            what += f"; generating and publishing the other {len(fresh)}" if fresh else ""
        with stages.stage("datasets", what):
            for spec in tqdm(fresh, desc="Datasets", unit="dataset", disable=not progress or not fresh):
                publish(f"{ns}/{spec.name}", write_parquet_dataset(work / "datasets" / spec.name, spec, n=config.images), "dataset")
            dataset_ids = [f"{ns}/{spec.name}" for spec in datasets]
            examples = {spec.name: write_image_folder(out / "examples" / spec.name, spec, n=config.example_images) for spec in held_out}

        what = f"Pre-training {len(models)} tiny text-to-image models on their domain mixes ({config.workers} workers)"
        if reused_models:
            what = f"Reusing {len(reused_models)} of {len(models)} tiny text-to-image models the kept work pre-trained and published"
            what += f"; pre-training the other {len(order)} ({config.workers} workers)" if order else ""
        with stages.stage("models", what):
            pretrained: dict[str, Any] = dict(reused_models)
            bar = tqdm(total=len(order), desc="Pre-training", unit="model", disable=not progress or not order)
            with bar:
                for future in _as_completed(pretraining):
                    model = pretraining[future]
                    pretrained[model.name] = future.result()
                    publish(f"{ns}/{model.name}", model_dirs[model.name], "model", pretraining=pretrained[model.name])
                    bar.update(1)
            summary["pretraining"] = [pretrained[m.name] for m in models]

        with stages.stage("crawl", f"Crawling the loopback Hub for text-to-image pipelines by {ns}"):
            crawled = crawl(zoo_dir, CrawlOptions(kind="t2i", author=ns, token=token))
            unchanged = f", {crawled.unchanged} unchanged since the kept run's crawl" if crawled.unchanged else ""
            stages.note(f"{crawled.crawled} models recorded{unchanged}, {len(crawled.flagged)} flagged, {sum(crawled.skipped.values())} skipped")
            summary["crawl"] = crawled.to_dict()

        probe_ref = demo_probe_ref()
        with stages.stage("probe", f"Profiling the datasets with the demo probe ({probe_ref.id}): features, Fréchet statistics, distances"):
            probe = probe_ref.load(device="cpu")
            profiles = [
                profile_dataset(dataset_id, probe=probe, n=config.images, token=token, device="cpu")
                for dataset_id in tqdm(dataset_ids, desc="Dataset profiles", unit="dataset", disable=not progress)
            ]

            def add_profiles(zoo: Zoo) -> Zoo:
                for profile in profiles:
                    add_to_zoo(zoo, profile)
                return zoo

            update_zoo(zoo_dir, add_profiles)  # under the zoo's lock, as every writer of a zoo folder

        recipe = LoraRecipe(steps=config.lora_steps, rank=config.lora_rank, learning_rate=config.learning_rate, batch_size=config.batch_size)
        evaluation = EvalConfig(
            sample_size=config.images,
            min_images=8,
            holdout=config.holdout,
            num_images=config.num_images,
            inference_steps=config.inference_steps,
            generation_batch=config.num_images,
            guidance_scale=config.guidance_scale,
            curve_points=0,
        )
        grid_options = {
            "methods": "lora", "recipes": {"lora": recipe}, "evaluation": evaluation, "probe": probe_ref,
            "seed": config.seed, "device": "cpu", "threads": 1, "token": token,
        }
        model_ids = [f"{ns}/{m.name}" for m in models]
        jobs = len(model_ids) * len(dataset_ids)
        with stages.stage("profile", f"Fine-tuning every model on every dataset (LoRA, {config.lora_steps} steps) and scoring it: {jobs} jobs"):
            grid = profile_grid(model_ids, dataset_ids, zoo_dir, executor=PoolExecutor(pool), progress=progress, **grid_options)
            if grid.failed:
                first = grid.failed[0]
                raise RuntimeError(f"{len(grid.failed)} profiling job(s) failed, e.g. {first['model']} × {first['dataset']}: {first['reason']}")
            summary["reused"]["records"] = grid.skipped  # fine-tuning results the kept zoo held: not made again
            kept = f"; {grid.skipped} kept from the kept run's zoo" if grid.skipped else ""
            stages.note(f"{grid.done} records in {grid.seconds:.0f}s{kept}")
            check = None
            if config.check_held_out and held_out:
                # Ground truth for the recommendation: fine-tune every model on the held-out
                # datasets too, into a zoo of their own (the demo zoo never sees them).
                check = profile_grid(
                    model_ids, [str(examples[s.name]) for s in held_out], work / "held-out-zoo", executor=PoolExecutor(pool),
                    progress=progress, **{**grid_options, "evaluation": EvalConfig(**{**evaluation.to_dict(), "sample_size": config.example_images})},
                )

    zoo = Zoo.load(zoo_dir).for_method("lora")
    ranker_config = RankerConfig(seed=config.seed, node2vec=Node2VecConfig(seed=config.seed))
    with stages.stage("evaluate", f"Leave-one-dataset-out evaluation over {len(dataset_ids)} datasets: the method vs every baseline"):
        report = evaluate(zoo, None, ranker_config, progress=stages.note if progress else None, jobs=config.workers)
        (out / EVALUATION_FILE).write_text(json.dumps(finite(report), indent=2) + "\n")

    with stages.stage("build", "Building the ranker on every result"):
        ranker = Ranker.fit(zoo, ranker_config)
        if not (out / "ranker" / RANKER_FILE).is_file():
            _replace_dir(out / "ranker")  # what an interrupted save left, if anything: no ranker to keep files beside
        ranker.save(out / "ranker")  # over an earlier run's ranker: rebuilt as `build` does, the files put beside it kept

    with stages.stage("push", f"Pushing the zoo to the loopback Hub as {ns}/{ZOO_REPO} and pulling it back"):
        with disable_progress_bars():
            revision = zoo.push(f"{ns}/{ZOO_REPO}", token=token, message="hubselect demo zoo")
            pulled = Zoo.pull(f"{ns}/{ZOO_REPO}", revision=revision, token=token)
        _replace_dir(out / "zoo")
        pulled.save(out / "zoo")
        score_heatmap(pulled, out / HEATMAP_FILE, title="demo zoo: FID after LoRA fine-tuning, per dataset (1 = best model there)")

    with stages.stage("recommend", f"Recommending models for {len(held_out)} dataset(s) the zoo has never seen"):
        recommendations = _recommend(out, examples, check)
        (out / RECOMMENDATIONS_FILE).write_text(json.dumps(finite(recommendations), indent=2) + "\n")

    summary.update(
        {
            "models": model_ids,
            "datasets": dataset_ids,
            "zoo": pulled.summary() | {"repo": f"{ns}/{ZOO_REPO}", "revision": revision},
            "probe": {"id": probe_ref.id, "revision": probe_ref.revision},
            "evaluation": {"method": report["method"], "baselines": report["baselines"], "margins": report["margins"], "targets": len(report["targets"])},
            "recommendations": recommendations,
            "stages": stages.seconds,
            "seconds": round(time.perf_counter() - started, 2),
            "files": {
                "zoo": "zoo",
                "ranker": "ranker",
                "evaluation": EVALUATION_FILE,
                "heatmap": HEATMAP_FILE,
                "recommendations": RECOMMENDATIONS_FILE,
                "examples": "examples",
            },
        }
    )
    return summary


def _kept_published(work: Path, api) -> dict[str, dict[str, Any]]:
    """The repos an earlier run published to the loopback Hub kept in ``work``, still at the
    commit it noted (:func:`_note_published`): repo id → the note (``pretraining``: a model's).

    ``start_work`` keeps ``OUT/.work`` only for a run of the same settings and the same
    hubselect code, and datasets and pre-training are deterministic: those repos hold what this
    run would publish. Reusing
    them saves the pre-training (the longest stage) and the empty commits of a second upload.
    """
    from huggingface_hub.errors import HfHubHTTPError

    try:
        noted = json.loads((work / PUBLISHED_FILE).read_text())
    except (OSError, ValueError):
        return {}
    kept = {}
    for repo_id, note in noted.items():
        try:
            if api.repo_info(repo_id, repo_type=note["type"]).sha == note["commit"]:
                kept[repo_id] = note
        except HfHubHTTPError:  # not on the kept Hub any more: published again
            continue
    return kept


def _note_published(work: Path, repo_id: str, note: dict[str, Any]) -> None:
    """Note in ``work`` that ``repo_id`` is published (after its upload: an interrupted one is done again)."""
    path = work / PUBLISHED_FILE
    try:
        noted = json.loads(path.read_text())
    except (OSError, ValueError):
        noted = {}
    noted[repo_id] = note
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(finite(noted), indent=2) + "\n")
    partial.replace(path)


def _as_completed(futures):
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        yield from done


def _recommend(out: Path, examples: dict[str, Path], check) -> list[dict[str, Any]]:
    """``hubselect.recommend`` on each held-out folder, with the fine-tuned truth when measured."""
    import hubselect

    truth: dict[str, dict[str, float]] = {}
    if check is not None:
        for record in check.records:
            truth.setdefault(Path(record.dataset).name, {})[record.model] = record.score
    results = []
    for name, folder in examples.items():
        result = hubselect.recommend(str(folder), zoo=str(out / "zoo"), ranker=str(out / "ranker"), top_k=100)
        ranked = [r.model for r in result.recommendations]
        entry: dict[str, Any] = {
            "dataset": name,
            "folder": str(folder.relative_to(out)),
            "nearest": result.dataset["nearest"][:3],
            "recommendations": [{"rank": r.rank, "model": r.model, "predicted_fid": r.score} for r in result.recommendations],
        }
        scores = truth.get(name)
        if scores:
            actual = sorted(scores, key=lambda m: scores[m])
            best = min(scores.values())
            entry["fine_tuned"] = {m: round(scores[m], 4) for m in actual}
            entry["actual_best"] = actual[0]
            entry["top1_hit"] = scores.get(ranked[0]) == best
            entry["actual_rank_of_top1"] = actual.index(ranked[0]) + 1 if ranked[0] in actual else None
        results.append(entry)
    return results


def _replace_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds as Ctrl-C does: the workers terminated, the loopback Hub stopped


#: Set by run_demo: the process this one must not outlive.
PARENT_VARIABLE = "HUBSELECT_DEMO_PARENT"


def _stop_when_orphaned(parent: int, every: float = 0.5) -> None:
    """Stop this process as Ctrl-C does once ``parent`` is gone (a daemon thread polls).

    run_demo stops this process itself however it ends, except when it cannot: SIGKILL, Ctrl-\\
    (SIGQUIT), ``kill -9 -- -PGID`` (a supervisor cancelling the job). This process is in a
    group of its own, so none of those reach it: orphaned, it went on for minutes, writing to
    a terminal whose prompt was back. (Polling, not ``PR_SET_PDEATHSIG``: that is Linux's
    only, and fires when the thread that started us ends, not the process.)
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # wakes a main thread blocked on a job

    threading.Thread(target=watch, name="stop-when-orphaned", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """``python -m hubselect.demo.pipeline OUT CONFIG_JSON [--quiet] [--keep-work]`` (started by run_demo).

    Exits 130 on SIGINT (which run_demo sends it on Ctrl-C, SIGTERM and SIGHUP; hubselect's CLI
    then says it was interrupted) or once run_demo's process is gone (:func:`_stop_when_orphaned`),
    and 143 on a SIGTERM sent to it alone: with no traceback, once its workers are gone.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    progress = "--quiet" not in args
    keep = "--keep-work" in args
    positional = [a for a in args if not a.startswith("--")]
    out, config_json = Path(positional[0]), positional[1]
    logging.basicConfig(level=os.environ.get("HUBSELECT_DEMO_LOG", "WARNING"), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    from hubselect.demo.config import DemoConfig
    from hubselect.testing.hub import LoopbackHub

    config = DemoConfig.from_dict(json.loads(config_json))
    port = int(os.environ["HF_ENDPOINT"].rsplit(":", 1)[1])
    out.mkdir(parents=True, exist_ok=True)
    # Even where SIGINT came ignored (``hubselect demo &`` in a script): it is how run_demo stops us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    _stop_when_orphaned(int(os.environ.get(PARENT_VARIABLE, os.getppid())))
    try:
        with LoopbackHub(out / WORK_FOLDER / "hub", port=port):
            summary = build(out, config, progress=progress)
    except KeyboardInterrupt:
        return 130
    if not keep:
        shutil.rmtree(out / WORK_FOLDER, ignore_errors=True)
    (out / SUMMARY_FILE).write_text(json.dumps(finite(summary), indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
