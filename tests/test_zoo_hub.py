"""A zoo ⇄ a Hub dataset repo, against the loopback Hub (real huggingface_hub and datasets calls)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fixtures.paths import unwritable
from hubselect.cli import main
from hubselect.errors import InputError
from hubselect.zoo import ProfileRecord, Zoo, ZooMeta, import_bundle

BUNDLE = Path(__file__).resolve().parents[1] / "hubselect" / "bundles" / "transfergraph-text"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def small_zoo(prefix: str, n: int = 3) -> Zoo:
    zoo = Zoo(ZooMeta(score="fid", higher_is_better=False))
    zoo.add_profiles(ProfileRecord(f"{prefix}/model-{i}", f"data/d{i % 2}", 20.0 + i, method="lora") for i in range(n))
    return zoo


@pytest.fixture(scope="module")
def text_zoo() -> Zoo:
    return import_bundle(BUNDLE, higher_is_better=True)


@pytest.fixture(scope="module")
def zoo_on_hub(loopback_hub_server) -> str:
    """A repo holding ``small_zoo("hub")``, pushed once for the tests that only pull it."""
    from hubselect.testing.pytest_plugin import HUB_TOKEN, HUB_USER

    repo_id = f"{HUB_USER}/zoo-to-pull"
    small_zoo("hub").push(repo_id, token=HUB_TOKEN)
    return repo_id


def test_push_pull_round_trip_and_load_dataset(hub, hub_token, hub_repo_id, tmp_path, capsys, text_zoo):
    text_zoo.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "push", tmp_path / "Z", "--repo", hub_repo_id, "--token", hub_token, "--format", "json")
    assert code == 0, err
    pushed = json.loads(out)
    assert len(pushed["revision"]) == 40

    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "Z2", "--token", hub_token, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["revision"] == pushed["revision"]
    assert Zoo.load(tmp_path / "Z2").equals(text_zoo)

    # The card's `configs:` make each table loadable by name with plain `datasets`.
    import datasets

    records = datasets.load_dataset(hub_repo_id, "records", split="train", token=hub_token)
    assert records.num_rows == 1439
    assert {"model", "dataset", "score"} <= set(records.column_names)

    # The card validates on the Hub and shows the score matrix.
    from huggingface_hub import DatasetCard, HfApi

    card = DatasetCard.load(hub_repo_id, token=hub_token)
    card.validate(repo_type="dataset")
    assert "1439" in card.text and "![Scores of models × datasets](coverage.png)" in card.text
    files = HfApi(token=hub_token).list_repo_files(hub_repo_id, repo_type="dataset")
    assert "coverage.png" in files


def test_zoo_id_works_wherever_a_zoo_is_expected(hub, hub_token, hub_repo_id, capsys):
    small_zoo("org").push(hub_repo_id, token=hub_token)
    code, out, err = run_cli(capsys, "zoo", "show", hub_repo_id, "--format", "json", "--token", hub_token)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["records"] == 3 and summary["repo"] == hub_repo_id and len(summary["revision"]) == 40


@pytest.mark.parametrize("command", ["pull", "push"])
def test_ctrl_c_says_in_one_line_that_nothing_is_lost_and_the_rerun_finishes(command, hub, hub_token, hub_repo_id, tmp_path, capsys):
    """A real SIGINT mid-transfer: it printed only "Aborted.", with no word of what to do."""
    zoo = tmp_path / "Z"
    small_zoo("local").save(zoo)
    if command == "pull":  # into a zoo already there: merged, so the folder must come out whole
        small_zoo("hub").push(hub_repo_id, token=hub_token)
        args = ["zoo", "pull", hub_repo_id, "--out", str(zoo)]
    else:
        args = ["zoo", "push", str(zoo), "--repo", hub_repo_id]
    before = {p.name: p.read_bytes() for p in zoo.iterdir()}
    slow = hub.inject_fault(r"/resolve/" if command == "pull" else r"/preupload/|/commit/", "delay", times=1000, delay=0.5)
    process = subprocess.Popen([sys.executable, "-m", "hubselect", *args, "--token", hub_token],
                               env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None and not slow.hits:
            time.sleep(0.05)
        assert process.poll() is None, f"it ended before it could be interrupted: {process.stderr.read()[-500:]}"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (process.returncode, stdout) == (130, ""), stderr
    assert stderr.strip() == "Interrupted: nothing written so far is lost; rerun the same command to finish"
    assert {p.name: p.read_bytes() for p in zoo.iterdir()} == before
    hub.clear_faults()
    code, _, err = run_cli(capsys, *args, "--token", hub_token)
    assert code == 0, err
    finished = Zoo.pull(hub_repo_id, token=hub_token) if command == "push" else Zoo.load(zoo)
    assert len(finished.records) == (3 if command == "push" else 6)  # the folder's, or the folder's and the repo's


def test_push_merges_with_what_the_repo_holds(hub, hub_token, hub_repo_id):
    first_sha = small_zoo("alice").push(hub_repo_id, token=hub_token)
    small_zoo("bob").push(hub_repo_id, token=hub_token)
    merged = Zoo.pull(hub_repo_id, token=hub_token)
    assert len(merged.records) == 6
    # An older revision is still readable, and holds only what was pushed then.
    assert len(Zoo.pull(hub_repo_id, revision=first_sha, token=hub_token).records) == 3


def test_pushing_an_unchanged_folder_again_after_another_writer_commits_nothing(hub, hub_token, hub_repo_id):
    """A commit would make the repo's ranker stale (it names the zoo commit it was built on)."""
    from huggingface_hub import HfApi

    from hubselect.zoo.records import DistanceRecord

    def writer(prefix: str) -> Zoo:
        zoo = small_zoo(prefix)
        zoo.add_distances([DistanceRecord(f"{prefix}/d0", f"{prefix}/d1", 3.0, "")])
        return zoo

    writer("alice").push(hub_repo_id, token=hub_token)
    head = writer("bob").push(hub_repo_id, token=hub_token)
    assert writer("alice").push(hub_repo_id, token=hub_token) == head
    assert HfApi(token=hub_token).dataset_info(hub_repo_id).sha == head


