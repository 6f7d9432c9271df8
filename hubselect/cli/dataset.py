"""``hubselect dataset ...``: profile a dataset into a zoo, and find the zoo's most similar datasets."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
from click.core import ParameterSource

from hubselect.cli import SETTINGS, NonEmptyPath, check_device, check_probe, cli, common_options, note_new_zoo_folder, seed_option
from hubselect.cli.output import table
from hubselect.data.refs import DEFAULT_MIN_IMAGES, DEFAULT_SAMPLE_SIZE
from hubselect.errors import InputError

#: Score of a zoo created by ``dataset profile`` (the profiler fills it with FID after fine-tuning).
NEW_ZOO_SCORE = ("fid_after_finetune", False)

_sample_options = [
    click.option("--n", "n", type=click.IntRange(min=1), default=DEFAULT_SAMPLE_SIZE, show_default=True,
                 help="Images in the sample (seeded; Hub datasets are streamed, not downloaded)."),
    seed_option("Seed of the sample."),
    click.option("--split", default="train", show_default=True, help="Split of a Hub dataset."),
    click.option("--image-column", default=None, help="Column holding the images (default: detected)."),
    click.option("--caption-column", default=None, help="Column holding the captions (default: detected)."),
    click.option("--probe", default=None, callback=check_probe,
                 help="Image encoder: a Hub id (ORG/NAME[@REVISION]) or local folder of a transformers CLIP model or vision "
                      "backbone, or 'inception' (default: the probe the zoo's datasets were profiled with, at the revision "
                      "they were profiled at, else openai/clip-vit-base-patch32). The zoo's Hub probe given without @REVISION "
                      "means that revision too; ID@main follows the repo."),
    click.option("--min-images", type=click.IntRange(min=2), default=DEFAULT_MIN_IMAGES, show_default=True,
                 help="Fewest decodable images a profile accepts."),
    click.option("--device", default="auto", show_default=True, callback=check_device,
                 help="Device for the probe: auto, cpu, cuda, cuda:1, mps."),
    click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Probe batch size (default 32)."),
]


def sample_options(func):
    for option in reversed(_sample_options):
        func = option(func)
    return func


@cli.group()
@common_options
def dataset() -> None:
    """Profile datasets (probe embeddings, statistics, distances) and compare them."""


def _profile_kwargs(options: dict) -> dict:
    return {
        "n": options["n"],
        "seed": options["seed"],
        "image_column": options["image_column"],
        "caption_column": options["caption_column"],
        "min_images": options["min_images"],
        "device": options["device"],
        "batch_size": options["batch_size"],
        "token": SETTINGS.token,
        "progress": SETTINGS.output.human,
    }


@dataset.command("profile")
@click.argument("dataset_ref", metavar="DATASET")
@click.option("--zoo", "zoo_dir", required=True, type=NonEmptyPath(path_type=Path, file_okay=False),
              help="Zoo folder to add the profile to (created if missing).")
@click.option("--name", default=None, help="Name of the dataset in the zoo (default: the Hub id, or the folder/file name).")
@click.option("--force", is_flag=True, help="Profile again, bypassing the embedding cache, even if the zoo holds this revision, sample and probe; "
                                            "and on another split than the zoo's fine-tuning results of the dataset were made on, or while "
                                            "they are on two (moving the dataset to that split: `hubselect profile ... --split` then redoes "
                                            "its results); and from another folder or file than the zoo's profile of that name was read "
                                            "from (the dataset moved).")
@sample_options
@common_options
def profile(dataset_ref: str, zoo_dir: Path, name: str | None, force: bool, **options) -> None:
    """Profile DATASET (a Hub id org/name[:config][@revision], an image folder or a .parquet file)
    and add it to a zoo: its features, the Fréchet statistics of its probe embeddings, and its
    distances to the zoo's other datasets (in a zoo of more than 64, to the 64 nearest by mean
    embedding, not always the 64 nearest by distance).

    Idempotent: a dataset already profiled at the same revision, with the same sample and
    probe, is left as it is (nothing is read or embedded), but for its distances to datasets
    profiled apart (in another zoo merged into this one by an older hubselect): where it has
    fewer distances than a zoo profiled in one place gives every dataset, those to its nearest
    (as if profiled now) are computed from the stored statistics. A zoo keeps one profile per
    name and probe: one of another revision, split or sample replaces it, and the output says
    what the replaced one was made from; one of another local folder or file of the same name
    (`pets/train`, `cars/train`) is refused: name it apart with --name, or pass --force if the
    dataset moved. A split other than the one the zoo's fine-tuning results of the
    dataset were made on is refused: profile it under another --name, or move the dataset to
    that split with --force (then redo its results there: `hubselect profile ... --split`,
    which refuses a split other than the profile's). So is any split while its results are on
    two (a move half done): the message says which method is on which. A commit that changed
    none of a Hub dataset's data files (a card edit) is the same revision: the profile is kept,
    and now names that commit. For parquet data the image files its rows may name by path count
    too: the repo's, or those beside a local .parquet file.
    """
    from huggingface_hub import constants as hf_constants

    from hubselect.data.profile import (
        add_to_zoo,
        check_location,
        check_results_split,
        complete_distances,
        default_probe,
        is_current,
        missing_distances,
        move_profile,
        pin_probe,
        profile_changes,
        profile_dataset,
        results_by_split,
        stored_profile,
        stored_under,
        zoo_profiles,
    )
    from hubselect.data.refs import DatasetRef, SampleSpec
    from hubselect.data.sample import dataset_content, dataset_revision
    from hubselect.probes import resolve_probe
    from hubselect.probes.registry import probe_identity
    from hubselect.zoo import Zoo, ZooMeta, check_zoo_folder, update_zoo
    from hubselect.zoo.store import META_FILE

    def new_zoo() -> Zoo:
        score, higher = NEW_ZOO_SCORE
        return Zoo(ZooMeta(score=score, higher_is_better=higher, description="created by hubselect dataset profile"))

    check_zoo_folder(zoo_dir)
    note_new_zoo_folder(zoo_dir)
    zoo = Zoo.load(zoo_dir) if (zoo_dir / META_FILE).is_file() else new_zoo()
    ref = DatasetRef.parse(dataset_ref, split=options["split"])
    dataset_name = ref.zoo_name(name)
    # Pinned at the zoo's revision of its probe, so that a card edit on the probe's repo does not
    # re-profile every dataset (`--probe ID@main` follows the repo).
    # Identified first, fetched only when there is work to do: a zoo that is up to date costs a
    # request or two, not a probe's weights (on a fresh runner each week).
    probe_ref = probe_identity(pin_probe(zoo, options["probe"]) if options["probe"] else default_probe(zoo), token=SETTINGS.token)
    revision = dataset_revision(ref, token=SETTINGS.token, image_column=options["image_column"], progress=SETTINGS.output.human)
    spec = SampleSpec(n=options["n"], seed=options["seed"], split=ref.split, config=ref.config,
                      image_column=options["image_column"], caption_column=options["caption_column"])

    def content() -> str | None:  # what the data files at this commit hold: asked only when the zoo's profile was made at another
        return dataset_content(DatasetRef(ref.kind, ref.location, ref.config, revision, ref.split), token=SETTINGS.token)[1]

    # Offline, what the files hold cannot be asked (the HF cache keeps no listing): a zoo profile of
    # another commit is then replaced by the embedding cache's profile of this one, if it holds it.
    asks_content = ref.kind == "hub" and not hf_constants.HF_HUB_OFFLINE
    if not force and is_current(zoo, dataset_name, revision, spec, probe_ref, content=content if asks_content else None):
        entry = stored_profile(zoo, dataset_name, probe_ref)
        provenance = entry.provenance
        entry.check_enough(ref, spec, options["min_images"])
        moved_from = provenance.get("revision") if provenance.get("revision") != revision else None
        added = []

        def complete(current: Zoo) -> Zoo:
            if moved_from is not None:
                move_profile(current, dataset_name, probe_ref, revision)
            # Distances to datasets profiled in another zoo merged into this one (two writers)
            # are computed from the stored statistics: nothing is sampled or embedded again.
            pairs = missing_distances(current, dataset_name, probe_ref.id)
            added.extend(complete_distances(current, pairs, progress=SETTINGS.output.human))
            return current

        if moved_from is not None or missing_distances(zoo, dataset_name, probe_ref.id):
            zoo = update_zoo(zoo_dir, complete)
        result = {
            "dataset": dataset_name, "revision": revision, "status": "unchanged", "replaced": {}, "computed": False,
            "images": provenance.get("images"), "skipped": provenance.get("skipped", {}),
            "skipped_examples": provenance.get("skipped_examples", []),
            "probe": probe_ref.id, "probe_revision": probe_ref.revision, "zoo": str(zoo_dir),
            "distances": _distances_of(zoo, dataset_name, probe_ref.id),
            "distances_added": len(added),
            "moved_from": moved_from,
        }
        moved = (f" (its data files are those profiled at {_short(moved_from)}: the profile now names {_short(revision)})"
                 if moved_from is not None else "")
        done = (f"added its {len(added)} missing distance{'s' if len(added) > 1 else ''} to datasets profiled apart, "
                "from their stored statistics" if added else "nothing to do")
        SETTINGS.output.result(result, lambda console: console.print(
            f"{dataset_name} @ {_short(revision)} is already in {zoo_dir} with this sample and probe {probe_ref.id}{moved}; {done} "
            "(--force profiles it again)"))
        return
    results_made_on = results_by_split(zoo, dataset_name) if ref.kind == "hub" else {}
    if not force:
        check_results_split(zoo, dataset_name, ref, str(zoo_dir))
        check_location(zoo, dataset_name, ref, str(zoo_dir))
    had = stored_profile(zoo, dataset_name, probe_ref) is not None or dataset_name in set(zoo.datasets["dataset"])
    previous = stored_under(zoo, dataset_name, probe_ref.id)
    if probe_ref.path is None:  # at the revision identified, should the repo's main move meanwhile
        probe_ref = resolve_probe(f"{probe_ref.id}@{probe_ref.revision}", token=SETTINGS.token)
    if ref.kind == "hub":
        ref = DatasetRef(ref.kind, ref.location, ref.config, revision, ref.split)
    result_profile = profile_dataset(ref, probe=probe_ref, name=dataset_name, split=ref.split, cache=not force, **_profile_kwargs(options))
    distances = []

    def add(current: Zoo) -> Zoo:
        # Into the zoo as it is now on disk: another process may have written it meanwhile.
        distances.extend(add_to_zoo(current, result_profile))
        return current

    update_zoo(zoo_dir, add, create=new_zoo)
    elsewhere = {split: methods for split, methods in results_made_on.items() if split != ref.split}
    if elsewhere:  # --force moved the dataset to this split; its results follow
        # `profile --split` refuses while any probe's profile of the dataset is on another split: those move first.
        behind = sorted(entry.probe for entry in zoo_profiles(Zoo.load(zoo_dir))
                        if entry.dataset == dataset_name and (entry.provenance.get("spec") or {}).get("split") not in (None, ref.split))
        first = (f"move its profile{'s' if len(behind) > 1 else ''} with {', '.join(behind)} too (this command with that --probe), then "
                 if behind else "")
        # Where some of them are on this split already (a move half done), those to redo are named by their methods.
        which = ", ".join(sorted({m for methods in elsewhere.values() for m in methods})) if ref.split in results_made_on else "fine-tuning"
        SETTINGS.output.info(
            f"note: the zoo's {which} results of {dataset_name} were made on split {' and '.join(map(repr, elsewhere))}: "
            f"{first}redo them on {ref.split!r} with `hubselect profile --models ... --datasets {shlex.quote(str(dataset_ref))} --split {ref.split} --zoo {shlex.quote(str(zoo_dir))}` "
            "(or --zoo-models), which replaces them"
        )
    # Said, never silent: the profile of another split, config or sample of the name is gone.
    replaced = profile_changes(previous, result_profile) if previous is not None else {}
    nearest = sorted(({"dataset": d.dataset_b if d.dataset_a == dataset_name else d.dataset_a, "distance": d.distance} for d in distances),
                     key=lambda x: x["distance"])
    result = {
        "dataset": dataset_name,
        "revision": result_profile.revision,
        "status": "updated" if had else "added",
        "replaced": replaced,
        "computed": result_profile.computed,
        "images": result_profile.images,
        "total_images": result_profile.features.get("total_images"),
        "skipped": result_profile.skipped,
        "skipped_examples": result_profile.skipped_examples,
        "probe": probe_ref.id,
        "probe_revision": probe_ref.revision,
        "embedding_dim": result_profile.stats.dim,
        "features": result_profile.features,
        "zoo": str(zoo_dir),
        "distances": nearest,
    }

    def human(console) -> None:
        console.print(
            f"Profiled {dataset_name} @ {_short(result_profile.revision)} with {probe_ref.id}: "
            f"{result_profile.images} images ({result_profile.skip_summary()})"
            + ("" if result_profile.computed else " [from the embedding cache]")
        )
        for example in result_profile.skipped_examples:
            console.print(f"  skipped {example}", markup=False, highlight=False)
        where = f"{'Updated' if had else 'Added'} in {zoo_dir}{_replaced_note(replaced)}"
        if nearest:
            closest = ", ".join(f"{d['dataset']} ({d['distance']:.4g})" for d in nearest[:3])
            console.print(f"{where} with {len(nearest)} distances; nearest: {closest}")
        else:
            # Profiles at another revision of the probe are there, and not compared (`--probe ID@main`).
            elsewhere = {e.dataset for e in zoo_profiles(zoo, probe_ref.id) if e.probe_revision != probe_ref.revision} - {dataset_name}
            at = f" at revision {probe_ref.revision[:12]} ({len(elsewhere)} at another revision of it)" if elsewhere else ""
            console.print(f"{where}; no other dataset profiled with {probe_ref.id}{at} to compare with yet")

    SETTINGS.output.result(result, human)


@dataset.command("similar")
@click.argument("dataset_ref", metavar="DATASET")
@click.option("--zoo", "zoo_ref", required=True,
              help="Zoo folder, Hub dataset id, or demo: the bundled demo zoo, unless ./demo is a zoo folder.")
@click.option("--k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="How many datasets to list.")
@sample_options
@common_options
def similar(dataset_ref: str, zoo_ref: str, k: int, **options) -> None:
    """The zoo's datasets nearest to DATASET (Fréchet distance of probe embeddings, lower = more similar).

    DATASET is a dataset of the zoo (by name), or any dataset (Hub id, folder, .parquet file),
    which is then profiled (and cached) but not added to the zoo. A zoo dataset is compared
    through its stored profile (a note says what it was made with), unless --split, --n, --seed
    or a column asks for another sample: that one is profiled, the options left out being the
    stored profile's.
    With --format json: a list of {"dataset", "distance"}.
    """
    from hubselect.data.profile import (
        default_probe,
        how_to_profile,
        is_current,
        load_zoo_stats,
        pin_probe,
        profile_dataset,
        similar_in_zoo,
        stored_profile,
        why_not_compared,
        zoo_probes,
        zoo_profiles,
    )
    from hubselect.data.refs import EMPTY_DATASET, DatasetRef, SampleSpec
    from hubselect.data.sample import dataset_revision
    from hubselect.probes import resolve_probe
    from hubselect.probes.registry import probe_id
    from hubselect.zoo.resolve import open_zoo

    if not dataset_ref.strip():  # not a zoo dataset's name, and Path("") is the current folder
        raise InputError(EMPTY_DATASET)
    zoo = open_zoo(zoo_ref, token=SETTINGS.token, option="--zoo")
    probes = zoo_probes(zoo)
    if not probes:
        raise InputError(f"zoo {zoo_ref} holds no dataset profiles; {how_to_profile(zoo, zoo_ref)}")

    def mismatch(given: str) -> InputError:
        return InputError(
            f"zoo {zoo_ref} holds no datasets profiled with {given}; pass the probe it was profiled with "
            f"(--probe {probes[0] if not probes[0].startswith('local:') else 'FOLDER'}; found: {', '.join(probes)})"
        )

    # A probe the spec tells is not the zoo's is refused before it is downloaded (which may fail otherwise).
    if options["probe"] and probe_id(options["probe"]) not in (None, *probes):
        raise mismatch(probe_id(options["probe"]))
    probe_ref = resolve_probe(pin_probe(zoo, options["probe"]) if options["probe"] else default_probe(zoo), token=SETTINGS.token)
    if probe_ref.id not in probes:
        raise mismatch(probe_ref.id)
    if not any(entry.probe_revision == probe_ref.revision for entry in zoo_profiles(zoo, probe_ref.id)):
        # Said before the dataset is read; an empty list would read "no dataset is similar".
        raise InputError(f"{dataset_ref} cannot be compared with the zoo's datasets: {why_not_compared(zoo, zoo_ref, probe_ref)}")
    # A zoo dataset (its name, not a path) is compared through its stored profile, unless the
    # options ask for another sample of it: the options left out are then the stored profile's.
    entry = None if Path(dataset_ref).expanduser().exists() else stored_profile(zoo, dataset_ref, probe_ref)
    asked_otherwise: list[str] = []  # the sample options given that the stored profile was not made with
    if entry is not None:
        made_with = entry.provenance.get("spec") or {}
        context = click.get_current_context()
        given = [key for key in _SAMPLE_KEYS if context.get_parameter_source(key) is not ParameterSource.DEFAULT]
        asked_otherwise = [key for key in given if options[key] != made_with.get(key)]
        if asked_otherwise:
            options = {**options, **{key: made_with.get(key, options[key]) for key in _SAMPLE_KEYS if key not in given}}
    if entry is not None and not asked_otherwise:
        name, stats = dataset_ref, load_zoo_stats(zoo, entry)
        itself = name
        *others, last = _sample_options_of(entry.provenance, names_only=True)
        SETTINGS.output.info(
            f"note: {name} is compared through its profile in zoo {zoo_ref} (made with {_made_with(entry.provenance)}); "
            f"pass another {', '.join(others)} or {last} to compare another sample of it"
        )
    else:
        try:
            ref = DatasetRef.parse(dataset_ref, split=options["split"])
        except InputError:
            if entry is not None:
                asked = " and ".join(f"--{key.replace('_', '-')}" for key in asked_otherwise)
                raise InputError(
                    f"zoo {zoo_ref}'s profile of {dataset_ref} was made with {_made_with(entry.provenance, at=False)}, and "
                    f"{dataset_ref} is not a folder, .parquet file or Hub dataset id to read another sample of; leave out {asked} "
                    "to compare that profile, or pass the dataset's folder or file"
                ) from None
            raise InputError(
                f"{dataset_ref!r} is neither a dataset of zoo {zoo_ref} profiled with {probe_ref.id} nor a folder, "
                f".parquet file or Hub dataset id; list the zoo's datasets with `hubselect zoo show {shlex.quote(zoo_ref)} --datasets`"
            ) from None
        name = ref.name
        spec = SampleSpec(n=options["n"], seed=options["seed"], split=ref.split, config=ref.config,
                          image_column=options["image_column"], caption_column=options["caption_column"])
        revision = dataset_revision(ref, token=SETTINGS.token, image_column=options["image_column"], progress=SETTINGS.output.human)
        if is_current(zoo, name, revision, spec, probe_ref):
            entry = stored_profile(zoo, name, probe_ref)  # the zoo's profile of this very sample
            entry.check_enough(ref, spec, options["min_images"])
            stats = load_zoo_stats(zoo, entry)
        else:
            stats = profile_dataset(ref, probe=probe_ref, split=ref.split, **_profile_kwargs(options)).stats
        # The zoo's dataset of the same name is this dataset only at the same revision (perhaps
        # sampled otherwise): folder names like `images` or `train` are shared by unrelated
        # datasets, which are neighbours like any other (`recommend` lists them too).
        stored = stored_profile(zoo, name, probe_ref)
        itself = name if stored is not None and stored.provenance.get("revision") == revision else None
    found = similar_in_zoo(zoo, stats, probe_ref, k=k, exclude=itself, progress=SETTINGS.output.human)
    if not found and any(entry.dataset != itself for entry in zoo_profiles(zoo, probe_ref.id)):
        raise InputError(f"{name} cannot be compared with the zoo's datasets: {why_not_compared(zoo, zoo_ref, probe_ref)}")
    result = [{"dataset": other, "distance": distance} for other, distance in found]
    SETTINGS.output.result(
        result,
        lambda console: console.print(
            table(f"datasets nearest to {name} ({probe_ref.id})", ["#", "dataset", "distance"],
                  [(i + 1, r["dataset"], r["distance"]) for i, r in enumerate(result)], numeric_format="{:.4g}")
        ),
    )


#: The options of ``dataset similar`` that choose a sample, as ``SampleSpec`` names them.
_SAMPLE_KEYS = ("split", "n", "seed", "image_column", "caption_column")


def _sample_options_of(provenance: dict, *, names_only: bool = False) -> list[str]:
    """The options a stored profile's sample was made with (``--split test``, ``--n 40``...): the
    split of a Hub dataset only (a folder or file is read whole), a column only where one was named."""
    spec = provenance.get("spec") or {}
    keys = [key for key in _SAMPLE_KEYS if (key != "split" or provenance.get("source") == "hub")
            and (spec.get(key) is not None or key in ("n", "seed"))]
    return [f"--{key.replace('_', '-')}" + ("" if names_only else f" {spec.get(key)}") for key in keys]


def _made_with(provenance: dict, *, at: bool = True) -> str:
    """``'--split test --n 40 --seed 0 at 1a2b3c4d5e6f'``: what a stored profile was made from."""
    made = " ".join(_sample_options_of(provenance))
    return f"{made} at {_short(str(provenance.get('revision')))}" if at else made


def _short(revision: str) -> str:
    return revision[:18] if revision.startswith("local-") else revision[:12]


def _replaced_note(changes: dict[str, list]) -> str:
    """``' (replacing its profile of split train → test)'``: what the profile replaced was made from; ``''`` for nothing."""
    def value(key: str, v) -> str:
        return _short(v) if key.endswith("revision") and isinstance(v, str) else str(v)

    parts = [f"{key.replace('_', ' ')} {value(key, before)} → {value(key, after)}" for key, (before, after) in changes.items()]
    return f" (replacing its profile of {', '.join(parts)})" if parts else ""


def _distances_of(zoo, dataset: str, probe_id: str) -> list[dict]:
    frame = zoo.distances
    rows = frame[((frame["dataset_a"] == dataset) | (frame["dataset_b"] == dataset)) & (frame["probe"] == probe_id)]
    out = [
        {"dataset": row["dataset_b"] if row["dataset_a"] == dataset else row["dataset_a"], "distance": float(row["distance"])}
        for row in rows.to_dict("records")
    ]
    return sorted(out, key=lambda x: x["distance"])
