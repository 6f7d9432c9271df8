"""`hubselect recommend` end to end: a small zoo with a planted answer, locally and on the loopback Hub."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from fixtures.data import isolated_cache, style_folder, tiny_clip_dir  # noqa: F401

from hubselect.cli import main
from hubselect.demo import bundled_paths
from hubselect.data.profile import add_to_zoo, profile_dataset
from hubselect.errors import InputError
from hubselect.testing.tiny import write_image_folder
from hubselect.zoo import ModelRecord, ProfileRecord, Zoo, ZooMeta

STYLES = ("warm", "cool", "mono", "noise")
#: One expert per style (best FID on datasets of that style), plus two generalists.
MODELS = [f"org/{style}-expert" for style in STYLES] + ["org/generalist-a", "org/generalist-b"]


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def planted_zoo(folder: Path) -> Path:
    """8 datasets (2 per style, profiled with the tiny CLIP probe) × 6 models, FID lower is
    better; the expert of a style wins on that style's datasets."""
    rng = np.random.default_rng(0)
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_models(
        ModelRecord(model, revision="0" * 40, features={"total_params": 1_000_000 * (i + 1), "license": "mit" if i % 2 else "openrail"})
        for i, model in enumerate(MODELS)
    )
    for style in STYLES:
        for seed in (1, 2):
            name = f"data/{style}-{seed}"
            profile = profile_dataset(style_folder(style, 16, seed), probe=str(tiny_clip_dir()), n=16, name=name, min_images=8)
            add_to_zoo(zoo, profile)
            for model in MODELS:
                base = 60.0 if model.startswith("org/generalist") else 70.0
                fid = 20.0 if model == f"org/{style}-expert" else base
                zoo.add_profiles([ProfileRecord(model, name, fid + rng.normal(0, 1.0), method="lora", score_before=fid + 30)])
    return zoo.save(folder)


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    return planted_zoo(tmp_path_factory.mktemp("recommend") / "zoo")


@pytest.fixture(scope="module")
def ranker_dir(zoo_dir, tmp_path_factory) -> Path:
    from hubselect.rank import Ranker

    return Ranker.fit(Zoo.load(zoo_dir)).save(tmp_path_factory.mktemp("ranker") / "ranker")


@pytest.fixture(scope="module")
def cool_folder(tmp_path_factory) -> Path:
    """A new dataset (not in the zoo) of the cool style."""
    return write_image_folder(tmp_path_factory.mktemp("new") / "my-cool-images", 16, style="cool", seed=42)


def test_recommend_finds_the_planted_expert_and_explains_it(zoo_dir, ranker_dir, cool_folder):
    import hubselect

    result = hubselect.recommend(str(cool_folder), zoo=str(zoo_dir), ranker=str(ranker_dir), probe=str(tiny_clip_dir()), n=16, top_k=3)
    top = result.recommendations[0]
    assert top.model == "org/cool-expert"
    assert [r.rank for r in result.recommendations] == [1, 2, 3]
    # The evidence is the expert's results on the most similar profiled datasets: the cool ones.
    assert {e.dataset for e in top.evidence[:2]} == {"data/cool-1", "data/cool-2"}
    # Predicted FID: the best (lowest) of the list, within the range of the expert's results.
    assert top.score == min(r.score for r in result.recommendations)
    assert top.score_low == pytest.approx(20.0, abs=3.0) and top.score_low <= top.score <= top.score_high
    assert top.parameters == 2_000_000 and top.license == "mit"
    assert result.dataset["images"] == 16 and result.dataset["nearest"][0]["dataset"].startswith("data/cool")


def test_every_path_recommend_takes_can_be_a_pathlib_path(zoo_dir, ranker_dir, cool_folder):
    """``probe=Path(folder)`` was refused ("probe must be ... (a str), got PosixPath(...)"),
    though the dataset, the zoo and the ranker could be paths."""
    import hubselect

    as_str = hubselect.recommend(str(cool_folder), zoo=str(zoo_dir), ranker=str(ranker_dir), probe=str(tiny_clip_dir()), n=16, top_k=3)
    as_path = hubselect.recommend(cool_folder, zoo=zoo_dir, ranker=ranker_dir, probe=tiny_clip_dir(), n=16, top_k=3)
    assert [r.model for r in as_path.recommendations] == [r.model for r in as_str.recommendations]
    assert as_path.dataset["probe"] == as_str.dataset["probe"] == "local:tiny-clip"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["recommend", "./x", "--fromat", "json"], "Error: No such option '--fromat'. Did you mean '--format'? (see `hubselect recommend --help`)"),
        (["recommend"], "Error: Missing argument 'DATASET'. (see `hubselect recommend --help`)"),
        (["zoo", "pull", "a/b", "--out"], "Error: Option '--out' requires an argument."),  # click names no command here
        (["evaluate", "demo", "--jobs", "0"], "Error: Invalid value for '--jobs': 0 is not in the range x>=1. (see `hubselect evaluate --help`)"),
        (["zoo", "pul"], "Error: No such command 'pul'. Did you mean 'pull'? (see `hubselect zoo --help`)"),
    ],
    ids=["unknown-option", "missing-argument", "missing-value", "out-of-range", "unknown-command"],
)
def test_a_usage_error_is_one_line_that_names_the_command_s_help(args, expected, capsys):
    """click printed four lines ("Usage: ...", "Try '... --help' for help.", a blank line, the
    error), where every other error of hubselect is one line that says what to do (the line of
    an option missing its value, which click does not tie to a command, was one already)."""
    code, out, err = run_cli(capsys, *args)
    assert (code, out, err) == (2, "", expected + "\n")


def test_a_group_given_no_command_still_shows_its_help(capsys):
    code, out, err = run_cli(capsys, "zoo")
    assert code == 2 and "Usage: hubselect zoo [OPTIONS] COMMAND [ARGS]..." in out + err and "pull" in out + err


def test_a_ranker_ordering_by_the_plain_mean_says_so_beside_the_similarity_based_predictions(zoo_dir, learner_ranker_dir, cool_folder, tmp_path):
    """Its order and the predicted column (from the nearest datasets) can disagree: a user is told why."""
    import hubselect
    from hubselect.graph import ZooArrays
    from hubselect.rank import Ranker, RankerConfig
    from hubselect.rank.prior import KernelPrior
    from hubselect.rank.ranker import Choice, Ensemble

    arrays = ZooArrays.from_zoo(Zoo.load(zoo_dir))
    mean_only = Ranker.fit_arrays(arrays, RankerConfig(), ensemble=Ensemble((Choice("interaction", "strong", 0),)), kernel_prior=KernelPrior())
    common = dict(zoo=str(zoo_dir), probe=str(tiny_clip_dir()), n=16, top_k=3)
    notices = hubselect.recommend(str(cool_folder), ranker=str(mean_only.save(tmp_path / "mean")), **common).notices
    assert any("orders models by their mean result over all the zoo's datasets (average_best" in n for n in notices), notices
    notices = hubselect.recommend(str(cool_folder), ranker=str(learner_ranker_dir), **common).notices
    assert not any("average_best" in n for n in notices), notices


def test_cli_json_has_the_documented_shape(zoo_dir, ranker_dir, cool_folder, capsys):
    code, out, err = run_cli(
        capsys, "recommend", cool_folder, "--zoo", zoo_dir, "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16", "--format", "json"
    )
    assert code == 0, err
    document = json.loads(out)
    assert set(document) >= {"dataset", "zoo", "recommendations"}
    assert set(document["zoo"]) >= {"repo", "revision"}
    first = document["recommendations"][0]
    assert isinstance(first["rank"], int) and isinstance(first["model"], str) and isinstance(first["score"], float)
    assert isinstance(first["evidence"], list) and set(first["evidence"][0]) == {"dataset", "distance", "score"}
    assert len(document["recommendations"]) == len(MODELS)


def test_cli_human_table(zoo_dir, ranker_dir, cool_folder, capsys):
    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", zoo_dir, "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16", "--top-k", "2")
    assert code == 0, err
    assert "org/cool-expert" in out and "fid_after_finetune on similar datasets" in out and "data/cool-" in out


def test_the_human_output_names_the_method_whose_results_it_ranks_by(zoo_dir, cool_folder, tmp_path, capsys):
    """On a zoo of textual-inversion results only, the header and the table said
    "fid_after_finetune: lower is better" and never which fine-tuning method: the ranking read as
    LoRA results (only the JSON said, as ranker.method)."""
    from hubselect.rank import Ranker

    zoo = Zoo.load(zoo_dir)
    zoo.records = zoo.records.assign(method="textual-inversion")
    zoo.save(tmp_path / "zoo-ti")
    ranker = Ranker.fit(Zoo.load(tmp_path / "zoo-ti")).save(tmp_path / "ranker")
    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", tmp_path / "zoo-ti", "--ranker", ranker, "--probe", tiny_clip_dir(), "--n", "16")
    assert code == 0, err
    assert re.match(rf"zoo {re.escape(str(tmp_path / 'zoo-ti'))} @ \S+ · method textual-inversion · ranker: ", out.splitlines()[1]), out