def test_a_stale_copy_pushed_last_keeps_the_later_results_and_model_row_on_the_hub(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """The README's pull / work / push with two maintainers: B pulls; A redoes a result at the
    model's new commit, recrawls it and pushes; B pushes its older copy with work of its own."""
    from hubselect.zoo import ModelRecord

    def result(model: str, score: float, revision: str, finished_at: str) -> ProfileRecord:
        return ProfileRecord(model, "t/warm", score, "lora", "c1", model_revision=revision, details={"finished_at": finished_at})

    a, b = tmp_path / "A", tmp_path / "B"
    shared = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    shared.add_models([ModelRecord("t/vpred", "e" * 40, {"last_modified": "2026-01-01T10:00:00+00:00"})])
    shared.add_profiles([result("t/vpred", 2.605, "e" * 40, "2026-01-02T10:00:00+00:00"), result("t/ddim", 3.421, "a" * 40, "2026-01-02T10:05:00+00:00")])
    shared.save(a)
    assert run_cli(capsys, "zoo", "push", a, "--repo", hub_repo_id, "--token", hub_token)[0] == 0
    assert run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", b, "--token", hub_token)[0] == 0

    rerun = Zoo.load(a)
    rerun.add_models([ModelRecord("t/vpred", "d" * 40, {"last_modified": "2026-01-05T08:00:00+00:00"})])
    rerun.add_profiles([result("t/vpred", 2.743, "d" * 40, "2026-01-05T09:00:00+00:00")])
    rerun.save(a)
    # Pulling the Hub's older copy into A's folder keeps A's later rows, and says so.
    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", a, "--token", hub_token)
    assert code == 0 and err == f"note: kept 1 result and 1 model row of {a} made later than the pulled copies; `hubselect zoo push {a} --repo {hub_repo_id}` puts them on the Hub\n"
    assert run_cli(capsys, "zoo", "push", a, "--repo", hub_repo_id, "--token", hub_token)[0] == 0

    work = Zoo.load(b)
    work.add_profiles([result("t/wide", 4.1, "f" * 40, "2026-01-06T09:00:00+00:00")])
    work.save(b)
    code, out, err = run_cli(capsys, "zoo", "push", b, "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0 and err.count("\n") == 1, err
    assert (f"{hub_repo_id} holds 1 result and 1 model row made later than the copies pushed: kept those; "
            f"`hubselect zoo pull {hub_repo_id} --out DIR` brings them into DIR") in err
    on_hub = Zoo.pull(hub_repo_id, token=hub_token)
    assert {r.model: (r.score, r.model_revision) for r in on_hub.profile_records()} == {
        "t/vpred": (2.743, "d" * 40), "t/ddim": (3.421, "a" * 40), "t/wide": (4.1, "f" * 40)}
    assert [(r.model, r.revision) for r in on_hub.model_records()] == [("t/vpred", "d" * 40)]


def test_a_result_redone_since_a_pull_of_results_made_before_finished_at_is_kept_by_pull_and_push(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """The Hub's results were made by a hubselect that did not note when runs finished. A redoes
    one at the model's new commit; pulling the Hub's untimed copy into A's folder keeps A's
    (before it is ever pushed), and B's untimed stale copy pushed last does not revert it."""
    from hubselect.zoo import ModelRecord

    a, b = tmp_path / "A", tmp_path / "B"
    shared = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    shared.add_models([ModelRecord("t/vpred", "e" * 40, {"last_modified": "2026-01-01T10:00:00+00:00"})])
    shared.add_profiles([ProfileRecord("t/vpred", "t/warm", 2.605, "lora", "c1", model_revision="e" * 40, details={"probe": "x"})])
    shared.push(hub_repo_id, token=hub_token)
    for folder in (a, b):
        assert run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", folder, "--token", hub_token)[0] == 0

    rerun = Zoo.load(a)
    rerun.add_models([ModelRecord("t/vpred", "d" * 40, {"last_modified": "2026-01-05T08:00:00+00:00"})])
    rerun.add_profiles([ProfileRecord("t/vpred", "t/warm", 2.743, "lora", "c1", model_revision="d" * 40,
                                      details={"probe": "x", "finished_at": "2026-01-05T09:00:00+00:00"})])
    rerun.save(a)
    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", a, "--token", hub_token)
    assert code == 0 and err == f"note: kept 1 result and 1 model row of {a} made later than the pulled copies; `hubselect zoo push {a} --repo {hub_repo_id}` puts them on the Hub\n"
    assert [(r.score, r.model_revision) for r in Zoo.load(a).profile_records()] == [(2.743, "d" * 40)]

    assert run_cli(capsys, "zoo", "push", a, "--repo", hub_repo_id, "--token", hub_token)[0] == 0
    code, _, err = run_cli(capsys, "zoo", "push", b, "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0 and f"{hub_repo_id} holds 1 result and 1 model row made later than the copies pushed: kept those" in err, err
    on_hub = Zoo.pull(hub_repo_id, token=hub_token)
    assert [(r.score, r.model_revision) for r in on_hub.profile_records()] == [(2.743, "d" * 40)]
    assert [r.revision for r in on_hub.model_records()] == ["d" * 40]


def test_a_stale_failed_job_at_older_commits_pushed_last_does_not_reset_the_attempts_on_the_hub(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """B pulls a zoo noting one failure of a broken model; the model gets a new commit and A's
    refreshes fail twice at it; B pushes its copy last. The Hub must keep A's count (2 at the
    new commit), or the next refresh tries the job as never tried and fails twice more."""
    from hubselect.zoo import FailedJob

    def failure(revision: str, failed_at: str) -> FailedJob:
        return FailedJob("t/broken", "t/warm", "lora", "c1", "model t/broken cannot be loaded", revision, "w" * 40, failed_at)

    a, b = tmp_path / "A", tmp_path / "B"
    shared = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    shared.add_failed_jobs([failure("1" * 40, "2026-01-01T00:00:00+00:00")])
    shared.push(hub_repo_id, token=hub_token)
    for folder in (a, b):
        assert run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", folder, "--token", hub_token)[0] == 0

    refreshed = Zoo.load(a)
    for day in ("08", "15"):
        refreshed.add_failed_jobs([failure("2" * 40, f"2026-01-{day}T00:00:00+00:00")])
    refreshed.save(a)
    assert run_cli(capsys, "zoo", "push", a, "--repo", hub_repo_id, "--token", hub_token)[0] == 0
    code, _, err = run_cli(capsys, "zoo", "push", b, "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0 and f"{hub_repo_id} holds 1 failed job made later than the copies pushed: kept those" in err, err
    on_hub = Zoo.pull(hub_repo_id, token=hub_token)
    assert [(f.model_revision, f.attempts, f.failed_at) for f in on_hub.failed_job_records()] == [("2" * 40, 2, "2026-01-08T00:00:00+00:00")]
    # B's next pull brings the count into its folder, and says nothing of B's own copy.
    code, _, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", b, "--token", hub_token)
    assert code == 0 and err == "", err
    assert [(f.model_revision, f.attempts) for f in Zoo.load(b).failed_job_records()] == [("2" * 40, 2)]


def test_a_pull_request_does_not_propose_a_stale_copy_of_a_later_result(hub, hub_token, hub_repo_id, caplog):
    """`profile --push` from a folder pulled before a maintainer redid a result: only its new result is proposed."""
    from hubselect.hub.contribute import contribute_profiles

    def result(model: str, score: float, finished_at: str) -> ProfileRecord:
        return ProfileRecord(model, "t/warm", score, "lora", "c1", details={"finished_at": finished_at})

    on_hub = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    on_hub.add_profiles([result("t/vpred", 2.743, "2026-01-05T09:00:00+00:00")])
    on_hub.push(hub_repo_id, token=hub_token)
    offered = contribute_profiles([result("t/vpred", 2.605, "2026-01-02T10:00:00+00:00"), result("t/wide", 4.1, "2026-01-06T09:00:00+00:00")],
                                  hub_repo_id, token=hub_token)
    assert offered.records == 1
    proposed = Zoo.pull(hub_repo_id, revision="refs/pr/1", token=hub_token)
    assert {r.model: r.score for r in proposed.profile_records()} == {"t/vpred": 2.743, "t/wide": 4.1}
    assert f"{hub_repo_id} holds 1 result made later than this zoo's copies: those are not proposed" in caplog.text


def test_two_concurrent_writers_both_land(hub, hub_token, hub_repo_id):
    small_zoo("seed", 1).push(hub_repo_id, token=hub_token)
    # Hold back whichever commit arrives first, so the other lands in between and the held
    # one is refused (412) and must merge again.
    hub.inject_fault(r"/commit/", "delay", times=1, delay=2.0)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            small_zoo(name, 4).push(hub_repo_id, token=hub_token)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    final = Zoo.pull(hub_repo_id, token=hub_token)
    models = set(final.records["model"])
    assert {f"alice/model-{i}" for i in range(4)} <= models
    assert {f"bob/model-{i}" for i in range(4)} <= models
    assert len(final.records) == 9
    assert any(entry.status == 412 and "/commit/" in entry.path for entry in hub.request_log), "the race was not exercised"


def test_a_429_burst_is_retried_and_the_push_succeeds(hub, hub_token, hub_repo_id):
    hub.inject_fault(r"/preupload/", "429", times=2, retry_after=1)
    sha = small_zoo("org").push(hub_repo_id, token=hub_token)
    assert len(Zoo.pull(hub_repo_id, token=hub_token).records) == 3
    assert sum(1 for e in hub.request_log if e.status == 429) == 2
    assert len(sha) == 40


def test_pull_into_a_zoo_merges_with_it_and_pulling_again_updates_it(hub, hub_token, zoo_on_hub, tmp_path, capsys):
    small_zoo("local", 4).save(tmp_path / "Z")
    (tmp_path / "Z" / "crawl_state.json").write_text("{}")
    code, out, err = run_cli(capsys, "zoo", "pull", zoo_on_hub, "--out", tmp_path / "Z", "--token", hub_token)
    assert code == 0, err
    assert f"Merged {zoo_on_hub} @ " in out and "3 records pulled, 3 new; it now holds 7 records (7 models" in out
    assert set(Zoo.load(tmp_path / "Z").records["model"]) == {f"local/model-{i}" for i in range(4)} | {f"hub/model-{i}" for i in range(3)}
    assert (tmp_path / "Z" / "crawl_state.json").exists()

    code, out, err = run_cli(capsys, "zoo", "pull", zoo_on_hub, "--out", tmp_path / "Z", "--token", hub_token, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["merged"], result["pulled_records"], result["new_records"], result["records"]) == (True, 3, 0, 7)


def test_pull_into_a_zoo_scored_the_other_way_is_refused_and_keeps_it(hub, hub_token, zoo_on_hub, tmp_path, capsys):
    local = Zoo(ZooMeta(score="fid", higher_is_better=True))
    local.add_profiles([ProfileRecord("local/model", "data/d0", 0.5)])
    local.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "pull", zoo_on_hub, "--out", tmp_path / "Z", "--token", hub_token)
    assert code != 0 and out == "" and err.count("\n") == 1, err
    assert "cannot merge a zoo scored by 'fid' (lower is better)" in err and "another --out folder" in err
    assert Zoo.load(tmp_path / "Z").equals(local)


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_pull_never_writes_into_what_is_not_a_zoo(hub, hub_token, zoo_on_hub, tmp_path, capsys, kind):
    out_path = tmp_path / "out"
    if kind == "file":
        out_path.write_text("mine")
    else:
        out_path.mkdir()
        (out_path / "notes.txt").write_text("mine")
    code, out, err = run_cli(capsys, "zoo", "pull", zoo_on_hub, "--out", out_path, "--token", hub_token)
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert f"--out {out_path} is a {kind}" in err and ("pass a folder" if kind == "file" else "or a zoo folder") in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == (["out"] if kind == "file" else ["notes.txt", "out"])
    assert hub.request_log == [], "the Hub was asked before --out was refused"


@pytest.mark.parametrize("out", ["locked/Z", "zoo", "a-file/Z"], ids=["new-in-a-folder-it-cannot-write", "zoo-it-cannot-write", "under-a-file"])
def test_pull_refuses_an_out_it_cannot_write_before_downloading(out, hub, hub_token, zoo_on_hub, tmp_path, capsys, monkeypatch):
    """It failed as "unexpected PermissionError" once the zoo was downloaded."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    small_zoo("local").save(tmp_path / "zoo")
    before = {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()}
    hub.clear_log()
    with unwritable(tmp_path / out.split("/")[0]) if out != "a-file/Z" else contextlib.nullcontext():
        code, stdout, err = run_cli(capsys, "zoo", "pull", zoo_on_hub, "--out", out, "--token", hub_token)
    assert (code, stdout) == (2, "") and err.count("\n") == 1, err
    assert err.startswith(f"Error: --out {out}: ") and "unexpected" not in err and "; pass a path in a folder" in err
    assert hub.request_log == [], "the Hub was asked before --out was refused"
    assert {p.name: p.read_bytes() for p in (tmp_path / "zoo").iterdir()} == before


@pytest.mark.parametrize("locked_before", [False, True], ids=["refused-at-the-lock", "refused-at-the-tables"])
def test_a_zoo_folder_that_turns_unwritable_during_the_pull_is_named_in_one_line(locked_before, hub, hub_token, zoo_on_hub, tmp_path, capsys, monkeypatch):
    """Checked before the download, refused at the save (another user's chmod meanwhile): not
    "unexpected", and named by the zoo's file, not by the temporary file pyarrow was writing."""
    import hubselect.hub.zoo_repo

    small_zoo("local").save(tmp_path / "Z")
    if locked_before:  # the lock file is there: the first write refused is a table's
        (tmp_path / "Z" / ".zoo.lock").touch()
    before = {p.name: p.read_bytes() for p in (tmp_path / "Z").iterdir()}
    real = hubselect.hub.zoo_repo.pull_zoo
    with contextlib.ExitStack() as stack:

        def pull_then_lose_write_access(*args, **kwargs):
            pulled = real(*args, **kwargs)
            stack.enter_context(unwritable(tmp_path / "Z"))
            return pulled

        monkeypatch.setattr(hubselect.hub.zoo_repo, "pull_zoo", pull_then_lose_write_access)
        code, stdout, err = run_cli(capsys, "zoo", "pull", zoo_on_hub, "--out", tmp_path / "Z", "--token", hub_token)
    assert (code, stdout) == (2, "") and err.count("\n") == 1, err
    refused = tmp_path / "Z" / ("models.parquet" if locked_before else ".zoo.lock")
    assert err.startswith(f"Error: {refused}: ") and "unexpected" not in err and ".tmp" not in err
    assert "fix the permissions of that path (or of its folder), or pass another path, then rerun" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "Z").iterdir()} == before


@pytest.mark.parametrize("revision", ["", "  "])
def test_an_empty_revision_is_an_input_error_not_a_hub_failure(revision, hub, hub_token, zoo_on_hub, tmp_path, capsys):
    """It was sent: the Hub's 404 came back as exit 3, "rerun later"."""
    hub.clear_log()
    code, out, err = run_cli(capsys, "zoo", "pull", zoo_on_hub, "--out", tmp_path / "Z", "--revision", revision, "--token", hub_token)
    assert (code, out) == (2, "") and err == "Error: --revision is empty; pass a branch, tag or commit sha, or leave it out for main\n"
    assert hub.request_log == [] and not (tmp_path / "Z").exists()


def test_a_hub_zoo_whose_direction_is_not_a_bool_names_the_repo_to_fix_not_the_cache(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """A hand edit of zoo.json on the Hub ("false" in quotes): the error named the snapshot file in
    the HF cache to edit, which the next pull replaces; the file to fix is the repo's."""
    from huggingface_hub import HfApi

    small_zoo("org").push(hub_repo_id, token=hub_token)
    meta = json.loads(ZooMeta(score="fid", higher_is_better=False).to_json())
    meta["higher_is_better"] = "false"
    revision = HfApi(token=hub_token).upload_file(
        path_or_fileobj=json.dumps(meta).encode(), path_in_repo="zoo.json", repo_id=hub_repo_id, repo_type="dataset"
    ).oid
    small_zoo("mine").save(tmp_path / "mine")
    pushed = ["zoo", "push", tmp_path / "mine", "--repo", hub_repo_id]
    for command in (["zoo", "show", hub_repo_id], ["zoo", "pull", hub_repo_id, "--out", tmp_path / "Z"], pushed):
        code, out, err = run_cli(capsys, *command, "--token", hub_token)
        assert (code, out) == (1, "") and err.count("\n") == 1, err
        assert f"zoo {hub_repo_id}@{revision}: zoo.json's higher_is_better is \"false\", not true or false" in err
        assert f"fix zoo.json in the dataset repo {hub_repo_id}" in err
        assert "snapshots" not in err and str(tmp_path) not in err
    assert not (tmp_path / "Z").exists()
    assert HfApi(token=hub_token).dataset_info(hub_repo_id).sha == revision


@pytest.mark.parametrize("revision", [3, ""], ids=["int", "empty"])
@pytest.mark.parametrize("pull", ["zoo", "ranker"])
def test_a_revision_that_names_no_branch_tag_or_sha_is_refused_by_name_before_any_request(pull, revision, hub, hub_token, zoo_on_hub):
    """From Python, ``Zoo.pull(repo, revision=3)`` raised "TypeError: quote_from_bytes() expected
    bytes" from the HTTP client, and ``revision=""`` was sent: the Hub's 404 came back as a Hub
    failure to "rerun later" (``--revision`` refuses both while parsing)."""
    from hubselect.hub.ranker_repo import pull_ranker

    call = Zoo.pull if pull == "zoo" else pull_ranker
    hub.clear_log()
    with pytest.raises(InputError) as raised:
        call(zoo_on_hub, revision=revision, token=hub_token)
    assert str(raised.value) == f"revision must be a branch, tag or commit sha (a str), or None for main, got {revision!r}"
    assert hub.request_log == []


def test_a_push_message_that_is_not_a_str_is_refused_by_name_before_anything_is_uploaded(hub, hub_token, hub_repo_id, zoo_on_hub):
    """``push(message=3)`` failed with "TypeError: object of type 'int' has no len()" only after
    the repo was created and the zoo's files uploaded: the Hub was left with an empty repo.
    A pull request of results (``profile --push``) failed the same way, after reading the repo."""
    from huggingface_hub import HfApi

    from hubselect.hub.contribute import contribute_profiles

    hub.clear_log()
    for push in (
        lambda: small_zoo("org").push(hub_repo_id, token=hub_token, message=3),
        lambda: contribute_profiles(small_zoo("new").profile_records(), zoo_on_hub, token=hub_token, message=3),
    ):
        with pytest.raises(InputError) as raised:
            push()
        assert str(raised.value) == "message must be a commit message (a str), or None for hubselect's own, got 3"
    assert hub.request_log == []
    assert not HfApi(token=hub_token).repo_exists(hub_repo_id, repo_type="dataset")


@pytest.mark.parametrize("private", ["false", 0, None])
@pytest.mark.parametrize("push", ["zoo", "ranker"])
def test_a_private_that_is_not_a_bool_is_refused_by_name_before_any_request(push, private, hub, hub_token, hub_repo_id):
    """``push(private="false")`` created a private repo (a non-empty str is true), and ``0`` or
    ``None`` (from a config file) were passed on for the Hub to read: found out only on the Hub."""
    from huggingface_hub import HfApi

    from hubselect.demo import bundled_paths
    from hubselect.hub.ranker_repo import push_ranker

    hub.clear_log()
    with pytest.raises(InputError) as raised:
        if push == "zoo":
            small_zoo("org").push(hub_repo_id, token=hub_token, private=private)
        else:
            push_ranker(bundled_paths().ranker, hub_repo_id, token=hub_token, private=private)
    assert str(raised.value) == f"private must be True or False, got {private!r} ({type(private).__name__}); pass True for a private repo, False for a public one"
    assert hub.request_log == []
    assert not HfApi(token=hub_token).repo_exists(hub_repo_id, repo_type="dataset" if push == "zoo" else "model")


def test_a_numpy_bool_private_is_that_bool(hub, hub_token, hub_repo_id):
    """A flag read from a table is a numpy bool: it was refused as "got False; pass ... False"."""
    import numpy as np
    from huggingface_hub import HfApi

    small_zoo("org").push(hub_repo_id, token=hub_token, private=np.False_)
    assert HfApi(token=hub_token).dataset_info(hub_repo_id).private is False


def test_missing_repo_is_a_one_line_error(hub, tmp_path, capsys):
    code, out, err = run_cli(capsys, "zoo", "pull", "nobody/no-such-zoo", "--out", tmp_path / "Z")
    assert code != 0 and out == ""
    assert err.count("\n") == 1
    assert "nobody/no-such-zoo was not found" in err
    assert not (tmp_path / "Z").exists()


@pytest.mark.parametrize("repo_state", ["missing", "empty"])
def test_new_if_missing_starts_a_zoo_the_first_push_creates(repo_state, hub, hub_token, hub_repo_id, tmp_path, capsys):
    # The first run of a scheduled refresh: the zoo repo does not exist yet (or holds no zoo).
    if repo_state == "empty":
        from huggingface_hub import HfApi

        HfApi(token=hub_token).create_repo(hub_repo_id, repo_type="dataset")
    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "Z", "--new-if-missing", "--token", hub_token)
    assert code == 0 and err == "", err
    assert f"{hub_repo_id} does not exist or holds no zoo yet: started a new, empty zoo in {tmp_path / 'Z'}" in out
    started = Zoo.load(tmp_path / "Z")
    assert started.summary()["records"] == 0
    assert (started.meta.score, started.meta.higher_is_better) == ("fid_after_finetune", False)  # what crawl and profile write

    started.add_profiles([ProfileRecord("org/sd", "data/d0", 30.0, method="lora")])
    started.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "push", tmp_path / "Z", "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0, err
    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "again", "--new-if-missing", "--token", hub_token,
                             "--format", "json")
    assert code == 0, err
    assert json.loads(out)["records"] == 1 and len(json.loads(out)["revision"]) == 40


def test_a_zoo_started_empty_takes_the_score_of_the_first_results_merged_into_it(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """--new-if-missing starts a zoo scored as profiling scores; with no records yet, that is no
    reason to refuse results scored otherwise (the README fills a zoo with `zoo import`)."""
    # An empty local zoo, then an accuracy bundle imported into it.
    code, _, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "Z", "--new-if-missing", "--token", hub_token)
    assert code == 0, err
    code, out, err = run_cli(capsys, "zoo", "import", BUNDLE, "--higher-is-better", "--score-name", "accuracy", "--out", tmp_path / "Z")
    assert code == 0, err
    imported = Zoo.load(tmp_path / "Z")
    assert (imported.meta.score, imported.meta.higher_is_better) == ("accuracy", True) and len(imported.records) > 0

    # An empty zoo pushed first, then a scored one: the repo's zoo takes the pushed score.
    code, _, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "E", "--new-if-missing", "--token", hub_token)
    assert code == 0, err
    code, _, err = run_cli(capsys, "zoo", "push", tmp_path / "E", "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0, err
    code, _, err = run_cli(capsys, "zoo", "push", tmp_path / "Z", "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0, err
    assert Zoo.pull(hub_repo_id, token=hub_token).equals(imported)

    # Once it holds records, the repo's zoo still refuses another score.
    small_zoo("fid").save(tmp_path / "F")
    code, out, err = run_cli(capsys, "zoo", "push", tmp_path / "F", "--repo", hub_repo_id, "--token", hub_token)
    assert code != 0 and out == "" and err.count("\n") == 1, err
    assert "cannot merge a zoo scored by 'fid' (lower is better) into one scored by 'accuracy'" in err


def test_new_if_missing_keeps_the_zoo_in_out_and_still_fails_when_the_hub_fails(hub, hub_token, hub_repo_id, tmp_path, capsys):
    local = small_zoo("local")
    local.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "Z", "--new-if-missing", "--token", hub_token)
    assert code == 0, err
    assert "nothing pulled; the zoo in" in out and "is kept as it is (3 records)" in out
    assert Zoo.load(tmp_path / "Z").equals(local)

    # Only "not there" starts a zoo: a Hub that fails is the usual error (exit 3), and nothing is written.
    hub.inject_fault(rf"/api/datasets/{hub_repo_id}", "500", times=10)
    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "new", "--new-if-missing", "--token", hub_token)
    assert (code, out) == (3, "") and err.count("\n") == 1, err
    assert "the Hub answered 500" in err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "files",
    [{"data/train-00000.parquet": os.urandom(64_000)}, {"images/a.png": b"png"}],
    ids=["nested-parquet", "no-parquet"],
)
def test_a_dataset_that_is_not_a_zoo_is_refused_before_any_download(hub, hub_token, hub_repo_id, tmp_path, capsys, files):
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id, repo_type="dataset")
    api.create_commit(hub_repo_id, [CommitOperationAdd(name, data) for name, data in files.items()], commit_message="data", repo_type="dataset")
    hub.clear_log()
    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "Z", "--token", hub_token)
    assert code == 3 and out == ""
    assert err.count("\n") == 1, err  # no 'No files matched' warning before the error
    assert f"{hub_repo_id} holds no zoo (zoo.json missing) but 1 other file ({next(iter(files))}): it is a dataset, not a zoo" in err
    assert "pass the id of a zoo repo" in err
    assert not [e.path for e in hub.request_log if "/resolve/" in e.path], "a file of the dataset was downloaded"
    assert not (tmp_path / "Z").exists()

    # --new-if-missing starts no zoo for it (nor advises pushing one into someone's dataset), and a push is refused.
    head = HfApi(token=hub_token).dataset_info(hub_repo_id).sha
    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "Z", "--new-if-missing", "--token", hub_token)
    assert (code, out) == (3, "") and err.count("\n") == 1 and "it is a dataset, not a zoo" in err, err
    assert not (tmp_path / "Z").exists()
    small_zoo("org").save(tmp_path / "mine")
    code, out, err = run_cli(capsys, "zoo", "push", tmp_path / "mine", "--repo", hub_repo_id, "--token", hub_token)
    assert (code, out) == (3, "") and err.count("\n") == 1 and "it is a dataset, not a zoo" in err, err
    assert HfApi(token=hub_token).dataset_info(hub_repo_id).sha == head


