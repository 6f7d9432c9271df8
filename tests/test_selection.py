"""Selection core on synthetic zoos where the right answer is known.

The zoos (``hubselect.rank.synthetic``) plant one best model per cluster of similar datasets;
it is mediocre elsewhere, so ``average_best`` misses it and similarity-aware methods find it.
Graph work (node2vec+) is shared through session fixtures: pecanpy's kernels compile once.
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import pathlib
import re
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from hubselect.cli import main
from hubselect.errors import HubselectError, InputError
from hubselect.graph import GraphConfig, Node2VecConfig, ZooArrays, build_matching_graph, embed
from hubselect.graph.matching import similarity_from_distances
from hubselect.rank import METRICS, NewDataset, Ranker, RankerConfig, evaluate, random_metrics, selection_metrics
from hubselect.rank import baselines
from hubselect.rank.features import Evidence, make_schema
from hubselect.rank.metrics import MARGIN_METRICS, TargetsScorer, mean_metrics, paired_margins
from hubselect.rank.prior import NEAREST, KernelPrior
from hubselect.rank.synthetic import synthetic_zoo
from hubselect.zoo import ModelRecord, Zoo

# Small walks keep the tests fast; the defaults are for real zoos.
SMALL = RankerConfig(node2vec=Node2VecConfig(dim=8, walks_per_node=5, walk_length=20), inner_folds=3)
TARGETS = ["data-000", "data-001", "data-002"]  # one per cluster


def planted_for(zoo, dataset: str) -> str:
    return zoo.meta.extra["planted"][str(zoo.meta.extra["clusters"][dataset])]


@pytest.fixture(scope="session")
def planted_zoo():
    return synthetic_zoo(24, 9, n_clusters=3, seed=0)


@pytest.fixture(scope="session")
def planted_report(planted_zoo):
    return evaluate(planted_zoo, TARGETS, SMALL)


@pytest.fixture(scope="session")
def fid_zoo():
    # Lower is better, with pre-fine-tuning scores: the T2I case.
    return synthetic_zoo(20, 6, n_clusters=2, higher_is_better=False, with_before=True, seed=3)


@pytest.fixture(scope="session")
def fid_report(fid_zoo):
    return evaluate(fid_zoo, ["data-000", "data-001"], SMALL)


@pytest.fixture(scope="session")
def planted_ranker(planted_zoo):
    return Ranker.fit(planted_zoo, SMALL)


@pytest.fixture(scope="session")
def zoo_dir(planted_zoo, tmp_path_factory):
    return str(planted_zoo.save(tmp_path_factory.mktemp("zoo") / "planted"))


# -- the method finds what was planted --------------------------------------------------------


def test_method_ranks_the_planted_model_first(planted_zoo, planted_report):
    for target in TARGETS:
        row = planted_report["targets"][target]
        assert row["predicted_top1"]["method"] == planted_for(planted_zoo, target)
        assert row["best_models"] == [planted_for(planted_zoo, target)]
        assert row["method"]["top1_hit"] == 1.0
    assert planted_report["method"]["top1_hit"] == 1.0
    assert planted_report["method"]["spearman"] > planted_report["baselines"]["average_best"]["spearman"]


def test_lower_is_better_zoo_finds_the_planted_model(fid_zoo, fid_report):
    for target in ("data-000", "data-001"):
        row = fid_report["targets"][target]
        assert row["predicted_top1"]["method"] == planted_for(fid_zoo, target)
        # rel1 is best / top1 for FID: at most 1, exactly 1 on a hit.
        assert row["method"]["rel1"] == 1.0
        assert all(0 < b["rel1"] <= 1.0 for b in row["baselines"].values())


# -- baselines behave as defined ------------------------------------------------------------------


def test_average_best_misses_and_nearest_dataset_finds_the_planted_model(planted_zoo, planted_report):
    for target in TARGETS:
        top1 = planted_report["targets"][target]["predicted_top1"]
        assert top1["nearest_dataset"] == planted_for(planted_zoo, target)
        assert top1["average_best"] != planted_for(planted_zoo, target)


def test_average_best_is_the_mean_min_max_normalised_score_elsewhere():
    zoo = synthetic_zoo(6, 4, n_clusters=2, seed=1)
    arrays = ZooArrays.from_zoo(zoo).without_records_of(["data-000"])
    s = arrays.scores
    expected = np.mean([(s[:, j] - s[:, j].min()) / (s[:, j].max() - s[:, j].min()) for j in (1, 2, 3)], axis=0)
    np.testing.assert_allclose(baselines.average_best(arrays, np.arange(6)), expected)


def test_nearest_dataset_uses_the_closest_profiled_dataset_and_falls_back_without_distances():
    zoo = synthetic_zoo(6, 4, n_clusters=2, seed=1)
    arrays = ZooArrays.from_zoo(zoo).without_records_of(["data-000"])
    nearest = baselines.nearest_profiled(arrays, 0)
    assert nearest == int(np.nanargmin(np.where(np.arange(4) == 0, np.nan, arrays.distances[0])))
    arrays.distances[0, 1:] = arrays.distances[1:, 0] = np.nan
    assert baselines.nearest_profiled(arrays, 0) is None
    np.testing.assert_allclose(baselines.nearest_dataset(arrays, 0, np.arange(6)), baselines.average_best(arrays, np.arange(6)))


def test_random_baseline_is_the_exact_expectation(planted_report):
    for row in planted_report["targets"].values():
        rnd = row["baselines"]["random"]
        assert rnd["top1_hit"] == pytest.approx(1 / 24)  # one planted best among 24 models
        assert rnd["pearson"] == rnd["spearman"] == 0.0
    # E[ndcg5] over every permutation, by brute force, equals the closed form.
    true = np.array([0.9, 0.5, 0.7, 0.1, 0.3])
    brute = np.mean([selection_metrics(true, -np.array(p, dtype=float), True)["ndcg5"] for p in itertools.permutations(range(5))])
    assert random_metrics(true, True)["ndcg5"] == pytest.approx(brute)


def test_initial_score_appears_only_when_records_carry_a_score_before(planted_report, fid_report):
    assert "initial_score" not in planted_report["baselines"]
    assert "initial_score" in fid_report["baselines"]
    assert set(fid_report["baselines"]["initial_score"]) == set(METRICS)


def test_features_only_is_the_learner_without_embeddings(planted_ranker):
    config = planted_ranker.config.without_embeddings()
    assert config.embedding_sets == ("none",)
    assert config.learner == planted_ranker.config.learner


# -- metrics --------------------------------------------------------------------------------------


def test_metrics_by_hand():
    true = np.array([0.8, 0.9, 0.9, 0.5])
    m = selection_metrics(true, np.array([0.1, 0.2, 0.9, 0.0]), True)  # picks a tied best
    assert m["top1_hit"] == 1.0 and m["rel1"] == 1.0 and m["regret"] == 0.0
    fid = np.array([30.0, 20.0, 40.0])
    m = selection_metrics(fid, np.array([1.0, 0.0, -1.0]), False)  # picks 30 where 20 was best
    assert m["top1_score"] == 30.0
    assert m["rel1"] == pytest.approx(20 / 30)
    assert m["regret"] == 10.0
    assert selection_metrics(fid, -fid, False)["spearman"] == pytest.approx(1.0)
    assert selection_metrics(fid, -fid, False)["pearson"] == pytest.approx(1.0)


def test_rel1_is_undefined_where_scores_are_not_all_positive():
    """A ratio of -1 to -5 is not "5x worse": rel1 is NaN there, for predictions and for chance."""
    log_likelihood = np.array([-1.0, -5.0, -3.0])
    picked_worst = selection_metrics(log_likelihood, np.array([0.0, 1.0, 0.5]), True)
    assert math.isnan(picked_worst["rel1"]) and picked_worst["regret"] == 4.0
    assert math.isnan(random_metrics(log_likelihood, True)["rel1"])
    assert math.isnan(selection_metrics(np.array([0.0, 0.5]), np.array([1.0, 0.0]), True)["rel1"])
    assert random_metrics(np.array([0.5, 1.0]), True)["rel1"] == pytest.approx(0.75)


def test_pearson_of_scores_past_1e154_is_their_correlation_not_0():
    """np.corrcoef squares the scores: past ~1e154 they overflowed (a RuntimeWarning on stderr)
    and Pearson read 0 where the same scores rescaled correlate at 0.97."""
    true = np.array([1e-100, 1.0, 1e100, 1e180])
    predicted = np.array([0.1, 0.3, 0.2, 0.9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pearson = selection_metrics(true, predicted, True)["pearson"]
    assert pearson > 0.9 and pearson == pytest.approx(selection_metrics(true / 1e180, predicted, True)["pearson"])


def test_a_model_without_a_prediction_ranks_below_every_predicted_one_at_any_scale():
    """A NaN (no opinion, e.g. a model lacking its before-score in the initial_score baseline)
    was filled with the lowest prediction minus 1.0, which past 2**53 is the lowest itself: at
    1e20 the NaN model tied with the predicted best, and top-1 hit read 0.5."""
    true = np.array([2.0, 1.0, 0.5])
    for scale in (1.0, 1e20, -1e20, 1e300):
        m = selection_metrics(true, np.array([scale, np.nan, scale / 2 if scale > 0 else scale * 2]), True)
        assert (m["top1_hit"], m["regret"]) == (1.0, 0.0), scale
        alone = selection_metrics(true[:2], np.array([scale, np.nan]), True)
        assert (alone["top1_hit"], alone["regret"]) == (1.0, 0.0), scale
        assert alone["spearman"] == pytest.approx(1.0) and alone["pearson"] > 0, scale  # the NaN counted lowest


def test_tied_predictions_score_as_their_expectation_not_by_the_models_order():
    """A predictor that ties models has no opinion on their order: it scores the mean over every
    order of the tied models (NDCG: McSherry & Najork 2008), whatever order the models are listed in."""
    true = np.array([0.9, 0.5, 0.7, 0.1, 0.3, 0.2, 0.8])
    tied = np.array([2.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0])  # {0.9, 0.5} tie at the top, then {0.7, 0.1, 0.3}, then {0.2, 0.8}
    groups = [np.flatnonzero(tied == value) for value in (2.0, 1.0, 0.0)]
    orders = [np.concatenate(order) for order in itertools.product(*(itertools.permutations(g) for g in groups))]
    every_order = [selection_metrics(true, -np.argsort(order).astype(float), True) for order in orders]
    m = selection_metrics(true, tied, True)
    assert m["top1_hit"] == 0.5 and m["top1_score"] == pytest.approx(0.7)  # one of the two tied at the top is the best
    for key in ("top1_hit", "top1_score", "rel1", "regret", "ndcg5"):
        assert m[key] == pytest.approx(np.mean([o[key] for o in every_order])), key
    listed_backwards = selection_metrics(true[::-1], tied[::-1], True)
    assert listed_backwards == pytest.approx(m)
    # No opinion at all (every prediction NaN, or all equal) is chance.
    assert selection_metrics(true, np.full(true.size, np.nan), True) == pytest.approx(random_metrics(true, True))
    fid = 60.0 - 50.0 * true
    assert selection_metrics(fid, np.zeros(true.size), False) == pytest.approx(random_metrics(fid, False))


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_scoring_many_targets_at_once_gives_each_target_its_own_metrics(higher_is_better):
    """Choosing a prior scores hundreds of predictions on many targets through
    :class:`TargetsScorer`; each target's figures must be :func:`selection_metrics`'s, however
    the targets differ: sizes from 1 to 30, ties in the truth and in the prediction, NaNs (some
    targets all NaN), negative scores (no rel1), a constant truth, scores past 1e154, predictions
    and (oriented) true scores of +inf, true scores of NaN (spearman read those apart)."""
    rng = np.random.default_rng(7)
    true, predicted, positions = [], [], []
    start = 0
    for i in range(60):
        n = 1 if i == 0 else int(rng.integers(2, 31))
        t = np.round(rng.normal(0.7, 0.1, n), 1 if i % 3 == 0 else 6)  # coarse rounding: ties in the truth
        if i % 7 == 1:
            t -= 1.0  # some scores at or below 0: rel1 undefined
        if i % 11 == 2:
            t[:] = 0.5
        p = np.round(rng.normal(0.0, 1.0, n), 0 if i % 2 else 8)  # coarse rounding: ties in the prediction
        if i % 5 == 3:
            p[rng.random(n) < 0.4] = np.nan
        if i % 13 == 4:
            p[:] = np.nan
        if i == 5:
            t, p = t * 1e180, p * 1e200
        if i % 17 == 6:
            p[: 1 + i % 2] = np.inf  # one, or two tied
        if i % 19 == 7:
            t[0] = np.inf if higher_is_better else -np.inf
        if i % 23 == 8:
            t[-1] = np.nan
        true.append(t)
        predicted.append(p)
        positions.append(start + rng.permutation(n))  # the targets' predictions sit anywhere in one vector
        start += n
    flat = np.full(start, np.inf)
    for p, where in zip(predicted, positions):
        flat[where] = p
    scorer = TargetsScorer(true, positions, higher_is_better)
    with np.errstate(invalid="ignore", divide="ignore"):  # infinite true scores: inf - inf on both sides
        batch = scorer.metrics(flat)
        one_by_one = [selection_metrics(t, p, higher_is_better) for t, p in zip(true, predicted)]
        means, expected_means = scorer.mean(flat), mean_metrics(one_by_one)
    for key in METRICS:
        expected = np.array([m[key] for m in one_by_one])
        np.testing.assert_allclose(batch[key], expected, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=key)
    assert means == pytest.approx(expected_means, rel=1e-12, nan_ok=True)
    assert any(np.isnan(batch["rel1"])) and any(batch["top1_hit"] < 1) and any(0 < batch["spearman"])


def test_renaming_the_models_of_a_target_no_predictor_can_know_changes_no_metric():
    """d2's two models have no results elsewhere: every predictor ties them, and its top-1 hit
    was decided by which name sorts first (1.0 named one way, 0.0 the other)."""
    known = {"d0": {"A": 10, "B": 20, "C": 30}, "d1": {"A": 12, "B": 11, "C": 40}, "d3": {"A": 12, "B": 11, "C": 25}}
    reports = [
        evaluate(zoo_from_scores({**known, "d2": {best: 5, worst: 9}}, higher_is_better=False), ["d2"], SMALL)["targets"]["d2"]
        for best, worst in (("Y", "X"), ("V", "W"))  # the best model sorts last, then first
    ]
    assert reports[0]["method"] == reports[1]["method"] and reports[0]["baselines"] == reports[1]["baselines"]
    for metrics in [reports[0]["method"], *reports[0]["baselines"].values()]:
        assert metrics["top1_hit"] == 0.5 and metrics["top1_score"] == 7.0 and metrics["regret"] == 2.0


def zoo_from_scores(scores: dict[str, dict[str, float]], *, higher_is_better: bool = True, before: dict[str, dict[str, float]] | None = None):
    """A zoo of ``{dataset: {model: score}}`` (and pre-fine-tuning scores, where given)."""
    from hubselect.zoo import ProfileRecord, Zoo, ZooMeta

    zoo = Zoo(ZooMeta(score="score", higher_is_better=higher_is_better))
    zoo.add_profiles(
        ProfileRecord(model, dataset, float(score), score_before=(before or {}).get(dataset, {}).get(model))
        for dataset, row in scores.items() for model, score in row.items()
    )
    return zoo


def negative_score_zoo():
    """The tester's zoo: log-likelihood-like scores, higher is better, all below 0."""
    scores = {"d1": (-1, -5, -3), "d2": (-2, -6, -4), "d3": (-1.5, -7, -3.5)}
    return zoo_from_scores({d: {f"m{i}": s for i, s in enumerate(row, start=1)} for d, row in scores.items()})