def test_throughput_figures_measured_with_different_settings_are_not_shown_as_comparable(zoo_dir, ranker_dir, cool_folder, tmp_path, capsys):
    """The images/s column put 0.16/s, measured on a CPU at 2 steps and 16 px, beside 41.70/s,
    measured on a GPU at 20 steps and 512 px, with nothing to say what either was measured with."""
    cpu = dict(bench_device="cpu (x86_64, 2 threads)", bench_dtype="float32", bench_steps=2, bench_resolution=16, bench_batch=1)
    gpu = dict(bench_device="cuda (NVIDIA H100)", bench_dtype="float16", bench_steps=20, bench_resolution=512, bench_batch=1)
    measured = {"org/cool-expert": {**cpu, "throughput_images_per_s": 0.16}, "org/generalist-a": {**gpu, "throughput_images_per_s": 41.7},
                "org/generalist-b": {**cpu, "throughput_images_per_s": 0.15}}
    zoo = Zoo.load(zoo_dir)
    zoo.add_models([ModelRecord(r.model, r.revision, {**r.features, **measured.get(r.model, {})}) for r in zoo.model_records()])
    zoo.save(tmp_path / "measured")
    args = ("recommend", cool_folder, "--zoo", tmp_path / "measured", "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16")

    code, out, err = run_cli(capsys, *args, "--format", "json")
    assert code == 0, err
    shown = {r["model"]: r for r in json.loads(out)["recommendations"]}
    assert shown["org/generalist-a"]["throughput"] == 41.7
    assert shown["org/generalist-a"]["throughput_settings"] == {"device": "cuda (NVIDIA H100)", "dtype": "float16", "steps": 20, "resolution": 512, "batch": 1}
    assert shown["org/warm-expert"]["throughput"] is None and shown["org/warm-expert"]["throughput_settings"] is None

    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    groups = {}
    for model in sorted(measured, key=lambda m: shown[m]["rank"]):
        where = "cuda (NVIDIA H100), float16, 20 steps, 512 px, batch 1" if model == "org/generalist-a" else "cpu (x86_64, 2 threads), float32, 2 steps, 16 px, batch 1"
        groups.setdefault(where, []).append(f"#{shown[model]['rank']}")
    said = "; ".join(f"{', '.join(ranks)} on {where}" for where, ranks in groups.items())
    assert out.splitlines()[-1] == f"note: images/s measured with different settings, not comparable: {said}", out
    code, out, err = run_cli(capsys, *args, "--top-k", "1")  # one figure: nothing to compare it with
    assert code == 0 and "org/cool-expert" in out and "0.16/s" in out and "note:" not in out, out

    # One GPU, its figures labelled as `auto` ("cuda (...)") and as `cuda:0` ("cuda:0 (...)") wrote them: one setting.
    one_gpu = {model: {**gpu, "throughput_images_per_s": 40.0 + i, "bench_device": ("cuda (NVIDIA H100)", "cuda:0 (NVIDIA H100)")[i % 2]}
               for i, model in enumerate(measured)}
    zoo.add_models([ModelRecord(r.model, r.revision, {**r.features, **one_gpu.get(r.model, {})}) for r in zoo.model_records()])
    zoo.save(tmp_path / "one-gpu")
    code, out, err = run_cli(capsys, *args[:3], tmp_path / "one-gpu", *args[4:])
    assert code == 0 and "41.00/s" in out and "note:" not in out, out


def test_filters_by_parameters_and_license(zoo_dir, ranker_dir, cool_folder):
    from hubselect.recommendation import recommend

    common = dict(zoo=str(zoo_dir), ranker=str(ranker_dir), probe=str(tiny_clip_dir()), n=16)
    small = recommend(str(cool_folder), max_params=1.5e6, **common)
    assert [r.model for r in small.recommendations] == ["org/warm-expert"]
    licensed = recommend(str(cool_folder), license="openrail", **common)
    assert {r.license for r in licensed.recommendations} == {"openrail"}
    assert "org/cool-expert" not in {r.model for r in licensed.recommendations}


def test_max_params_leaves_out_models_of_unknown_size_with_a_note(zoo_dir, ranker_dir, cool_folder, tmp_path, capsys):
    """A model without a parameter count cannot be shown to fit --max-params: it is left out, and
    the user is told which and how to get it back, in both output formats."""
    unsized = Zoo.load(zoo_dir)
    unsized.models.loc[unsized.models["model"] == "org/mono-expert", "total_params"] = None
    unsized.save(tmp_path / "unsized")
    args = ["recommend", cool_folder, "--zoo", tmp_path / "unsized", "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16", "--max-params", "1e9"]
    note = "--max-params left out 1 model(s) whose parameter count is unknown (org/mono-expert); drop --max-params to include them"
    code, out, err = run_cli(capsys, *args, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert {r["model"] for r in document["recommendations"]} == set(MODELS) - {"org/mono-expert"}
    assert note in document["notices"], document["notices"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0 and err.count(f"note: {note}") == 1, err
    # Without the filter the model is ranked, and nothing is noted about sizes.
    code, out, err = run_cli(capsys, *args[:-2], "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert "org/mono-expert" in {r["model"] for r in document["recommendations"]}
    assert not any("--max-params" in n for n in document["notices"])


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--max-params", "1.5e6", "--license", "gpl-3.0"],
         "no model of the zoo passes --license gpl-3.0 (the models' licenses: mit, openrail), while --max-params 1500000 alone "
         "leaves 1 model; loosen --license"),
        (["--max-params", "5e5", "--license", "mit"],
         "no model of the zoo passes --max-params 500000 (the smallest model has 1.0M parameters), while --license mit alone "
         "leaves 3 models; loosen --max-params"),
        (["--max-params", "5e5", "--license", "gpl-3.0"],
         "no model of the zoo passes --max-params 500000 (the smallest model has 1.0M parameters) nor --license gpl-3.0 "
         "(the models' licenses: mit, openrail); loosen both"),
        (["--max-params", "1.5e6", "--license", "mit"],
         "no model of the zoo passes --max-params 1500000 and --license mit together: --max-params 1500000 alone leaves 1 model, "
         "--license mit alone leaves 3 models, but no model passes both; loosen either"),
    ],
)
def test_filters_that_leave_no_model_are_named_alone_before_the_dataset_is_read(filters, expected, zoo_dir, ranker_dir, cool_folder, isolated_cache, capsys):
    """`--max-params 3e5 --license mit` blamed both filters where only the license left no model,
    and said so only after the whole sample was read and embedded (minutes on a large Hub dataset)."""
    from hubselect import constants

    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", zoo_dir, "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16", *filters)
    assert (code, out) == (2, "") and err == f"Error: {expected}\n"
    assert not (constants.CACHE_DIR / "embeddings").exists()  # no image was read, no probe ran


def test_ranker_is_built_on_the_fly_and_cached(zoo_dir, cool_folder, tmp_path, monkeypatch, capsys):
    from hubselect import constants
    from hubselect.recommendation import recommend

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", zoo_dir, "--probe", tiny_clip_dir(), "--n", "16", "--top-k", "1")
    assert code == 0, err
    assert "ranker: built from the zoo" in out and "org/cool-expert" in out
    assert err.count("no ranker is published") == 1, err  # a note, not also a log warning
    again = recommend(str(cool_folder), zoo=str(zoo_dir), probe=str(tiny_clip_dir()), n=16, top_k=1)
    assert not any("no ranker is published" in notice for notice in again.notices), "the built ranker was not cached"
    assert any("from the cache" in notice for notice in again.notices)

    # A build killed while saving (no ranker.json yet) leaves a folder that is only a cache: it is
    # built again, not refused as "a folder holding files that is not a ranker".
    (cached,) = (tmp_path / "cache" / "rankers").iterdir()
    (cached / "ranker.json").unlink()
    rebuilt = recommend(str(cool_folder), zoo=str(zoo_dir), probe=str(tiny_clip_dir()), n=16, top_k=1)
    assert rebuilt.recommendations[0].model == "org/cool-expert" and (cached / "ranker.json").is_file()


def test_a_zoo_folder_named_demo_is_the_users_zoo(zoo_dir, cool_folder, tmp_path, monkeypatch, capsys):
    """`zoo import --out demo` writes ./demo: `demo` then means that zoo (with a ranker of its own,
    not the bundled one); where ./demo is no zoo, `demo` is still the bundled zoo."""
    import shutil

    from hubselect import constants

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    bundled = Zoo.load(bundled_paths().zoo).summary()["datasets"]
    shutil.copytree(zoo_dir, tmp_path / "mine" / "demo")
    (tmp_path / "run" / "demo").mkdir(parents=True)  # e.g. `hubselect demo --out demo`: a folder, not a zoo
    (tmp_path / "run" / "demo" / "demo.json").write_text("{}")
    for where, datasets in (("mine", 8), ("run", bundled)):
        monkeypatch.chdir(tmp_path / where)
        code, out, err = run_cli(capsys, "zoo", "show", "demo", "--format", "json")
        assert code == 0, err
        assert json.loads(out)["datasets"] == datasets
    monkeypatch.chdir(tmp_path / "mine")
    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", "demo", "--probe", tiny_clip_dir(), "--n", "16", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["ranker"]["source"] == "built from the zoo" and document["recommendations"][0]["model"] == "org/cool-expert"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("empty-zoo", "holds no fine-tuning results"),
        ("probe-mismatch", "probe mismatch"),
        ("no-images", "no image files in"),
        ("parquet-folder", "but it holds 2 parquet files; pass one .parquet file (e.g. "),
        ("empty-dataset", "DATASET is empty"),
        ("local-probe-not-given", "pass that probe's folder with --probe"),
        ("max-params-below-every-model", "--max-params 500000 (the smallest model has 1.0M parameters); loosen"),
        ("license-no-model-has", "--license gpl-3.0 (the models' licenses: mit, openrail); loosen"),
        ("ranker-url", "no such folder, and not a Hub repo id; pass org/zoo-ranker (ORG/NAME), not a URL"),
        ("max-params-nan", "--max-params must be a number of parameters, e.g. 1e9, got nan"),
        ("license-empty", "--license is empty; pass comma-separated license names, e.g. --license mit,apache-2.0"),
        ("license-commas", "--license is empty; pass comma-separated license names"),
    ],
)
def test_bad_input_is_a_one_line_error(case, expected, zoo_dir, ranker_dir, cool_folder, tmp_path, monkeypatch, capsys):
    args = [cool_folder, "--zoo", zoo_dir, "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16"]
    if case == "empty-zoo":
        Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False)).save(tmp_path / "empty")
        args[2] = tmp_path / "empty"
    elif case == "probe-mismatch":
        from hubselect.testing.tiny import tiny_clip_vision

        args[6] = tiny_clip_vision(tmp_path / "other-probe", seed=5)
    elif case == "no-images":
        (tmp_path / "empty-folder").mkdir()
        args[0] = tmp_path / "empty-folder"
    elif case == "parquet-folder":  # a Hub dataset's shards, downloaded
        from hubselect.testing.tiny import write_parquet_shards

        write_parquet_shards(tmp_path / "shards", 8, shards=2, row_group_size=4)
        args[0] = tmp_path / "shards"
    elif case == "empty-dataset":  # e.g. an unset shell variable: not the current folder
        monkeypatch.chdir(cool_folder)
        args[0] = ""
    elif case == "local-probe-not-given":
        args = args[:5]
    elif case == "max-params-below-every-model":
        args += ["--max-params", "5e5"]
    elif case == "license-no-model-has":
        args += ["--license", "gpl-3.0"]
    elif case == "ranker-url":
        args[4] = "https://huggingface.co/org/zoo-ranker"
    elif case == "max-params-nan":
        args += ["--max-params", "nan"]
    elif case == "license-empty":  # e.g. --license "$ALLOWED", unset: not "any license"
        args += ["--license", ""]
    elif case == "license-commas":
        args += ["--license", " , "]
    code, out, err = run_cli(capsys, "recommend", *args)
    assert code != 0 and out == ""
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert expected in err