def test_a_refusing_hub_is_not_answered_from_an_older_cached_copy(hub, hub_token, hub_repo_id, tmp_path, capsys):
    old = small_zoo("alice").push(hub_repo_id, token=hub_token)
    Zoo.pull(hub_repo_id, token=hub_token)  # now in the HF cache
    small_zoo("bob").push(hub_repo_id, token=hub_token)

    # A bad token is the usual one-line error, not the cached copy.
    code, out, err = run_cli(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "Z", "--token", "junk", "--format", "json")
    assert (code, out) == (3, "") and err.count("\n") == 1, err
    assert "not authorised" in err
    assert not (tmp_path / "Z").exists()

    # A failing Hub: the cached copy, with a warning that says which and why.
    hub.inject_fault(rf"/api/datasets/{hub_repo_id}", "500", times=10)
    code, out, err = run_cli(capsys, "zoo", "show", hub_repo_id, "--token", hub_token, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["revision"] == old
    assert err.count("\n") == 1 and "WARNING" in err and "the Hub answered 500" in err and f"cached copy at revision {old}" in err, err
    hub.clear_faults()

    # A repo that is gone is not found, even though a copy is cached.
    from huggingface_hub import HfApi

    HfApi(token=hub_token).delete_repo(hub_repo_id, repo_type="dataset")
    code, out, err = run_cli(capsys, "zoo", "show", hub_repo_id, "--token", hub_token)
    assert (code, out) == (3, "") and f"{hub_repo_id} was not found" in err, err


URL = "https://huggingface.co/datasets/tester/zoo"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["zoo", "push", "{zoo}", "--repo", URL], f"dataset repo '{URL}': not a Hub repo id; pass tester/zoo (ORG/NAME), not a URL"),
        (["zoo", "push", "{zoo}", "--repo", "tester/my zoo"], "dataset repo 'tester/my zoo': not a Hub repo id; pass ORG/NAME: letters"),
        (["zoo", "push", "{zoo}", "--repo", "myzoo"], "dataset repo myzoo: say whose repo it is, as ORG/NAME (e.g. your-user-name/myzoo)"),
        (["zoo", "pull", "datasets/tester/zoo", "--out", "{tmp}/P"], "zoo 'datasets/tester/zoo': not a Hub repo id; pass tester/zoo (ORG/NAME, without datasets/)"),
        (["zoo", "show", "tester/zoo--x"], "zoo 'tester/zoo--x': not a Hub repo id; pass ORG/NAME: letters"),
        (["push", "{ranker}", "--repo", "tester/bad name"], "model repo 'tester/bad name': not a Hub repo id"),
        (["push", "{ranker}", "--repo", "myranker"], "model repo myranker: say whose repo it is, as ORG/NAME"),
        (["profile", "--models", "org/m", "--datasets", "{tmp}", "--zoo", "{tmp}/Z", "--push", URL], f"--push '{URL}': not a Hub repo id; pass tester/zoo"),
    ],
    ids=["push-url", "push-space", "push-no-owner", "pull-type-prefix", "show-double-dash", "push-ranker-space", "push-ranker-no-owner", "profile-push-url"],
)
def test_a_bad_repo_id_is_a_one_line_input_error_before_any_request(command, expected, hub, hub_token, tmp_path, capsys):
    small_zoo("org").save(tmp_path / "zoo")
    (tmp_path / "ranker").mkdir()
    (tmp_path / "ranker" / "ranker.json").write_text("{}")  # all `push` reads before the Hub
    args = [str(a).format(zoo=tmp_path / "zoo", ranker=tmp_path / "ranker", tmp=tmp_path) for a in command]
    code, out, err = run_cli(capsys, *args, "--token", hub_token)
    assert code == 2 and out == "", err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert expected in err
    assert not hub.request_log, "nothing should reach the Hub (no repo created under the token's user)"


