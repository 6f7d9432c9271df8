"""The zoo store and `hubselect zoo import/show` on local folders."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fixtures.bundles import write_bundle
from fixtures.paths import unwritable
from hubselect.cli import main
from hubselect.errors import HubselectError, InputError
from hubselect.graph.arrays import ZooArrays
from hubselect.zoo import DatasetRecord, DistanceRecord, FailedJob, ModelRecord, ProfileRecord, Zoo, ZooMeta, import_bundle, zoo_lock

BUNDLE = Path(__file__).resolve().parents[1] / "hubselect" / "bundles" / "transfergraph-text"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def text_zoo() -> Zoo:
    return import_bundle(BUNDLE, higher_is_better=True)


def test_import_text_bundle_counts(tmp_path, capsys):
    code, _, err = run_cli(capsys, "zoo", "import", BUNDLE, "--higher-is-better", "--out", tmp_path / "Z")
    assert code == 0, err
    code, out, _ = run_cli(capsys, "zoo", "show", tmp_path / "Z", "--format", "json")
    assert code == 0
    summary = json.loads(out)
    assert summary["models"] == 164
    assert summary["records"] == 1439
    assert summary["datasets_with_records"] == 10
    # 23 datasets in distances.csv plus dbpedia_14, which has records but no distances.
    assert summary["datasets"] == 24
    assert summary["distances"] == 253
    assert summary["higher_is_better"] is True


def test_show_human_output_is_a_table(tmp_path, capsys, text_zoo):
    text_zoo.save(tmp_path / "Z")
    code, out, _ = run_cli(capsys, "zoo", "show", tmp_path / "Z")
    assert code == 0
    assert "records" in out and "1439" in out and "higher is better" in out


def test_show_and_the_zoo_card_count_lora_adapters_apart_from_the_models_coverage_is_over(tmp_path, capsys):
    """3 pipelines, each profiled on both datasets, and 2 crawled adapters (no results): the zoo is
    covered whole. Counted as models, the adapters made it "5 models, coverage 60.0%"."""
    from hubselect.hub.zoo_repo import zoo_card

    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_models([ModelRecord(f"org/sd-{i}", "a" * 40, {"kind": "t2i", "license": "mit"}) for i in range(3)])
    zoo.add_models([ModelRecord(f"org/lora-{i}", "b" * 40, {"kind": "lora", "base_model": "org/sd-0", "lora_rank": 4}) for i in range(2)])
    zoo.add_profiles(ProfileRecord(f"org/sd-{i}", dataset, 30.0 + i) for i in range(3) for dataset in ("org/d1", "org/d2"))
    zoo.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z", "--format", "json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["models"], summary["adapters"], summary["models_with_features"], summary["coverage"]) == (3, 2, 3, 1.0)
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z")
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3}
    assert (rows["models"], rows["LoRA adapters (catalogued, not ranked)"]) == ("3", "2"), out
    assert rows["coverage of models × datasets with records"] == "100.0% (6 of 6 pairs hold a result of any method)", out
    card = zoo_card(zoo, "org/zoo")
    assert "| models | 3 |" in card and "| LoRA adapters (catalogued, not ranked) | 2 |" in card
    assert "| coverage of models × datasets with records | 100.0% (6 of 6 pairs hold a result of any method) |" in card


def test_coverage_says_what_it_is_over_and_counts_a_pair_once_whatever_its_methods(tmp_path, capsys):
    """The card read "datasets 4 (2 with fine-tuning records)", "records 5", "models 4" and
    "coverage of models × profiled datasets 62.5%": 5 results cannot cover 62.5% of 4 × 4 pairs.
    The figure is over the datasets with records, 4 × 2 pairs, and now says so."""
    from hubselect.hub.zoo_repo import zoo_card

    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([ProfileRecord("m1", "d1", 3.0, "lora"), ProfileRecord("m2", "d1", 4.0, "lora"), ProfileRecord("m3", "d1", 5.0, "lora"),
                      ProfileRecord("m1", "d2", 3.5, "lora"), ProfileRecord("m1", "d2", 300.0, "dreambooth")])  # m1 × d2: one pair, two methods
    zoo.add_models([ModelRecord("m4", "a" * 40, {"license": "mit"})])
    zoo.add_distances([DistanceRecord("d1", "d3", 1.0), DistanceRecord("d2", "d4", 2.0)])  # d3, d4: no records
    zoo.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z", "--format", "json")
    summary = json.loads(out)
    assert (summary["records"], summary["models"], summary["datasets"], summary["datasets_with_records"]) == (5, 4, 4, 2)
    assert (summary["pairs_with_results"], summary["coverage"]) == (4, 0.5)
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z")
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3}
    assert rows["coverage of models × datasets with records"] == "50.0% (4 of 8 pairs hold a result of any method)", out
    card = zoo_card(zoo, "org/zoo")
    assert "| datasets | 4 (2 with fine-tuning records) |" in card
    assert "| coverage of models × datasets with records | 50.0% (4 of 8 pairs hold a result of any method) |" in card


def test_save_load_round_trip_keeps_every_fact(tmp_path, text_zoo):
    text_zoo.save(tmp_path / "Z")
    loaded = Zoo.load(tmp_path / "Z")
    assert loaded.equals(text_zoo)
    record = next(r for r in loaded.profile_records() if r.model == "18811449050/bert_finetuning_test" and r.dataset == "ag_news")
    assert record.score == pytest.approx(0.923157894736842)
    features = next(r for r in loaded.model_records() if r.model == "philschmid/tiny-distilbert-classification").features
    assert features["num_parameters"] == 62172
    assert features["pretrain_accuracy"] is None
    assert features["model_type"] == "distilbert"


def test_saved_files_get_the_usual_permissions_so_a_zoo_folder_can_be_shared(tmp_path, text_zoo):
    from hubselect.crawl import CrawlState

    old = os.umask(0o022)
    try:
        text_zoo.save(tmp_path / "Z")
        CrawlState().save(tmp_path / "Z")
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (tmp_path / "Z").iterdir() if p.is_file()}
    assert {"zoo.json", "records.parquet", "crawl_state.json"} <= set(modes)
    assert set(modes.values()) == {"0o644"}, modes


def test_a_save_cut_short_before_zoo_json_is_completed_by_the_next_writer(tmp_path, capsys, text_zoo):
    """zoo.json is written last: a kill before it leaves the zoo's own tables, which are not
    someone else's files — a crawl or import into that folder must go on, not refuse it."""
    text_zoo.save(tmp_path / "Z")
    (tmp_path / "Z" / "zoo.json").unlink()
    (tmp_path / "Z" / ".zoo.lock").touch()
    (tmp_path / "Z" / ".records.parquet.0123abcd.tmp").touch()
    first = write_bundle(tmp_path / "b", records="model,dataset,score\nm1,d1,0.5\n")
    code, out, err = run_cli(capsys, "zoo", "import", first, "--higher-is-better", "--out", tmp_path / "Z")
    assert code == 0, err
    assert (tmp_path / "Z" / "zoo.json").is_file()


def test_another_writers_write_check_in_a_new_zoo_folder_is_not_taken_for_someone_elses_files(tmp_path, capsys):
    """Two writers starting on one new folder: the folder one makes (and removes at once) to test
    that it can write there must not get the other's refused as "a folder but not a zoo"."""
    from hubselect.paths import WRITE_CHECK_PREFIX

    (tmp_path / "Z" / f"{WRITE_CHECK_PREFIX}k2x9q1").mkdir(parents=True)  # the other writer's, seen between its make and remove
    bundle = write_bundle(tmp_path / "b", records="model,dataset,score\nm1,d1,0.5\n")
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
    assert code == 0, err
    assert (tmp_path / "Z" / "zoo.json").is_file()


def test_duplicate_records_are_averaged(tmp_path):
    (tmp_path / "records.csv").write_text("model,dataset,score\nm1,d1,0.5\nm1,d1,0.7\nm2,d1,0.1\n")
    zoo = import_bundle(tmp_path, higher_is_better=True)
    scores = {(r.model, r.dataset): r.score for r in zoo.profile_records()}
    assert scores == {("m1", "d1"): pytest.approx(0.6), ("m2", "d1"): pytest.approx(0.1)}