@pytest.mark.parametrize("command", ["recommend", "dataset similar"])
def test_an_empty_zoo_is_refused_not_taken_for_the_default_zoo(command, cool_folder, tmp_path, monkeypatch, capsys):
    """`--zoo "$ZOO"` with ZOO unset: recommend ranked with the demo zoo (or HUBSELECT_ZOO's), exit 0."""
    monkeypatch.chdir(tmp_path)  # "" as a path is the current folder
    code, out, err = run_cli(capsys, *command.split(), cool_folder, "--zoo", "", "--probe", tiny_clip_dir(), "--n", "16")
    assert (code, out) == (2, "") and err == "Error: --zoo is empty; pass a zoo folder, a Hub dataset id like org/name, or demo\n"


def test_an_empty_hubselect_zoo_is_refused_naming_it(cool_folder, tmp_path):
    """It was read as the current folder: "Error:  is a folder but not a zoo", naming neither the variable nor the value."""
    done = subprocess.run(
        [sys.executable, "-m", "hubselect", "recommend", str(cool_folder), "--n", "16"],
        capture_output=True, text=True, env={**os.environ, "HUBSELECT_ZOO": ""}, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr == "Error: HUBSELECT_ZOO is empty; set it to a zoo folder, a Hub dataset id or demo (or unset it for demo), or pass --zoo\n"


@pytest.mark.parametrize("command", ["recommend", "dataset similar"])
@pytest.mark.parametrize("probe", ["inception", "nobody/no-such-probe"])
def test_a_probe_the_zoo_was_not_profiled_with_is_refused_before_it_is_fetched(command, probe, hub, zoo_dir, cool_folder, tmp_path, monkeypatch, capsys):
    """The error is the mismatch, not a download error whose advice (fetch Inception's weights,
    pass a token) leads only to the mismatch."""
    from huggingface_hub import constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # nothing could be downloaded
    monkeypatch.setenv("HUBSELECT_INCEPTION_DIR", str(tmp_path))
    code, out, err = run_cli(capsys, *command.split(), cool_folder, "--zoo", zoo_dir, "--probe", probe, "--n", "16")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    named = "clean-fid/inception-v3" if probe == "inception" else probe
    assert f"probe mismatch: zoo {zoo_dir} was profiled with local:tiny-clip, not {named}" in err or f"zoo {zoo_dir} holds no datasets profiled with {named}" in err, err
    assert not hub.request_log


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ({"top_k": 2.5}, "top_k must be a whole number of at least 1, got 2.5"),
        ({"top_k": "3"}, "top_k must be a whole number of at least 1, got '3'"),
        ({"top_k": None}, "top_k must be a whole number of at least 1, got None"),
        ({"top_k": 0}, "top_k must be a whole number of at least 1, got 0"),
        ({"max_params": "1B"}, "max_params must be a number of parameters, e.g. 1e9, or None, got '1B'"),
        ({"zoo": 5}, "zoo must be a zoo folder, a Hub dataset id, 'demo' or a Zoo, got 5"),
        ({"dataset": None}, "dataset must be a Hub dataset id, an image folder or a .parquet file (a str or a path), got None"),
        ({"min_images": 1}, "min_images must be a whole number of at least 2, got 1"),
        ({"seed": -1}, "seed must be a whole number from 0 to 4294967295, got -1"),
        ({"seed": 2**32}, "seed must be a whole number from 0 to 4294967295, got 4294967296"),
        ({"n": 16.0}, "n must be a whole number of at least 1, got 16.0"),
        ({"license": 5}, "license must be license names, comma-separated or as a list (e.g. 'mit,apache-2.0'), got 5"),
        ({"license": []}, "license names no license, got []; pass license names (e.g. 'mit,apache-2.0'), or None for any license"),
        ({"license": ","}, "license names no license, got ','; pass license names (e.g. 'mit,apache-2.0'), or None for any license"),
    ],
)
def test_the_python_api_refuses_wrong_arguments_by_name(argument, expected, zoo_dir, ranker_dir, cool_folder):
    """What the CLI's option types refuse, recommend() refuses too, naming the parameter (not a
    TypeError from deep inside, some only after the sample was read and embedded)."""
    import hubselect
    from hubselect.errors import InputError

    call = {"dataset": str(cool_folder), "zoo": str(zoo_dir), "ranker": str(ranker_dir), "probe": str(tiny_clip_dir()), "n": 16} | argument
    with pytest.raises(InputError) as refused:
        hubselect.recommend(call.pop("dataset"), **call)
    assert str(refused.value) == expected


def test_hubselect_recommend_shows_its_parameters_and_import_hubselect_stays_light():
    """``hubselect.recommend`` was a wrapper taking ``**options``: ``help()`` and IDEs showed none
    of its parameters. It is the function itself, imported when first used, so that ``import
    hubselect`` (and every CLI command's start) still reads none of the library."""
    import inspect

    import hubselect
    from hubselect.recommendation import recommend

    assert hubselect.recommend is recommend
    assert {"zoo", "ranker", "top_k", "max_params", "license", "probe", "n", "seed"} <= set(inspect.signature(hubselect.recommend).parameters)
    with pytest.raises(TypeError, match="unexpected keyword argument 'topk'"):
        hubselect.recommend("org/pets", topk=3)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, hubselect; print('hubselect.recommendation' in sys.modules)"], capture_output=True, text=True, check=True
    )
    assert loaded.stdout == "False\n"


