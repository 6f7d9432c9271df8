"""``hubselect demo``: build the offline demo zoo end to end, and print how the method did."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from hubselect.cli import SETTINGS, NonEmptyPath, cli, common_options, seed_option
from hubselect.cli.output import margins_table, table

_METRICS = ("top1_hit", "top1_score", "rel1", "regret", "pearson", "spearman", "ndcg5")


@cli.command("demo")
@click.option("--out", "out", type=NonEmptyPath(path_type=Path, file_okay=False), default=Path("hubselect-demo"), show_default=True,
              help="Folder for the zoo, ranker, evaluation, heatmap and recommendations (created if missing).")
@click.option("--small", is_flag=True, help="3 models × 4 datasets with a token budget: the whole path in about a minute.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes for pre-training and profiling.")
@seed_option("Seed of the fine-tuning, the scoring and the ranker.")
@click.option("--keep-work", is_flag=True, help="Keep OUT/.work (the loopback Hub's repos, the pipelines, the caches, the zoo being built): a rerun with the "
                   "same settings and hubselect code reuses its results; one with other settings (--seed, --small) or code starts it afresh.")
@click.option("--update-bundle", is_flag=True,
              help="Then copy the result into the package as the bundled `demo` zoo (for maintainers; needs a writable install).")
@common_options
def demo_command(out: Path, small: bool, workers: int, seed: int, keep_work: bool, update_bundle: bool) -> None:
    """Build a micro zoo from nothing, offline, on CPU, and evaluate hubselect on it.

    Tiny text-to-image models of six architectures are pre-trained on different mixes of
    procedural image domains, published with small captioned datasets to a loopback Hub, then
    crawled, profiled (LoRA fine-tuning, FID before and after), probed, built into a ranker and
    evaluated leave-one-dataset-out against every baseline — the same calls the other commands
    make. It ends with a recommendation for datasets the zoo has never seen, and OUT/scores.png.
    About 7–12 minutes on 2 CPU cores, depending on the CPU (whose float rounding moves the
    figures, too), more on a busy machine.
    """
    from hubselect.demo.config import DemoConfig
    from hubselect.demo.run import run_demo

    if small and update_bundle:  # before minutes of work: a 3 × 4 zoo must not replace the shipped one
        raise click.UsageError("--update-bundle ships the full demo zoo, which the README's figures describe; drop --small")
    config = DemoConfig.small(workers=workers, seed=seed) if small else DemoConfig(workers=workers, seed=seed)
    result = run_demo(out, config, progress=SETTINGS.output.human, keep_work=keep_work)
    data = result.to_dict()
    if update_bundle:
        from hubselect.demo.bundle import update_bundle as copy_into_package

        data["bundle"] = copy_into_package(result)

    def human(console) -> None:
        evaluation = result.evaluation
        rows = [("method", *[evaluation["method"].get(k) for k in _METRICS])]
        rows += [(name, *[values.get(k) for k in _METRICS]) for name, values in evaluation["baselines"].items()]
        zoo = result.summary["zoo"]
        console.print(table(
            f"leave-one-dataset-out over {evaluation['targets']} datasets of the demo zoo "
            f"({zoo['models']} models; FID after LoRA fine-tuning, lower is better)",
            ["", *_METRICS], rows,
        ))
        if "margins" in evaluation:
            console.print(margins_table(evaluation["margins"]))
        wins = result.wins()
        beaten = ", ".join(f"{m} {'yes' if ok else 'no'}" for m, ok in wins.items())
        # Means only: the margins table says which of these differences the targets can show.
        console.print(f"Method's mean beats every baseline's on: {beaten} (a margin whose interval holds 0 is one these targets cannot show)")
        if small:
            console.print("(--small: 3 models × 4 datasets with a token budget checks the path, it measures nothing; run without --small)")
        else:
            # Seen: the bundled zoo (one CPU) and a rebuild on another CPU differ by a median 6 FID, enough to swap near-tied models.
            console.print("(These FIDs depend on the CPU: pre-training and fine-tuning carry its float rounding into them, so another CPU "
                          "gives other figures; the bundled zoo's are `hubselect evaluate demo`.)")
        for entry in result.summary.get("recommendations", []):
            top = entry["recommendations"][:3]
            line = ", ".join(f"{r['rank']}. {r['model']}" for r in top)
            console.print(f"\nRecommended for {entry['dataset']} (not in the zoo; nearest: "
                          f"{', '.join(n['dataset'] for n in entry['nearest'][:2])}): {line}")
            if "actual_best" in entry:
                verdict = "right" if entry["top1_hit"] else f"the actual best was {entry['actual_best']} (top pick ranked {entry['actual_rank_of_top1']})"
                console.print(f"  fine-tuning every model on it to check: the top pick was {verdict}")
        machine = result.summary.get("machine") or {}
        where = f" on {machine['cpu']} ({machine['instruction_set']})" if machine.get("cpu") else ""
        console.print(
            f"\nDone in {result.wall_seconds / 60:.1f} min ({result.cpu_seconds / 60:.1f} CPU-min){where}. Wrote {result.out}: zoo/, ranker/, "
            "evaluation.json, scores.png, recommendations.json, examples/"
        )
        if "bundle" in data:
            console.print(f"Updated the bundled demo zoo in {data['bundle']['path']} ({data['bundle']['bytes'] / 1e6:.2f} MB)")
        example = next(iter(sorted((result.out / "examples").iterdir())), None) if (result.out / "examples").is_dir() else None
        if example is not None:
            zoo, ranker = (shlex.quote(str(result.out / name)) for name in ("zoo", "ranker"))
            console.print(f"Try: hubselect recommend {shlex.quote(str(example))} --zoo {zoo} --ranker {ranker}")

    SETTINGS.output.result(data, human)