def test_parameter_counts_with_k_m_b_suffixes_are_numbers_recommend_can_filter(tmp_path, capsys):
    from hubselect.graph.arrays import ZooArrays
    from hubselect.recommendation import candidate_models

    bundle = write_bundle(
        tmp_path / "bundle",
        records="model,dataset,score\nm1,d1,0.5\nm2,d1,0.6\nm3,d1,0.7\nm4,d1,0.8\n",
        models="model,params,license\nm1,860M,MIT\nm2,2e9,Apache-2.0\nm3,5e8,mit\nm4,0.9b,mit\n",
    )
    code, _, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
    assert code == 0, err
    zoo = Zoo.load(tmp_path / "Z")
    assert {r.model: r.features["params"] for r in zoo.model_records()} == {"m1": 860e6, "m2": 2e9, "m3": 5e8, "m4": 9e8}
    assert candidate_models(zoo, ZooArrays.from_zoo(zoo), max_params=1e9) == ["m1", "m3", "m4"]


def test_a_distance_given_in_both_orders_averages_a_rounding_gap(tmp_path):
    (tmp_path / "records.csv").write_text("model,dataset,score\nm1,d1,0.5\n")
    (tmp_path / "distances.csv").write_text("dataset_a,dataset_b,distance\nd1,d2,1.2345\nd2,d1,1.2346\n")
    zoo = import_bundle(tmp_path, higher_is_better=True)
    assert [d.distance for d in zoo.distance_records()] == [pytest.approx(1.23455)]


def test_duplicates_of_large_finite_numbers_average_to_themselves(tmp_path, capsys):
    bundle = write_bundle(
        tmp_path / "bundle",
        records="model,dataset,score\nm1,d1,1e308\nm1,d1,1e308\nm2,d1,1\n",
        distances="dataset_a,dataset_b,distance\nd1,d2,1e308\nd2,d1,1e308\n",
    )
    code, _, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
    assert code == 0, err
    zoo = Zoo.load(tmp_path / "Z")
    assert {(r.model, r.score) for r in zoo.profile_records()} == {("m1", 1e308), ("m2", 1.0)}
    assert [d.distance for d in zoo.distance_records()] == [1e308]


def test_quoted_fields_keep_their_line_breaks_and_unicode_separators(tmp_path):
    (tmp_path / "records.csv").write_text("model,dataset,score\nm1,d1,0.5\nx\u0085y,d1,0.6\n", encoding="utf-8")
    (tmp_path / "models.csv").write_text(
        'model,note\nm1,"multi\nline, with comma"\nx\u0085y,"a\u2028b"\n', encoding="utf-8", newline=""
    )
    zoo = import_bundle(tmp_path, higher_is_better=True)
    notes = {r.model: r.features["note"] for r in zoo.model_records()}
    assert notes == {"m1": "multi\nline, with comma", "x\u0085y": "a\u2028b"}


def test_merge_upserts_by_key_and_loses_nothing():
    meta = ZooMeta(score="fid", higher_is_better=False)
    a, b = Zoo(meta), Zoo(ZooMeta(score="fid", higher_is_better=False))
    a.add_profiles([ProfileRecord("m1", "d1", 30.0), ProfileRecord("m2", "d1", 40.0)])
    b.add_profiles([ProfileRecord("m2", "d1", 35.0), ProfileRecord("m3", "d2", 20.0)])
    a.add_models([ModelRecord("m1", features={"params": 1})])
    b.add_distances([DistanceRecord("d2", "d1", 1.5)])
    merged = a.merge(b)
    scores = {(r.model, r.dataset): r.score for r in merged.profile_records()}
    assert scores == {("m1", "d1"): 30.0, ("m2", "d1"): 35.0, ("m3", "d2"): 20.0}
    assert [(d.dataset_a, d.dataset_b) for d in merged.distance_records()] == [("d1", "d2")]
    assert merged.model_ids == ["m1", "m2", "m3"]


def test_failed_jobs_travel_with_the_zoo_until_their_job_succeeds_and_are_never_a_feature(tmp_path):
    """The profiler's memory of failed jobs (a refresh runs on a fresh machine: only the zoo goes
    from one run to the next). Not a fact the ranker learns from: the zoo's fingerprint stays."""
    meta = ZooMeta(score="fid", higher_is_better=False)
    zoo = Zoo(meta)
    zoo.add_models([ModelRecord("m1", "r1", {"params": 1.0}), ModelRecord("broken", "r9", {"params": 2.0})])
    zoo.add_profiles([ProfileRecord("m1", "d1", 30.0, method="lora", config_hash="c"), ProfileRecord("m1", "d2", 20.0, method="lora", config_hash="c")])
    fingerprint = ZooArrays.from_zoo(zoo).fingerprint()
    failure = FailedJob("broken", "d1", "lora", "c", "model broken cannot be loaded: ...", "r9", "s1", "2026-11-21T10:00:00+00:00")
    before = Zoo.load(zoo.save(tmp_path / "before"))
    zoo.add_failed_jobs([failure])
    zoo.save(tmp_path / "Z")
    loaded = Zoo.load(tmp_path / "Z")
    assert list(loaded.failed_job_records()) == [failure] and not loaded.equals(before)  # a change to push
    arrays = ZooArrays.from_zoo(loaded)
    assert arrays.fingerprint() == fingerprint and arrays.models == ["broken", "m1"] and list(arrays.model_features.columns) == ["params"]
    assert (loaded.summary()["failed_jobs"], loaded.summary()["models_with_failed_jobs"]) == (1, 1)

    # Failing again at the same revisions is one more attempt (since the first, with the last error): a change
    # to push, so that the next refresh knows the job failed twice there.
    loaded.add_failed_jobs([FailedJob(*failure.key, "another wording", "r9", "s1", "2026-11-28T10:00:00+00:00")])
    assert not loaded.equals(Zoo.load(tmp_path / "Z"))
    assert [(f.error, f.failed_at, f.attempts) for f in loaded.failed_job_records()] == [("another wording", failure.failed_at, 2)]
    moved = FailedJob(*failure.key, "at the new commit", "r10", "s1", "2026-11-28T10:00:00+00:00")
    loaded.add_failed_jobs([moved])
    assert list(loaded.failed_job_records()) == [moved]

    # Merging (push, pull): the later copy's record of the key drops the failure; a failure in
    # the later copy stays beside an earlier record (the job was tried again, and failed).
    pulled, succeeded = Zoo.load(tmp_path / "Z"), Zoo(meta)
    succeeded.add_profiles([ProfileRecord("broken", "d1", 25.0, method="lora", config_hash="c", model_revision="r10")])
    assert pulled.merge(succeeded).failed_jobs.empty
    assert list(succeeded.merge(pulled).failed_job_records()) == [failure]
    # Two writers: one pulled the failure and pushes it after the other's retry succeeded at the
    # same revisions. The stale failure does not come back beside the result.
    retried = Zoo(meta)
    retried.add_profiles([ProfileRecord("broken", "d1", 25.0, method="lora", config_hash="c", model_revision="r9", dataset_revision="s1")])
    assert retried.merge(Zoo.load(tmp_path / "Z")).failed_jobs.empty
    pulled.add_profiles([ProfileRecord("broken", "d1", 25.0, method="lora", config_hash="c")])
    assert pulled.failed_jobs.empty  # a job that succeeds locally, too