def test_help_of_hubselect_lists_recommend_and_dir_names_it_before_it_is_loaded():
    """``help(hubselect)`` listed ``__getattr__`` as the package's function, and ``dir(hubselect)``
    lacked ``recommend``: loaded when first used, it was in neither until someone called it."""
    code = ("import sys, pydoc, hubselect; print('recommend' in dir(hubselect), 'hubselect.recommendation' in sys.modules); "
            "print(pydoc.render_doc(hubselect, renderer=pydoc.plaintext))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    listed, doc = shown.stdout.split("\n", 1)
    assert listed == "True False"  # dir() names it without reading the library
    functions = doc.split("\nFUNCTIONS\n")[1].split("\nDATA\n")[0]
    assert "    recommend(dataset" in functions and "Rank the zoo's models for ``dataset``" in functions, doc


def test_the_python_api_takes_paths(zoo_dir, ranker_dir, cool_folder):
    import hubselect

    result = hubselect.recommend(cool_folder, zoo=zoo_dir, ranker=ranker_dir, probe=str(tiny_clip_dir()), n=16, top_k=1)
    assert result.recommendations[0].model == "org/cool-expert"


def test_the_python_api_takes_numpy_numbers(zoo_dir, ranker_dir, cool_folder):
    """Numbers read from an array or a DataFrame are numpy's; they went through, then JSON refused them."""
    import numpy as np

    import hubselect

    result = hubselect.recommend(str(cool_folder), zoo=str(zoo_dir), ranker=str(ranker_dir), probe=str(tiny_clip_dir()),
                                 n=np.int64(16), seed=np.int64(0), top_k=np.int32(1), min_images=np.int64(8), max_params=np.float64(1e12))
    assert [r.model for r in result.recommendations] == ["org/cool-expert"]
    json.dumps(result.to_dict())


def test_a_small_folder_is_refused_until_min_images_allows_it(zoo_dir, ranker_dir, tmp_path, capsys):
    """The error names the option that lowers the floor, and recommend has that option."""
    small = write_image_folder(tmp_path / "five-cool-images", 5, style="cool", seed=7)
    args = ["recommend", small, "--zoo", zoo_dir, "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16", "--format", "json"]
    code, out, refused = run_cli(capsys, *args)
    assert code == 2 and out == "" and refused.count("\n") == 1, refused
    assert "it holds only 5 images" in refused and "lower --min-images" in refused
    code, out, err = run_cli(capsys, *args, "--min-images", "4")
    assert code == 0, err
    document = json.loads(out)
    assert document["dataset"]["images"] == 5
    assert document["recommendations"][0]["model"] == "org/cool-expert"
    # Its embeddings are cached now: the floor still holds, with the same error.
    assert run_cli(capsys, *args) == (2, "", refused)


def test_a_ranker_of_another_revision_of_the_zoo_is_noted_and_ranks_only_the_zoos_models(zoo_dir, ranker_dir, cool_folder, tmp_path, capsys):
    """The ranker knows org/cool-expert; the zoo no longer holds its results, so it is not recommended."""
    smaller = Zoo.load(zoo_dir)
    smaller.records = smaller.records[smaller.records["model"] != "org/cool-expert"].reset_index(drop=True)
    smaller.save(tmp_path / "smaller")
    args = ["recommend", cool_folder, "--zoo", tmp_path / "smaller", "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16"]
    code, out, err = run_cli(capsys, *args, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert "org/cool-expert" not in {r["model"] for r in document["recommendations"]}
    assert len(document["recommendations"]) == len(MODELS) - 1
    built_on = json.loads((ranker_dir / "ranker.json").read_text())["zoo"]["fingerprint"]
    # The zoo's own revision, not the ranker's.
    assert document["zoo"]["revision"].startswith("local-") and built_on not in document["zoo"]["revision"]
    assert any(f"was built on zoo revision local-{built_on[:12]}" in n for n in document["notices"]), document["notices"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0 and err.count("was built on zoo revision") == 1, err


def test_a_model_profiled_after_the_ranker_was_built_is_counted_as_new_to_it(zoo_dir, cool_folder, tmp_path):
    """Crawled before the ranker was built, profiled after: the ranker holds the model without a
    result, so it cannot rank it, and the note on the ranker says so."""
    import hubselect
    from hubselect.rank import Ranker

    zoo = Zoo.load(zoo_dir)
    zoo.add_models([ModelRecord("org/late", revision="0" * 40, features={"total_params": 1_000_000, "license": "mit"})])
    ranker = Ranker.fit(zoo).save(tmp_path / "ranker")
    zoo.add_profiles(ProfileRecord("org/late", f"data/{style}-{seed}", 10.0, method="lora") for style in STYLES for seed in (1, 2))
    zoo.save(tmp_path / "zoo")
    result = hubselect.recommend(str(cool_folder), zoo=str(tmp_path / "zoo"), ranker=str(ranker), probe=str(tiny_clip_dir()), n=16)
    assert "org/late" not in {r.model for r in result.recommendations}
    assert any("1 of the zoo's models are new to it and not ranked" in n for n in result.notices), result.notices


def test_a_hub_datasets_split_other_than_train_is_shown(hub, hub_token, hub_repo_id, zoo_dir, ranker_dir, tmp_path, capsys):
    """Both splits share the id and the revision: the split is what tells them apart in the output."""
    from huggingface_hub import HfApi

    from hubselect.testing.tiny import write_parquet_shards

    for split, seed in (("train", 3), ("test", 4)):
        write_parquet_shards(tmp_path / "repo", 16, shards=1, row_group_size=16, style="cool", seed=seed, split=split)
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id, repo_type="dataset")
    api.upload_folder(repo_id=hub_repo_id, repo_type="dataset", folder_path=str(tmp_path / "repo"))
    common = [hub_repo_id, "--zoo", zoo_dir, "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16", "--token", hub_token]
    for split in ("train", "test"):
        code, out, err = run_cli(capsys, "recommend", *common, "--split", split, "--format", "json")
        assert code == 0, err
        assert json.loads(out)["dataset"]["split"] == split
        code, out, err = run_cli(capsys, "recommend", *common, "--split", split)
        assert code == 0, err
        assert ("(split test)" in out.splitlines()[0]) == (split == "test"), out


@pytest.fixture(scope="module")
def zoo_with_the_folder(zoo_dir, cool_folder, tmp_path_factory) -> Path:
    """The planted zoo plus ``cool_folder`` itself, profiled under its folder name, with results."""
    zoo = Zoo.load(zoo_dir)
    add_to_zoo(zoo, profile_dataset(cool_folder, probe=str(tiny_clip_dir()), n=16, min_images=8))
    fid = {model: 60.0 if model.startswith("org/generalist") else 70.0 for model in MODELS} | {"org/cool-expert": 20.0}
    zoo.add_profiles(ProfileRecord(model, cool_folder.name, fid[model], method="lora", score_before=fid[model] + 30) for model in MODELS)
    return zoo.save(tmp_path_factory.mktemp("named") / "zoo")


def test_a_dataset_added_to_the_zoo_after_the_ranker_was_built_is_named_as_such(zoo_with_the_folder, ranker_dir, cool_folder, capsys):
    """Not "not in the zoo": the zoo holds it, the ranker (built before it was added) does not."""
    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", zoo_with_the_folder, "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16")
    assert code == 0, err
    assert f"ignoring distances to 1 dataset(s) not in the zoo the ranker was built on (added since? rebuild it to use them): {cool_folder.name}" in err


def test_faithful_mode_takes_a_dataset_named_like_a_zoo_dataset(zoo_with_the_folder, cool_folder, tmp_path, monkeypatch, capsys):
    """recommend has no option to rename the dataset: faithful mode ranks a folder whose name is
    a zoo dataset's (another dataset, or that very one) as fast mode does, under the user's name."""
    from hubselect import constants

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    namesake = write_image_folder(tmp_path / "other" / cool_folder.name, 16, style="warm", seed=5)  # warm images, same name
    for folder, expert in ((namesake, "org/warm-expert"), (cool_folder, "org/cool-expert")):
        orders = {}
        for mode in ("fast", "faithful"):
            code, out, err = run_cli(
                capsys, "recommend", folder, "--zoo", zoo_with_the_folder, "--probe", tiny_clip_dir(), "--n", "16", "--mode", mode, "--format", "json"
            )
            assert code == 0, err
            document = json.loads(out)
            assert document["dataset"]["dataset"] == cool_folder.name
            orders[mode] = [r["model"] for r in document["recommendations"]]
        # The same order where the results differ (the other styles' experts tie at the bottom).
        assert orders["faithful"][0] == expert and orders["faithful"][:3] == orders["fast"][:3], orders
    # The zoo's copy of the very folder is its nearest dataset, at distance 0.
    nearest = document["dataset"]["nearest"][0]
    assert nearest["dataset"] == cool_folder.name and nearest["distance"] == pytest.approx(0.0, abs=1e-3)


def test_the_note_on_a_ranker_built_on_another_revision_names_a_build_that_works_on_a_zoo_of_several_methods(
    zoo_dir, ranker_dir, cool_folder, tmp_path, monkeypatch, capsys
):
    """The note said "(rebuild it with `hubselect build`)", which a zoo of several methods refuses
    ("choose one with --method"): it names the build of the method asked for, which runs as printed."""
    from hubselect import constants
    from hubselect.recommendation import recommend

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    zoo = Zoo.load(zoo_dir)
    zoo.add_profiles(ProfileRecord(r.model, r.dataset, float(r.score) + 5, method="dreambooth") for r in Zoo.load(zoo_dir).records.itertuples())
    zoo.add_profiles([ProfileRecord("org/newcomer", "data/cool-1", 25.0, method="lora")])
    folder = zoo.save(tmp_path / "zoo")
    result = recommend(str(cool_folder), zoo=str(folder), ranker=str(ranker_dir), method="lora", probe=str(tiny_clip_dir()), n=16, top_k=1)
    (note,) = [n for n in result.notices if "was built on zoo revision" in n]
    advised = re.search(r"\(rebuild it with `([^`]*)`\)", note).group(1)
    assert advised == f"hubselect build {folder} --method lora --out DIR", note
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, *shlex.split(advised)[1:])[0] == 0


@pytest.mark.parametrize(("table", "key", "column", "value"), [("models", "model", "license", "apache-2.0"), ("datasets", "dataset", "images", 3.0)])
def test_a_zoo_whose_features_changed_is_another_revision_of_it(table, key, column, value, zoo_dir, ranker_dir, cool_folder, tmp_path, monkeypatch):
    """The learner reads the models' and datasets' features: a zoo whose licenses or sizes changed
    (a re-crawl, an imported models.csv) is a new revision, which a ranker built before it is noted
    as not built on, and which gets a ranker built on the fly of its own, not the cached one."""
    from hubselect import constants
    from hubselect.recommendation import recommend

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    changed = Zoo.load(zoo_dir)
    frame = getattr(changed, table)
    frame.loc[frame[key] == frame[key].iloc[0], column] = value
    changed.save(tmp_path / "changed")
    common = dict(probe=str(tiny_clip_dir()), n=16, top_k=1)
    as_built = recommend(str(cool_folder), zoo=str(zoo_dir), ranker=str(ranker_dir), **common)
    moved_on = recommend(str(cool_folder), zoo=str(tmp_path / "changed"), ranker=str(ranker_dir), **common)
    assert as_built.zoo["revision"] != moved_on.zoo["revision"]
    assert not any("was built on zoo revision" in n for n in as_built.notices)
    assert any("was built on zoo revision" in n for n in moved_on.notices), moved_on.notices
    for zoo in (zoo_dir, tmp_path / "changed"):
        built = recommend(str(cool_folder), zoo=str(zoo), **common)
        assert any("no ranker is published" in n for n in built.notices), f"{zoo}: a ranker cached for another zoo was reused"


def test_adapters_crawled_into_the_zoo_leave_its_rankers_current(zoo_dir, ranker_dir, cool_folder, tmp_path, monkeypatch):
    """`crawl --kind lora` adds adapters no ranker ranks (no results, never recommended): the zoo
    is the revision the ranker was built on (no note that it is stale), and the ranker built on
    the fly for the zoo is the cached one. A pipeline crawled is another revision."""
    from hubselect import constants
    from hubselect.recommendation import recommend

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    zoo = Zoo.load(zoo_dir)
    zoo.add_models([ModelRecord("org/lora-sks", revision="a" * 40, features={
        "kind": "lora", "base_model": "org/warm-expert", "license": "other", "lora_rank": 4, "trigger_words": "sks style"})])
    zoo.save(tmp_path / "with-adapter")
    zoo.add_models([ModelRecord("org/new-pipeline", revision="b" * 40, features={"kind": "t2i", "total_params": 2_000_000, "license": "mit"})])
    zoo.save(tmp_path / "with-pipeline")
    common = dict(probe=str(tiny_clip_dir()), n=16, top_k=len(MODELS))

    def ranked(result):
        return [(r.model, r.score) for r in result.recommendations]

    as_built = recommend(str(cool_folder), zoo=str(zoo_dir), ranker=str(ranker_dir), **common)
    with_adapter = recommend(str(cool_folder), zoo=str(tmp_path / "with-adapter"), ranker=str(ranker_dir), **common)
    assert with_adapter.zoo["revision"] == as_built.zoo["revision"]
    assert not any("was built on zoo revision" in n for n in with_adapter.notices), with_adapter.notices
    assert ranked(with_adapter) == ranked(as_built)
    with_pipeline = recommend(str(cool_folder), zoo=str(tmp_path / "with-pipeline"), ranker=str(ranker_dir), **common)
    assert any("was built on zoo revision" in n for n in with_pipeline.notices), with_pipeline.notices

    recommend(str(cool_folder), zoo=str(zoo_dir), **common)  # fits a ranker and caches it
    again = recommend(str(cool_folder), zoo=str(tmp_path / "with-adapter"), **common)
    assert any("from the cache" in n for n in again.notices) and not any("no ranker is published" in n for n in again.notices), again.notices


def test_the_ranker_card_and_build_count_the_models_recommend_names_not_those_the_crawl_flagged(zoo_dir, cool_folder, tmp_path, capsys):
    """A model deleted from the Hub keeps its results in the zoo, flagged, and recommend leaves it
    out: the ranker's card said it "ranks the 6 models" (and "6 × 8") where recommend listed 5."""
    from hubselect.crawl.driver import GONE_REASON
    from hubselect.hub.ranker_repo import ranker_card

    zoo = Zoo.load(zoo_dir)
    zoo.add_models([ModelRecord("org/generalist-b", "0" * 40, {"excluded_reason": GONE_REASON})])
    folder = zoo.save(tmp_path / "zoo")
    code, out, err = run_cli(capsys, "build", folder, "--out", tmp_path / "ranker")
    assert code == 0, err
    assert out.startswith(
        "Built a ranker for 5 models with results × 8 datasets (and 1 with results that recommend never names, flagged by the crawl "
    ), out
    card = ranker_card(json.loads((tmp_path / "ranker" / "ranker.json").read_text()), "org/zoo-ranker", None)
    assert "it ranks the 5 models with fine-tuning results" in card and "| models it ranks × datasets | 5 × 8 |" in card, card
    assert "1 more model with results is flagged by the zoo's crawl" in card

    common = ["--probe", tiny_clip_dir(), "--n", "16", "--top-k", "10", "--format", "json"]
    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", folder, "--ranker", tmp_path / "ranker", *common)
    assert code == 0, err
    named = [r["model"] for r in json.loads(out)["recommendations"]]
    assert len(named) == 5 and "org/generalist-b" not in named, named


def test_a_dataset_near_none_of_the_rankers_datasets_is_ranked_without_evidence(ranker_dir):
    from hubselect.rank import NewDataset, Ranker

    predictions = Ranker.load(ranker_dir).predict(NewDataset("elsewhere", {}, {"data/not-in-the-zoo": 1.0}))
    assert len(predictions) == len(MODELS) and all(p.evidence == () and np.isnan(p.expected_low) for p in predictions)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("scored otherwise", "was built on a zoo scored by fid_after_finetune (lower is better), zoo "),
        ("another zoo", "was built on another zoo: it knows none of zoo "),
    ],
)
def test_a_ranker_built_for_another_zoo_is_refused(case, expected, zoo_dir, ranker_dir, cool_folder, tmp_path, capsys):
    import dataclasses

    zoo, ranker = zoo_dir, ranker_dir
    if case == "scored otherwise":
        flipped = Zoo.load(zoo_dir)
        flipped.meta = dataclasses.replace(flipped.meta, score="accuracy", higher_is_better=True)
        zoo = flipped.save(tmp_path / "accuracy-zoo")
    else:
        ranker = bundled_paths().ranker  # the demo zoo's: none of its models or datasets are in this zoo
    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", zoo, "--ranker", ranker, "--probe", tiny_clip_dir(), "--n", "16")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert expected in err and "--ranker" in err


