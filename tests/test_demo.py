"""The bundled demo zoo: it opens as `demo`, it is consistent, and `recommend --zoo demo` works offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hubselect.cli import main
from hubselect.demo import DEMO_PROBE_ID, bundled_paths, load_demo_zoo
from hubselect.demo.config import DemoConfig
from hubselect.demo.domains import DOMAINS, PALETTES, draw
from hubselect.errors import InputError


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_zoo_opens_by_name_and_is_complete():
    from hubselect.zoo.resolve import open_zoo

    zoo = open_zoo("demo")
    summary = zoo.summary()
    assert summary["models"] >= 6 and summary["datasets"] >= 12
    # Every model was fine-tuned on every dataset, once, with LoRA, scored by FID before and after.
    assert summary["records"] == summary["models"] * summary["datasets"] and summary["coverage"] == 1.0
    assert zoo.methods == ["lora"] and zoo.meta.score == "fid_after_finetune" and not zoo.meta.higher_is_better
    assert zoo.records["score_before"].notna().all()
    # Every pair of datasets has a distance, measured with the demo probe.
    n = summary["datasets"]
    assert summary["distances"] == n * (n - 1) // 2 and set(zoo.distances["probe"]) == {DEMO_PROBE_ID}
    # The models came through the crawler: architecture features read from the Hub repos.
    models = zoo.models.set_index("model")
    assert models["pipeline_class"].eq("StableDiffusionPipeline").all()
    assert models["denoiser_params"].nunique() >= 5 and models["resolution"].nunique() >= 2 and models["scheduler"].nunique() >= 4


def test_demo_ranker_and_probe_match_the_zoo():
    from hubselect.data.profile import zoo_profiles
    from hubselect.probes import resolve_probe
    from hubselect.rank import Ranker

    zoo = load_demo_zoo()
    ranker = Ranker.load(bundled_paths().ranker)
    assert ranker.arrays.models == zoo.model_ids and ranker.arrays.datasets == zoo.dataset_ids
    # Built on the zoo as it ships (its results, distances and features): the ranker recommend
    # and `zoo ranker-status` call current, with no "built on another revision" note.
    from hubselect.recommendation import ranker_staleness

    assert ranker_staleness(ranker, "the bundled ranker", zoo, "demo") is None

    # `hubselect/demo-probe` resolves to the shipped folder, at the revision every profile recorded.
    probe = resolve_probe(DEMO_PROBE_ID)
    assert probe.path == bundled_paths().probe and probe.kind == "clip"
    profiles = zoo_profiles(zoo)
    assert len(profiles) == len(zoo.dataset_ids)
    assert {(p.probe, p.probe_revision) for p in profiles} == {(probe.id, probe.revision)}
    # The same files under their folder path hash to the same revision (one content hash).
    assert resolve_probe(str(bundled_paths().probe)).revision == probe.revision


def test_bundle_is_small_and_its_manifest_says_how_it_evaluated():
    paths = bundled_paths()
    total = sum(f.stat().st_size for root in (paths.zoo, paths.ranker, paths.probe, paths.examples) for f in root.rglob("*") if f.is_file())
    assert total < 5_000_000
    manifest = json.loads(paths.manifest.read_text())
    assert set(manifest["evaluation"]["baselines"]) >= {"average_best", "nearest_dataset", "features_only", "random", "initial_score"}
    assert manifest["probe"]["id"] == DEMO_PROBE_ID
    examples = sorted(p for p in paths.examples.iterdir() if p.is_dir())
    assert examples and all(len(list(e.glob("*.png"))) >= 8 and (e / "metadata.jsonl").is_file() for e in examples)


def test_recommend_on_an_example_folder_offline(hub, capsys):
    """`hubselect recommend <example> --zoo demo --format json` reads nothing from any Hub."""
    example = bundled_paths().example()
    hub.clear_log()
    code, out, err = run_cli(capsys, "recommend", example, "--zoo", "demo", "--format", "json", "--top-k", "3")
    assert code == 0, err
    result = json.loads(out)
    assert result["dataset"]["probe"] == DEMO_PROBE_ID and result["ranker"]["source"] == "demo (bundled)"
    models = set(load_demo_zoo().model_ids)
    assert [r["rank"] for r in result["recommendations"]] == [1, 2, 3] and {r["model"] for r in result["recommendations"]} <= models
    assert result["recommendations"][0]["evidence"]  # explained by results on similar datasets
    assert hub.request_log == []


def test_recommend_in_a_fresh_process_with_the_hub_unreachable(tmp_path):
    """As on a newcomer's machine: offline mode, empty caches, no token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HUBSELECT_CACHE": str(tmp_path / "cache"),
                "HF_ENDPOINT": "http://127.0.0.1:9"})
    command = [sys.executable, "-m", "hubselect", "recommend", str(bundled_paths().example()), "--zoo", "demo", "--format", "json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recommendations"]


def test_domains_are_deterministic_and_distinct():
    first, caption = draw("stripes", np.random.default_rng(3), palette="cool", knob=0.2)
    again, same_caption = draw("stripes", np.random.default_rng(3), palette="cool", knob=0.2)
    assert np.array_equal(np.asarray(first), np.asarray(again)) and caption == same_caption
    assert first.size == (32, 32) and "striped" in caption
    means = {d: np.asarray(draw(d, np.random.default_rng(0), palette="mono")[0], dtype=float).std() for d in DOMAINS}
    assert len({round(v) for v in means.values()}) > len(DOMAINS) // 2
    with pytest.raises(ValueError, match="unknown palette"):
        draw("shapes", np.random.default_rng(0), palette="plaid")
    assert len(PALETTES) >= 6


