"""The loopback Hub, driven by the real huggingface_hub and datasets clients (no mocks)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    HfApi,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors.numpy import save_file

from hubselect.testing import LoopbackHub

CARD = """---
license: openrail
library_name: diffusers
pipeline_tag: text-to-image
tags: [stable-diffusion, lora]
base_model: org/base-model
---
# A tiny model
"""


def _write_model_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(CARD)
    (folder / "notes.txt").write_text("plain text, uploaded as a regular git blob\n")
    (folder / "unet").mkdir()
    tensors = {"unet.weight": np.ones((4, 8), dtype=np.float32), "unet.bias": np.zeros((8,), dtype=np.float16)}
    save_file(tensors, folder / "unet" / "model.safetensors")
    pq.write_table(pa.table({"prompt": ["a cat", "a dog"], "score": [1.0, 2.0]}), folder / "eval.parquet")
    return folder


def _paths(log, method: str, fragment: str) -> list[str]:
    return [e.path for e in log if e.method == method and fragment in e.path]


def test_upload_folder_then_download_identical_bytes_and_from_cache(hub, hub_token, hub_repo_id, tmp_path):
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    folder = _write_model_folder(tmp_path / "model")

    with pytest.warns(UserWarning, match="data file"):  # the client warns about parquet in a model repo
        commit = api.upload_folder(folder_path=folder, repo_id=hub_repo_id, commit_message="add model")
    assert len(commit.oid) == 40

    # The safetensors and parquet files went through LFS (batch + signed PUT), the text file did not.
    log = hub.request_log
    assert len(_paths(log, "PUT", "/lfs-upload/")) == 2
    info = api.model_info(hub_repo_id, files_metadata=True)
    lfs = {s.rfilename for s in info.siblings if s.lfs is not None}
    assert lfs == {"unet/model.safetensors", "eval.parquet"}
    assert info.sha == commit.oid
    assert info.library_name == "diffusers" and info.pipeline_tag == "text-to-image"
    assert {"lora", "license:openrail", "base_model:org/base-model", "safetensors"} <= set(info.tags)
    assert info.card_data.license == "openrail"

    local = Path(snapshot_download(hub_repo_id))
    for path in folder.rglob("*"):
        if path.is_file():
            assert (local / path.relative_to(folder)).read_bytes() == path.read_bytes()
    assert (local / ".gitattributes").exists()  # the Hub's initial commit

    # A second download is served from the cache without any request.
    hub.clear_log()
    cached = hf_hub_download(hub_repo_id, "unet/model.safetensors", local_files_only=True)
    assert Path(cached).read_bytes() == (folder / "unet" / "model.safetensors").read_bytes()
    assert hub.request_log == []


def test_list_models_filters_sorts_and_paginates(hub, hub_token, hub_repo_id):
    api = HfApi(token=hub_token)
    owner = "lister"
    token = f"hf_{owner}"
    names = []
    for i in range(5):
        repo_id = f"{owner}/{hub_repo_id.split('/')[1]}-{i}"
        HfApi(token=token).create_repo(repo_id)
        tags = "[text-to-image-ish]" if i % 2 == 0 else "[other]"
        HfApi(token=token).upload_file(
            path_or_fileobj=f"---\nlibrary_name: diffusers\ntags: {tags}\n---\n".encode(),
            path_in_repo="README.md",
            repo_id=repo_id,
        )
        hub.set_stats(repo_id, downloads=10 * i, likes=5 - i)
        names.append(repo_id)

    hub.page_size = 2
    hub.clear_log()
    listed = [m.id for m in api.list_models(author=owner)]
    assert listed == names  # creation order by default
    assert len(_paths(hub.request_log, "GET", "/api/models?")) == 3  # 2 + 2 + 1, following Link headers

    hub.clear_log()
    top = list(api.list_models(author=owner, sort="downloads", limit=3))
    assert [m.id for m in top] == names[::-1][:3]
    assert [m.downloads for m in top] == [40, 30, 20]
    assert len(_paths(hub.request_log, "GET", "/api/models?")) == 2  # stops once it has 3

    even = [m.id for m in api.list_models(author=owner, filter=["text-to-image-ish", "diffusers"])]
    assert even == [names[0], names[2], names[4]]
    assert [m.id for m in api.list_models(author=owner, search=names[3].split("/")[1])] == [names[3]]

    # `expand` returns exactly the asked properties (plus the ids), like the Hub.
    (model,) = api.list_models(author=owner, search=names[1].split("/")[1], expand=["likes", "sha"])
    assert model.likes == 4 and len(model.sha) == 40
    assert model.downloads is None and model.tags is None


def test_model_info_expand_and_safetensors_parameter_count(hub, hub_token, hub_repo_id, tmp_path):
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    save_file(
        {"a": np.zeros((3, 5), dtype=np.float32), "b": np.zeros((7,), dtype=np.int64)}, tmp_path / "m.safetensors"
    )
    api.upload_file(path_or_fileobj=tmp_path / "m.safetensors", path_in_repo="model.safetensors", repo_id=hub_repo_id)

    info = api.model_info(hub_repo_id, expand=["safetensors", "downloads"])
    assert info.safetensors.total == 22 and info.downloads == 0
    assert info.siblings is None and info.tags is None

    metadata = api.get_safetensors_metadata(hub_repo_id)
    assert metadata.parameter_count == {"F32": 15, "I64": 7}
    ranges = [e.headers.get("range") for e in hub.request_log if e.status == 206]
    assert ranges == ["bytes=0-100000"]


def test_client_raises_its_real_exceptions(hub, hub_token, hub_repo_id):
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    api.upload_file(path_or_fileobj=b"weights", path_in_repo="model.bin", repo_id=hub_repo_id)

    with pytest.raises(RepositoryNotFoundError):
        api.model_info("tester/does-not-exist")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(hub_repo_id, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(hub_repo_id, "missing.bin", token=hub_token)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(hub_repo_id, "model.bin", revision="v9", token=hub_token)

    # Private: invisible to others, as if it did not exist.
    api.update_repo_settings(hub_repo_id, private=True)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token="hf_stranger").model_info(hub_repo_id)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(hub_repo_id, "model.bin", token=False)
    api.update_repo_settings(hub_repo_id, private=False)

    # Gated: metadata stays visible, files need access.
    hub.set_gated(hub_repo_id)
    assert HfApi(token=False).model_info(hub_repo_id).gated == "auto"
    with pytest.raises(GatedRepoError):
        hf_hub_download(hub_repo_id, "model.bin", token=False)
    with pytest.raises(GatedRepoError):
        hf_hub_download(hub_repo_id, "model.bin", token="hf_stranger")
    assert Path(hf_hub_download(hub_repo_id, "model.bin", token=hub_token)).read_bytes() == b"weights"
    hub.grant_access(hub_repo_id, "stranger")
    assert Path(hf_hub_download(hub_repo_id, "model.bin", token="hf_stranger", force_download=True)).exists()

    # Writes need a token, and rights on the namespace.
    with pytest.raises(HfHubHTTPError) as unauthenticated:
        HfApi(token=False).create_repo("tester/anonymous")
    assert unauthenticated.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as forbidden:
        HfApi(token="hf_stranger").upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=hub_repo_id)
    assert forbidden.value.response.status_code == 403


def test_parent_commit_conflict_is_a_412(hub, hub_token, hub_repo_id):
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    old = api.upload_file(path_or_fileobj=b"v1", path_in_repo="a.txt", repo_id=hub_repo_id).oid
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="a.txt", repo_id=hub_repo_id)

    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_commit(
            hub_repo_id,
            [CommitOperationAdd("b.txt", b"late")],
            commit_message="based on an old head",
            parent_commit=old,
        )
    assert conflict.value.response.status_code == 412
    assert "A commit has happened since" in str(conflict.value)

    head = api.model_info(hub_repo_id).sha
    api.create_commit(hub_repo_id, [CommitOperationAdd("b.txt", b"now")], commit_message="retry", parent_commit=head)
    commits = api.list_repo_commits(hub_repo_id)
    assert [c.title for c in commits][:2] == ["retry", "Upload a.txt with huggingface_hub"]
    assert commits[-1].title == "initial commit"


def test_create_pr_is_readable_at_its_ref(hub, hub_token, hub_repo_id):
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    api.upload_file(path_or_fileobj=b"main", path_in_repo="a.txt", repo_id=hub_repo_id)

    # Anyone who can read may open a pull request.
    pr = HfApi(token="hf_contributor").create_commit(
        hub_repo_id, [CommitOperationAdd("a.txt", b"proposed")], commit_message="propose", create_pr=True
    )
    assert pr.pr_revision == "refs/pr/1" and pr.pr_num == 1
    assert Path(hf_hub_download(hub_repo_id, "a.txt", revision="refs/pr/1")).read_bytes() == b"proposed"
    assert Path(hf_hub_download(hub_repo_id, "a.txt")).read_bytes() == b"main"
    assert api.model_info(hub_repo_id, revision="refs/pr/1").sha == pr.oid
    refs = api.list_repo_refs(hub_repo_id, include_pull_requests=True)
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [("refs/pr/1", pr.oid)]


def test_429_burst_is_retried_by_the_client(hub, hub_token, hub_repo_id):
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    fault = hub.inject_fault(r"/preupload/", "429", times=2, retry_after=0)

    started = time.monotonic()
    api.upload_file(path_or_fileobj=b"data", path_in_repo="a.txt", repo_id=hub_repo_id)
    assert time.monotonic() - started >= 2  # the client waits Retry-After + 1 s between tries

    statuses = [e.status for e in hub.request_log if "/preupload/" in e.path]
    assert statuses == [429, 429, 200]
    assert fault.hits == 2 and fault.remaining == 0
    assert api.file_exists(hub_repo_id, "a.txt")


def test_500_and_delay_faults(hub, hub_token, hub_repo_id):
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    hub.inject_fault(rf"/api/models/{hub_repo_id}$", "500", method="GET")
    with pytest.raises(HfHubHTTPError) as error:  # model_info is not retried by the client
        api.model_info(hub_repo_id)
    assert error.value.response.status_code == 500

    hub.inject_fault(rf"/api/models/{hub_repo_id}$", "delay", delay=0.3)
    assert api.model_info(hub_repo_id).id == hub_repo_id
    assert hub.request_log[-1].duration >= 0.3


def test_invalid_card_metadata_is_rejected(hub, hub_token, hub_repo_id):
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id, repo_type="dataset")
    bad = b"---\nconfigs:\n- data_files: data/*.parquet\n---\n"
    with pytest.raises(ValueError, match="config_name"):
        api.upload_file(path_or_fileobj=bad, path_in_repo="README.md", repo_id=hub_repo_id, repo_type="dataset")
    with pytest.raises(ValueError, match="Invalid metadata"):
        api.upload_file(path_or_fileobj=b"---\nkey: [unclosed\n---\n", path_in_repo="README.md", repo_id=hub_repo_id)


def test_streaming_a_dataset_repo_reads_parquet_shards_with_ranges(hub, hub_token, hub_repo_id, tmp_path):
    import datasets

    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id, repo_type="dataset")
    folder = tmp_path / "ds" / "data"
    folder.mkdir(parents=True)
    for shard in range(2):
        table = pa.table({"idx": list(range(shard * 10, shard * 10 + 10)), "text": [f"row {i}" for i in range(10)]})
        pq.write_table(table, folder / f"train-0000{shard}-of-00002.parquet")
    api.upload_folder(folder_path=tmp_path / "ds", repo_id=hub_repo_id, repo_type="dataset")

    hub.clear_log()
    stream = datasets.load_dataset(hub_repo_id, split="train", streaming=True)
    rows = list(stream)
    assert sorted(r["idx"] for r in rows) == list(range(20))
    ranged = [e for e in hub.request_log if e.status == 206 and "/resolve/" in e.path]
    assert {e.path.rsplit("/", 1)[1] for e in ranged} == {
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    }
    assert all(e.headers.get("range", "").startswith("bytes=") for e in ranged)


def test_restarted_server_serves_the_same_repos(tmp_path):
    root = tmp_path / "root"
    with LoopbackHub(root) as first:
        api = HfApi(endpoint=first.url, token="hf_alice")
        api.create_repo("alice/kept", repo_type="dataset")
        sha = api.upload_file(
            path_or_fileobj=b"persisted", path_in_repo="f.txt", repo_id="alice/kept", repo_type="dataset"
        ).oid
    with LoopbackHub(root) as second:
        api = HfApi(endpoint=second.url, token="hf_alice")
        assert api.dataset_info("alice/kept").sha == sha
        path = hf_hub_download(
            "alice/kept", "f.txt", repo_type="dataset", endpoint=second.url, cache_dir=tmp_path / "cache"
        )
        assert Path(path).read_bytes() == b"persisted"


def test_cli_server_answers_whoami(tmp_path):
    port_file = tmp_path / "stderr"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(port_file, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "hubselect.testing.hub", "--port", "0", "--root", str(tmp_path / "root")],
            stderr=stderr,
            env=env,
        )
    try:
        deadline = time.monotonic() + 20
        while "listening on" not in port_file.read_text():
            assert process.poll() is None, port_file.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        line = port_file.read_text().strip().splitlines()[-1]
        url = line.split("listening on ")[1].split()[0]
        assert line == f"loopback hub listening on {url} (root {tmp_path / 'root'})"
        assert HfApi(endpoint=url).whoami(token="hf_cli_user")["name"] == "cli"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