def test_evaluate_leaves_rel1_out_where_scores_are_not_all_positive_and_says_why_once(tmp_path, capsys):
    zoo = str(negative_score_zoo().save(tmp_path / "negative"))
    assert main(["evaluate", zoo, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"]["rel1"] is None and report["baselines"]["random"]["rel1"] is None
    assert all(t["method"]["rel1"] is None for t in report["targets"].values())
    assert report["margins"]["average_best"]["rel1"]["targets"] == 0
    assert report["method"]["top1_hit"] == 1.0 and report["method"]["regret"] == 0.0  # the rest is scored
    (notice,) = report["notices"]
    assert notice.startswith("rel1 is undefined on every target: it is a ratio of scores, meaningful only when every score is positive")

    assert main(["evaluate", zoo]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("note: rel1 is undefined") == 1, captured.err
    method_row = next(line for line in captured.out.splitlines() if line.startswith("│ method"))
    random_row = next(line for line in captured.out.splitlines() if line.startswith("│ random"))
    assert [cell.strip() for cell in method_row.split("│")][4] == "–" and [cell.strip() for cell in random_row.split("│")][4] == "–"

    from hubselect.hub.ranker_repo import ranker_card

    card = ranker_card({}, "org/ranker", evaluate(negative_score_zoo(), None, SMALL))  # NaN, not null
    assert "| **hubselect** | 1.000 | -1.500 | – | 0.000 |" in card, card


#: Four models on three datasets that tell them apart, and on d3, where every model scores the same.
SATURATED = {
    "d1": {"m1": 0.9, "m2": 0.5, "m3": 0.7, "m4": 0.6},
    "d2": {"m1": 0.8, "m2": 0.4, "m3": 0.75, "m4": 0.5},
    "d3": {"m1": 1.0, "m2": 1.0, "m3": 1.0, "m4": 1.0},
    "d4": {"m1": 0.85, "m2": 0.45, "m3": 0.6, "m4": 0.65},
}


def test_a_target_on_which_every_model_scores_the_same_is_left_out_of_every_mean_and_named(tmp_path, capsys):
    """On a saturated dataset any ranking is as right as another: counted in, it gave every
    predictor, chance included, a top-1 hit and NDCG 1, and every margin a certain 0."""
    zoo = str(zoo_from_scores(SATURATED).save(tmp_path / "saturated"))
    assert main(["evaluate", zoo, "--json", str(tmp_path / "report.json")]) == 0
    captured = capsys.readouterr()
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(report["targets"]) == ["d1", "d2", "d4"] and report["targets_left_out"] == {"d3": "every model scores the same"}
    rows = list(report["targets"].values())
    for name, means in [("method", report["method"]), *report["baselines"].items()]:
        per_target = [row["method"] if name == "method" else row["baselines"][name] for row in rows]
        for metric in METRICS:
            assert means[metric] == pytest.approx(np.mean([m[metric] for m in per_target])), (name, metric)
    assert {m["targets"] for by_metric in report["margins"].values() for m in by_metric.values()} == {3}
    assert report["baselines"]["random"]["top1_hit"] == pytest.approx(0.25)  # not 0.5: d3's sure hit is not in it
    assert captured.err.count("note: left out: d3 (every model scores the same") == 1, captured.err
    assert "over 3 target(s)" in captured.out


def test_the_ranker_card_says_which_model_columns_and_targets_were_left_out(tmp_path):
    """The card said the learner used "the zoo's model columns" though it leaves out every
    bench_* column and figures measured with different settings, and "Means over 3 target
    datasets" beside 4 datasets, never naming d3, which evaluate left out."""
    from hubselect.hub.ranker_repo import ranker_card
    from hubselect.rank.ranker import Choice, Ensemble, describe_zoo
    from hubselect.zoo import ModelRecord

    zoo = zoo_from_scores(SATURATED)
    cpu = dict(bench_device="cpu (x86_64, 2 threads)", bench_dtype="float32", bench_steps=2, bench_resolution=16, bench_batch=1)
    gpu = dict(bench_device="cuda (NVIDIA H100)", bench_dtype="float16", bench_steps=20, bench_resolution=512, bench_batch=1)
    measured = {"m1": {**cpu, "throughput_images_per_s": 0.16}, "m2": {**gpu, "throughput_images_per_s": 41.7}}
    zoo.add_models([ModelRecord(m, None, {"license": "mit", **measured.get(m, {})}) for m in ("m1", "m2", "m3", "m4")])
    arrays = ZooArrays.from_zoo(zoo)
    with_learner = Ensemble((Choice("interaction", "strong", 8),))  # the card lists the features of a ranker with a learner
    folder = Ranker.fit_arrays(arrays, SMALL, ensemble=with_learner, zoo_info=describe_zoo(zoo, arrays)).save(tmp_path / "ranker")
    info = json.loads((folder / "ranker.json").read_text())
    report = evaluate(zoo, None, SMALL)
    card = ranker_card(info, "org/ranker", report)
    features = next(line for line in card.splitlines() if line.startswith("- **model features**"))
    assert "not the `bench_*` columns" in features and "not `throughput_images_per_s`, measured with different settings" in features, features
    assert ("Means over\n3 target datasets (left out of every row, as no ranking can be scored\nthere — d3: every model scores the same):") in card, card
    assert "left out" not in ranker_card(info, "org/ranker", evaluate(zoo, ["d1", "d2"], SMALL)).split("## Leave-one")[1]
    older = {k: v for k, v in info.items() if k != "model_columns_left_out"}  # a ranker.json written before: nothing claimed
    assert "- **model features** — the zoo's model columns: numeric as they are, categorical text as LightGBM categories\n" in ranker_card(older, "org/ranker", None)


@pytest.mark.parametrize(
    ("scores", "targets", "instead"),
    [
        (SATURATED, ["--targets", "d3"], "choose targets whose models score differently: d1, d2, d4"),
        ({"d1": {"m1": 3, "m2": 3}, "d2": {"m1": 5, "m2": 5, "m3": 5}}, [], "add results that tell the models apart with `hubselect profile` or `hubselect zoo import`"),
    ],
    ids=["asked-for", "whole-zoo"],
)
def test_evaluating_only_targets_where_every_model_scores_the_same_says_what_to_evaluate_instead(scores, targets, instead, tmp_path, capsys):
    zoo = str(zoo_from_scores(scores).save(tmp_path / "zoo"))
    assert main(["evaluate", zoo, *targets, "--json", str(tmp_path / "report.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("Error: nothing to evaluate: every model scores the same on ") and captured.err.endswith(f"; {instead}\n"), captured.err
    assert not (tmp_path / "report.json").exists()


# -- the report -----------------------------------------------------------------------------------


def test_report_has_the_design_shape(planted_report, planted_ranker):
    assert set(planted_report) == {"method", "baselines", "margins", "targets", "zoo", "config"}  # no notices: scores are positive
    # What was evaluated, as a ranker built on the same zoo and configuration records it (push compares them).
    assert planted_report["zoo"] == planted_ranker.zoo_info and planted_report["config"] == SMALL.to_dict()
    assert set(planted_report["baselines"]) == {"average_best", "nearest_dataset", "features_only", "random"}
    assert set(planted_report["method"]) == set(METRICS)
    for metrics in planted_report["baselines"].values():
        assert set(metrics) == set(METRICS)
    assert list(planted_report["targets"]) == TARGETS
    row = planted_report["targets"]["data-000"]
    assert set(row["method"]) == set(METRICS)
    assert set(row["baselines"]) == set(planted_report["baselines"])
    json.loads(json.dumps(planted_report))  # plain JSON types only
    means = np.mean([planted_report["targets"][t]["method"]["spearman"] for t in TARGETS])
    assert planted_report["method"]["spearman"] == pytest.approx(means)


def test_the_rank_module_example_shows_the_keys_an_evaluation_report_has(planted_report):
    """hubselect.rank's example (skipped where doctests run: an evaluation takes a while) showed
    three of the report's six keys."""
    import ast

    import hubselect.rank

    shown = hubselect.rank.__doc__.split(">>> sorted(report)")[1].splitlines()[1]
    assert ast.literal_eval(shown.strip()) == sorted(planted_report)


def test_margins_are_the_method_minus_each_baseline_with_an_interval_around_them(planted_report):
    assert set(planted_report["margins"]) == set(planted_report["baselines"])
    for name, margins in planted_report["margins"].items():
        assert set(margins) == set(MARGIN_METRICS)
        for metric, m in margins.items():
            difference = planted_report["method"][metric] - planted_report["baselines"][name][metric]
            assert m["mean"] == pytest.approx(difference, abs=1e-9)
            assert m["low"] <= m["mean"] + 1e-12 and m["mean"] <= m["high"] + 1e-12
            assert m["targets"] == len(TARGETS)


def test_paired_margins_separate_a_consistent_win_from_a_split_one():
    better = [{k: 0.9 for k in MARGIN_METRICS}] * 12
    worse = [{k: 0.7 for k in MARGIN_METRICS}] * 12
    consistent = paired_margins(better, worse)["pearson"]
    assert consistent["low"] == pytest.approx(0.2) and consistent["high"] == pytest.approx(0.2)
    # Wins on half the targets, loses as much on the other half: no difference the targets can show.
    mixed = [{k: 0.9 if i % 2 else 0.5 for k in MARGIN_METRICS} for i in range(12)]
    split = paired_margins(mixed, worse)["rel1"]
    assert split["mean"] == pytest.approx(0.0)
    assert split["low"] < 0 < split["high"]
    assert paired_margins(mixed, worse, seed=3) == paired_margins(mixed, worse, seed=3)


def test_paired_margins_skip_targets_where_either_is_undefined():
    method = [{**{k: 0.8 for k in MARGIN_METRICS}, "pearson": math.nan}, {k: 0.8 for k in MARGIN_METRICS}]
    baseline = [{k: 0.5 for k in MARGIN_METRICS}] * 2
    margins = paired_margins(method, baseline)
    assert margins["pearson"]["targets"] == 1 and margins["pearson"]["mean"] == pytest.approx(0.3)
    assert margins["rel1"]["targets"] == 2
    nothing = paired_margins([{"pearson": None}], [{"pearson": 0.5}])["pearson"]
    assert nothing["targets"] == 0 and math.isnan(nothing["mean"])


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_the_same_embedding_and_ranking(planted_zoo, planted_ranker):
    graph = build_matching_graph(ZooArrays.from_zoo(planted_zoo), GraphConfig())
    config = Node2VecConfig(dim=8, walks_per_node=5, walk_length=20, seed=7)
    first, second = embed(graph, config), embed(graph, config)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, embed(graph, Node2VecConfig(dim=8, walks_per_node=5, walk_length=20, seed=8)))
    again = Ranker.fit(planted_zoo, SMALL)
    for target in TARGETS:
        assert np.array_equal(again.score_zoo_dataset(target), planted_ranker.score_zoo_dataset(target))


# -- the matching graph ---------------------------------------------------------------------------


def test_matching_graph_weights_and_isolated_nodes():
    zoo = synthetic_zoo(8, 4, n_clusters=2, seed=2)
    zoo.distances = zoo.distances[(zoo.distances["dataset_a"] != "data-003") & (zoo.distances["dataset_b"] != "data-003")]
    arrays = ZooArrays.from_zoo(zoo).without_records_of(["data-003"])
    graph = build_matching_graph(arrays, GraphConfig(neighbours=1))
    n_m = len(arrays.models)
    # A model's edge to a dataset weighs its within-dataset rank: the best weighs 1.
    neighbours, weights = graph.neighbours(n_m + 0)
    to_models = neighbours < n_m
    best = int(np.nanargmax(arrays.scores[:, 0]))
    assert weights[to_models].max() == pytest.approx(1.0)
    assert weights[to_models][list(neighbours[to_models]).index(best)] == pytest.approx(1.0)
    assert np.all(weights > 0)
    # No results and no distances: an isolated node, embedded as NaN rather than noise.
    assert graph.degree()[n_m + 3] == 0
    emb = embed(graph, Node2VecConfig(dim=4, walks_per_node=2, walk_length=10))
    assert np.isnan(emb[n_m + 3]).all() and not np.isnan(emb[:n_m]).any()


def test_datasets_without_distances_and_models_without_features_are_handled():
    zoo = synthetic_zoo(12, 6, n_clusters=2, seed=4)
    zoo.distances = zoo.distances[(zoo.distances["dataset_a"] != "data-005") & (zoo.distances["dataset_b"] != "data-005")]
    zoo.models = zoo.models[zoo.models["model"] != "model-0003"].reset_index(drop=True)
    report = evaluate(zoo, ["data-005"], RankerConfig(embedding_sets=("interaction",), regularisation=("strong",),
                                                      node2vec=Node2VecConfig(dim=4, walks_per_node=2, walk_length=10)))
    row = report["targets"]["data-005"]
    assert all(math.isfinite(v) for v in row["method"].values())
    # Without distances, nearest_dataset is average_best.
    assert row["baselines"]["nearest_dataset"] == row["baselines"]["average_best"]


def test_model_dates_are_an_order_for_the_learner_not_one_category_per_model():
    zoo = synthetic_zoo(4, 6, n_clusters=2, seed=4)
    stamps = ["2022-08-22T10:00:00+00:00", "2023-07-26T00:00:00.500000+00:00", None, "2024-02-01T12:00:00Z"]
    zoo.models = zoo.models.assign(created_at=stamps, card_note=["2024-01-01", "see the card", None, "v2"])
    arrays = ZooArrays.from_zoo(zoo)
    days = arrays.model_features["created_at"]
    assert days.dtype == float and days.iloc[0] < days.iloc[1] < days.iloc[3] and np.isnan(days.iloc[2])
    assert days.iloc[3] - days.iloc[0] == pytest.approx(528.083, abs=1e-3)  # 2022-08-22 10:00 → 2024-02-01 12:00
    schema = make_schema(arrays, "none", 0)
    assert "m:created_at" in schema.names and "m:created_at" not in schema.categorical
    assert "m:card_note" in schema.categorical  # text that is only partly dates stays text


def test_the_learner_leaves_out_how_throughput_was_measured_and_figures_of_different_settings():
    """Every bench_* column was a learner feature (the device, how long the measurement ran, its
    error text), and a CPU figure at 2 steps and 16 px shared one feature with a GPU one at 20
    steps and 512 px. The figures stay features where all were measured with one setting."""
    cpu = dict(bench_device="cpu (x86_64, 2 threads)", bench_dtype="float32", bench_steps=2, bench_resolution=16, bench_batch=1,
               bench_memory_measure="cpu_weights_plus_peak_rss_growth")
    gpu = dict(bench_device="cuda (NVIDIA H100)", bench_dtype="float16", bench_steps=20, bench_resolution=512, bench_batch=1,
               bench_memory_measure="cuda_max_allocated")
    figures = dict(throughput_images_per_s=0.16, peak_memory_mb=20.0, denoiser_it_per_s=9.0, bench_seconds=18.4, bench_iterations=3, bench_error="")
    measured = [{**figures, **cpu}, {**figures, **cpu}, {**figures, **gpu, "throughput_images_per_s": 41.7}, {}]
    learned = {}
    for case, rows in (("mixed", measured), ("one setting", measured[:2] + [{}, {}])):
        zoo = synthetic_zoo(4, 6, n_clusters=2, seed=4)
        zoo.models = pd.concat([zoo.models, pd.DataFrame(rows, index=zoo.models.index)], axis=1)
        learned[case] = [n for n in make_schema(ZooArrays.from_zoo(zoo), "none", 0).names if n.startswith("m:")]
        assert not [n for n in learned[case] if n.startswith("m:bench_")], learned[case]
    assert not {"m:throughput_images_per_s", "m:peak_memory_mb", "m:denoiser_it_per_s"} & set(learned["mixed"])
    assert {"m:throughput_images_per_s", "m:peak_memory_mb", "m:denoiser_it_per_s"} <= set(learned["one setting"])


def test_figures_of_one_gpu_named_two_ways_or_of_two_memory_measures_stay_features():
    """One GPU labelled "cuda (...)" (measured with auto) and "cuda:0 (...)" counted as two
    settings, and every figure left the ranker; so did images/s and latency in a CPU-benched zoo
    where one model was measured again after the peak memory measure changed. Only peak memory,
    measured two ways, is not comparable."""
    figures = dict(throughput_images_per_s=0.16, peak_memory_mb=20.0, denoiser_it_per_s=9.0)
    setting = dict(bench_dtype="float16", bench_steps=20, bench_resolution=512, bench_batch=1)
    cases = {
        "one gpu": ([dict(bench_device="cuda (NVIDIA H100)", bench_memory_measure="cuda_max_allocated"),
                     dict(bench_device="cuda:0 (NVIDIA H100)", bench_memory_measure="cuda_max_allocated")],
                    {"m:throughput_images_per_s", "m:peak_memory_mb", "m:denoiser_it_per_s"}),
        "two memory measures": ([dict(bench_device="cpu (x86_64, 2 threads)", bench_memory_measure="cpu_peak_rss_delta"),
                                 dict(bench_device="cpu (x86_64, 2 threads)", bench_memory_measure="cpu_weights_plus_peak_rss_growth")],
                                {"m:throughput_images_per_s", "m:denoiser_it_per_s"}),
    }
    for case, (settings, kept) in cases.items():
        zoo = synthetic_zoo(4, 6, n_clusters=2, seed=4)
        rows = [{**figures, **setting, **s} for s in settings] + [{}, {}]
        zoo.models = pd.concat([zoo.models, pd.DataFrame(rows, index=zoo.models.index)], axis=1)
        learned = {n for n in make_schema(ZooArrays.from_zoo(zoo), "none", 0).names if n in {f"m:{c}" for c in figures}}
        assert learned == kept, case


def _cluster_arrays() -> ZooArrays:
    """Query ``q`` (no results) beside ``twin`` (distance 1) and ``a``, ``b``, ``c`` (distance 12),
    with a far cluster: model ``x`` wins only on the twin, ``y`` on the rest of the cluster."""
    datasets = ["q", "twin", "a", "b", "c", "f1", "f2", "f3"]
    points = np.array([[0, 0], [1, 0], [0, 12], [-12, 0], [0, -12], [300, 0], [300, 12], [312, 0]], dtype=float)
    distances = np.linalg.norm(points[:, None] - points[None, :], axis=2)
    scores = np.array([
        [np.nan, 0.9, 0.6, 0.6, 0.6, 0.5, 0.5, 0.5],  # x
        [np.nan, 0.8, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5],  # y
        [np.nan, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9],  # z
    ])
    return ZooArrays(["x", "y", "z"], datasets, scores, distances, True, pd.DataFrame(index=range(3)), pd.DataFrame(index=range(8)))


def test_nearest_scaled_prior_follows_a_near_duplicate_and_averages_when_nothing_is_near():
    arrays = _cluster_arrays()
    evidence = Evidence(arrays, 5)
    similarity = similarity_from_distances(arrays.distances, 5)
    # With the 5th neighbour as bandwidth the twin and a, b, c are all "similar" (sim > 0.99):
    # a fixed power weighs them alike and y wins; the nearest-scaled kernel follows the twin.
    sharp = KernelPrior(weight=1.0, order_kernel=(4.0, 0.01)).table(evidence, similarity[[0]], np.array([0]))[:, 0]
    nearest = KernelPrior(weight=1.0, order_kernel=(1.0, NEAREST)).table(evidence, similarity[[0]], np.array([0]))[:, 0]
    assert similarity[0, 1:5].min() > 0.99
    assert np.argmax(sharp) == 1 and np.argmax(nearest) == 0
    # A query as far from the twin as from a, b and c gets their plain average.
    far = similarity.copy()
    far[0, 1:5] = far[0, 2]
    even = KernelPrior(weight=1.0, order_kernel=(1.0, NEAREST)).table(evidence, far[[0]], np.array([0]))[:, 0]
    np.testing.assert_allclose(even, np.nanmean(evidence.rank[:, 1:5], axis=1), atol=1e-3)
    # The setting survives a save: it is written as its (τ, ε) and read back the same.
    assert KernelPrior.from_dict(json.loads(json.dumps(KernelPrior(0.0, 1.0, (1.0, NEAREST), (1.0, NEAREST)).to_dict()))).label() == (
        "0*minmax(nearest-scaled^1) + 1*rank(nearest-scaled^1)"
    )


# -- build and predict ----------------------------------------------------------------------------


def _new_dataset_like(zoo, dataset: str) -> NewDataset:
    """A new dataset at a small offset from ``dataset``: the same distances to the others."""
    d = zoo.distances
    rows = d[(d["dataset_a"] == dataset) | (d["dataset_b"] == dataset)]
    distances = {(b if a == dataset else a): dist * 1.05 for a, b, dist in zip(rows["dataset_a"], rows["dataset_b"], rows["distance"])}
    distances[dataset] = 0.3
    return NewDataset("my-new-dataset", features={"images": 400.0}, distances=distances)


def test_predict_for_a_new_dataset_fast_and_faithful(planted_zoo, planted_ranker):
    new = _new_dataset_like(planted_zoo, "data-001")
    for mode in ("fast", "faithful"):
        ranking = planted_ranker.predict(new, mode=mode)
        assert ranking[0].model == planted_for(planted_zoo, "data-001")
        assert [p.rank for p in ranking] == list(range(1, 25))
        assert ranking[0].evidence[0][0] == "data-001"  # the most similar profiled dataset first
        assert ranking[0].expected_low <= ranking[0].expected_score <= ranking[0].expected_high
    assert len(planted_ranker.predict(new, top=3)) == 3


def _with_crawled_adapters(zoo):
    """``zoo`` and the LoRA adapters a `crawl --kind lora` adds to it: no results, columns of their
    own (base model, rank, trigger words, card text) and values of their own in the zoo's."""
    crawled = Zoo(zoo.meta, models=zoo.models, datasets=zoo.datasets, records=zoo.records, distances=zoo.distances)
    crawled.add_models(
        ModelRecord(f"org/lora-{i}", "a" * 40, {
            "kind": "lora", "family": "lora-adapter", "params": 2752.0 * (i + 1), "base_model": "model-0000",
            "lora_rank": 4.0 * (i + 1), "lora_format": "peft", "trigger_words": f"sks style {i}", "card_text": "# A LoRA",
        })
        for i in range(4)
    )
    return crawled


def test_crawled_lora_adapters_change_nothing_the_ranker_learns_or_picks(planted_zoo, planted_ranker):
    """Adapters are never fine-tuned nor recommended: not nodes, rows, feature columns or
    categories of the learner. Crawling them changed its feature sampling, and so its picks and
    evaluation figures, and made every ranker built before stale (another fingerprint)."""
    crawled = _with_crawled_adapters(planted_zoo)
    arrays, plain = ZooArrays.from_zoo(crawled), ZooArrays.from_zoo(planted_zoo)
    assert arrays.models == plain.models and list(arrays.model_features.columns) == list(plain.model_features.columns)
    assert arrays.fingerprint() == plain.fingerprint()
    ranker = Ranker.fit(crawled, SMALL)
    assert ranker.describe() == planted_ranker.describe()  # schema, categories, learner chosen, zoo fingerprint
    new = _new_dataset_like(planted_zoo, "data-001")
    assert [(p.model, p.score) for p in ranker.predict(new)] == [(p.model, p.score) for p in planted_ranker.predict(new)]
    # A pipeline crawled without results yet is a model the learner ranks from its features.
    crawled.add_models([ModelRecord("org/new-pipeline", "b" * 40, {"kind": "t2i", "family": "unet-s", "params": 1e6})])
    assert "org/new-pipeline" in ZooArrays.from_zoo(crawled).models and ZooArrays.from_zoo(crawled).fingerprint() != plain.fingerprint()


@pytest.mark.parametrize("top", [-1, 0, 2.5, "3", True])
def test_predict_refuses_a_top_that_is_not_a_number_of_models(top, planted_zoo, planted_ranker):
    """``top=-1`` used to return every model but the worst, silently; ``top=0`` an empty ranking."""
    new = _new_dataset_like(planted_zoo, "data-001")
    with pytest.raises(InputError, match=r"^top must be a whole number of at least 1, or None for every model, got "):
        planted_ranker.predict(new, top=top)
    assert len(planted_ranker.predict(new, top=None)) == len(planted_ranker.predict(new, top=np.int64(24))) == 24


def _two_method_zoo():
    from hubselect.zoo import ProfileRecord, Zoo, ZooMeta

    zoo = Zoo(ZooMeta())
    zoo.add_profiles([ProfileRecord(m, d, 0.5, method=method) for m in "ab" for d in ("d1", "d2") for method in ("full", "lora")])
    return zoo


_NEW = NewDataset("x", distances={"data-000": 1.0})


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda zoo, ranker: Ranker.fit("my-zoo"), "zoo must be a Zoo, got 'my-zoo'; open a zoo folder, a Hub dataset id or 'demo' with hubselect.zoo.resolve.open_zoo('my-zoo')"),
        (lambda zoo, ranker: evaluate("my-zoo"), "zoo must be a Zoo, got 'my-zoo'; open a zoo folder, a Hub dataset id or 'demo' with hubselect.zoo.resolve.open_zoo('my-zoo')"),
        (lambda zoo, ranker: Ranker.fit(zoo, {"learner": "regression"}), "config must be a RankerConfig (e.g. RankerConfig(seed=1)) or None, got {'learner': 'regression'}"),
        (lambda zoo, ranker: evaluate(zoo, TARGETS, {"seed": 1}), "config must be a RankerConfig (e.g. RankerConfig(seed=1)) or None, got {'seed': 1}"),
        (lambda zoo, ranker: evaluate(zoo, ["data-000", 1]), "targets must be dataset names (a str or a collection of str), or None, got ['data-000', 1]"),
        (lambda zoo, ranker: evaluate(_two_method_zoo()), "the zoo holds several methods (full, lora); choose one with --method (in Python: zoo.for_method('full'))"),
        (lambda zoo, ranker: RankerConfig(seed=-1), "seed must be a whole number from 0 to 4294967295, got -1"),
        (lambda zoo, ranker: RankerConfig(seed="a"), "seed must be a whole number from 0 to 4294967295, got 'a'"),
        (lambda zoo, ranker: RankerConfig(seed=2**32), "seed must be a whole number from 0 to 4294967295, got 4294967296"),
        (lambda zoo, ranker: RankerConfig(inner_folds=0), "inner_folds must be a whole number of at least 2, got 0"),
        (lambda zoo, ranker: RankerConfig(inner_folds=1), "inner_folds must be a whole number of at least 2, got 1"),
        (lambda zoo, ranker: RankerConfig(num_threads=0), "num_threads must be a whole number of at least 1, got 0"),
        (lambda zoo, ranker: RankerConfig(node2vec=Node2VecConfig(seed=-1)), "node2vec seed must be a whole number from 0 to 4294967295, got -1"),
        (lambda zoo, ranker: ranker.predict("data-000"), "dataset must be a NewDataset(name, features={...}, distances={zoo dataset: distance}), got 'data-000'"),
        (lambda zoo, ranker: ranker.predict(NewDataset("x", distances={"data-000": "abc"})), "distance from 'x' to 'data-000' must be a number >= 0, got 'abc'"),
        (lambda zoo, ranker: ranker.predict(_NEW, models=["model-0000", None]), "models must be model names (a str or a collection of str), or None, got ['model-0000', None]"),
    ],
    ids=[
        "fit-zoo-str", "evaluate-zoo-str", "fit-config-dict", "evaluate-config-dict", "evaluate-target-not-str", "evaluate-two-methods",
        "seed-negative", "seed-str", "seed-too-big", "inner-folds-0", "inner-folds-1", "threads-0", "node2vec-seed-negative", "predict-str", "distance-str", "models-not-str",
    ],
)
def test_the_python_api_refuses_wrong_arguments_by_name(call, expected, planted_zoo, planted_ranker):
    """From Python these were AttributeErrors from inside, numpy errors mid-fit, or taken silently
    (inner_folds=0: no cross-validation; num_threads=0: LightGBM on every core, not deterministic);
    now each is an InputError that says what to pass."""
    with pytest.raises(InputError, match=f"^{re.escape(expected)}$"):
        call(planted_zoo, planted_ranker)


def test_one_target_or_model_name_given_as_a_str_is_one_name_not_its_characters(planted_zoo, planted_ranker):
    """``evaluate(zoo, "data-000")`` was refused as targets "d, a, t, a, -, 0, 0, 0"."""
    assert list(evaluate(planted_zoo, "data-000", SMALL)["targets"]) == ["data-000"]
    assert [p.model for p in planted_ranker.predict(_NEW, models="model-0003")] == ["model-0003"]


def test_names_are_taken_from_any_collection_of_str(planted_zoo, planted_ranker):
    """A numpy array, a set, dict keys or a pandas Series of names (what a zoo's tables give) work as a list does."""
    two = ["model-0003", "model-0007"]
    for given in (np.array(two), set(two), dict.fromkeys(two).keys(), pd.Series(two), tuple(two)):
        assert sorted(p.model for p in planted_ranker.predict(_NEW, models=given)) == two, type(given)
    assert sorted(evaluate(planted_zoo, {"data-000", "data-001"}, SMALL)["targets"]) == ["data-000", "data-001"]


def test_the_evidence_is_the_new_datasets_nearest_profiled_datasets(planted_zoo, planted_ranker):
    """The evidence under a recommendation is the dataset's nearest profiled datasets: a dataset
    slightly farther away, but in a sparse part of the zoo (a wide bandwidth), no longer takes
    the place of a nearer one in a dense part."""
    arrays = ZooArrays.from_zoo(planted_zoo)
    names = list(arrays.datasets)
    off = np.where(np.eye(len(names), dtype=bool), np.nan, arrays.distances)
    bandwidth = np.sort(np.where(np.isnan(off), np.inf, off), axis=1)[:, 4]  # the 5th-nearest distance
    dense, sparse = names[int(np.argmin(bandwidth))], names[int(np.argmax(bandwidth))]
    near = [n for n in names if n not in (dense, sparse)][:4]
    distances = {name: 50.0 for name in names}
    distances.update({n: 1.0 + i / 10 for i, n in enumerate(near)})
    distances.update({dense: 2.0, sparse: 2.1})
    top = planted_ranker.predict(NewDataset("between", features={"images": 400.0}, distances=distances))[0]
    assert [name for name, _, _ in top.evidence] == [*near, dense]


def test_evidence_is_listed_nearest_first_whatever_each_datasets_bandwidth(planted_zoo, planted_ranker):
    # data-007's bandwidth (its 5th-nearest distance) is about 1.5 times data-000's, so the
    # graph's kernel finds data-007 more similar at 2.2 than data-000 at 2.0; a user reads the distances.
    distances = {name: 20.0 for name in planted_zoo.dataset_ids}
    distances.update({"data-000": 2.0, "data-007": 2.2})
    top = planted_ranker.predict(NewDataset("between", features={"images": 400.0}, distances=distances))[0]
    shown = [distance for _, distance, _ in top.evidence]
    assert shown[:2] == [2.0, 2.2] and shown == sorted(shown)


def _raising(exc):
    def fail(*args, **kwargs):
        raise exc

    return fail


@pytest.fixture(scope="module")
def other_ranker():
    """A second ranker, on another zoo, to rebuild a saved one with."""
    return Ranker.fit(synthetic_zoo(10, 4, n_clusters=2, seed=5), SMALL)


@pytest.mark.parametrize("failure", ["disk full writing the embeddings", "Ctrl-C writing the zoo"])
def test_a_failed_rebuild_leaves_the_old_ranker_whole(failure, planted_zoo, planted_ranker, other_ranker, tmp_path, monkeypatch):
    from hubselect.zoo.store import Zoo

    folder = planted_ranker.save(tmp_path / "ranker")
    (folder / "evaluation.json").write_text('{"published": "with the card"}')
    new = _new_dataset_like(planted_zoo, "data-002")
    before = [(p.model, p.score) for p in Ranker.load(folder).predict(new)]
    assert other_ranker.embedding is not None
    if failure.startswith("disk full"):
        raised = OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(np, "save", _raising(raised))
    else:
        raised = KeyboardInterrupt()
        monkeypatch.setattr(Zoo, "save", _raising(raised))
    with pytest.raises(type(raised)):
        other_ranker.save(folder)
    monkeypatch.undo()
    assert [(p.model, p.score) for p in Ranker.load(folder).predict(new)] == before
    assert (folder / "evaluation.json").read_text() == '{"published": "with the card"}'
    assert [p.name for p in tmp_path.iterdir()] == ["ranker"]  # no half-written ranker left beside it


def test_a_reader_during_a_rebuild_gets_one_ranker_whole(planted_ranker, other_ranker, tmp_path, monkeypatch):
    from hubselect.zoo.store import Zoo

    folder = planted_ranker.save(tmp_path / "ranker")
    read_zoo = Zoo.load.__func__

    def rebuilt_while_reading(cls, path):  # the new ranker lands after ranker.json was read, before the rest
        monkeypatch.setattr(Zoo, "load", classmethod(read_zoo))
        other_ranker.save(folder)
        return read_zoo(cls, path)

    monkeypatch.setattr(Zoo, "load", classmethod(rebuilt_while_reading))
    loaded = Ranker.load(folder)
    assert loaded.arrays.models == other_ranker.arrays.models
    assert loaded.ensemble.label() == other_ranker.ensemble.label() and set(loaded.boosters) == set(other_ranker.boosters)


def test_saved_ranker_describes_itself_and_predicts_the_same(planted_zoo, planted_ranker, tmp_path):
    folder = planted_ranker.save(tmp_path / "ranker")
    info = json.loads((folder / "ranker.json").read_text())
    assert info["zoo"]["fingerprint"] and info["zoo"]["higher_is_better"] is True
    assert info["config"]["learner"] == "lambdarank" and info["selected"] == planted_ranker.ensemble.label()
    used = {m["embedding_set"] for m in info["ensemble"] if m["rounds"] > 0}
    assert used <= set(info["features"]) and all(schema["names"] for schema in info["features"].values())
    assert len(info["files"]["learners"]) == len(planted_ranker.ensemble.pairs)
    for name in [info["files"]["embeddings"], info["files"]["zoo"], *info["files"]["learners"].values()]:
        assert name is None or (folder / name).exists()
    loaded = Ranker.load(folder)
    new = _new_dataset_like(planted_zoo, "data-002")
    assert [(p.model, p.score) for p in loaded.predict(new)] == [(p.model, p.score) for p in planted_ranker.predict(new)]


def _damage(folder, how: str) -> None:
    import shutil

    if how == "no ranker.json key":
        info = json.loads((folder / "ranker.json").read_text())
        del info["calibration"]
        (folder / "ranker.json").write_text(json.dumps(info))
    elif how == "ranker.json not an object":
        (folder / "ranker.json").write_text("[]")
    elif how.startswith("no "):
        target = folder / how[3:]
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    else:  # "garbage in FILE"
        (folder / how.split(" in ", 1)[1]).write_bytes(b"not what a build writes")


@pytest.fixture(scope="module")
def learner_ranker(planted_zoo):
    """A ranker with a LightGBM learner file (the planted zoo's ranks by the prior alone)."""
    from hubselect.rank.ranker import Choice, Ensemble

    return Ranker.fit_arrays(ZooArrays.from_zoo(planted_zoo), SMALL, ensemble=Ensemble((Choice("interaction", "strong", 8),)))


@pytest.mark.parametrize(
    ("how", "what"),
    [
        ("no embeddings.npy", "embeddings.npy is missing"),
        ("no zoo", "zoo/ is missing"),
        ("no zoo/records.parquet", "zoo/ is damaged"),
        ("no learner-interaction-strong.txt", "learner-interaction-strong.txt is missing"),
        ("no ranker.json key", "ranker.json is damaged (no 'calibration')"),
        ("ranker.json not an object", "ranker.json is damaged (not a JSON object)"),
        ("garbage in embeddings.npy", "embeddings.npy is damaged"),
        ("garbage in learner-interaction-strong.txt", "learner-interaction-strong.txt is damaged"),
    ],
)
def test_a_damaged_ranker_folder_says_what_is_wrong_and_to_rebuild_it(how, what, learner_ranker, tmp_path):
    """A missing embeddings.npy was an "unexpected FileNotFoundError", a missing zoo/ advice to
    `zoo import`, a missing key a bare KeyError: each is now the line a missing learner file gets."""
    folder = learner_ranker.save(tmp_path / "ranker")
    _damage(folder, how)
    with pytest.raises(HubselectError) as raised:
        Ranker.load(folder)
    assert str(raised.value) == f"{folder}: {what}; rebuild the ranker with `hubselect build ZOO --out DIR`"


@pytest.mark.parametrize("how", ["no embeddings.npy", "no zoo"])
def test_recommend_with_a_damaged_ranker_folder_is_a_one_line_error_saying_to_rebuild_it(how, tmp_path, capsys):
    import shutil

    from hubselect.demo import bundled_paths

    paths = bundled_paths()
    folder = shutil.copytree(paths.ranker, tmp_path / "ranker")
    _damage(folder, how)
    code = main(["recommend", str(paths.examples / "my-sunsets"), "--zoo", "demo", "--ranker", str(folder)])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err == f"Error: {folder}: {how[3:]}{'/' if how == 'no zoo' else ''} is missing; rebuild the ranker with `hubselect build ZOO --out DIR`\n"


def test_ranker_card_names_the_files_the_ranker_folder_holds(planted_zoo, planted_ranker, tmp_path):
    """The pushed card tells a reader what the repo holds: learner files only when the ranker has any."""
    from hubselect.hub.ranker_repo import ranker_card
    from hubselect.rank.ranker import Choice, Ensemble

    with_learners = Ranker.fit_arrays(ZooArrays.from_zoo(planted_zoo), SMALL, ensemble=Ensemble((Choice("interaction", "strong", 8),)))
    assert not planted_ranker.boosters and with_learners.boosters  # the prior alone, and one LightGBM model
    for name, ranker in (("prior", planted_ranker), ("learner", with_learners)):
        folder = ranker.save(tmp_path / name)
        card = ranker_card(json.loads((folder / "ranker.json").read_text()), "org/ranker", None)
        has_learners = any(folder.glob("learner-*.txt"))
        assert ("`learner-*.txt`" in card) == has_learners, card
        assert ("It holds no LightGBM model" in card) == (not has_learners), card
        assert ("`embeddings.npy`" in card) == (folder / "embeddings.npy").is_file()


def test_ranker_card_says_what_a_prior_only_ranker_ranks_by_and_counts_the_models_it_can_rank(planted_zoo, tmp_path):
    """A card that said "the most similar datasets, weighted by similarity" for a ranker ranking by
    the plain mean, and counted crawled models without results, contradicted recommend's table."""
    import copy

    from hubselect.hub.ranker_repo import ranker_card
    from hubselect.rank.prior import NEAREST, KernelPrior
    from hubselect.rank.ranker import Choice, Ensemble
    from hubselect.zoo import ModelRecord

    zoo = copy.deepcopy(planted_zoo)
    zoo.add_models([ModelRecord("org/crawled-only", "abc", {})])
    arrays = ZooArrays.from_zoo(zoo)
    profiled = int(np.isfinite(arrays.scores).any(axis=1).sum())
    assert len(arrays.models) == profiled + 1
    cards = {}
    for name, prior in (("mean", KernelPrior()), ("similar", KernelPrior(0.0, 1.0, (1.0, math.inf), (1.0, NEAREST)))):
        prior_alone = Ensemble((Choice("interaction", "strong", 0),))
        folder = Ranker.fit_arrays(arrays, SMALL, ensemble=prior_alone, kernel_prior=prior).save(tmp_path / name)
        cards[name] = ranker_card(json.loads((folder / "ranker.json").read_text()), "org/ranker", None)
        assert f"ranks the {profiled} models with fine-tuning results" in cards[name]
    assert "mean normalised result over the zoo's datasets (`average_best`)" in cards["mean"]
    assert "weighted by their similarity to the new dataset (`0*minmax(flat) + 1*rank(nearest-scaled^1)`)" in cards["similar"]


def test_the_card_of_a_ranker_without_a_learner_claims_no_lightgbm_and_says_why_once(planted_zoo, tmp_path):
    """A ranker whose inner cross-validation kept the prior alone (the demo zoo's, a small zoo's)
    was tagged ``lightgbm`` and introduced as "→ LightGBM lambdarank" above "It holds no LightGBM
    model"; with an ``average_best`` prior, its last sentence said "as no ... improved on it in
    inner cross-validation" twice over. It also listed a LightGBM configuration as the one chosen
    (``interaction/strong/0x1``) and the learner's feature sets, none of which it uses."""
    import yaml

    from hubselect.hub.ranker_repo import ranker_card
    from hubselect.rank.ranker import Choice, Ensemble

    arrays = ZooArrays.from_zoo(planted_zoo)
    prior_alone, with_learner = Ensemble((Choice("interaction", "strong", 0),)), Ensemble((Choice("interaction", "strong", 8),))
    similar = KernelPrior(0.0, 1.0, (1.0, math.inf), (1.0, NEAREST))
    cards = {}
    for name, prior, ensemble in (("mean", KernelPrior(), prior_alone), ("similar", similar, prior_alone), ("learner", similar, with_learner)):
        folder = Ranker.fit_arrays(arrays, SMALL, ensemble=ensemble, kernel_prior=prior).save(tmp_path / name)
        cards[name] = card = ranker_card(json.loads((folder / "ranker.json").read_text()), "org/ranker", None)
        has_learner = any(folder.glob("learner-*.txt"))
        assert has_learner == (name == "learner")
        assert ("lightgbm" in yaml.safe_load(card.split("---")[1])["tags"]) == has_learner, card
        assert ("LightGBM lambdarank" in card) == has_learner, card
        assert card.count("improved on it in inner cross-validation") == (0 if has_learner else 1), card
        assert ("| configuration chosen by inner cross-validation | `interaction/strong/8x1` |" in card) == has_learner, card
        assert ("### Features" in card) == ("node2vec+ embeddings" in card) == has_learner, card
        assert ("| chosen by inner cross-validation | the prior alone: `" in card) == (not has_learner), card
    assert (
        "the prior alone, each model's mean normalised result over the zoo's datasets (`average_best`), as neither "
        "similarity weighting nor a learner's correction improved on it in inner cross-validation"
    ) in " ".join(cards["mean"].split())
    assert "as no learner's correction improved on it in inner cross-validation" in " ".join(cards["similar"].split())


# -- command line ---------------------------------------------------------------------------------


def test_evaluate_unknown_target_is_a_one_line_error_listing_valid_names(zoo_dir, capsys):
    assert main(["evaluate", zoo_dir, "--targets", "data-000,no-such-set"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no-such-set" in err and "data-000" in err and "data-008" in err


def test_evaluate_prints_how_far_the_method_is_from_each_baseline(zoo_dir, capsys):
    assert main(["evaluate", zoo_dir, "--targets", "data-000,data-001"]) == 0
    out = capsys.readouterr().out
    assert "method − baseline" in out and "95% paired-bootstrap interval" in out
    margins = out[out.index("method − baseline") :]
    assert "nearest_dataset" in margins and "random" not in margins  # chance is not a bar worth a column
    assert all(metric in margins for metric in MARGIN_METRICS)
    bounds = re.findall(r"\[([+-]\d\.\d+), ([+-]\d\.\d+)\]", margins)
    assert bounds and all(len(b.split(".")[1]) == 3 for pair in bounds for b in pair), bounds  # the mean's decimals


def test_the_margins_table_prints_a_mean_inside_its_own_interval():
    """The bounds had 2 decimals and the mean 3: a margin of 0.0079 in [0.0056, 0.0103] read
    "+0.008 [+0.01, +0.01]", outside its own interval, and one excluding 0 could read as holding it."""
    from io import StringIO

    from rich.console import Console

    from hubselect.cli.output import margins_table

    buffer = StringIO()
    margins = {"nearest_dataset": {"rel1": {"mean": 0.0079, "low": 0.0056, "high": 0.0103, "targets": 2}}}
    Console(file=buffer, width=200).print(margins_table(margins))
    assert "+0.008" in buffer.getvalue() and "[+0.006, +0.010]" in buffer.getvalue()


def test_a_baseline_scored_on_fewer_targets_says_on_how_many_in_its_row_and_margins(tmp_path, capsys):
    """initial_score needs pre-fine-tuning scores: its mean over the 2 targets that have them sat
    under a title counting 3, beside the method's mean over all 3, as if the two compared."""
    from hubselect.hub.ranker_repo import ranker_card

    scores = {d: row for d, row in SATURATED.items() if d != "d3"}
    before = {d: {m: s - 0.1 for m, s in scores[d].items()} for d in ("d1", "d2")}
    zoo = str(zoo_from_scores(scores, before=before).save(tmp_path / "zoo"))
    assert main(["evaluate", zoo, "--json", str(tmp_path / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "over 3 target(s)" in out
    labelled = "initial_score (2 of 3 targets)"
    assert any(line.startswith(f"│ {labelled} ") for line in out.splitlines()), out  # its row
    assert labelled in out[out.index("method − baseline") :]  # its margins' column
    assert "average_best (" not in out and any(line.startswith("│ average_best ") for line in out.splitlines())  # over all 3: bare
    card = ranker_card({}, "org/ranker", json.loads((tmp_path / "report.json").read_text()))
    assert card.count(f"| {labelled} |") == 2, card  # the card's table and its margins


@pytest.mark.parametrize(
    ("scores", "has"),
    [
        ({("m1", "d1"): 5, ("m2", "d1"): 4, ("m3", "d1"): 3}, "1 such dataset (d1; 3 results of 3 models)"),  # nothing left to train on
        ({("m1", "d1"): 5, ("m1", "d2"): 4}, "no such datasets (2 results of 1 model)"),  # one model: nothing to rank
    ],
    ids=["one-dataset-to-rank", "one-model"],
)
def test_evaluate_refuses_a_zoo_it_cannot_hold_a_dataset_out_of_and_says_what_it_needs(scores, has, tmp_path, capsys):
    from hubselect.zoo import ProfileRecord, Zoo, ZooMeta

    zoo = Zoo(ZooMeta(score="score", higher_is_better=True))
    zoo.add_profiles(ProfileRecord(model, dataset, float(score)) for (model, dataset), score in scores.items())
    zoo.save(tmp_path / "zoo")
    assert main(["evaluate", str(tmp_path / "zoo"), "--json", str(tmp_path / "report.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err == (
        f"Error: zoo {tmp_path / 'zoo'}'s default results are too few to evaluate: leave-one-dataset-out evaluation needs at least "
        f"two datasets with results for two or more models (one held out to rank, another to train on), and they have {has}; "
        "import more results of it (`hubselect zoo import` with --method default)\n"
    ), captured.err
    assert not (tmp_path / "report.json").exists()


def test_build_on_a_zoo_with_nothing_to_rank_says_how_to_get_something(tmp_path, capsys):
    from hubselect.zoo import ProfileRecord, Zoo, ZooMeta

    zoo = Zoo(ZooMeta(score="score", higher_is_better=True))
    zoo.add_profiles(ProfileRecord("m1", dataset, score, method="lora") for dataset, score in [("d1", 5.0), ("d2", 4.0)])
    zoo.save(tmp_path / "zoo")
    assert main(["build", str(tmp_path / "zoo"), "--out", str(tmp_path / "ranker")]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert "lora results are too few to build a ranker on" in captured.err and "two or more models" in captured.err
    assert "`hubselect profile --models A,B --datasets D --methods lora --zoo ZOO`" in captured.err and "hubselect zoo import" in captured.err
    assert not (tmp_path / "ranker").exists()


def test_build_and_evaluate_on_a_method_with_too_few_results_say_so_and_name_the_command_that_works(planted_zoo, tmp_path, capsys):
    """The refresh workflow run with METHOD=dreambooth on a zoo of other results: `build --method
    dreambooth` said "no dataset has results for two or more models" of a zoo holding 216, and
    advised a profile run without --methods. It names the method, what the zoo holds of each,
    and a build on the method that has enough: a command that works as printed."""
    import copy
    import shlex

    from hubselect.zoo import ProfileRecord

    zoo = copy.deepcopy(planted_zoo)  # 216 "default" results: 24 models on 9 datasets
    zoo.add_profiles(ProfileRecord("model-0000", dataset, 0.5, method="dreambooth") for dataset in ("data-000", "data-001"))
    folder = str(zoo.save(tmp_path / "zoo"))
    out = str(tmp_path / "ranker")
    held = "its default results have 9 such datasets (data-000, data-001, data-002, …; 216 results of 24 models)"
    for command, too_few in (
        (["build", folder, "--method", "dreambooth", "--out", out], "too few to build a ranker on: a ranker needs a dataset with results for two or more models"),
        (["evaluate", folder, "--method", "dreambooth"], "too few to evaluate: leave-one-dataset-out evaluation needs at least two datasets"),
    ):
        assert main(command) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1, captured.err
        assert captured.err.startswith(f"Error: zoo {folder}'s dreambooth results are {too_few}"), captured.err
        assert f"and they have no such datasets (2 results of 1 model); {held}; use the default results with `hubselect {command[0]} " in captured.err
        assert "`hubselect profile --models A,B --datasets D --methods dreambooth --zoo ZOO`" in captured.err
    assert main(["build", folder, "--method", "textual-inversion", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: zoo {folder} holds no textual-inversion results to build a ranker on; its default results have 9 datasets "), err
    assert not (tmp_path / "ranker").exists()

    advised = re.search(r"use the default results with `([^`]*)`", err).group(1)
    assert advised == f"hubselect build {folder} --out {out} --method default"
    assert main(shlex.split(advised)[1:]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "ranker" / "ranker.json").read_text())["zoo"]["method"] == "default"


def test_the_command_advised_for_a_method_with_too_few_results_keeps_the_probe_asked_for(planted_zoo, tmp_path, capsys):
    """On a zoo whose dataset distances two probes measured, `build --method dreambooth --probe P`
    advised `hubselect build ZOO --out R --method default`, refused as printed ("choose one with
    --probe"): the advice keeps the --probe of the command it corrects."""
    import copy
    import shlex

    from hubselect.zoo import DistanceRecord, ProfileRecord

    zoo = copy.deepcopy(planted_zoo)
    zoo.add_distances(DistanceRecord(r.dataset_a, r.dataset_b, 2 * r.distance, "local:clip2") for r in planted_zoo.distances.itertuples())
    zoo.add_distances(DistanceRecord(r.dataset_a, r.dataset_b, 3 * r.distance, "local:clip3") for r in planted_zoo.distances.itertuples())
    zoo.add_profiles(ProfileRecord("model-0000", dataset, 0.5, method="dreambooth") for dataset in ("data-000", "data-001"))
    folder = str(zoo.save(tmp_path / "zoo"))
    out = str(tmp_path / "ranker")
    assert main(["build", folder, "--method", "dreambooth", "--probe", "local:clip2", "--out", out]) == 2
    err = capsys.readouterr().err
    advised = re.search(r"use the default results with `([^`]*)`", err).group(1)
    assert advised == f"hubselect build {folder} --out {out} --probe local:clip2 --method default", err
    assert main(shlex.split(advised)[1:]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "ranker" / "ranker.json").read_text())["zoo"]["probe"] == "local:clip2"


def test_evaluate_help_says_what_each_metric_is(capsys):
    assert main(["evaluate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "DESIGN.md" not in out  # not a file a user has
    for metric, meaning in [("top1_hit", "true best model"), ("top1_score", "true score of the predicted top-1"),
                            ("rel1", "top1_score / best"), ("regret", "|best − top1_score|"),
                            ("pearson", "predicted and true scores"), ("ndcg5", "min–max normalised true score")]:
        line = next(line for line in out.splitlines() if line.strip().startswith(metric + " "))
        assert meaning in line, line


def test_evaluate_and_build_commands(zoo_dir, tmp_path, capsys):
    report_file = tmp_path / "report.json"
    assert main(["evaluate", zoo_dir, "--targets", "data-000", "--json", str(report_file), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"method", "baselines", "margins", "targets", "zoo", "config"}
    assert json.loads(report_file.read_text()) == printed
    assert main(["build", zoo_dir, "--out", str(tmp_path / "ranker")]) == 0
    assert "Built a ranker" in capsys.readouterr().out
    built = json.loads((tmp_path / "ranker" / "ranker.json").read_text())
    assert printed["zoo"] == {k: v for k, v in built["zoo"].items() if k not in ("models", "datasets", "models_with_results", "models_ranked")}
    assert printed["config"] == built["config"]


def test_build_of_a_ranker_that_kept_the_prior_alone_names_no_learner(tmp_path, capsys):
    """The demo zoo's ranker: inner cross-validation kept the prior alone, and build printed
    "learner: interaction/strong/0x1", a LightGBM configuration of 0 rounds, which its card no
    longer claims."""
    assert main(["build", "demo", "--out", str(tmp_path / "ranker")]) == 0
    out = capsys.readouterr().out
    assert "learner: none (inner cross-validation kept the prior alone)" in out and "0x1" not in out, out
    assert main(["build", "demo", "--out", str(tmp_path / "ranker"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["uses_learner"] is False


def test_build_counts_the_models_it_can_rank_as_the_rankers_card_does(planted_zoo, tmp_path, capsys):
    """Crawled adapters and a pipeline crawled but not profiled yet beside 24 profiled models: the
    ranker ranks the 24 (its card's "models it ranks"); build said "for 29 models"."""
    crawled = _with_crawled_adapters(planted_zoo)
    crawled.add_models([ModelRecord("org/new-pipeline", "b" * 40, {"kind": "t2i", "family": "unet-s", "params": 1e6})])
    crawled.save(tmp_path / "zoo")
    assert main(["build", str(tmp_path / "zoo"), "--out", str(tmp_path / "ranker")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Built a ranker for 24 models with results × 9 datasets (and 1 model without results yet, which it cannot rank) in "), out
    assert main(["build", str(tmp_path / "zoo"), "--out", str(tmp_path / "ranker"), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["models"], printed["models_with_results"], printed["models_ranked"], printed["datasets"]) == (25, 24, 24, 9)


def test_a_fit_reports_each_step_and_fits_the_same_ranker(planted_zoo, planted_ranker):
    """A large zoo's fit takes minutes: it says what it has done after each step (the bar build
    and recommend draw), and being watched changes nothing in what it fits."""
    seen = []
    watched = Ranker.fit(planted_zoo, SMALL, progress=lambda step, done, total: seen.append((step, done, total)))
    total = seen[0][2]
    # The prior's selection, the graph and its 3 out-of-fold embeddings, 4 candidates × 3 inner folds, their scoring, the final fit.
    assert total == 1 + 4 + 12 + 1 + 1
    assert [(done, t) for _, done, t in seen] == [(n, total) for n in range(1, total + 1)]
    steps = [step for step, _, _ in seen]
    assert steps[0] == "prior selected" and steps[-1] == "final fit"
    assert "graph embedded without inner fold 3/3" in steps and "inner fold 2/3 (both, light)" in steps
    for target in TARGETS:
        assert np.array_equal(watched.score_zoo_dataset(target), planted_ranker.score_zoo_dataset(target))


@pytest.fixture
def progress_bars(monkeypatch):
    """Progress bars on, as in a terminal (the test run turns them off with HF_HUB_DISABLE_PROGRESS_BARS)."""
    import importlib

    bars = importlib.import_module("huggingface_hub.utils.tqdm")
    monkeypatch.setattr(bars, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setattr(bars, "progress_bar_states", {})


def test_build_shows_a_progress_bar_on_stderr_and_none_in_json_mode(progress_bars, zoo_dir, tmp_path, capsys):
    """A build ran for minutes on a real-size zoo with nothing on stderr."""
    assert main(["build", zoo_dir, "--out", str(tmp_path / "ranker")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Built a ranker") and "Fitting the ranker" not in out
    assert re.search(r"Fitting the ranker: 100%.* (\d+)/\1 .*final fit", err), err
    assert main(["build", zoo_dir, "--out", str(tmp_path / "ranker"), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["ranker"] == str(tmp_path / "ranker") and "Fitting" not in err


def test_evaluate_shows_a_bar_of_its_targets_with_each_fits_step_and_none_in_json_mode(progress_bars, zoo_dir, capsys):
    """A target of a real-size zoo took minutes, the whole evaluation hours, with a line only
    after each target and no word of the time left."""
    assert main(["evaluate", zoo_dir, "--targets", "data-000,data-001"]) == 0
    out, err = capsys.readouterr()
    assert "Evaluating" not in out
    assert re.search(r"Evaluating: 100%.* 2/2 ", err) and "data-001: features_only" in err and "final fit" in err, err
    assert "[1/2] data-000: spearman" in err and "[2/2] data-001: spearman" in err
    assert main(["evaluate", zoo_dir, "--targets", "data-000,data-001", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert set(json.loads(out)["targets"]) == {"data-000", "data-001"} and "Evaluating" not in err


def _without_seconds(report):
    return {k: _without_seconds(v) if isinstance(v, dict) else v for k, v in report.items() if k != "seconds"}


def test_evaluate_with_jobs_evaluates_targets_in_worker_processes_and_reports_the_same(planted_zoo, planted_report):
    """jobs=3 evaluates the three targets at once, each in a worker process: the report is the
    one evaluated here, target for target and in the same order, but for the seconds each took."""
    report = evaluate(planted_zoo, TARGETS, SMALL, jobs=3)
    assert list(report["targets"]) == TARGETS
    assert _without_seconds(report) == _without_seconds(planted_report)


def test_evaluate_jobs_counts_the_targets_as_they_finish_in_the_bar(progress_bars, zoo_dir, capsys):
    assert main(["evaluate", zoo_dir, "--targets", "data-000,data-001", "--jobs", "2"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"Evaluating: 100%.* 2/2 .*2 targets at a time", err), err
    assert "[1/2] data-00" in err and "[2/2] data-00" in err and "leave-one-dataset-out over 2 target(s)" in out
    assert main(["evaluate", zoo_dir, "--jobs", "0"]) == 2
    assert "Invalid value for '--jobs': 0 is not in the range x>=1" in capsys.readouterr().err


def test_evaluate_jobs_shows_the_fits_debug_logs_as_one_job_does(zoo_dir, capfd):
    """`hubselect -vv evaluate --jobs 2` showed none of its fits' logs: they ran in worker
    processes, which had no logging set up. It shows the lines `--jobs 1` shows (in the order
    the workers write them)."""
    shown = {}
    for jobs in ("1", "2"):
        assert main(["-vv", "evaluate", zoo_dir, "--targets", "data-000,data-001", "--jobs", jobs, "--format", "json"]) == 0
        shown[jobs] = sorted(line for line in capfd.readouterr().err.splitlines() if line.startswith("DEBUG hubselect.rank: "))
    assert len(shown["1"]) == 4, shown["1"]  # each target's method and features_only fits pick their learner
    assert shown["2"] == shown["1"]


@pytest.mark.parametrize("seed", ["-1", "99999999999"])
@pytest.mark.parametrize("command", ["build", "evaluate", "recommend"])
def test_a_seed_out_of_range_is_refused_before_any_work(command, seed, zoo_dir, tmp_path, capsys):
    args = {
        "build": ["build", zoo_dir, "--out", str(tmp_path / "ranker")],
        "evaluate": ["evaluate", zoo_dir, "--targets", "data-000"],
        "recommend": ["recommend", str(tmp_path), "--zoo", zoo_dir],
    }[command]
    assert main([*args, "--seed", seed]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Invalid value for '--seed'" in captured.err and "0<=x<=4294967295" in captured.err
    assert not (tmp_path / "ranker").exists()


@pytest.mark.parametrize("where", ["", "a-file/report.json", "/proc/report.json"])
def test_evaluate_refuses_a_report_path_it_cannot_write_before_evaluating(where, zoo_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    assert main(["evaluate", zoo_dir, "--targets", "data-000", "--json", where]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("Error: --json") and captured.err.count("\n") == 1, captured.err
    assert "pass a" in captured.err and "[1/1]" not in captured.err  # refused before the first fold


def test_evaluate_keeps_a_finished_report_it_could_not_write_where_asked(zoo_dir, tmp_path, monkeypatch, capsys):
    import hubselect.rank

    real = hubselect.rank.evaluate
    folder = tmp_path / "reports"
    folder.mkdir()

    def evaluate_then_lose_the_folder(*args, **kwargs):
        report = real(*args, **kwargs)
        folder.rmdir()
        folder.write_text("the folder became a file while the evaluation ran")
        return report

    monkeypatch.setattr(hubselect.rank, "evaluate", evaluate_then_lose_the_folder)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert main(["evaluate", zoo_dir, "--targets", "data-000", "--json", str(folder / "report.json"), "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "could not write the report to" in captured.err, captured.err
    saved = captured.err.split("it was saved to ")[1].split(" instead")[0]
    assert json.loads(open(saved).read()) == json.loads(captured.out)


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def test_build_refuses_an_out_folder_holding_something_else_and_leaves_it_untouched(zoo_dir, tmp_path, monkeypatch, capsys):
    """`cd project; hubselect build zoo --out .` would overwrite the user's own zoo/ with the ranker's."""
    import shutil

    project = tmp_path / "project"
    shutil.copytree(zoo_dir, project / "zoo")
    (project / "notes.txt").write_text("mine")
    before = _tree(project)
    monkeypatch.chdir(project)
    for out in [".", str(project)]:
        assert main(["build", "zoo", "--out", out]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "holds files and is not a ranker (no ranker.json)" in err, err
        assert "pass a new or empty folder (or a ranker folder, to rebuild it), e.g. " in err and err.endswith("ranker\n")
    assert _tree(project) == before


@pytest.mark.parametrize("distances", ["imported", "none"])
def test_a_probe_on_a_zoo_whose_distances_name_none_says_to_leave_it_out(distances, tmp_path, capsys):
    """It said "pass one of those with --probe" of "none named (imported)": no probe can be passed for that."""
    from fixtures.bundles import write_bundle

    files = {"records": "model,dataset,score\nm1,d1,5\nm2,d1,6\nm1,d2,4\nm2,d2,7\nm1,d3,3\nm2,d3,8\n"}
    if distances == "imported":
        files["distances"] = "dataset_a,dataset_b,distance\nd1,d2,1.0\nd1,d3,2.0\nd2,d3,1.5\n"
    zoo = tmp_path / "zoo"
    assert main(["zoo", "import", str(write_bundle(tmp_path / "bundle", **files)), "--lower-is-better", "--out", str(zoo)]) == 0
    capsys.readouterr()
    assert main(["build", str(zoo), "--out", str(tmp_path / "ranker"), "--probe", "nope"]) == 2
    captured = capsys.readouterr()
    held = "they name no probe (imported from a bundle); leave --probe out to use them" if distances == "imported" else "it holds none; leave --probe out"
    assert captured.out == "" and captured.err == f"Error: probe nope measured none of zoo {zoo}'s dataset distances: {held}\n"
    if distances == "imported":  # the advice, followed
        assert main(["build", str(zoo), "--out", str(tmp_path / "ranker")]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("command", [["build", "", "--out", "ranker"], ["evaluate", ""]], ids=["build", "evaluate"])
def test_an_empty_zoo_is_named_as_empty(command, tmp_path, monkeypatch, capsys):
    """`build "$ZOO"` with ZOO unset said "Error:  is a folder but not a zoo": "" as a path is the current folder."""
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "Error: ZOO is empty; pass a zoo folder, a Hub dataset id like org/name, or demo\n"


@pytest.mark.parametrize("out", ["", "/dev/null", "a-file/ranker", "/proc/ranker"])
def test_build_refuses_an_out_it_cannot_write_before_fitting(out, zoo_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    assert main(["build", zoo_dir, "--out", out]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("Error: ") and captured.err.count("\n") == 1, captured.err
    assert "unexpected" not in captured.err and "; pass " in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("command", ["build", "evaluate"])
def test_ctrl_c_says_in_one_line_that_nothing_is_lost(command, zoo_dir, planted_ranker, tmp_path, monkeypatch, capsys):
    """It printed only "Aborted.", with no word of what to do (Ctrl-C while fitting, or evaluating)."""
    import hubselect.rank

    folder = planted_ranker.save(tmp_path / "ranker")  # a rebuild's ranker, to come out whole
    before = _tree(folder)
    if command == "build":
        monkeypatch.setattr(Ranker, "fit", _raising(KeyboardInterrupt()))
        args = ["build", zoo_dir, "--out", str(folder)]
    else:
        monkeypatch.setattr(hubselect.rank, "evaluate", _raising(KeyboardInterrupt()))
        args = ["evaluate", zoo_dir, "--targets", "data-000", "--json", str(tmp_path / "report.json")]
    assert main(args) == 130
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == "Interrupted: nothing written so far is lost; rerun the same command to finish"
    assert _tree(folder) == before and not (tmp_path / "report.json").exists()


def test_build_rebuilds_a_ranker_folder_and_keeps_the_files_put_beside_it(zoo_dir, planted_ranker, tmp_path, capsys):
    folder = planted_ranker.save(tmp_path / "ranker")
    (folder / "evaluation.json").write_text('{"published": "with the card"}')
    assert main(["build", zoo_dir, "--out", str(folder), "--learner", "regression"]) == 0
    assert "Built a ranker" in capsys.readouterr().out
    assert (folder / "evaluation.json").read_text() == '{"published": "with the card"}'
    assert Ranker.load(folder).config.learner == "regression"


# -- benchmarks/selection.py ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def selection_benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "selection.py"
    spec = importlib.util.spec_from_file_location("selection_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_selection_benchmark_words_its_verdict_from_the_intervals_it_prints(selection_benchmark):
    """It printed "beats it on pearson, spearman and rel1" from the means' signs while its own
    margins table gave pearson [-0.00, +0.00], an interval these targets cannot tell from 0."""
    margins = {  # the TransferGraph run's margins over average_best
        "pearson": {"mean": 0.0013, "low": -0.0005, "high": 0.0039},
        "spearman": {"mean": 0.0090, "low": 0.0037, "high": 0.0151},
        "rel1": {"mean": 0.0017, "low": 0.0, "high": 0.0050},
    }
    assert selection_benchmark.verdict(margins) == "beats it on spearman; these targets cannot tell them apart on pearson and rel1"
    behind = {"pearson": {"low": -0.2, "high": -0.1}, "spearman": {"low": 0.1, "high": 0.2}, "rel1": {"low": None, "high": None}}
    assert selection_benchmark.verdict(behind) == "beats it on spearman; behind it on pearson; undefined on rel1"


@pytest.mark.parametrize("option", ["--fast-runs", "--faithful-runs"])
def test_the_selection_benchmark_refuses_zero_runs_before_the_build(option, selection_benchmark, capsys):
    """--faithful-runs 0 crashed with StatisticsError after the minute-long scale build."""
    with pytest.raises(SystemExit) as exited:
        selection_benchmark.main(["--skip-text", option, "0"])
    assert exited.value.code == 2
    assert f"argument {option}: must be at least 1, got 0" in capsys.readouterr().err


def test_the_selection_benchmark_reads_the_bundle_shipped_in_the_package_by_default(selection_benchmark):
    """Its default was ../shared/benchmarks/transfergraph-text, a folder beside the repository:
    `python benchmarks/selection.py` from a fresh clone crashed."""
    import hubselect
    from hubselect.zoo import import_bundle

    bundle = selection_benchmark.DEFAULT_BUNDLE
    assert bundle.is_relative_to(pathlib.Path(hubselect.__file__).resolve().parent / "bundles")  # the installed package's, wherever the script is
    assert set(selection_benchmark.TARGETS) <= set(import_bundle(bundle, higher_is_better=True).dataset_ids)


def test_the_selection_benchmark_refuses_a_bundle_folder_that_is_not_there_in_one_line(selection_benchmark, tmp_path, capsys):
    assert selection_benchmark.main(["--skip-scale", "--bundle", str(tmp_path / "nowhere")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {tmp_path / 'nowhere'}: no such folder; pass the folder that holds records.csv\n"


# -- publishing: `hubselect push` -----------------------------------------------------------------


def pushed_file(repo_id: str, token: str, name: str) -> str:
    from huggingface_hub import hf_hub_download

    with open(hf_hub_download(repo_id, name, token=token), encoding="utf-8") as file:
        return file.read()


def refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def test_push_publishes_an_evaluation_of_what_the_ranker_was_built_on_as_strict_json(hub, hub_token, hub_repo_id, tmp_path):
    """A report passed straight from evaluate() holds NaN (rel1 on negative scores): what is
    published is JSON every parser reads, as `evaluate --json` writes it."""
    from hubselect.hub.ranker_repo import push_ranker

    zoo = negative_score_zoo()
    folder = Ranker.fit(zoo, SMALL).save(tmp_path / "ranker")
    report = evaluate(zoo, None, SMALL)
    assert math.isnan(report["method"]["rel1"])
    push_ranker(folder, hub_repo_id, token=hub_token, evaluation=report)
    published = json.loads(pushed_file(hub_repo_id, hub_token, "evaluation.json"), parse_constant=refuse_constant)
    assert published["method"]["rel1"] is None and published["method"]["top1_score"] == -1.5
    card = pushed_file(hub_repo_id, hub_token, "README.md")
    assert "| **hubselect** | 1.000 | -1.500 | – | 0.000 |" in card and "older hubselect" not in card


def test_pushing_a_ranker_without_an_evaluation_keeps_its_own_and_removes_another_rankers(hub, hub_token, hub_repo_id, tmp_path, caplog):
    """Pushed again (after an interrupted push, say), the same ranker lost the evaluation published
    with it, without a word. Another ranker's figures are removed, with a note: left on the Hub,
    they would be read as this one's."""
    from huggingface_hub import HfApi

    from hubselect.hub.ranker_repo import push_ranker

    zoo = negative_score_zoo()
    first = Ranker.fit(zoo, SMALL).save(tmp_path / "first")
    push_ranker(first, hub_repo_id, token=hub_token, evaluation=evaluate(zoo, None, SMALL))
    published = pushed_file(hub_repo_id, hub_token, "evaluation.json")
    push_ranker(first, hub_repo_id, token=hub_token)
    assert pushed_file(hub_repo_id, hub_token, "evaluation.json") == published
    assert "## Leave-one-dataset-out evaluation" in pushed_file(hub_repo_id, hub_token, "README.md")
    assert f"kept the evaluation published at {hub_repo_id}: it is of this ranker" in caplog.text
    second = Ranker.fit(zoo, replace(SMALL, learner="regression")).save(tmp_path / "second")
    push_ranker(second, hub_repo_id, token=hub_token)
    assert "evaluation.json" not in HfApi(token=hub_token).list_repo_files(hub_repo_id)
    assert "## Leave-one-dataset-out evaluation" not in pushed_file(hub_repo_id, hub_token, "README.md")
    assert f"removed the evaluation published at {hub_repo_id}: it is of another ranker" in caplog.text


@pytest.mark.parametrize("published", ["older", "damaged"])
def test_pushing_a_ranker_again_keeps_an_older_report_of_its_datasets_and_drops_a_damaged_one(published, hub, hub_token, hub_repo_id, tmp_path, caplog):
    """An older hubselect's report (no zoo or configuration recorded) is pushed on its targets
    alone: pushed again, the ranker deleted it "as another ranker's". A file that does not read
    as a report is removed, saying so."""
    from huggingface_hub import HfApi

    from hubselect.hub.ranker_repo import push_ranker
    from hubselect.jsonable import finite

    zoo = negative_score_zoo()
    folder = Ranker.fit(zoo, SMALL).save(tmp_path / "ranker")
    older = {k: v for k, v in finite(evaluate(zoo, None, SMALL)).items() if k not in ("zoo", "config")}
    push_ranker(folder, hub_repo_id, token=hub_token, evaluation=older)
    if published == "damaged":
        HfApi(token=hub_token).upload_file(path_or_fileobj=b"{bad", path_in_repo="evaluation.json", repo_id=hub_repo_id)
    push_ranker(folder, hub_repo_id, token=hub_token)
    files = HfApi(token=hub_token).list_repo_files(hub_repo_id)
    if published == "older":
        assert json.loads(pushed_file(hub_repo_id, hub_token, "evaluation.json")) == older
        assert f"kept the evaluation published at {hub_repo_id}: it is of this ranker (it records no zoo or configuration" in caplog.text
    else:
        assert "evaluation.json" not in files
        assert f"removed the evaluation published at {hub_repo_id}: it cannot be read as an evaluation report" in caplog.text


def _relabelled(zoo, method: str):
    from hubselect.zoo import ProfileRecord, Zoo

    other = Zoo(zoo.meta)
    other.add_profiles(ProfileRecord(r.model, r.dataset, float(r.score), method=method) for r in zoo.records.itertuples())
    return other


#: The advice for a ranker whose configuration no `--seed`/`--learner` makes (these tests' SMALL one).
PYTHON_ROUTE = "evaluate what the ranker was built on from Python, with its own configuration, which no command line makes: "


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # The tester's cases: every target name is the ranker's, and the figures are another zoo's.
        ("scored otherwise", "is an evaluation of a zoo scored by loss (lower is better), the ranker was built on one scored by score (higher is better); "
                             f"{PYTHON_ROUTE}"),
        ("another method", "is an evaluation of lora results, the ranker was built on default results; "
                           f"{PYTHON_ROUTE}"),
        ("another configuration", "is an evaluation of another ranker configuration (learner lambdarank, seed 1; the ranker was built with learner regression, seed 0); "
                                  f"{PYTHON_ROUTE}"),
        # A rebuild on a changed zoo keeps the evaluation.json beside the ranker, which push reads by default.
        ("the zoo before a rebuild", "is an evaluation of a local zoo with fingerprint "),
    ],
)
def test_push_refuses_an_evaluation_of_another_zoo_method_content_or_configuration(case, expected, hub, hub_token, hub_repo_id, tmp_path, capsys):
    import dataclasses

    from hubselect.jsonable import finite
    from hubselect.zoo import ProfileRecord

    zoo, config, evaluated = negative_score_zoo(), SMALL, negative_score_zoo()
    if case == "scored otherwise":
        evaluated.meta = dataclasses.replace(evaluated.meta, score="loss", higher_is_better=False)
    elif case == "another method":
        evaluated = _relabelled(evaluated, "lora")
    elif case == "another configuration":
        config = replace(SMALL, learner="regression")
    else:
        zoo.add_profiles([ProfileRecord("m4", "d1", -0.5), ProfileRecord("m4", "d2", -9.0)])
    folder = Ranker.fit(zoo, config).save(tmp_path / "ranker")
    report = finite(evaluate(evaluated, None, replace(SMALL, seed=1) if case == "another configuration" else SMALL))
    if case == "the zoo before a rebuild":
        (folder / "evaluation.json").write_text(json.dumps(report))
        args = []
    else:
        (tmp_path / "evaluation.json").write_text(json.dumps(report))
        args = ["--evaluation", str(tmp_path / "evaluation.json")]
    assert main(["push", str(folder), "--repo", hub_repo_id, *args, "--token", hub_token]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert "evaluation.json " + expected in captured.err, captured.err
    if case == "the zoo before a rebuild":
        assert ", the ranker was built on a local zoo with fingerprint " in captured.err
        assert ": other results (the zoo changed in between); " + PYTHON_ROUTE in captured.err
        assert f", or move {folder}/evaluation.json away to push the ranker without one" in captured.err
    assert not hub.request_log, "nothing is pushed"


def test_push_advises_an_evaluation_that_passes_its_own_check(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """The advice once printed `hubselect evaluate ... --seed 3` for a ranker fitted with
    RankerConfig(seed=3), whose node2vec seed no command line leaves at 0: refused again, in a loop."""
    from hubselect.hub.ranker_repo import push_ranker
    from hubselect.jsonable import finite

    zoo = negative_score_zoo()
    zoo_dir = zoo.save(tmp_path / "zoo")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(finite(evaluate(zoo, None, SMALL))))
    for name, config, advice in (
        ("cli", RankerConfig.seeded(2, "regression"), "with `hubselect evaluate ZOO --method default --learner regression --seed 2 --json FILE`"),
        ("python", RankerConfig(seed=3), PYTHON_ROUTE),
    ):
        folder = Ranker.fit(zoo, config).save(tmp_path / name)
        assert main(["push", str(folder), "--repo", hub_repo_id, "--evaluation", str(other), "--token", hub_token]) == 2
        assert advice in capsys.readouterr().err
        if name == "cli":  # as advised, with the zoo's folder for ZOO
            written = tmp_path / "advised.json"
            assert main(["evaluate", str(zoo_dir), "--method", "default", "--learner", "regression", "--seed", "2", "--json", str(written)]) == 0
            assert main(["push", str(folder), "--repo", hub_repo_id, "--evaluation", str(written), "--token", hub_token]) == 0
        else:
            push_ranker(folder, hub_repo_id, token=hub_token, evaluation=evaluate(zoo, config=Ranker.load(folder).config))
        capsys.readouterr()


def test_a_zoo_profiled_with_a_second_probe_is_evaluated_on_one_probes_distances(tmp_path, capsys):
    """Distances from two probes are on two scales: the graph, the learner and nearest_dataset
    read the default probe's (as `dataset similar` compares a dataset through it), not their mean;
    among other probes, --probe says which."""
    from hubselect.zoo import DistanceRecord

    zoo = synthetic_zoo(6, 4, n_clusters=2, seed=1)
    zoo.distances = zoo.distances.assign(probe="openai/clip-vit-base-patch32")
    alone = evaluate(zoo, ["data-000"], SMALL)
    # Through another probe, data-000 is nearest data-001, of the other cluster.
    zoo.add_distances([DistanceRecord("data-000", "data-001", 0.1, "local:clip2"), DistanceRecord("data-000", "data-002", 30.0, "local:clip2")])
    both = evaluate(zoo, ["data-000"], SMALL)

    def without_seconds(report):
        return {k: v for k, v in report["targets"]["data-000"].items() if k != "seconds"}

    assert both["targets"]["data-000"]["predicted_top1"]["nearest_dataset"] == planted_for(zoo, "data-000")
    assert without_seconds(both) == without_seconds(alone) and both["zoo"] == alone["zoo"]
    assert both["zoo"]["probe"] == "openai/clip-vit-base-patch32"

    zoo.distances = zoo.distances.replace({"openai/clip-vit-base-patch32": "local:clip"})
    folder = str(zoo.save(tmp_path / "zoo"))
    for command in (["evaluate", folder], ["build", folder, "--out", str(tmp_path / "ranker")]):
        code, out, err = main(command), *capsys.readouterr()
        assert code == 2 and out == "" and err == (
            "Error: the zoo's dataset distances were measured with several probes (local:clip, local:clip2), whose distances "
            "are on different scales; choose one with --probe (in Python: zoo.for_probe('local:clip'))\n"
        )
        code, out, err = main([*command, "--probe", "inception"]), *capsys.readouterr()
        assert code == 2 and err == (f"Error: probe clean-fid/inception-v3 measured none of zoo {folder}'s dataset distances "
                                     "(measured with: local:clip, local:clip2); pass one of those with --probe\n")
    assert main(["evaluate", folder, "--probe", "local:clip2", "--targets", "data-000", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["zoo"]["probe"] == "local:clip2"
    assert report["targets"]["data-000"]["predicted_top1"]["nearest_dataset"] == planted_for(zoo, "data-001")