def test_a_failed_jobs_attempts_at_its_revisions_are_counted_read_as_one_from_an_older_zoo_and_never_lowered_by_a_merge(tmp_path):
    """`profile --zoo-models` leaves out a job that failed twice at the revisions it would read:
    the count must survive a save, an older zoo's failures (no count) read as one attempt, and a
    copy pulled before a retry, pushed last, must not lower it (the job would run again)."""
    meta = ZooMeta(score="fid", higher_is_better=False)
    zoo = Zoo(meta)
    old = [FailedJob("broken", d, "lora", "c", "cannot be loaded", "r9", "s1", "2026-11-21T10:00:00+00:00") for d in ("d1", "d2")]
    zoo.add_failed_jobs(old)
    zoo.save(tmp_path / "old")
    table = pq.read_table(tmp_path / "old" / "failed_jobs.parquet")
    pq.write_table(table.drop_columns(["attempts"]), tmp_path / "old" / "failed_jobs.parquet")  # as a zoo written before counts
    older = Zoo.load(tmp_path / "old")
    assert [f.attempts for f in older.failed_job_records()] == [1, 1]

    older.add_failed_jobs([FailedJob("broken", "d1", "lora", "c", "cannot be loaded", "r9", "s1", "2026-11-28T10:00:00+00:00")])
    pushed = Zoo.load(older.save(tmp_path / "retried"))  # one counted row beside one uncounted
    assert {f.dataset: (f.attempts, f.failed_at) for f in pushed.failed_job_records()} == {
        "d1": (2, "2026-11-21T10:00:00+00:00"), "d2": (1, "2026-11-21T10:00:00+00:00")}

    # A copy pulled before the retry (1 attempt) merged last keeps the retry's count; at another
    # revision, the incoming failure is a new count.
    stale = Zoo.load(tmp_path / "old")
    assert {f.dataset: f.attempts for f in pushed.merge(stale).failed_job_records()} == {"d1": 2, "d2": 1}
    moved = Zoo(meta)
    moved.add_failed_jobs([FailedJob("broken", "d1", "lora", "c", "still broken", "r10", "s1", "2026-12-05T10:00:00+00:00")])
    assert {(f.dataset, f.model_revision): f.attempts for f in pushed.merge(moved).failed_job_records()} == {("d1", "r10"): 1, ("d2", "r9"): 1}


def test_merge_refuses_zoos_scored_differently():
    fid, accuracy = Zoo(ZooMeta(score="fid", higher_is_better=False)), Zoo(ZooMeta(score="accuracy", higher_is_better=True))
    fid.add_profiles([ProfileRecord("m1", "d1", 30.0)])
    accuracy.add_profiles([ProfileRecord("m1", "d2", 0.9)])
    with pytest.raises(HubselectError, match="cannot merge"):
        fid.merge(accuracy)


def test_importing_under_another_name_of_the_zoos_score_names_the_option_that_merges_it(tmp_path, capsys):
    """Imported into a profiled zoo with --score-name fid, FIDs were refused with "keep them in
    separate zoos", without a word on naming them as the zoo does (fid_after_finetune)."""
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([_profiled("m1", "d1", 3.0, "local:clip", "c1")])
    zoo.save(tmp_path / "Z")
    bundle = write_bundle(tmp_path / "fid", records="model,dataset,score\nm1,d1,240\n")
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--lower-is-better", "--score-name", "fid", "--out", tmp_path / "Z")
    assert code != 0 and out == "" and err.count("\n") == 1, err
    assert err == (
        "Error: cannot merge a zoo scored by 'fid' (lower is better) into one scored by 'fid_after_finetune' (lower is better); "
        "if they are the same score, name it 'fid_after_finetune' (zoo import --score-name fid_after_finetune), "
        "else keep them in separate zoos (another --out folder or --repo)\n"
    )
    assert Zoo.load(tmp_path / "Z").equals(zoo)
    # Scores pointing two ways are not one score under two names: no such advice.
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--score-name", "fid", "--out", tmp_path / "Z")
    assert code != 0 and "--score-name" not in err and err.rstrip().endswith("; keep them in separate zoos (another --out folder or --repo)")
    code, _, err = run_cli(capsys, "zoo", "import", bundle, "--lower-is-better", "--score-name", "fid_after_finetune", "--method", "imported",
                           "--out", tmp_path / "Z")
    assert code == 0, err


def test_a_zoo_without_records_takes_the_score_of_the_one_merged_with_it():
    """A score describes records: a zoo holding none has nothing to clash with, either way round."""
    scored = Zoo(ZooMeta(score="accuracy", higher_is_better=True))
    scored.add_profiles([ProfileRecord("m1", "d1", 0.9)])
    empty = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    empty.add_models([ModelRecord("m2", features={"params": 1})])
    for merged in (empty.merge(scored), scored.merge(empty)):
        assert (merged.meta.score, merged.meta.higher_is_better) == ("accuracy", True)
        assert merged.model_ids == ["m1", "m2"] and [r.score for r in merged.profile_records()] == [0.9]


def test_unknown_schema_version_is_a_clear_error(tmp_path, capsys, text_zoo):
    folder = text_zoo.save(tmp_path / "Z")
    meta = json.loads((folder / "zoo.json").read_text())
    meta["schema_version"] = 99
    (folder / "zoo.json").write_text(json.dumps(meta))
    with pytest.raises(HubselectError, match="schema version 99"):
        Zoo.load(folder)
    code, out, err = run_cli(capsys, "zoo", "show", folder)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "schema version 99" in err and "upgrade hubselect" in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("records.csv", "model,dataset,score\nm1,d1,0.5\nm2,d1,abc\n", "records.csv: row 3: column 'score' is 'abc', not a number"),
        ("records.csv", "model,dataset,score\nm1,d1,0.5\n,d1,0.4\n", "records.csv: row 3: column 'model' is empty"),
        ("records.csv", "model,dataset\nm1,d1\n", "records.csv: missing column(s) score"),
        ("records.csv", "model;dataset;score\nm1;d1;0.5\n",
         "(found: model;dataset;score); the file must be comma-separated, and this one seems separated by ';'"),
        ("records.csv", "model\tdataset\tscore\nm1\td1\t0.5\n", "the file must be comma-separated, and this one seems separated by tabs"),
        ("records.csv", "model,dataset,score\nm1,d1,0.5,7\n", "records.csv: row 2 has 4 fields"),
        # A quoted field over two lines (Excel's Alt+Enter): rows are still named by their file line.
        ("records.csv", 'model,dataset,score\n"m1\n",d1,0.9\nm2,d1,0.5\nm3,d1,oops\n',
         "records.csv: row 5: column 'score' is 'oops', not a number"),
        # A column the import does not read would be dropped, and the rows it tells apart averaged.
        ("records.csv", "model,dataset,score,seed\nm1,d1,0.5,0\nm1,d1,0.9,1\n",
         "records.csv: column 'seed' not read: records.csv holds model, dataset, score and optionally score_before, and rows of "
         "one model and dataset are averaged as repeat runs; remove the column, or import the rows it tells apart as bundles"),
        # A model named with its revision (as `profile --models` takes one) is that model at that revision.
        ("records.csv", "model,dataset,score\norg/m1@abc123,d1,1\norg/m1,d1,3\n",
         "records.csv: rows 2 and 3 give org/m1 × d1 at two revisions (org/m1@abc123 × d1; org/m1 × d1); a zoo holds one result"),
        ("records.csv", "model,dataset,score\norg/m1@,d1,1\n", "records.csv: row 2: column 'model' is 'org/m1@'; write an id, optionally with one @REVISION"),
        ("models.csv", "model,family\norg/m1@abc123,sd\n",
         "models.csv: row 2: model 'org/m1@abc123' names a revision; write the id alone (org/m1): this file describes a model whatever its revision"),
        ("distances.csv", "dataset_a,dataset_b,distance\nd1,d2@v1,1\n", "distances.csv: row 2: dataset_b 'd2@v1' names a revision; write the id alone (d2)"),
        ("records.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "records.csv: not a UTF-8 text file"),
        ("distances.csv", "dataset_a,dataset_b,distance\nd1,d2,-1\n", "distances.csv: row 2: distance -1.0 is negative"),
        ("distances.csv", "dataset_a,dataset_b,distance\nd1,d2,1\nd3,d1,2\nd2,d1,9\n",
         "distances.csv: rows 2 and 4 give the distance between 'd1' and 'd2' as 1 and 9; a pair given twice"),
        ("models.csv", "model,params\nm1,3\nm1,4\n", "models.csv: row 3: model 'm1' already appears on row 2"),
        ("models.csv", "model,params\nm1,860M\nm2,1.5 billion\n",
         "models.csv: row 3: column 'params' is '1.5 billion', not a parameter count; write a number, optionally with K, M or B"),
        ("models.csv", "model,total_params\nm1,-5\n", "models.csv: row 2: column 'total_params' is '-5', not a parameter count"),
        ("models.csv", "model,parameters\nm1,1e999999999999999999M\n", "models.csv: row 2: column 'parameters' is '1e999999999999999999M', not a"),
        # Columns hubselect gives a meaning to: `kind` lora or any `excluded_reason` hid models from recommend.
        ("models.csv", "model,kind,excluded_reason\nm1,lora,\nm2,full,\n", "models.csv: column 'kind' is reserved: hubselect reads it as"),
        ("models.csv", "model,excluded_reason\nm3,too big? no - fine\n", "models.csv: column 'excluded_reason' is reserved"),
        ("models.csv", "model,safety_flag\nm1,pickle_only\n", "models.csv: column 'safety_flag' is reserved"),
        ("datasets.csv", "dataset,revision\n", "datasets.csv: column 'revision' is reserved: hubselect reads it as the Hub commit"),
    ],
)
def test_corrupt_bundle_file_is_a_one_line_error_naming_it(tmp_path, capsys, name, content, message):
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,score\nm1,d1,0.5\n")
    if isinstance(content, bytes):
        (bundle / name).write_bytes(content)
    else:
        (bundle / name).write_text(content)
    with pytest.raises(InputError):
        import_bundle(bundle, higher_is_better=True)
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
    assert code != 0
    assert err.startswith("Error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "Z").exists(), "a failed import must not leave a half-written zoo"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("distance.csv", "distance.csv: not a bundle file (did you mean distances.csv?); a bundle holds records.csv, models.csv, datasets.csv and distances.csv: rename it"),
        ("Models.csv", "Models.csv: not a bundle file (did you mean models.csv?)"),
    ],
)
def test_a_misspelled_bundle_file_is_refused(tmp_path, capsys, name, message):
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,score\nm1,d1,0.5\n")
    (bundle / name).write_text("dataset_a,dataset_b,distance\nd1,d2,1\n")
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
    assert code != 0 and out == "" and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "Z").exists()


