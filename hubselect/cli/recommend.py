"""``hubselect recommend`` and ``hubselect push``: what users run, and how rankers get published."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from hubselect.cli import (
    SETTINGS,
    NonEmptyPath,
    check_probe,
    cli,
    common_options,
    seed_option,
)
from hubselect.cli.output import table
from hubselect.data.refs import DEFAULT_MIN_IMAGES
from hubselect.errors import InputError


def _short_number(value: float | None) -> str:
    from hubselect.recommendation import short_count

    return "–" if value is None else short_count(value)


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _check_licenses(ctx, param, value: str | None) -> str | None:
    """Click callback of --license: an empty list (an unset shell variable) is refused, not read as no filter."""
    if value is not None and not any(item.strip() for item in value.split(",")):
        raise InputError("--license is empty; pass comma-separated license names, e.g. --license mit,apache-2.0, or leave it out for any license")
    return value


@cli.command("recommend")
@click.argument("dataset")
@click.option("--zoo", "zoo_ref", default=None,
              help="Zoo: a folder, a Hub dataset id, or demo: the bundled demo zoo, unless ./demo is a zoo folder "
                   "(default: HUBSELECT_ZOO, else demo).")
@click.option("--ranker", default=None, help="Ranker folder or Hub model id, built on this zoo (default: the one published beside the zoo; "
                   "where none is, or it cannot be loaded or was built for another --method, --probe or zoo, one built from the zoo "
                   "and cached, with a note).")
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(min=1), help="How many models to list.")
@click.option("--method", default=None, help="Fine-tuning method whose results to rank by (needed when the zoo holds several).")
@click.option("--mode", type=click.Choice(["fast", "faithful"]), default="fast", show_default=True,
              help="fast: place the dataset by its neighbours; faithful: insert it, re-embed the graph and retrain (slow).")
@click.option("--max-params", type=float, default=None, help="Only models with at most this many parameters (e.g. 1e9); models whose count is unknown are left out, with a note.")
@click.option("--license", "licenses", default=None, callback=_check_licenses,
              help="Only models under these licenses (comma-separated, e.g. mit,apache-2.0).")
@click.option("--probe", default=None, callback=check_probe,
              help="Image probe; must be the one the zoo was profiled with (default: that one, at the revision the zoo's "
                   "datasets were profiled at, as is its Hub id given without @REVISION).")
@click.option("--n", "n", default=500, show_default=True, type=click.IntRange(min=1), help="Images sampled from the dataset.")
@click.option("--min-images", type=click.IntRange(min=2), default=DEFAULT_MIN_IMAGES, show_default=True,
              help="Fewest decodable images the dataset needs.")
@seed_option("Seed of the sample.")
@click.option("--split", default="train", show_default=True, help="Split of a Hub dataset.")
@click.option("--image-column", default=None, help="Image column (default: detected).")
@click.option("--caption-column", default=None, help="Caption column (default: detected).")
@common_options
def recommend_command(dataset: str, zoo_ref, ranker, top_k, method, mode, max_params, licenses, probe, n, min_images, seed, split, image_column, caption_column) -> None:
    """Rank the zoo's models for DATASET (a Hub dataset id, an image folder, or a parquet file).

    \b
    hubselect recommend user/my-dataset --zoo org/zoo
    hubselect recommend ./my-images --zoo demo --top-k 3 --format json
    """
    from hubselect.recommendation import recommend, throughput_note

    result = recommend(
        dataset,
        zoo=zoo_ref,
        ranker=ranker,
        top_k=top_k,
        method=method,
        mode=mode,
        max_params=max_params,
        license=licenses,
        probe=probe,
        n=n,
        min_images=min_images,
        seed=seed,
        split=split,
        image_column=image_column,
        caption_column=caption_column,
        token=SETTINGS.token,
        progress=SETTINGS.output.human,
    )
    for notice in result.notices:
        SETTINGS.output.info(f"note: {notice}")

    def human(console) -> None:
        info = result.dataset
        skipped = f", {info['skipped']} skipped ({', '.join(f'{c} {r}' for r, c in info['skip_reasons'].items())})" if info["skipped"] else ""
        split = f" (split {info['split']})" if info["split"] not in (None, "train") else ""
        console.print(Text.assemble((info["dataset"], "bold"), f" @ {str(info['revision'])[:12]}{split}: {info['images']} images{skipped}, probe {info['probe']}"))
        nearest = ", ".join(f"{n['dataset']} ({n['distance']:.3g})" for n in info["nearest"][:3])
        # Whose results the ranking is of: on a zoo of one method, nothing else names it.
        method = f" · method {result.ranker['method']}" if result.ranker.get("method") else ""
        console.print(f"zoo {result.zoo['repo']} @ {str(result.zoo['revision'])[:12]}{method} · ranker: {result.ranker['source']} · nearest profiled: {nearest}")
        score = result.score["name"]
        direction = "higher" if result.score["higher_is_better"] else "lower"
        rows = []
        for r in result.recommendations:
            expected = _score(r.score)
            if r.score_low is not None and r.score_high is not None and r.score_high > r.score_low:
                expected += f" ({_score(r.score_low)}–{_score(r.score_high)})"
            evidence = "; ".join(f"{e.dataset}: {_score(e.score)}" for e in r.evidence[:2]) or "–"
            throughput = f"{r.throughput:.2f}/s" if r.throughput is not None else "–"
            rows.append((r.rank, r.model, f"{r.ranker_score:.2f}", expected, _short_number(r.parameters), throughput, r.license or "–", evidence))
        # The ranker orders the list; the score column is the model's results on the most similar
        # datasets, weighted by similarity: evidence, which need not fall in the ranker's order.
        console.print(
            table(
                f"Models to fine-tune, best first in the ranker's order (1 = as good as the best profiled model; {score}: {direction} is better)",
                ["#", "model", "ranker", f"{score} on similar datasets (range)", "params", "images/s", "license", "evidence: on similar datasets"],
                rows,
            )
        )
        note = throughput_note(result.recommendations)
        if note:
            console.print(f"note: {note}", markup=False, highlight=False)

    SETTINGS.output.result(result.to_dict(), human)


@cli.command("push")
@click.argument("ranker_dir", type=NonEmptyPath(path_type=Path, exists=True, file_okay=False))
@click.option("--repo", "repo_id", required=True, help="Hub model repo, ORG/NAME (created if missing). Convention: <zoo repo>-ranker.")
@click.option("--evaluation", "evaluation_file", type=NonEmptyPath(path_type=Path, dir_okay=False, exists=True), default=None,
              help="JSON from `hubselect evaluate --json` on the zoo, method and configuration the ranker was built on (checked), "
                   "for the card's table (default: evaluation.json in RANKER_DIR, else the one the repo holds if it is of this "
                   "very ranker; one of another ranker is removed).")
@click.option("--private", is_flag=True, help="Create the repo private.")
@common_options
def push_command(ranker_dir: Path, repo_id: str, evaluation_file: Path | None, private: bool) -> None:
    """Publish a ranker (from `hubselect build`) as a Hub model repo with a model card."""
    from hubselect.hub.ranker_repo import push_ranker

    sha = push_ranker(ranker_dir, repo_id, token=SETTINGS.token, private=private, evaluation=evaluation_file)
    SETTINGS.output.result({"repo": repo_id, "revision": sha}, lambda c: c.print(f"Pushed ranker {ranker_dir} to {repo_id} @ {sha}"))