@pytest.mark.parametrize("hub_state", ["unreachable", "offline"])
@pytest.mark.parametrize("command", [["zoo", "push", "{zoo}"], ["push", "{ranker}"]], ids=["zoo-push", "push-ranker"])
def test_a_push_without_the_hub_does_not_send_users_to_the_cache(command, hub_state, hub, hub_token, hub_repo_id, tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    import shutil

    from hubselect.demo import bundled_paths

    small_zoo("org").save(tmp_path / "zoo")
    shutil.copytree(bundled_paths().ranker, tmp_path / "ranker")  # a ranker that loads: push checks that first
    if hub_state == "offline":
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    else:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
        monkeypatch.setattr(constants, "ENDPOINT", dead)
    args = [str(a).format(zoo=tmp_path / "zoo", ranker=tmp_path / "ranker") for a in command]
    code, out, err = run_cli(capsys, *args, "--repo", hub_repo_id, "--token", hub_token)
    assert code == 3 and out == "" and err.count("\n") == 1, err
    assert "cache" not in err  # a push cannot be served from it
    if hub_state == "offline":
        assert "this needs the Hub, and HF_HUB_OFFLINE=1 is set; unset HF_HUB_OFFLINE and rerun with network access" in err
    else:
        assert f"cannot reach the Hub at {dead}" in err and "check the network (and HF_ENDPOINT) and rerun" in err


def test_pulled_zoo_reads_offline_from_the_cache(hub, hub_token, hub_repo_id):
    small_zoo("org").push(hub_repo_id, token=hub_token)
    Zoo.pull(hub_repo_id, token=hub_token)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": hub_token}
    done = subprocess.run(
        [sys.executable, "-m", "hubselect", "zoo", "show", hub_repo_id, "--format", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["records"] == 3
    assert done.stderr == "", "offline by choice reads the cache without a warning"


def test_pushing_a_zoo_with_results_of_two_probes_keeps_them_all_and_the_card_counts_those_rankings_leave_out(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """`zoo push` printed "left out 2 lora results scored with clean-fid/inception-v3" (drawing
    the card's picture), which reads as if the push dropped them: it keeps every record."""
    def profiled(model: str, dataset: str, score: float, probe: str) -> ProfileRecord:
        return ProfileRecord(model, dataset, score, "lora", probe, details={"probe": probe})

    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_profiles([profiled(f"m{i}", d, 2.0 + i + j, "openai/clip-vit-base-patch32") for i in range(3) for j, d in enumerate(("d1", "d2"))])
    zoo.add_profiles([profiled(f"m{i}", "d1", 300.0 + i, "clean-fid/inception-v3") for i in range(2)])
    zoo.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "push", tmp_path / "Z", "--repo", hub_repo_id, "--token", hub_token)
    assert (code, err) == (0, ""), err
    assert len(Zoo.pull(hub_repo_id, token=hub_token).records) == 8

    from huggingface_hub import DatasetCard

    card = DatasetCard.load(hub_repo_id, token=hub_token).text
    assert "| records (model × dataset results) | 8 |" in card
    assert "| left out of rankings | 2 records (scored with another probe than their method's) |" in card


def test_pushing_a_profiled_zoo_shows_one_upload_bar_not_one_per_artefact(hub, hub_token, hub_repo_id, tmp_path, capsys, monkeypatch):
    """A zoo of 200 profiled datasets filled stderr with 200 bars, one per 2 KB artefact, burying any warning."""
    import importlib

    bars = importlib.import_module("huggingface_hub.utils.tqdm")
    monkeypatch.setattr(bars, "HF_HUB_DISABLE_PROGRESS_BARS", None)  # as in a terminal; the test run turns bars off
    monkeypatch.setattr(bars, "progress_bar_states", {})
    zoo = small_zoo("bars")
    for i in range(6):
        zoo.put_artefact(f"datasets/clip/data--d{i}.npz", bytes(range(256)) * 8)
    zoo.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "push", tmp_path / "Z", "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0, err
    # 6 artefacts, zoo.json, 5 tables, the card and its heatmap: one bar, which ends full.
    assert "data--d" not in err, err
    assert {line.split(":")[0] for line in err.replace("\r", "\n").split("\n") if line} == {"Uploading 14 files"}, err
    assert "14/14" in err
    assert len(Zoo.pull(hub_repo_id, token=hub_token).artefact_names("datasets/")) == 6
    monkeypatch.setattr(bars, "HF_HUB_DISABLE_PROGRESS_BARS", True)  # the user's setting still turns it off
    zoo.put_artefact("datasets/clip/data--d6.npz", bytes(range(256)) * 8)
    zoo.save(tmp_path / "Z")
    code, out, err = run_cli(capsys, "zoo", "push", tmp_path / "Z", "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0 and "Uploading" not in err and "data--d" not in err, err