def test_a_method_column_is_refused_not_averaged_and_each_methods_bundle_imports_with_method(tmp_path, capsys):
    """A `method` column was dropped: lora 0.5 and full 0.9 of one pair were stored as one
    'default' result of 0.7, as if they were repeat runs."""
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,method,score\nm1,d1,lora,0.5\nm1,d1,full,0.9\nm2,d1,lora,0.6\n")
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
    assert code != 0 and out == "" and err.count("\n") == 1, err
    assert "records.csv: column 'method' not read" in err
    assert err.rstrip().endswith("a bundle holds the results of one method: import each method's rows as a bundle of their own with --method NAME")
    assert not (tmp_path / "Z").exists()
    for method, rows in (("lora", "m1,d1,0.5\nm2,d1,0.6\n"), ("full", "m1,d1,0.9\n")):
        bundle = write_bundle(tmp_path / method, records="model,dataset,score\n" + rows)
        code, _, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--method", method, "--out", tmp_path / "Z")
        assert code == 0, err
    zoo = Zoo.load(tmp_path / "Z")
    assert {(r.model, r.method): r.score for r in zoo.profile_records()} == {("m1", "lora"): 0.5, ("m2", "lora"): 0.6, ("m1", "full"): 0.9}


def test_a_model_id_with_a_revision_is_that_model_at_that_revision_not_a_second_model(tmp_path, capsys):
    """`org/m1@abc123` in records.csv was a model of its own beside `org/m1`: the bundle's result
    never met the crawled model. `profile --models org/m1@abc123` records org/m1 at abc123."""
    crawled = Zoo(ZooMeta(score="fid", higher_is_better=False))
    crawled.add_models([ModelRecord("org/m1", "a" * 40, {"license": "mit"}), ModelRecord("m2", "b" * 40, {"license": "mit"})])
    crawled.save(tmp_path / "Z")
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,score\norg/m1@abc123,d1,1\norg/m1@abc123,d1,3\nm2,org/d2@v1,2\n")
    code, _, err = run_cli(capsys, "zoo", "import", bundle, "--lower-is-better", "--score-name", "fid", "--out", tmp_path / "Z")
    assert code == 0, err
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z", "--format", "json")
    assert (json.loads(out)["models"], json.loads(out)["datasets"]) == (2, 2)
    records = {(r.model, r.dataset): (r.score, r.model_revision, r.dataset_revision) for r in Zoo.load(tmp_path / "Z").profile_records()}
    assert records == {("org/m1", "d1"): (2.0, "abc123", None), ("m2", "org/d2"): (2.0, None, "v1")}


def test_other_csv_files_are_named_as_not_read(tmp_path, capsys):
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,score\nm1,d1,0.5\n")
    (bundle / "records_lora.csv").write_text("model,dataset,score\nm1,d1,0.4\n")
    (bundle / "README.md").write_text("# notes beside the bundle are fine\n")
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
    assert code == 0, err
    assert "note: not read: records_lora.csv (a bundle is read from records.csv, models.csv, datasets.csv, distances.csv)" in " ".join(err.split())
    assert "README" not in err
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z2", "--format", "json")
    assert code == 0 and json.loads(out)["not_read"] == ["records_lora.csv"]


def test_import_says_what_each_file_brought(tmp_path, capsys):
    bundle = write_bundle(
        tmp_path / "bundle",
        records="model,dataset,score\nm1,d1,0.5\nm2,d2,0.6\n",
        models="model,params\nm1,1M\n",
        distances="dataset_a,dataset_b,distance\nd1,d2,1\nd1,d3,2\n",
    )
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
    assert code == 0, err
    assert " ".join(out.split()) == (
        f"Imported 2 records (2 models, 2 datasets with records), features of 1 models and 0 datasets, and 2 distances into {tmp_path / 'Z'}"
    )
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z2", "--format", "json")
    assert json.loads(out)["imported"] == {
        "records": 2, "models": 2, "datasets_with_records": 2, "models_with_features": 1, "datasets_with_features": 0, "distances": 2,
    }


def test_blank_and_all_empty_rows_are_skipped(tmp_path):
    # Excel leaves ",," rows below the data; a line of spaces is as blank as an empty one.
    (tmp_path / "records.csv").write_text("model,dataset,score\nm1,d1,0.5\n,,\n   \n\nm2,d1, 0.6\n , ,\n")
    zoo = import_bundle(tmp_path, higher_is_better=True)
    assert {(r.model, r.score) for r in zoo.profile_records()} == {("m1", 0.5), ("m2", 0.6)}


@pytest.mark.parametrize(("option", "value"), [("--score-name", ""), ("--score-name", "  "), ("--method", "")])
def test_a_blank_score_name_or_method_is_refused(tmp_path, capsys, option, value):
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,score\nm1,d1,0.5\n")
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", option, value, "--out", tmp_path / "Z")
    assert code != 0 and out == "" and err.count("\n") == 1, err
    assert f"{option} is blank; name it" in err
    assert not (tmp_path / "Z").exists()


@pytest.mark.parametrize("direction", ["false", "no", 0, None])
def test_a_direction_that_is_not_a_bool_is_refused_not_read_as_higher_is_better(tmp_path, capsys, direction):
    """From a config file or an environment variable the direction is a string: "false" was saved
    to zoo.json as given and read as true (and 0 or None as false), so every consumer of the zoo,
    and of its pushed copy, ranked the wrong way round without an error."""
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,score\nm1,d1,0.5\n")
    with pytest.raises(InputError, match=rf"^higher_is_better must be True or False, got {direction!r}; "):
        import_bundle(bundle, higher_is_better=direction)
    folder = import_bundle(bundle, higher_is_better=False).save(tmp_path / "Z")
    meta = json.loads((folder / "zoo.json").read_text())
    meta["higher_is_better"] = direction  # a hand edit
    (folder / "zoo.json").write_text(json.dumps(meta))
    with pytest.raises(HubselectError, match="higher_is_better"):
        Zoo.load(folder)
    code, out, err = run_cli(capsys, "zoo", "show", folder, "--format", "json")
    assert code != 0 and out == "" and err.count("\n") == 1, err
    assert f"zoo.json's higher_is_better is {json.dumps(direction)}, not true or false" in err


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: import_bundle(123, higher_is_better=True), "folder must be a bundle folder (a str or a path), got 123"),
        (lambda: import_bundle(BUNDLE, higher_is_better=True, score_name=5), "score_name must be a str (e.g. 'accuracy' or 'fid'), got 5"),
        (lambda: import_bundle(BUNDLE, higher_is_better=True, method=None), "method must be a str (e.g. 'full' or 'lora'), got None"),
        (lambda: Zoo.load(123), "path must be a zoo folder (a str or a path), got 123"),
        (lambda: Zoo().push(5), "dataset repo 5: not a Hub repo id; pass ORG/NAME as a str (e.g. alice/zoo)"),
        (lambda: Zoo.pull(None), "zoo None: not a Hub repo id; pass ORG/NAME as a str (e.g. alice/zoo)"),
    ],
    ids=["bundle-folder", "score-name", "method", "zoo-folder", "push-repo", "pull-repo"],
)
def test_a_zoo_function_given_an_argument_of_the_wrong_type_raises_an_input_error_naming_it(call, expected):
    """From Python these raised a TypeError from pathlib or an AttributeError ('int' object has
    no attribute 'strip'), not the one-line error hubselect.recommend and Ranker.fit give."""
    with pytest.raises(InputError) as raised:
        call()
    assert str(raised.value) == expected