def test_demo_config_refuses_unknown_names_in_one_line():
    with pytest.raises(InputError, match="unknown demo models sd-tiny-nope; choose from: sd-tiny-geometric"):
        DemoConfig(models=("sd-tiny-nope",))
    with pytest.raises(InputError, match="at least 2 models and 3 datasets"):
        DemoConfig(models=("sd-tiny-geometric",))
    config = DemoConfig.small()
    assert DemoConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_demo_refuses_an_out_folder_holding_other_files(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "demo", "--out", tmp_path, "--small")
    assert code == 2 and err.count("\n") == 1 and "other files" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("out", ["a-file/demo", "/proc/demo"])
def test_demo_refuses_an_out_it_cannot_create_before_any_work(out, tmp_path, monkeypatch, capsys):
    """As `build --out` does: a file among the folder's parents, or a place nothing can be created."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    code, stdout, err = run_cli(capsys, "demo", "--out", out, "--small")
    assert (code, stdout) == (2, "") and err.startswith("Error: --out ") and err.count("\n") == 1, err
    assert "unexpected" not in err and ("a-file is a file, not a folder; pass a path in a folder" in err or "cannot create files in /proc" in err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_an_interrupted_demo_folder_is_still_a_demo_folder(tmp_path):
    """Ctrl-C leaves .work and some outputs but no demo.json: rerunning into it must be allowed.
    A user's folder that merely has a .work of its own is not a demo's (the demo replaces zoo/)."""
    from hubselect.demo.paths import RUN_MARKER
    from hubselect.demo.run import check_out_folder

    (tmp_path / ".work").mkdir()
    (tmp_path / "zoo").mkdir()
    with pytest.raises(InputError, match="other files in it"):
        check_out_folder(tmp_path)
    (tmp_path / ".work" / RUN_MARKER).touch()
    assert check_out_folder(tmp_path) == tmp_path.resolve()


def test_a_rerun_reuses_the_work_of_the_same_settings_only(tmp_path):
    """--keep-work (or an interrupted run) leaves OUT/.work: its zoo's results are reused by a run of
    the same settings, never by one whose records would be another seed's or another budget's."""
    from hubselect.demo.run import start_work

    assert start_work(tmp_path, DemoConfig.small()) == ("new", None)
    kept = tmp_path / ".work" / "zoo" / "records.parquet"
    kept.parent.mkdir()
    kept.write_text("seed 0's results")
    status, note = start_work(tmp_path, DemoConfig.small(workers=4))  # more workers: the same results
    assert status == "reused" and "same settings" in note and kept.is_file()

    status, note = start_work(tmp_path, DemoConfig.small(seed=1))
    assert status == "restarted" and "other settings (seed 0 → 1): started it afresh" in note and not kept.exists()
    kept.parent.mkdir()
    kept.write_text("seed 1's results")
    status, note = start_work(tmp_path, DemoConfig())  # the full demo after --small
    assert status == "restarted" and "other settings (check_held_out, datasets, " in note and not kept.exists()
    assert (tmp_path / ".work" / "hubselect-demo-run").is_file()  # still a demo's folder if this run is interrupted


def test_a_rerun_starts_afresh_the_work_of_other_hubselect_code(tmp_path):
    """The kept models and datasets are what the code that made them builds: after an edit to a
    model's definition, or an upgrade, a --keep-work rerun reused them (and every fine-tuning
    record of them) without a word, and --update-bundle would ship that stale zoo."""
    from hubselect.demo.paths import WORK_SETTINGS
    from hubselect.demo.run import start_work

    start_work(tmp_path, DemoConfig.small())
    kept = tmp_path / ".work" / "published.json"
    kept.write_text("{}")
    settings = tmp_path / ".work" / WORK_SETTINGS
    held = json.loads(settings.read_text())
    held["hubselect"] = held["hubselect"].split("+")[0] + "+0000000000000000"  # the same version, other sources
    settings.write_text(json.dumps(held))
    status, note = start_work(tmp_path, DemoConfig.small())
    assert status == "restarted" and "(hubselect's code changed): started it afresh" in note and not kept.exists()
    assert start_work(tmp_path, DemoConfig.small())[0] == "reused"  # the same code again


def test_update_bundle_refuses_the_small_demo_before_running_it(tmp_path, capsys, monkeypatch):
    import hubselect.demo.run

    def must_not_run(*args, **kwargs):  # without the refusal, a 3 × 4 zoo would replace the package's
        raise AssertionError("the demo ran, and its result would have been copied into the package")

    monkeypatch.setattr(hubselect.demo.run, "run_demo", must_not_run)
    code, _, err = run_cli(capsys, "demo", "--out", tmp_path / "d", "--small", "--update-bundle")
    assert code == 2 and "--update-bundle ships the full demo zoo" in err and "drop --small" in err
    assert not (tmp_path / "d").exists()


def test_demo_is_listed_in_the_cli(capsys):
    code, out, _ = run_cli(capsys, "demo", "--help")
    assert code == 0 and "--out" in out and "--update-bundle" in out


def test_bundled_paths_point_inside_the_package():
    import hubselect

    paths = bundled_paths()
    assert Path(hubselect.__file__).parent in paths.zoo.parents
    assert (paths.zoo / "zoo.json").is_file() and (paths.ranker / "ranker.json").is_file() and (paths.probe / "config.json").is_file()