def evaluation_report(targets: list[str]) -> dict:
    """What `hubselect evaluate --json` writes, with made-up figures, for these targets."""
    return {
        "method": {"top1_hit": 1.0, "top1_score": 20.1, "rel1": 1.0, "regret": 0.0, "pearson": 0.9, "spearman": 0.8, "ndcg5": 0.95},
        "baselines": {"random": {"top1_hit": 0.17, "top1_score": 55.0, "rel1": 0.4, "regret": 35.0, "pearson": 0.0, "spearman": 0.0, "ndcg5": 0.5}},
        "margins": {
            "random": {m: {"mean": 0.5, "low": 0.4, "high": 0.6, "targets": 1} for m in ("top1_hit", "rel1", "pearson", "spearman", "ndcg5")},
            "nearest_dataset": {m: {"mean": -0.05, "low": -0.2, "high": 0.1, "targets": 1} for m in ("top1_hit", "rel1", "pearson", "spearman", "ndcg5")},
        },
        "targets": {target: {} for target in targets},
    }


def test_recommend_from_the_hub_with_the_published_ranker(hub, hub_token, hub_repo_id, zoo_dir, ranker_dir, cool_folder, tmp_path, capsys):
    from huggingface_hub import ModelCard

    Zoo.load(zoo_dir).push(hub_repo_id, token=hub_token)
    # An evaluation of some of the zoo's datasets (`evaluate --targets`) is this ranker's.
    (tmp_path / "evaluation.json").write_text(json.dumps(evaluation_report(["data/cool-1"])))
    ranker_repo = hub_repo_id + "-ranker"
    code, out, err = run_cli(capsys, "push", ranker_dir, "--repo", ranker_repo, "--evaluation", tmp_path / "evaluation.json", "--token", hub_token)
    assert code == 0, err
    card = ModelCard.load(ranker_repo, token=hub_token)
    card.validate(repo_type="model")
    assert "| **hubselect** | 1.000 |" in card.text and "| random |" in card.text
    # A report of an older hubselect does not say which zoo, method and configuration it evaluated: the card says what was checked.
    assert "does not record which zoo, method and configuration it evaluated (an older\nhubselect wrote it): only its target datasets could be checked" in card.text
    assert "evaluation.json does not record the zoo, method and configuration it evaluated" in err and "the card says so" in err
    # How sure the comparison is, per baseline other than chance: mean [95% interval].
    assert "| nearest_dataset | -0.050 [-0.200, +0.100] |" in card.text
    assert "| random | +0.500" not in card.text

    env = {**os.environ, "HF_TOKEN": hub_token}
    command = [sys.executable, "-m", "hubselect", "recommend", str(cool_folder), "--zoo", hub_repo_id, "--probe", str(tiny_clip_dir()), "--n", "16", "--format", "json"]
    online = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert online.returncode == 0, online.stderr
    document = json.loads(online.stdout)
    assert document["ranker"]["source"] == ranker_repo
    assert document["zoo"]["repo"] == hub_repo_id and len(document["zoo"]["revision"]) == 40
    assert document["recommendations"][0]["model"] == "org/cool-expert"

    # Once cached, the same call works offline, and with the Hub unreachable (nothing listens
    # at the endpoint): the published ranker comes from the cache, not a ranker built instead.
    offline = subprocess.run(command, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=180)
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)["recommendations"] == document["recommendations"]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{closed.getsockname()[1]}"
    down = subprocess.run(command, env={**env, "HF_ENDPOINT": unreachable}, capture_output=True, text=True, timeout=180)
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)["ranker"]["source"] == ranker_repo
    assert json.loads(down.stdout)["recommendations"] == document["recommendations"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{bad", "not JSON: Expecting property name enclosed in double quotes at line 1"),
        ("[1, 2]", "not a JSON object"),
        ('{"foo": 1}', "no 'method' metrics"),
        ('{"method": {"top1_hit": 1.0}}', "'method' lacks top1_score, rel1, regret, pearson, spearman, ndcg5"),
        (json.dumps({**evaluation_report([]), "targets": {}}), "no 'targets'"),
    ],
    ids=["not-json", "array", "no-method", "metrics-missing", "no-targets"],
)
def test_push_with_a_file_that_is_not_an_evaluation_report_is_a_one_line_error(text, problem, hub, hub_token, hub_repo_id, ranker_dir, tmp_path, capsys):
    (tmp_path / "report.json").write_text(text)
    code, out, err = run_cli(capsys, "push", ranker_dir, "--repo", hub_repo_id, "--evaluation", tmp_path / "report.json", "--token", hub_token)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"report.json is not an evaluation report from `hubselect evaluate --json FILE` ({problem}); write one with" in err
    assert not hub.request_log, "nothing is pushed"


def test_push_says_a_damaged_evaluation_it_read_by_default_is_the_ranker_folders(hub, hub_token, hub_repo_id, ranker_dir, tmp_path, capsys):
    import shutil as shell

    folder = tmp_path / "ranker"
    shell.copytree(ranker_dir, folder)
    (folder / "evaluation.json").write_text("{bad")
    code, out, err = run_cli(capsys, "push", folder, "--repo", hub_repo_id, "--token", hub_token)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"push reads it from the ranker folder by default: write it again with `hubselect evaluate ZOO --json {folder}/evaluation.json`" in err
    assert "pass another with --evaluation FILE, or move it away" in err and not hub.request_log


TEXT_ZOO_TARGETS = ["ag_news", "glue/cola", "rotten_tomatoes"]  # the TransferGraph text zoo's, not this zoo's


@pytest.mark.parametrize("given", ["--evaluation", "RANKER_DIR/evaluation.json"])
def test_push_refuses_an_evaluation_of_another_zoo_before_pushing(given, hub, hub_token, hub_repo_id, ranker_dir, tmp_path, capsys):
    """Its figures would be published in the card as this ranker's."""
    import shutil

    report = evaluation_report(["data/cool-1", *TEXT_ZOO_TARGETS])  # one of this zoo's is not enough
    if given == "--evaluation":
        (tmp_path / "text-evaluation.json").write_text(json.dumps(report))
        folder, args = ranker_dir, ["--evaluation", tmp_path / "text-evaluation.json"]
    else:
        folder, args = shutil.copytree(ranker_dir, tmp_path / "ranker"), []
        (folder / "evaluation.json").write_text(json.dumps(report))
    code, out, err = run_cli(capsys, "push", folder, "--repo", hub_repo_id, *args, "--token", hub_token)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "evaluates another zoo than this ranker's: 3 of its 4 targets (e.g. 'ag_news')" in err
    assert "not among the 8 datasets the ranker was built on" in err and "hubselect evaluate ZOO --json FILE" in err
    assert not hub.request_log, "nothing is pushed"


def test_push_ranker_refuses_an_evaluation_of_another_zoo(hub, hub_token, hub_repo_id, ranker_dir):
    from hubselect.errors import InputError
    from hubselect.hub.ranker_repo import push_ranker

    with pytest.raises(InputError, match="the evaluation given evaluates another zoo than this ranker's: 3 of its 3 targets"):
        push_ranker(ranker_dir, hub_repo_id, token=hub_token, evaluation=evaluation_report(TEXT_ZOO_TARGETS))
    assert not hub.request_log


@pytest.fixture(scope="module")
def learner_ranker_dir(zoo_dir, tmp_path_factory) -> Path:
    """A ranker of the zoo with a LightGBM learner file (``ranker_dir`` ranks by the prior alone)."""
    from hubselect.graph import ZooArrays
    from hubselect.rank import Ranker, RankerConfig
    from hubselect.rank.ranker import Choice, Ensemble

    arrays = ZooArrays.from_zoo(Zoo.load(zoo_dir))
    ranker = Ranker.fit_arrays(arrays, RankerConfig(), ensemble=Ensemble((Choice("interaction", "strong", 8),)))
    return ranker.save(tmp_path_factory.mktemp("learner") / "ranker")


def damaged(folder: Path, how: str, where: Path) -> Path:
    """A copy of a ranker folder that this hubselect cannot load."""
    copy = shutil.copytree(folder, where)
    info = json.loads((copy / "ranker.json").read_text())
    if how == "older format":  # published before an upgrade changed the format
        (copy / "ranker.json").write_text(json.dumps({**info, "format_version": 2}))
    elif how == "learner file missing":
        (copy / next(iter(info["files"]["learners"].values()))).unlink()
    else:
        (copy / "ranker.json").write_text("{not json")
    return copy


DAMAGE = {
    "older format": "ranker format 2 is not supported (this hubselect reads 3); rebuild the ranker with `hubselect build ZOO --out DIR`",
    "learner file missing": "learner-interaction-strong.txt is missing; rebuild the ranker with `hubselect build ZOO --out DIR`",
    "corrupt ranker.json": "ranker.json is damaged (not valid JSON: Expecting property name enclosed in double quotes); rebuild the ranker",
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_push_refuses_a_ranker_folder_that_does_not_load_before_pushing(how, hub, hub_token, hub_repo_id, learner_ranker_dir, tmp_path, capsys):
    """Published, it would fail `recommend` for every user of the zoo."""
    folder = damaged(learner_ranker_dir, how, tmp_path / "ranker")
    code, out, err = run_cli(capsys, "push", folder, "--repo", hub_repo_id, "--token", hub_token)
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"Error: {folder}") and DAMAGE[how] in err and "unexpected" not in err, err
    assert not hub.request_log, "nothing is pushed"