def test_a_new_zoo_folder_spelled_like_a_hub_id_is_named_as_a_local_folder_once(tmp_path, capsys, monkeypatch):
    # `--out my-org/my-zoo` writes ./my-org/my-zoo; a user who meant the Hub zoo learns so, and how to reach it.
    monkeypatch.chdir(tmp_path)
    write_bundle(tmp_path / "bundle", records="model,dataset,score\nm1,d1,0.5\n")
    code, _, err = run_cli(capsys, "zoo", "import", "bundle", "--higher-is-better", "--out", "my-org/my-zoo")
    assert code == 0 and err.count("\n") == 1, err
    assert "note: creating the zoo folder ./my-org/my-zoo (--out is a local folder); if you meant the Hub zoo my-org/my-zoo" in err
    assert "`hubselect zoo pull my-org/my-zoo --out FOLDER`" in err and "`hubselect zoo push FOLDER --repo my-org/my-zoo`" in err
    assert (tmp_path / "my-org" / "my-zoo" / "zoo.json").is_file()
    code, _, err = run_cli(capsys, "zoo", "import", "bundle", "--higher-is-better", "--out", "my-org/my-zoo")
    assert code == 0 and err == ""  # said once, when the folder is created
    code, _, err = run_cli(capsys, "zoo", "import", "bundle", "--higher-is-better", "--out", "zoos/a/b")
    assert code == 0 and err == ""  # not a Hub id's shape


@pytest.mark.parametrize("out", ["locked/Z", "zoo", "a-file/Z"], ids=["new-in-a-folder-it-cannot-write", "zoo-it-cannot-write", "under-a-file"])
def test_import_refuses_an_out_it_cannot_write_in_one_line_before_reading_the_bundle(out, tmp_path, capsys, monkeypatch):
    """It failed as "unexpected PermissionError" (after the note that it was creating the folder)."""
    monkeypatch.chdir(tmp_path)
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,score\nm1,d1,0.5\n")
    (tmp_path / "a-file").write_text("not a folder")
    assert run_cli(capsys, "zoo", "import", "bundle", "--higher-is-better", "--out", "zoo")[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()}
    (bundle / "records.csv").write_text("not a bundle")  # refused before it is read
    with unwritable(tmp_path / out.split("/")[0]) if out != "a-file/Z" else contextlib.nullcontext():
        code, stdout, err = run_cli(capsys, "zoo", "import", "bundle", "--higher-is-better", "--out", out)
    assert (code, stdout) == (2, "") and err.count("\n") == 1, err
    assert err.startswith(f"Error: --out {out}: ") and "unexpected" not in err
    folder = out.split("/")[0]
    assert (f"cannot create files in {folder} (" in err and "pass a path in a folder you can write to" in err) or "a-file is a file, not a folder" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()} == before
    assert not (tmp_path / "locked" / "Z").exists()


def test_a_zoo_folder_whose_path_is_not_utf8_is_imported_into_merged_into_and_shown(tmp_path, capsys):
    """A Latin-1 folder name (an old copy, a mounted share): pyarrow cannot encode the path, and
    every save and load of the zoo failed with a UnicodeEncodeError."""
    out = tmp_path / os.fsdecode(b"caf\xe9-zoo")
    first = write_bundle(tmp_path / "a", records="model,dataset,score\nm1,d1,0.5\nm3,d1,0.7\n")
    second = write_bundle(tmp_path / "b", records="model,dataset,score\nm2,d1,0.6\n")
    for bundle in (first, second):
        code, _, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", out, "--format", "json")
        assert code == 0, err
    code, shown, err = run_cli(capsys, "zoo", "show", out, "--format", "json")
    assert code == 0, err
    assert json.loads(shown)["records"] == 3