def publish_as_is(folder: Path, repo_id: str, token: str) -> None:
    """Upload a ranker folder without `hubselect push` (an older hubselect pushed it, or a format bump came since)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*commit a data file.*")  # the ranker's zoo/ tables
        api.upload_folder(repo_id=repo_id, folder_path=str(folder))


@pytest.mark.parametrize("how", ["older format", "learner file missing"])
def test_a_published_ranker_that_cannot_be_loaded_is_stale_and_recommend_builds_one(
    how, hub, hub_token, hub_repo_id, zoo_dir, learner_ranker_dir, cool_folder, tmp_path, capsys
):
    """ranker-status exits 0 with its JSON (the refresh workflow rebuilds on it), and every user of
    the zoo still gets a recommendation, with a notice naming the problem."""
    ranker_repo = hub_repo_id + "-ranker"
    Zoo.load(zoo_dir).push(hub_repo_id, token=hub_token)
    publish_as_is(damaged(learner_ranker_dir, how, tmp_path / "ranker"), ranker_repo, hub_token)
    # The advice names the zoo's repo and the push that publishes the ranker again, not placeholders.
    rebuild = f"`hubselect build {hub_repo_id} --out ranker` and `hubselect push ranker --repo {ranker_repo}`"
    problem = f"the published ranker {ranker_repo} cannot be loaded: {DAMAGE[how]}".replace("`hubselect build ZOO --out DIR`", rebuild)
    assert rebuild in problem

    code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--token", hub_token, "--format", "json")
    assert code == 0, err
    status = json.loads(out)
    assert (status["status"], status["rebuild"]) == ("stale", True) and status["reason"].startswith(problem), status
    assert "snapshots" not in status["reason"]  # the repo, not the cache folder it was downloaded to

    common = ["--probe", tiny_clip_dir(), "--n", "16", "--token", hub_token]
    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", hub_repo_id, *common, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["ranker"]["source"] == "built from the zoo" and document["recommendations"][0]["model"] == "org/cool-expert"
    assert [n for n in document["notices"] if n.startswith(problem)], document["notices"]
    assert not [n for n in document["notices"] if "no ranker is published" in n], document["notices"]
    # Asked for by name, it is still an error: the user chose that ranker.
    code, out, err = run_cli(capsys, "recommend", cool_folder, "--zoo", hub_repo_id, "--ranker", ranker_repo, *common)
    assert code == 1 and out == "" and err.count("\n") == 1 and DAMAGE[how] in err, err


@pytest.mark.parametrize("command", ["recommend", "dataset similar"])
def test_a_zoo_without_dataset_profiles_says_how_to_profile_it_where_it_is(command, hub, hub_token, hub_repo_id, cool_folder, tmp_path, capsys):
    """`dataset profile --zoo` writes a folder: a Hub zoo is pulled, profiled and pushed back."""
    unprofiled = Zoo(ZooMeta(score="accuracy", higher_is_better=True))
    unprofiled.add_profiles(ProfileRecord(model, f"text/d{i}", 0.5 + i / 10, method="lora") for i, model in enumerate(MODELS))
    unprofiled.push(hub_repo_id, token=hub_token)
    unprofiled.save(tmp_path / "zoo-text")
    for zoo in (hub_repo_id, tmp_path / "zoo-text"):
        code, out, err = run_cli(capsys, *command.split(), cool_folder, "--zoo", zoo, "--probe", tiny_clip_dir(), "--token", hub_token)
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert f"zoo {zoo} holds no dataset profiles" in err
        if zoo == hub_repo_id:
            assert f"`hubselect zoo pull {zoo} --out DIR`, `hubselect dataset profile DATASET --zoo DIR`, `hubselect zoo push DIR --repo {zoo}`" in err
        else:
            assert f"`hubselect dataset profile DATASET --zoo {zoo}`" in err


def test_unknown_and_gated_hub_datasets(hub, hub_token, hub_repo_id, zoo_dir, ranker_dir, capsys):
    from huggingface_hub import HfApi

    common = ["--zoo", zoo_dir, "--ranker", ranker_dir, "--probe", tiny_clip_dir(), "--n", "16"]
    code, out, err = run_cli(capsys, "recommend", "nobody/no-such-dataset", *common)
    assert code != 0 and err.count("\n") == 1 and "was not found" in err

    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id, repo_type="dataset")
    api.upload_folder(repo_id=hub_repo_id, repo_type="dataset", folder_path=str(style_folder("warm", 16, 1)))
    hub.set_gated(hub_repo_id, repo_type="dataset")
    code, out, err = run_cli(capsys, "recommend", hub_repo_id, *common, "--token", "hf_stranger")
    assert code != 0 and err.count("\n") == 1 and "gated" in err and "request access" in err


def test_ranker_status_says_whether_the_published_ranker_is_built_on_the_zoo_as_it_is(hub, hub_token, hub_repo_id, zoo_dir, ranker_dir, capsys):
    # What the refresh workflow asks before it rebuilds a ranker: the check `recommend` makes.
    ranker_repo = hub_repo_id + "-ranker"

    def status() -> dict:
        code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--token", hub_token, "--format", "json")
        assert code == 0, err
        return json.loads(out)

    Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False)).push(hub_repo_id, token=hub_token)
    assert (status()["status"], status()["rebuild"]) == ("no-results", False)
    # One model's results (the other models' jobs failed): `build` would refuse, so no rebuild either.
    lone = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    lone.add_profiles([ProfileRecord("org/cool-expert", "data/cool-1", 20.0, method="lora"), ProfileRecord("org/cool-expert", "data/cool-2", 21.0, method="lora")])
    lone.push(hub_repo_id, token=hub_token)
    result = status()
    assert (result["status"], result["rebuild"]) == ("no-results", False) and "two or more models" in result["reason"]

    Zoo.load(zoo_dir).push(hub_repo_id, token=hub_token)
    assert (status()["status"], status()["rebuild"], status()["ranker"]) == ("missing", True, ranker_repo)

    code, out, err = run_cli(capsys, "push", ranker_dir, "--repo", ranker_repo, "--token", hub_token)
    assert code == 0, err
    assert (status()["status"], status()["rebuild"], status()["reason"]) == ("current", False, None)

    # The zoo moves on (a push of the zoo that the ranker push after it never followed).
    grown = Zoo.load(zoo_dir)
    grown.add_profiles([ProfileRecord("org/newcomer", "data/cool-1", 25.0, method="lora")])
    revision = grown.push(hub_repo_id, token=hub_token)
    result = status()
    assert (result["status"], result["rebuild"], result["revision"]) == ("stale", True, revision)
    assert f"the zoo is at {revision[:12]}" in result["reason"] and "1 of the zoo's models are new to it and not ranked" in result["reason"]
    code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--token", hub_token)
    assert code == 0 and out.startswith(f"stale: the published ranker {ranker_repo} was built on zoo revision local-") and out.count("\n") == 1, out

    code, out, err = run_cli(capsys, "zoo", "ranker-status", "tester/no-such-zoo", "--token", hub_token)
    assert (code, out) == (3, "") and "tester/no-such-zoo was not found" in err and err.count("\n") == 1


@pytest.mark.parametrize("zoo, expected", [
    ("demo", "zoo demo is the demo zoo bundled with hubselect, not a Hub repo: its ranker ships with it"),
    ("myzoo", "zoo myzoo: say whose repo it is, as ORG/NAME"),
    ("org/zoo@main", "zoo 'org/zoo@main': not a Hub repo id; pass ORG/NAME"),
    ("tester/zoo --ranker myranker", "--ranker myranker: say whose repo it is, as ORG/NAME"),
    ("tester/zoo --ranker tester/ranker@main", "--ranker 'tester/ranker@main': not a Hub repo id; pass ORG/NAME"),
])
def test_ranker_status_refuses_what_is_not_a_hub_zoo_repo_before_asking_the_hub(zoo, expected, hub, hub_token, capsys):
    """A bare name reached the Hub and came back as "not in the local cache … run once with network
    access" or a 404 "rerun later", which never mend it: the bundled `demo` zoo (every other
    command's zoo name) has no published ranker to check, its ranker ships with it. A bare
    --ranker did the same after the zoo's requests (`push --repo` refuses it)."""
    code, out, err = run_cli(capsys, "zoo", "ranker-status", *zoo.split(), "--token", hub_token)
    assert (code, out) == (2, "") and err.startswith(f"Error: {expected}") and err.count("\n") == 1, err
    assert "ORG/NAME" in err and "unexpected" not in err
    assert hub.request_log == []


def test_ranker_status_says_what_is_wrong_with_a_ranker_of_a_method_the_zoo_does_not_hold(hub, hub_token, hub_repo_id, zoo_dir, ranker_dir, capsys):
    """Without --method, ranker-status says which methods are whose, and how to build the zoo's ranker."""
    ranker_repo = hub_repo_id + "-ranker"
    planted = Zoo.load(zoo_dir)

    def push_as(repo_id: str, *methods: str) -> None:
        relabelled = Zoo(planted.meta)
        relabelled.add_profiles(ProfileRecord(r.model, r.dataset, float(r.score), method=m) for r in planted.records.itertuples() for m in methods)
        relabelled.push(repo_id, token=hub_token)

    def status(*args: str, zoo: str = hub_repo_id) -> str:
        code, out, err = run_cli(capsys, "zoo", "ranker-status", zoo, "--token", hub_token, *args)
        assert code == 0, err
        return out

    build = f"`hubselect build {hub_repo_id} --method M --out ranker` (M: one of dreambooth, full)"
    push_as(hub_repo_id, "full", "dreambooth")
    assert status() == f"missing: no ranker is published at {ranker_repo}; build one with {build} and publish it with `hubselect push ranker --repo {ranker_repo}`\n"
    assert run_cli(capsys, "push", ranker_dir, "--repo", ranker_repo, "--token", hub_token)[0] == 0  # built on the lora results
    result = json.loads(status("--format", "json"))
    assert (result["status"], result["rebuild"]) == ("stale", True)
    assert result["reason"] == (
        f"the published ranker {ranker_repo} was built on lora results, zoo {hub_repo_id} holds none of those but dreambooth, full results "
        f"(the ranker was built on another zoo or method); rebuild it with {build} and push it with `hubselect push ranker --repo {ranker_repo}`"
    )
    full_only = hub_repo_id + "-full"
    push_as(full_only, "full")
    assert status("--ranker", ranker_repo, zoo=full_only) == (
        f"stale: the published ranker {ranker_repo} was built on lora results, zoo {full_only} holds full results (the ranker was built on "
        f"another zoo or method); rebuild it with `hubselect build {full_only} --out ranker` and push it with `hubselect push ranker --repo {ranker_repo}`\n"
    )