def _ctrl_c_once_imported(arguments: list, module: str, *, cwd=None, lines_after: int = 0) -> tuple[int, str, str]:
    """Run ``python -X importtime ARGUMENTS`` and send it SIGINT once importtime says ``module``
    is loaded (and ``lines_after`` imports more): its exit code, stdout and stderr."""
    process = subprocess.Popen([sys.executable, "-X", "importtime", *arguments], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:
            if line.split("|")[-1].strip() == module:
                break
        else:
            pytest.fail(f"{module} was never imported")
        for _ in range(lines_after):
            process.stderr.readline()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stdout, stderr


def _assert_interrupted_in_one_line(code: int, stdout: str, stderr: str) -> None:
    assert (code, stdout) == (130, ""), stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == "Interrupted: nothing written so far is lost; rerun the same command to finish"


def test_ctrl_c_while_the_command_is_still_starting_is_one_line_and_exit_130(tmp_path):
    """Ctrl-C in the first seconds of a command, while it imports its libraries (pandas, the Hub
    client, torch): it printed a KeyboardInterrupt traceback.

    The signal is sent as soon as the CLI runs, at the first of the command's imports (``-X
    importtime`` says so on stderr); the next test sends it while the console script loads the
    CLI itself. Another writer holds the zoo's lock, so the command cannot have finished before
    the signal, wherever it lands after that.
    """
    bundle = write_bundle(tmp_path / "b", records="model,dataset,score\nm1,d1,0.5\n")
    (tmp_path / "Z").mkdir()
    script = Path(sys.executable).with_name("hubselect")  # the console script a user runs
    with zoo_lock(tmp_path / "Z"):
        # The line after hubselect.cli's: the first of the command's own imports.
        result = _ctrl_c_once_imported([script, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z"], "hubselect.cli", lines_after=1)
    _assert_interrupted_in_one_line(*result)
    assert not (tmp_path / "Z" / "zoo.json").exists()


@pytest.mark.parametrize("how", ["console-script", "python-m"])
def test_ctrl_c_while_the_cli_itself_loads_is_one_line_and_exit_130(how, tmp_path):
    """Ctrl-C in the first fraction of a second, while the console script loads the CLI (click,
    rich): a KeyboardInterrupt traceback of 16-32 lines. The signal is sent once ``-X importtime``
    says ``hubselect.errors`` is loaded, one of the CLI's first modules."""
    start = [Path(sys.executable).with_name("hubselect")] if how == "console-script" else ["-m", "hubselect"]
    _assert_interrupted_in_one_line(*_ctrl_c_once_imported([*start, "zoo", "show", "demo"], "hubselect.errors", cwd=tmp_path))


def test_the_score_picture_of_a_large_zoo_says_how_many_models_and_datasets_it_shows(tmp_path):
    """Past 60 models or 40 datasets the heatmap (the zoo card's, the demo's scores.png) draws the
    best-covered ones only, and said nothing of it: the picture passed for the whole zoo. Its
    title, drawn and in the PNG's metadata, says so now."""
    from PIL import Image

    from hubselect.plots import score_heatmap

    large = Zoo(ZooMeta(score="fid", higher_is_better=False))
    large.add_profiles(ProfileRecord(f"org/m{i}", f"d{j}", float(i + j)) for i in range(65) for j in range(42))
    title = Image.open(score_heatmap(large, tmp_path / "large.png")).text["Title"]
    assert title.endswith("\nshowing 60 of 65 models and 40 of 42 datasets, those with the most results"), title
    small = Zoo(ZooMeta(score="fid", higher_is_better=False))
    small.add_profiles(ProfileRecord(f"org/m{i}", f"d{j}", float(i + j)) for i in range(65) for j in range(2))
    title = Image.open(score_heatmap(small, tmp_path / "small.png", title="my zoo")).text["Title"]
    assert title == "my zoo\nshowing 60 of 65 models, those with the most results", title


def test_import_needs_a_direction(tmp_path, capsys):
    code, _, err = run_cli(capsys, "zoo", "import", BUNDLE, "--out", tmp_path / "Z")
    assert code == 2
    assert "--higher-is-better" in err


def test_import_merges_into_an_existing_zoo(tmp_path, capsys):
    first = write_bundle(tmp_path / "a", records="model,dataset,score\nm1,d1,0.5\nm3,d1,0.7\n")
    second = write_bundle(tmp_path / "b", records="model,dataset,score\nm2,d1,0.6\nm1,d1,0.9\n")
    outputs = []
    for bundle in (first, second):
        code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
        assert code == 0, err
        outputs.append(out)
    scores = {(r.model, r.dataset): r.score for r in Zoo.load(tmp_path / "Z").profile_records()}
    assert scores == {("m1", "d1"): 0.9, ("m2", "d1"): 0.6, ("m3", "d1"): 0.7}
    assert outputs[0].startswith("Imported 2 records") and "now holds" not in outputs[0]
    # What this import brought (2 records), then what the zoo holds after the merge (3).
    assert outputs[1].startswith("Imported 2 records") and "it now holds 3 records (3 models" in " ".join(outputs[1].split())


def test_import_into_a_zoo_keeps_the_features_the_bundle_leaves_out(tmp_path, capsys):
    first = write_bundle(
        tmp_path / "a",
        records="model,dataset,score\nm1,d1,0.5\nm2,d1,0.7\n",
        models="model,license,size\nm1,mit,10\nm2,mit,20\n",
        datasets="dataset,kind\nd1,photo\nd2,art\n",
    )
    second = write_bundle(
        tmp_path / "b",
        records="model,dataset,score\nm1,d2,0.9\n",
        # m1's size is left empty, m2's family too: both keep what the zoo holds.
        models="model,family,size\nm1,sd,\nm2,,25\n",
        datasets="dataset,images\nd1,100\n",
    )
    for bundle in (first, second):
        code, _, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", tmp_path / "Z")
        assert code == 0, err
    zoo = Zoo.load(tmp_path / "Z")
    models = {r.model: r.features for r in zoo.model_records()}
    assert models["m1"] == {"license": "mit", "size": 10, "family": "sd"}
    assert models["m2"] == {"license": "mit", "size": 25, "family": None}
    assert {r.dataset: r.features for r in zoo.dataset_records()} == {"d1": {"kind": "photo", "images": 100}, "d2": {"kind": "art", "images": None}}
    # Read without hubselect (pandas, `datasets`), a bundle's missing revisions are still text.
    assert str(pq.read_schema(tmp_path / "Z" / "datasets.parquet").field("revision").type) in ("null", "string", "large_string")


def test_a_text_value_in_a_numeric_feature_column_is_imported_as_text_and_read_as_a_category(tmp_path, capsys):
    first = write_bundle(
        tmp_path / "p1",
        records="model,dataset,score\nm1,d1,0.9\nm2,d1,0.5\nm1,d2,0.8\nm2,d2,0.4\nm1,d3,0.85\nm2,d3,0.3\n",
        models="model,size\nm1,10\nm2,20\n",
        datasets="dataset,n\nd1,10\nd2,20\nd3,30\n",
    )
    second = write_bundle(
        tmp_path / "p2",
        records="model,dataset,score\nm1,d1,0.1\nm4,d1,0.95\n",
        models="model,size\nm4,40\n",
        datasets="dataset,n\nd1,many\n",
    )
    third = write_bundle(tmp_path / "p3", records="model,dataset,score\nm4,d2,0.5\n", datasets="dataset,n\nd1,40\n")
    zoo_dir = tmp_path / "Z"
    assert run_cli(capsys, "zoo", "import", first, "--higher-is-better", "--out", zoo_dir)[0] == 0
    code, _, err = run_cli(capsys, "zoo", "import", second, "--higher-is-better", "--out", zoo_dir)
    assert code == 0, err
    zoo = Zoo.load(zoo_dir)
    assert len(zoo.records) == 7 and zoo.model_ids == ["m1", "m2", "m4"]
    assert {r.dataset: r.features["n"] for r in zoo.dataset_records()} == {"d1": "many", "d2": "20", "d3": "30"}
    assert ZooArrays.from_zoo(zoo).dataset_features["n"].tolist() == ["many", "20", "30"]  # a category each
    # Once the text is gone, the column is numbers again.
    assert run_cli(capsys, "zoo", "import", third, "--higher-is-better", "--out", zoo_dir)[0] == 0
    assert ZooArrays.from_zoo(Zoo.load(zoo_dir)).dataset_features["n"].tolist() == [40.0, 20.0, 30.0]


def test_a_table_that_cannot_be_saved_names_its_column_and_leaves_the_folder_as_it_was(tmp_path):
    zoo = Zoo()
    zoo.add_profiles([ProfileRecord("m1", "d1", 0.5)])
    zoo.add_models([ModelRecord("m1", features={"size": 10})])
    zoo.save(tmp_path / "Z")
    before = {f.name: f.read_bytes() for f in (tmp_path / "Z").iterdir()}
    zoo.add_profiles([ProfileRecord("m2", "d1", 0.7)])
    zoo.add_models([ModelRecord("m2", features={"size": 20})])
    zoo.add_datasets([DatasetRecord("d1", features={"images": 10**30})])  # more than parquet's int64 holds
    with pytest.raises(HubselectError, match="cannot save the zoo's datasets table: its column 'images' cannot be stored"):
        zoo.save(tmp_path / "Z")
    assert {f.name: f.read_bytes() for f in (tmp_path / "Z").iterdir()} == before


def test_merging_a_row_read_at_another_revision_drops_the_old_commit_s_facts():
    zoo = Zoo()
    zoo.add_models([ModelRecord("org/sd", "a" * 40, {"license": "mit", "throughput_images_per_s": 3.0, "excluded_reason": "pickle only"})])
    same = Zoo()
    same.add_models([ModelRecord("org/sd", "a" * 40, {"family": "sd"})])
    assert next(zoo.merge(same).model_records()).features == {
        "license": "mit", "throughput_images_per_s": 3.0, "excluded_reason": "pickle only", "family": "sd"
    }
    # Recrawled at a new commit elsewhere: the throughput and the flag were facts of the old one.
    newer = Zoo()
    newer.add_models([ModelRecord("org/sd", "b" * 40, {"license": "mit", "excluded_reason": None})])
    merged = next(zoo.merge(newer).model_records())
    assert merged.revision == "b" * 40
    assert {k: v for k, v in merged.features.items() if v is not None} == {"license": "mit"}


def _result(model: str, score: float, revision: str, finished_at: str | None) -> ProfileRecord:
    return ProfileRecord(model, "t/warm", score, "lora", "c1", model_revision=revision, dataset_revision="w" * 40,
                         details={"finished_at": finished_at} if finished_at else {})


def _crawled(model: str, revision: str, last_modified: str) -> ModelRecord:
    return ModelRecord(model, revision, {"last_modified": last_modified, "unet_params": 10})


def test_a_stale_copy_merged_last_keeps_the_later_results_and_model_rows():
    """Two writers of a shared zoo: B pulls it; A redoes vpred's result at its new commit,
    recrawls it and pushes; B pushes its copy afterwards (the Hub merges it last)."""
    meta = ZooMeta(score="fid_after_finetune", higher_is_better=False)
    pulled = Zoo(meta)
    pulled.add_models([_crawled("t/vpred", "e" * 40, "2026-01-01T10:00:00+00:00"), _crawled("t/ddim", "a" * 40, "2025-12-01T10:00:00+00:00")])
    pulled.add_profiles([_result("t/vpred", 2.605, "e" * 40, "2026-01-02T10:00:00+00:00"),
                         _result("t/ddim", 3.421, "a" * 40, "2026-01-02T10:05:00+00:00")])
    on_hub = pulled.merge(Zoo(meta))
    on_hub.add_models([_crawled("t/vpred", "d" * 40, "2026-01-05T08:00:00+00:00")])
    on_hub.add_profiles([_result("t/vpred", 2.743, "d" * 40, "2026-01-05T09:00:00+00:00")])
    copy_of_b = pulled.merge(Zoo(meta))
    copy_of_b.add_profiles([_result("t/wide", 4.1, "f" * 40, "2026-01-06T09:00:00+00:00")])  # B's own, unrelated work

    pushed = on_hub.merge(copy_of_b)
    assert {r.model: (r.score, r.model_revision) for r in pushed.profile_records()} == {
        "t/vpred": (2.743, "d" * 40), "t/ddim": (3.421, "a" * 40), "t/wide": (4.1, "f" * 40)}
    vpred = next(r for r in pushed.model_records() if r.model == "t/vpred")
    assert (vpred.revision, vpred.features["last_modified"]) == ("d" * 40, "2026-01-05T08:00:00+00:00")
    assert pushed.kept_later == {"records": 1, "models": 1}
    # Pulled into B's folder the other way round, the later copies win too, and nothing is kept over them.
    assert copy_of_b.merge(on_hub).equals(pushed) and copy_of_b.merge(on_hub).kept_later == {}
    # Two copies that do not say when they were made (imported results, older zoos) merge as before: the incoming one wins.
    untimed, older = Zoo(meta), Zoo(meta)
    untimed.add_profiles([_result("t/vpred", 9.9, "e" * 40, None)])
    older.add_profiles([_result("t/vpred", 8.8, "e" * 40, None)])
    assert [r.score for r in older.merge(untimed).profile_records()] == [9.9]


def test_a_result_made_before_finished_at_existed_does_not_revert_a_later_one():
    """Right after the upgrade every pulled result lacks finished_at: B's stale copy of one
    (at the model's old commit) pushed after A redid it at the new commit must not revert it,
    nor leave the merged zoo with a result at the old commit beside the model row at the new."""
    meta = ZooMeta(score="fid_after_finetune", higher_is_better=False)
    stale, on_hub = Zoo(meta), Zoo(meta)
    stale.add_models([_crawled("t/vpred", "e" * 40, "2026-01-01T10:00:00+00:00")])
    stale.add_profiles([_result("t/vpred", 2.605, "e" * 40, None)])
    on_hub.add_models([_crawled("t/vpred", "d" * 40, "2026-01-05T08:00:00+00:00")])
    on_hub.add_profiles([_result("t/vpred", 2.743, "d" * 40, "2026-01-05T09:00:00+00:00")])

    pushed = on_hub.merge(stale)
    assert [(r.score, r.model_revision) for r in pushed.profile_records()] == [(2.743, "d" * 40)]
    assert [r.revision for r in pushed.model_records()] == ["d" * 40]
    assert pushed.kept_later == {"records": 1, "models": 1}
    # Pulled into the stale folder, the timed copy wins, and nothing of the folder's is kept over it.
    pulled = stale.merge(on_hub)
    assert pulled.equals(pushed) and pulled.kept_later == {}


def test_of_two_copies_of_one_run_the_one_moved_to_the_kept_commit_stays():
    """A card edit moved A's result to the model's new commit (`follow`: same run, same
    finished_at); B's copy at the old commit, pushed last, must not move it back beside the
    model row at the new commit."""
    meta = ZooMeta(score="fid_after_finetune", higher_is_better=False)
    stale, on_hub = Zoo(meta), Zoo(meta)
    stale.add_models([_crawled("t/vpred", "e" * 40, "2026-01-01T10:00:00+00:00")])
    stale.add_profiles([_result("t/vpred", 2.605, "e" * 40, "2026-01-02T10:00:00+00:00")])
    on_hub.add_models([_crawled("t/vpred", "d" * 40, "2026-01-05T08:00:00+00:00")])
    on_hub.add_profiles([_result("t/vpred", 2.605, "d" * 40, "2026-01-02T10:00:00+00:00")])

    pushed = on_hub.merge(stale)
    assert [(r.model_revision, m.revision) for r, m in zip(pushed.profile_records(), pushed.model_records())] == [("d" * 40, "d" * 40)]
    assert pushed.kept_later == {"records": 1, "models": 1}
    assert stale.merge(on_hub).equals(pushed)


def test_import_into_a_zoo_scored_the_other_way_is_refused_and_keeps_it(tmp_path, capsys):
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,score\nm1,d1,0.5\n")
    assert run_cli(capsys, "zoo", "import", bundle, "--lower-is-better", "--score-name", "fid", "--out", tmp_path / "Z")[0] == 0
    before = (tmp_path / "Z" / "records.parquet").read_bytes()
    code, out, err = run_cli(capsys, "zoo", "import", bundle, "--higher-is-better", "--score-name", "fid", "--out", tmp_path / "Z")
    assert code != 0 and out == "" and err.count("\n") == 1, err
    assert "'fid' (higher is better) into one scored by 'fid' (lower is better)" in err and "separate zoos" in err
    assert (tmp_path / "Z" / "records.parquet").read_bytes() == before


def test_a_folder_that_is_not_a_zoo(tmp_path, capsys):
    code, _, err = run_cli(capsys, "zoo", "show", tmp_path)
    assert code != 0 and "not a zoo" in err and "hubselect zoo import" in err


def test_a_file_given_as_zoo_is_called_a_file(tmp_path, capsys):
    (tmp_path / "zoo.csv").write_text("model,dataset,score\n")
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "zoo.csv")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "zoo.csv is a file, not a zoo" in err


def test_a_bundle_file_given_for_its_folder_is_called_a_file(tmp_path, capsys):
    """It said "b1/records.csv: no such folder" of a file that is there."""
    bundle = write_bundle(tmp_path / "b1", records="model,dataset,score\nm1,d1,0.5\n")
    code, out, err = run_cli(capsys, "zoo", "import", bundle / "records.csv", "--higher-is-better", "--out", tmp_path / "Z")
    assert (code, out) == (2, "") and err == (
        f"Error: {bundle / 'records.csv'} is a file, not a folder; a bundle is a folder of CSV files: "
        f"pass the folder that holds records.csv, e.g. {bundle}\n"
    )
    assert not (tmp_path / "Z").exists()


def test_method_view_selects_records():
    zoo = Zoo(ZooMeta())
    zoo.add_profiles([ProfileRecord("m", "d", 0.5, method="full"), ProfileRecord("m", "d", 0.4, method="lora")])
    assert [r.score for r in zoo.for_method("lora").profile_records()] == [0.4]
    with pytest.raises(InputError, match=r"several methods \(full, lora\); choose one with --method \(method= in Python\)$"):
        zoo.for_method(None)
    with pytest.raises(InputError, match="choose one of: full, lora"):
        zoo.for_method("dreambooth")


def _profiled(model: str, dataset: str, score: float, probe: str, config_hash: str, method: str = "lora") -> ProfileRecord:
    """A result as `hubselect profile` writes it: the probe it was scored with in its details."""
    return ProfileRecord(model, dataset, score, method, config_hash, details={"probe": probe, "fid_extractor": f"{probe}@r"})


def test_results_scored_with_another_probe_are_left_out_not_averaged_with_the_methods(caplog):
    inception, clip = "clean-fid/inception-v3", "openai/clip-vit-base-patch32"
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([
        _profiled("m1", "warm", 246.5, inception, "steps-2"),
        _profiled("m1", "warm", 250.5, inception, "steps-4"),  # other settings, same probe: averaged
        _profiled("m1", "cool", 200.0, inception, "steps-2"),
        _profiled("m1", "warm", 8.1, clip, "clip-steps-2"),  # a rerun that fell back on CLIP (it was averaged in)
        _profiled("m1", "warm", 5.0, clip, "db", method="dreambooth"),  # another method's own probe
        ProfileRecord("m2", "warm", 210.0, "lora"),  # imported: names no probe, its own group
    ])
    with caplog.at_level("WARNING"):
        lora = zoo.for_method("lora")
        arrays = ZooArrays.from_zoo(lora)
    assert arrays.scores[arrays.model_index("m1"), arrays.dataset_index("warm")] == 248.5
    assert "m2" not in lora.model_ids
    assert caplog.messages == [
        f"left out 1 lora result that name no probe (imported): the zoo's lora results were scored with {inception}, and scores from two probes are not comparable",
        f"left out 1 lora result scored with {clip}: the zoo's lora results were scored with {inception}, and scores from two probes are not comparable",
    ]
    assert zoo.for_method("dreambooth").score_matrix().loc["m1", "warm"] == 5.0
    matrix = Zoo(zoo.meta, records=zoo.records[zoo.records["method"] == "lora"]).score_matrix()
    assert matrix.loc["m1", "warm"] == 248.5 and matrix.loc["m1", "cool"] == 200.0
    assert zoo.results_probe("lora") == inception and zoo.results_probe("dreambooth") == clip
    # As many results through each probe: the zoo's is the one it was scored with first.
    tie = Zoo(zoo.meta)
    tie.add_profiles([_profiled("m1", "warm", 246.5, inception, "a"), _profiled("m1", "warm", 8.1, clip, "b")])
    assert tie.score_matrix().loc["m1", "warm"] == 246.5


def test_imported_fids_that_name_no_probe_are_left_out_of_a_profiled_method_not_averaged_with_it(tmp_path, capsys, caplog):
    """Imported FIDs (240, 250: their probe unknown) merged into lora results scored with CLIP (~3)
    were averaged with them, ddim × warm coming out as 121.7, without a warning."""
    clip = "local:clip"
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([_profiled(m, d, s, clip, "c1") for m, d, s in
                      (("ddim", "warm", 3.42), ("vpred", "warm", 2.74), ("ddim", "cool", 4.0), ("vpred", "cool", 4.3))])
    bundle = write_bundle(tmp_path / "fid", records="model,dataset,score\nvpred,warm,250\nddim,warm,240\n")
    merged = zoo.merge(import_bundle(bundle, higher_is_better=False, score_name="fid_after_finetune", method="lora"))
    assert len(merged.records) == 6  # kept in the zoo, left out of rankings
    with caplog.at_level("WARNING"):
        matrix = merged.for_method("lora").score_matrix()
    assert (matrix.loc["ddim", "warm"], matrix.loc["vpred", "warm"]) == (3.42, 2.74)
    assert caplog.messages == [
        "left out 2 lora results that name no probe (imported): the zoo's lora results were scored with local:clip, "
        "and scores from two probes are not comparable"
    ]
    # Most of a method's results imported: those are what rankings read, and the profiled ones are left out.
    imported = Zoo(zoo.meta)
    imported.add_profiles([ProfileRecord(m, d, 200.0 + i, "lora") for i, (m, d) in enumerate((("a", "warm"), ("b", "warm"), ("a", "cool")))])
    imported.add_profiles([_profiled("a", "warm", 3.0, clip, "c1")])
    assert imported.for_method("lora").score_matrix(warn=False).loc["a", "warm"] == 200.0
    assert imported.summary()["records_left_out"] == 1

    zoo.save(tmp_path / "Z")
    code, _, err = run_cli(capsys, "zoo", "import", bundle, "--lower-is-better", "--score-name", "fid_after_finetune", "--method", "lora",
                           "--out", tmp_path / "Z")
    assert code == 0, err
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z", "--format", "json")
    summary = json.loads(out)
    assert (summary["records"], summary["records_left_out"], summary["score_min"], summary["score_max"]) == (6, 2, 2.74, 4.3)
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z")
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3}
    assert (rows["score range"], rows["left out of rankings"]) == ("2.74 … 4.3", "2 records (scored with another probe than their method's)"), out


def test_the_graph_reads_one_probes_distances_so_identical_datasets_sit_at_one_distance():
    # cool, warm and a byte-identical copy of warm, profiled with the default probe; cool and warm with another too.
    clip = "openai/clip-vit-base-patch32"
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([ProfileRecord("m1", d, 30.0, "lora") for d in ("cool", "warm", "warmcopy")])
    zoo.add_distances([
        DistanceRecord("cool", "warm", 8.614, clip), DistanceRecord("warm", "warmcopy", 0.0, clip),
        DistanceRecord("cool", "warmcopy", 8.614, clip), DistanceRecord("cool", "warm", 16.973, "local:clip2"),
    ])

    def distance(arrays: ZooArrays, a: str, b: str) -> float:
        return arrays.distances[arrays.dataset_index(a), arrays.dataset_index(b)]

    # By default the default probe's, as `dataset similar` compares a dataset through it.
    arrays = ZooArrays.from_zoo(zoo)
    assert distance(arrays, "cool", "warm") == distance(arrays, "cool", "warmcopy") == 8.614  # was 12.79, the mean of both probes
    other = ZooArrays.from_zoo(zoo.for_probe("local:clip2"))
    assert distance(other, "cool", "warm") == 16.973 and np.isnan(distance(other, "cool", "warmcopy"))
    # Several probes, none of them the default: which one is the user's to say.
    zoo.distances = zoo.distances.replace({clip: "local:clip"})
    with pytest.raises(InputError) as refused:
        ZooArrays.from_zoo(zoo)
    assert str(refused.value) == (
        "the zoo's dataset distances were measured with several probes (local:clip, local:clip2), whose distances are on "
        "different scales; choose one with --probe (in Python: zoo.for_probe('local:clip'))"
    )
    assert distance(ZooArrays.from_zoo(zoo.for_probe("local:clip")), "cool", "warm") == 8.614


def _mixed_probe_zoo() -> Zoo:
    """Lora results scored with CLIP (2 to 5), and 2 scored with Inception (300 and 301), as a
    zoo merged from two writers' holds them: rankings read the CLIP ones."""
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([_profiled(f"m{i}", d, 2.0 + i + j, "openai/clip-vit-base-patch32", "clip") for i in range(3) for j, d in enumerate(("d1", "d2"))])
    zoo.add_profiles([_profiled(f"m{i}", "d1", 300.0 + i, "clean-fid/inception-v3", "inception") for i in range(2)])
    return zoo


def test_show_gives_the_score_range_of_the_results_rankings_read_and_counts_those_left_out(tmp_path, capsys):
    """`zoo show` gave the score range across both probes' scales (2 … 301) and did not say
    that rankings leave the results of the other probe out."""
    _mixed_probe_zoo().save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z", "--format", "json")
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert (summary["records"], summary["records_left_out"], summary["score_min"], summary["score_max"]) == (8, 2, 2.0, 5.0)
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z")
    assert (code, err) == (0, "")
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3}
    assert (rows["records"], rows["score range"]) == ("8", "2 … 5"), out
    assert rows["left out of rankings"] == "2 records (scored with another probe than their method's)", out