def test_recommend_for_a_method_other_than_the_published_rankers_ranks_with_one_built_for_it(
    hub, hub_token, hub_repo_id, zoo_dir, ranker_dir, cool_folder, tmp_path, monkeypatch, capsys
):
    """A zoo of two methods has one published ranker, built on one method's results (lora here).
    `recommend --method dreambooth` (method= in Python) was refused, told to "leave --ranker out"
    (never passed) or to run a `build` without --method (which such a zoo refuses). That ranker is
    not this query's: one is built from the zoo's dreambooth results, with a notice naming the
    method the published one was built for. Passed with --ranker, it is refused, with advice that
    works as printed."""
    import hubselect
    from hubselect import constants

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    zoo = Zoo.load(zoo_dir)
    # On dreambooth, generalist-a is best everywhere: the ranking says whose results ranked it.
    zoo.add_profiles(
        ProfileRecord(r.model, r.dataset, 10.0 if r.model == "org/generalist-a" else float(r.score) + 50, method="dreambooth")
        for r in Zoo.load(zoo_dir).profile_records()
    )
    zoo.push(hub_repo_id, token=hub_token)
    ranker_repo = hub_repo_id + "-ranker"
    assert run_cli(capsys, "push", ranker_dir, "--repo", ranker_repo, "--token", hub_token)[0] == 0  # built on the lora results
    common = [cool_folder, "--zoo", hub_repo_id, "--probe", tiny_clip_dir(), "--n", "16", "--token", hub_token, "--format", "json"]

    code, out, err = run_cli(capsys, "recommend", *common, "--method", "lora")
    assert code == 0, err
    assert (json.loads(out)["ranker"]["source"], json.loads(out)["recommendations"][0]["model"]) == (ranker_repo, "org/cool-expert")

    code, out, err = run_cli(capsys, "recommend", *common, "--method", "dreambooth")
    assert code == 0, err
    document = json.loads(out)
    assert (document["ranker"]["source"], document["ranker"]["method"]) == ("built from the zoo", "dreambooth")
    assert document["recommendations"][0]["model"] == "org/generalist-a"
    assert document["notices"][0] == (
        f"the published ranker {ranker_repo} was built on lora results, not on zoo {hub_repo_id}'s dreambooth results: "
        f"a ranker built from zoo {hub_repo_id} ranks instead (cached for next time)"
    )
    result = hubselect.recommend(str(cool_folder), zoo=hub_repo_id, method="dreambooth", probe=str(tiny_clip_dir()), n=16, token=hub_token)
    assert (result.ranker["source"], result.recommendations[0].model) == ("built from the zoo", "org/generalist-a")

    # Chosen by name, that ranker is refused; what the error advises works as printed.
    code, out, err = run_cli(capsys, "recommend", *common, "--method", "dreambooth", "--ranker", ranker_repo)
    build = f"hubselect build {hub_repo_id} --method dreambooth --out DIR"
    assert (code, out) == (2, "") and err == (
        f"Error: the ranker {ranker_repo} was built on lora results, not on zoo {hub_repo_id}'s dreambooth results; "
        f"pass --method lora, or use a ranker built on this zoo (`{build}`), or leave --ranker out\n"
    )
    code, out, err = run_cli(capsys, *build.split()[1:-1], tmp_path / "built", "--token", hub_token)
    assert code == 0, err
    code, out, err = run_cli(capsys, "recommend", *common, "--method", "dreambooth", "--ranker", tmp_path / "built")
    assert code == 0, err
    assert (json.loads(out)["ranker"]["source"], json.loads(out)["recommendations"][0]["model"]) == (str(tmp_path / "built"), "org/generalist-a")

    # So with a published ranker that cannot rank for the zoo at all (built on a zoo scored otherwise): its users still get a ranking.
    import dataclasses

    flipped = Zoo.load(zoo_dir)
    flipped.meta = dataclasses.replace(flipped.meta, score="accuracy", higher_is_better=True)
    flipped.push(hub_repo_id + "-accuracy", token=hub_token)
    assert run_cli(capsys, "push", ranker_dir, "--repo", hub_repo_id + "-accuracy-ranker", "--token", hub_token)[0] == 0
    code, out, err = run_cli(capsys, "recommend", *common[:2], hub_repo_id + "-accuracy", *common[3:])
    assert code == 0, err
    assert json.loads(out)["ranker"]["source"] == "built from the zoo"
    assert json.loads(out)["notices"][0].startswith(f"the published ranker {hub_repo_id}-accuracy-ranker was built on a zoo scored by fid_after_finetune")
    # ranker-status calls it stale, with the commands that mend it (not recommend's "leave --ranker out").
    code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id + "-accuracy", "--token", hub_token, "--format", "json")
    assert code == 0 and json.loads(out)["status"] == "stale", err
    assert json.loads(out)["reason"].endswith(
        f"; rebuild it with `hubselect build {hub_repo_id}-accuracy --out ranker` and push it with `hubselect push ranker --repo {hub_repo_id}-accuracy-ranker`"
    )


def test_ranker_status_with_method_checks_the_ranker_is_of_that_method_and_that_build_would_have_results_of_it(
    hub, hub_token, hub_repo_id, zoo_dir, ranker_dir, capsys
):
    """The refresh workflow builds with --method "$METHOD", and ranker-status took no --method: with
    METHOD=dreambooth on a zoo of lora results and one model's dreambooth results it said "stale,
    rebuild", and Build failed. It now says no-results (no rebuild) with what the zoo holds of
    each method, and calls a ranker of another method stale, with the build that replaces it."""
    ranker_repo = hub_repo_id + "-ranker"

    def status(*args: str) -> dict:
        code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--token", hub_token, "--format", "json", *args)
        assert code == 0, err
        return json.loads(out)

    zoo = Zoo.load(zoo_dir)  # lora results: 6 models on 8 datasets
    zoo.add_profiles([ProfileRecord("org/cool-expert", f"data/cool-{i}", 30.0 + i, method="dreambooth") for i in (1, 2)])
    zoo.push(hub_repo_id, token=hub_token)
    assert run_cli(capsys, "push", ranker_dir, "--repo", ranker_repo, "--token", hub_token)[0] == 0  # built on the lora results

    result = status("--method", "dreambooth")
    assert (result["status"], result["rebuild"], result["method"]) == ("no-results", False, "dreambooth"), result
    assert result["reason"] == (
        f"zoo {hub_repo_id}'s dreambooth results are too few to build a ranker on: a ranker needs a dataset with results for two or "
        "more models, and they have no such datasets (2 results of 1 model); its lora results have 8 such datasets (data/cool-1, "
        f"data/cool-2, data/mono-1, …; 48 results of 6 models); use the lora results with `hubselect build {hub_repo_id} --out ranker "
        "--method lora`, or profile more models (`hubselect profile --models A,B --datasets D --methods dreambooth --zoo ZOO`) or "
        "import their records (`hubselect zoo import` with --method dreambooth)"
    )
    assert (status("--method", "lora")["status"], status()["status"]) == ("current", "current")
    assert status("--method", "textual-inversion")["reason"].startswith(f"zoo {hub_repo_id} holds no textual-inversion results to build a ranker on; ")

    zoo.add_profiles([ProfileRecord("org/warm-expert", "data/cool-1", 40.0, method="dreambooth")])
    zoo.push(hub_repo_id, token=hub_token)
    result = status("--method", "dreambooth")
    assert (result["status"], result["rebuild"]) == ("stale", True), result
    assert result["reason"] == (
        f"the published ranker {ranker_repo} was built on lora results, not dreambooth results; rebuild it with "
        f"`hubselect build {hub_repo_id} --method dreambooth --out ranker` and push it with `hubselect push ranker --repo {ranker_repo}`"
    )
    assert status("--method", "lora")["status"] == "current"


def test_ranker_status_advises_a_rebuild_that_works_on_a_zoo_of_several_methods(hub, hub_token, hub_repo_id, zoo_dir, ranker_dir, tmp_path, monkeypatch, capsys):
    """A ranker stale because the zoo moved on was to be rebuilt "with `hubselect build`", which a
    zoo of several methods refuses ("choose one with --method"). The advice is the build of the
    ranker's method, and run as printed, then pushed as printed, the ranker is current again."""
    ranker_repo = hub_repo_id + "-ranker"
    zoo = Zoo.load(zoo_dir)
    zoo.add_profiles(ProfileRecord(r.model, r.dataset, float(r.score) + 5, method="dreambooth") for r in Zoo.load(zoo_dir).records.itertuples())
    zoo.push(hub_repo_id, token=hub_token)
    assert run_cli(capsys, "push", ranker_dir, "--repo", ranker_repo, "--token", hub_token)[0] == 0  # built on the lora results
    zoo.add_profiles([ProfileRecord("org/newcomer", "data/cool-1", 25.0, method="lora")])
    zoo.push(hub_repo_id, token=hub_token)

    for args in ((), ("--method", "lora")):
        code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--token", hub_token, *args)
        assert code == 0 and out.startswith(f"stale: the published ranker {ranker_repo} was built on zoo revision local-"), out
        assert out.endswith(
            f"(rebuild it with `hubselect build {hub_repo_id} --method lora --out ranker` and push it with `hubselect push ranker --repo {ranker_repo}`)\n"
        ), out

    monkeypatch.chdir(tmp_path)
    for command in re.findall(r"`(hubselect [^`]*)`", out):
        code, _, err = run_cli(capsys, *shlex.split(command)[1:], "--token", hub_token)
        assert code == 0, f"{command}: {err}"
    code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--token", hub_token)
    assert code == 0 and out.startswith(f"current: the published ranker {ranker_repo} was built on {hub_repo_id} as it is now"), out

    # One this hubselect cannot load is stale too, with the same build of the method asked for.
    publish_as_is(damaged(ranker_dir, "older format", tmp_path / "older"), ranker_repo, hub_token)
    code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--token", hub_token, "--method", "dreambooth")
    assert code == 0 and out.startswith(f"stale: the published ranker {ranker_repo} cannot be loaded: "), out
    assert f"rebuild the ranker with `hubselect build {hub_repo_id} --method dreambooth --out ranker` and `hubselect push ranker --repo {ranker_repo}`" in out


def test_ranker_status_advises_a_build_that_works_on_a_zoo_whose_distances_name_several_probes(
    hub, hub_token, hub_repo_id, zoo_dir, ranker_dir, tmp_path, monkeypatch, capsys
):
    """On a zoo whose datasets were profiled with two probes (none of them build's default),
    `hubselect build ZOO --method lora` is refused ("choose one with --probe"): ranker-status's
    advice, for a stale ranker and for a missing one, names the probe, and runs as printed."""
    from hubselect.zoo import DistanceRecord

    ranker_repo = hub_repo_id + "-ranker"
    zoo = Zoo.load(zoo_dir)
    (built_probe,) = zoo.distance_probes
    zoo.add_profiles(ProfileRecord(r.model, r.dataset, float(r.score) + 5, method="dreambooth") for r in Zoo.load(zoo_dir).records.itertuples())
    zoo.add_distances(DistanceRecord(r.dataset_a, r.dataset_b, 2 * r.distance, "local:clip2") for r in Zoo.load(zoo_dir).distances.itertuples())
    zoo.push(hub_repo_id, token=hub_token)
    monkeypatch.chdir(tmp_path)

    # Missing: the build of each method is of the probe it names where the zoo cannot choose.
    code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--method", "lora", "--token", hub_token)
    assert code == 0 and out.startswith("missing: "), out
    assert f"`hubselect build {hub_repo_id} --method lora --probe P --out ranker` (P: one of local:clip2, {built_probe})" in out, out

    # Stale: the build of the ranker's own method and probe, which runs as printed.
    assert run_cli(capsys, "push", ranker_dir, "--repo", ranker_repo, "--token", hub_token)[0] == 0  # lora, on built_probe's distances
    zoo.add_profiles([ProfileRecord("org/newcomer", "data/cool-1", 25.0, method="lora")])
    zoo.push(hub_repo_id, token=hub_token)
    code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--token", hub_token)
    assert code == 0 and out.startswith("stale: "), out
    assert f"`hubselect build {hub_repo_id} --method lora --probe {built_probe} --out ranker`" in out, out
    for command in re.findall(r"`(hubselect [^`]*)`", out):
        code, _, err = run_cli(capsys, *shlex.split(command)[1:], "--token", hub_token)
        assert code == 0, f"{command}: {err}"
    code, out, err = run_cli(capsys, "zoo", "ranker-status", hub_repo_id, "--token", hub_token)
    assert code == 0 and out.startswith("current: "), out


def test_a_zoo_profiled_with_a_hub_probe_is_matched_at_the_probes_revision_after_its_main_moves(
    hub, hub_token, hub_repo_id, cool_folder, tmp_path, monkeypatch, capsys
):
    """A card edit on the probe's repo moves its main, weights unchanged: recommend, dataset
    similar and dataset profile (the refresh workflow's) go on using the revision the zoo's
    datasets were profiled at, offline too; `@main` follows the repo."""
    from huggingface_hub import HfApi

    from hubselect import constants

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    api = HfApi(token=hub_token)
    probe = hub_repo_id + "-clip"
    api.create_repo(probe)
    profiled_at = api.upload_folder(repo_id=probe, folder_path=str(tiny_clip_dir())).oid
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    for style in STYLES:
        add_to_zoo(zoo, profile_dataset(style_folder(style, 16, 1), probe=probe, n=16, name=f"data/{style}", min_images=8))
        zoo.add_profiles(ProfileRecord(m, f"data/{style}", 20.0 if m == f"org/{style}-expert" else 60.0, method="lora") for m in MODELS)
    zoo_dir = zoo.save(tmp_path / "zoo")
    moved_to = api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# tiny clip\n", path_in_repo="README.md", repo_id=probe).oid
    assert moved_to != profiled_at

    common = ["--zoo", zoo_dir, "--n", "16", "--token", hub_token, "--format", "json"]
    code, out, err = run_cli(capsys, "recommend", cool_folder, *common)
    assert code == 0, err
    document = json.loads(out)
    assert document["recommendations"][0]["model"] == "org/cool-expert" and document["dataset"]["probe"] == probe
    assert [n["dataset"] for n in document["dataset"]["nearest"]][0] == "data/cool" and len(document["dataset"]["nearest"]) == 4
    for given in ([], ["--probe", probe]):  # the zoo's probe named without a revision: the zoo's revision too
        code, out, err = run_cli(capsys, "dataset", "similar", cool_folder, *common, *given)
        assert code == 0, err
        assert [r["dataset"] for r in json.loads(out)][0] == "data/cool" and len(json.loads(out)) == 4

    # Offline, the probe comes from the HF cache at the zoo's revision.
    command = [sys.executable, "-m", "hubselect", "dataset", "similar", str(cool_folder), *map(str, common)]
    offline = subprocess.run(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=180)
    assert offline.returncode == 0, offline.stderr
    assert [r["dataset"] for r in json.loads(offline.stdout)][0] == "data/cool"

    # The refresh workflow's `dataset profile DATASET --zoo zoo`, on a fresh runner (the probe not
    # in the HF cache): nothing to redo, and nothing downloaded to find that out.
    from huggingface_hub import constants as hf_constants

    shutil.rmtree(Path(hf_constants.HF_HUB_CACHE) / f"models--{probe.replace('/', '--')}")
    hub.clear_log()
    profile_args = ["dataset", "profile", style_folder("cool", 16, 1), "--name", "data/cool", "--min-images", "8", *common]
    code, out, err = run_cli(capsys, *profile_args)
    assert code == 0, err
    assert (json.loads(out)["status"], json.loads(out)["probe_revision"]) == ("unchanged", profiled_at)
    assert not [e.path for e in hub.request_log if f"{probe}/resolve/" in e.path]

    # At main, no dataset of the zoo compares: an error that says which revision to use (not an empty list).
    for command in ("recommend", "dataset similar"):
        code, out, err = run_cli(capsys, *command.split(), cool_folder, *common, "--probe", f"{probe}@main")
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert f"profiled with {probe} at revision {profiled_at[:12]}, not {moved_to[:12]}" in err and f"--probe {probe}@{profiled_at}" in err

    # `--probe ID@main` re-profiles a dataset at main; the revision most of the zoo's profiles share is still used.
    code, out, err = run_cli(capsys, *profile_args, "--probe", f"{probe}@main")
    assert code == 0, err
    assert (json.loads(out)["status"], json.loads(out)["probe_revision"]) == ("updated", moved_to)
    human = [arg for arg in map(str, profile_args) if arg not in ("--format", "json")]
    code, out, err = run_cli(capsys, *human, "--probe", f"{probe}@main", "--force")
    assert code == 0 and "at another revision of it" in " ".join(out.split()), out  # not "no other dataset profiled" alone
    code, out, err = run_cli(capsys, "recommend", cool_folder, *common)
    assert code == 0, err
    assert "data/cool" not in {n["dataset"] for n in json.loads(out)["dataset"]["nearest"]}
    assert "1 dataset(s) were profiled with another revision" in err

    # Offline, a probe named at a branch comes from the HF cache (it is there since the step above).
    command = [sys.executable, "-m", "hubselect", *map(str, profile_args), "--probe", f"{probe}@main", "--name", "data/offline"]
    offline = subprocess.run(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=180)
    assert offline.returncode == 0, offline.stderr
    assert (json.loads(offline.stdout)["status"], json.loads(offline.stdout)["probe_revision"]) == ("added", moved_to)


def test_a_zoo_also_profiled_with_another_probe_ranks_on_the_distances_of_the_probe_the_dataset_is_compared_through(
    zoo_dir, ranker_dir, cool_folder, tmp_path, monkeypatch
):
    """The new dataset's distances are measured through --probe: the graph's must be too, not
    the mean of both probes' (two scales), so profiling the zoo's datasets with a second probe
    changes no recommendation made through the first."""
    from hubselect import constants
    from hubselect.rank import Ranker, RankerConfig
    from hubselect.graph import Node2VecConfig
    from hubselect.testing.tiny import tiny_clip_vision

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    zoo = Zoo.load(zoo_dir)
    other = tiny_clip_vision(tmp_path / "other-clip", seed=1)
    for style in STYLES:
        for seed in (1, 2):
            add_to_zoo(zoo, profile_dataset(style_folder(style, 16, seed), probe=str(other), n=16, name=f"data/{style}-{seed}", min_images=8))
    assert sorted(set(zoo.distances["probe"])) == ["local:other-clip", "local:tiny-clip"]
    zoo.save(tmp_path / "two-probes")

    import hubselect

    def ranked(zoo_folder, ranker=None):
        result = hubselect.recommend(str(cool_folder), zoo=str(zoo_folder), ranker=ranker, probe=str(tiny_clip_dir()), n=16)
        return [(r.model, r.score, r.score_low, r.score_high) for r in result.recommendations]

    # Built from the zoo (the zoo profiled with the one probe: the same fit, ranker_dir).
    assert ranked(tmp_path / "two-probes") == ranked(zoo_dir, str(ranker_dir))
    # A ranker built on the other probe's distances is refused, not used with this probe's.
    small = RankerConfig(node2vec=Node2VecConfig(dim=8, walks_per_node=5, walk_length=20), inner_folds=3)
    Ranker.fit(zoo.for_probe("local:other-clip"), small).save(tmp_path / "other-ranker")
    with pytest.raises(InputError) as refused:
        ranked(tmp_path / "two-probes", str(tmp_path / "other-ranker"))
    assert str(refused.value).startswith(
        f"the ranker {tmp_path / 'other-ranker'} was built on the dataset distances of probe local:other-clip, and the dataset is "
        "compared with the zoo's through local:tiny-clip, on another scale; pass that probe with --probe, or use a ranker built on this zoo"
    )


def test_a_bench_rerun_leaves_the_rankers_of_a_zoo_current_where_the_learner_reads_no_figure(zoo_dir, cool_folder, tmp_path, monkeypatch):
    """Figures measured with different settings (one model on a CPU, the others on a GPU) are no
    feature of the learner, nor is any ``bench_*`` column: measuring a model again changes nothing
    a ranker learns from, so the zoo stays the revision its ranker was built on (it was another,
    and recommend noted every ranker as stale after each `hubselect bench --zoo`)."""
    from hubselect import constants
    from hubselect.rank import Ranker
    from hubselect.recommendation import recommend

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    zoo = Zoo.load(zoo_dir)
    models = zoo.models
    on_cpu = models["model"] == models["model"].iloc[0]
    models["throughput_images_per_s"] = np.where(on_cpu, 0.2, 9.0)
    models["bench_device"] = np.where(on_cpu, "cpu (x86_64, 2 threads)", "cuda (NVIDIA H100 80GB HBM3)")
    models["bench_seconds"] = np.where(on_cpu, 40.0, 3.0)
    zoo.save(tmp_path / "measured")
    ranker = Ranker.fit(Zoo.load(tmp_path / "measured")).save(tmp_path / "ranker")
    models.loc[on_cpu, ["throughput_images_per_s", "bench_seconds"]] = [0.25, 35.0]  # measured again
    zoo.save(tmp_path / "measured-again")
    common = dict(probe=str(tiny_clip_dir()), n=16, top_k=1, ranker=str(ranker))
    as_built = recommend(str(cool_folder), zoo=str(tmp_path / "measured"), **common)
    again = recommend(str(cool_folder), zoo=str(tmp_path / "measured-again"), **common)
    assert again.zoo["revision"] == as_built.zoo["revision"]
    assert not any("was built on zoo revision" in n for n in again.notices), again.notices