def test_show_gives_each_methods_score_range_where_there_are_several(tmp_path, capsys):
    """Lora results scored with CLIP and dreambooth results with Inception: each method's are
    ranked on their own, but `zoo show` gave one range across both scales (2 … 301)."""
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([_profiled(f"m{i}", "d1", 2.0 + i, "openai/clip-vit-base-patch32", "clip") for i in range(3)])
    zoo.add_profiles([_profiled(f"m{i}", "d1", 300.0 + i, "clean-fid/inception-v3", "inception", "dreambooth") for i in range(2)])
    zoo.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z", "--format", "json")
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert (summary["records_left_out"], summary["score_ranges"]) == (0, {"dreambooth": [300.0, 301.0], "lora": [2.0, 4.0]})
    code, out, err = run_cli(capsys, "zoo", "show", tmp_path / "Z")
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3}
    assert rows["score range"] == "dreambooth: 300 … 301; lora: 2 … 4", out


def test_a_stale_copy_of_a_result_does_not_drop_a_failure_at_the_models_later_commit():
    """Writer B pulled while the model worked (a result at r1); the model then moved to a broken
    commit r2, where A's job failed twice. B pushing last dropped A's failure (a record of the key
    was taken for the later word), and the next refresh ran the broken job again, red. A result
    that finished before the failure is a stale copy: the failure stays. One that finished after
    it (the job succeeded since), or that does not say when, settles it as before."""
    failed = FailedJob("m", "d", "lora", "c", "model m cannot be loaded", "r2", "s1", "2026-11-21T10:00:00+00:00", attempts=2)

    def result(finished_at: str | None) -> Zoo:
        zoo = Zoo()
        zoo.add_profiles([ProfileRecord("m", "d", 3.2, "lora", "c", model_revision="r1", dataset_revision="s1",
                                        details={"finished_at": finished_at} if finished_at else {})])
        return zoo

    hub = Zoo()
    hub.add_profiles(result("2026-11-14T09:00:00+00:00").profile_records())
    hub.failed_jobs = Zoo().failed_jobs
    hub.add_failed_jobs([failed])

    stale = hub.merge(result("2026-11-14T09:00:00+00:00"))
    assert [(f.model_revision, f.attempts) for f in stale.failed_job_records()] == [("r2", 2)]
    assert list(hub.merge(result("2026-11-28T09:00:00+00:00")).failed_job_records()) == []
    failing = Zoo()
    failing.add_failed_jobs([failed])
    assert list(failing.merge(result(None)).failed_job_records()) == []
