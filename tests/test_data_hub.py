"""Hub datasets are streamed: a sample reads a few row groups (or files), never the whole dataset."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import HfApi

from fixtures.data import isolated_cache, messy_folder, parquet_dataset, tiny_clip_dir  # noqa: F401
from hubselect.cli import main
from hubselect.data.sample import load_dataset_sample
from hubselect.errors import HubError, InputError


def _upload(folder, repo_id: str, token: str, repo_type: str = "dataset") -> str:
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
    return api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type=repo_type).oid


def _dataset_bytes(hub, repo_id: str) -> tuple[int, int]:
    """(response bytes of data-file downloads, number of such requests) in the request log."""
    entries = [e for e in hub.request_log if e.method == "GET" and f"/datasets/{repo_id}/resolve/" in e.path]
    return sum(e.bytes_sent for e in entries), len(entries)


def test_a_64_image_sample_streams_a_fraction_of_the_parquet_shards(hub, hub_token, hub_repo_id, isolated_cache):
    folder = parquet_dataset(n=1024, shards=8, row_group_size=16)
    sha = _upload(folder, hub_repo_id, hub_token)
    size = sum(p.stat().st_size for p in (folder / "data").glob("*.parquet"))
    hub.clear_log()

    sample = load_dataset_sample(hub_repo_id, n=64, seed=0, progress=False)

    assert len(sample) == 64 and sample.skipped == []
    assert sample.revision == sha
    assert sample.total == 1024
    assert (sample.image_column, sample.caption_column) == ("image", "text")
    assert all(c for c in sample.captions)
    fetched, requests = _dataset_bytes(hub, hub_repo_id)
    ratio = fetched / size
    print(f"\nstreamed {fetched:,} of {size:,} bytes ({ratio:.1%}) in {requests} range requests for a 64-image sample of 1024")
    assert ratio < 0.15, f"fetched {ratio:.0%} of the dataset for 6% of its rows"
    # The sample spreads over shards: one row group from each of 4 of the 8 shards.
    assert sample.details["read_row_groups"] == 4 and sample.details["opened_shards"] == 4
    # Every data request was a range request: the shards were never downloaded whole.
    assert all(e.headers.get("range") for e in hub.request_log if f"/datasets/{hub_repo_id}/resolve/" in e.path and e.method == "GET")


def test_the_same_seed_gives_the_same_sample_and_another_seed_another(hub, hub_token, hub_repo_id):
    _upload(parquet_dataset(), hub_repo_id, hub_token)
    first = load_dataset_sample(hub_repo_id, n=20, seed=1, progress=False)
    again = load_dataset_sample(hub_repo_id, n=20, seed=1, progress=False)
    other = load_dataset_sample(hub_repo_id, n=20, seed=2, progress=False)
    assert first.sources == again.sources
    assert first.sources != other.sources


def test_split_and_revision_are_honoured(hub, hub_token, hub_repo_id, tmp_path):
    from hubselect.testing.tiny import write_parquet_shards

    write_parquet_shards(tmp_path, 24, shards=1, row_group_size=8, style="cool", seed=5, split="test")
    first = _upload(parquet_dataset(), hub_repo_id, hub_token)
    second = _upload(tmp_path, hub_repo_id, hub_token)

    test = load_dataset_sample(hub_repo_id, n=10, split="test", progress=False)
    assert test.total == 24 and test.revision == second
    pinned = load_dataset_sample(f"{hub_repo_id}@{first}", n=10, progress=False)
    assert pinned.revision == first and pinned.total == 256
    with pytest.raises(InputError, match="split 'validation'.*found: test, train"):
        load_dataset_sample(hub_repo_id, n=10, split="validation", progress=False)


def test_configs_and_row_counts_come_from_the_card(hub, hub_token, hub_repo_id, tmp_path):
    from hubselect.testing.tiny import write_parquet_shards

    for config, style in (("cats", "warm"), ("dogs", "cool")):
        write_parquet_shards(tmp_path / "staging" / config, 48, shards=3, row_group_size=16, style=style, seed=1)
        (tmp_path / "staging" / config / "data").rename(tmp_path / config)
    (tmp_path / "README.md").write_text(
        "---\n"
        "configs:\n"
        "- config_name: cats\n  data_files:\n  - split: train\n    path: cats/*.parquet\n"
        "- config_name: dogs\n  default: true\n  data_files:\n  - split: train\n    path: dogs/*.parquet\n"
        "dataset_info:\n"
        "- config_name: cats\n  splits:\n  - name: train\n    num_examples: 48\n"
        "---\n# pets\n"
    )
    import shutil

    shutil.rmtree(tmp_path / "staging")
    _upload(tmp_path, hub_repo_id, hub_token)

    cats = load_dataset_sample(f"{hub_repo_id}:cats", n=10, progress=False)
    assert cats.total == 48 and cats.dataset == f"{hub_repo_id}:cats"
    assert cats.details["opened_shards"] == 1  # the card's row count spares the other footers
    assert all(source.startswith("cats/") for source in cats.sources)
    dogs = load_dataset_sample(hub_repo_id, n=10, progress=False)  # the card's default config
    assert all(source.startswith("dogs/") for source in dogs.sources)
    with pytest.raises(InputError, match="no config 'birds'; choose one of: cats, dogs"):
        load_dataset_sample(f"{hub_repo_id}:birds", n=10, progress=False)


def test_a_repo_without_configs_in_its_card_has_one_config_default_as_in_datasets(hub, hub_token, hub_repo_id, tmp_path, capsys):
    import datasets

    _upload(parquet_dataset(), hub_repo_id, hub_token)  # data/train-0000i-of-00004.parquet, no README
    assert datasets.get_dataset_config_names(hub_repo_id) == ["default"]
    named = load_dataset_sample(f"{hub_repo_id}:default", n=10, seed=0, progress=False)
    assert named.total == 256 and named.sources == load_dataset_sample(hub_repo_id, n=10, seed=0, progress=False).sources
    with pytest.raises(InputError, match=f"dataset {hub_repo_id} has no config 'nope' \\(its card declares none\\); choose one of: default$"):
        load_dataset_sample(f"{hub_repo_id}:nope", n=10, progress=False)
    # The same for the commands that share the code: one line, exit 2.
    similar = ["dataset", "similar", f"{hub_repo_id}:nope", "--zoo", "demo"]
    profile = ["dataset", "profile", f"{hub_repo_id}:nope", "--zoo", str(tmp_path / "zoo"), "--probe", str(tiny_clip_dir())]
    for command in (similar, profile):
        code = main(command)
        out, err = capsys.readouterr()
        assert code == 2 and err.count("\n") == 1 and "has no config 'nope'" in err, err


def test_folders_of_a_repo_without_configs_are_not_configs(hub, hub_token, hub_repo_id, tmp_path):
    """As in `datasets`: without the card's `configs:`, folders are parts of the one config."""
    from hubselect.testing.tiny import write_parquet_shards

    for folder, style in (("cats", "warm"), ("dogs", "cool")):
        write_parquet_shards(tmp_path / folder, 24, shards=1, row_group_size=8, style=style, seed=1)
    _upload(tmp_path, hub_repo_id, hub_token)
    assert load_dataset_sample(f"{hub_repo_id}:default", n=10, progress=False).total == 48
    with pytest.raises(InputError, match="has no config 'cats' .*choose one of: default"):
        load_dataset_sample(f"{hub_repo_id}:cats", n=10, progress=False)


def test_a_missing_split_lists_the_splits_of_the_chosen_config(hub, hub_token, hub_repo_id, tmp_path):
    from hubselect.testing.tiny import write_parquet_shards

    write_parquet_shards(tmp_path / "cats", 16, shards=1, row_group_size=8, seed=1)
    write_parquet_shards(tmp_path / "dogs", 16, shards=1, row_group_size=8, seed=2, split="test")
    (tmp_path / "README.md").write_text(
        "---\n"
        "configs:\n"
        "- config_name: cats\n  data_files:\n  - split: train\n    path: cats/data/*.parquet\n"
        "- config_name: dogs\n  data_files:\n  - split: test\n    path: dogs/data/*.parquet\n"
        "---\n# pets\n"
    )
    _upload(tmp_path, hub_repo_id, hub_token)
    with pytest.raises(InputError, match=r"config 'dogs' has no parquet or image files for split 'train' .*\(found: test\) or a config"):
        load_dataset_sample(f"{hub_repo_id}:dogs", n=10, progress=False)
    assert load_dataset_sample(f"{hub_repo_id}:dogs", n=10, split="test", progress=False).total == 16


def test_an_imagefolder_repo_downloads_only_the_sampled_files(hub, hub_token, hub_repo_id):
    folder = messy_folder()  # 40 files, 3 of them broken
    _upload(folder, hub_repo_id, hub_token)
    hub.clear_log()
    sample = load_dataset_sample(hub_repo_id, n=10, seed=0, progress=False)
    assert len(sample) == 10
    assert sample.caption_column == "text" and all(sample.captions)
    downloads = {e.path.rsplit("/", 1)[-1] for e in hub.request_log if e.method == "GET" and "/resolve/" in e.path}
    # The sampled files, the skipped ones met on the way, and the captions; nothing else.
    assert downloads <= set(sample.sources) | {s.source for s in sample.skipped} | {"metadata.jsonl"}
    assert len(downloads) <= 10 + 3 + 1


def test_broken_metadata_in_a_hub_imagefolder_names_the_repo_file_and_line(hub, hub_token, hub_repo_id, tmp_path):
    """Not the temporary copy it was read from (gone when the user reads the message)."""
    from hubselect.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / "d", 10, style="cool", captions=False)
    names = sorted(p.name for p in folder.iterdir())
    (folder / "part").mkdir()
    lines = [json.dumps({"file_name": name, "text": f"caption {i}"}) for i, name in enumerate(names)]
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "part" / "metadata.jsonl").write_text("\n".join(lines[:3] + ['{"file_name": "x.png", "text": "it\'s "broken"}']) + "\n")
    (folder / "part" / "x.png").write_bytes((folder / names[0]).read_bytes())
    _upload(folder, hub_repo_id, hub_token)
    with pytest.raises(InputError) as error:
        load_dataset_sample(hub_repo_id, n=10, min_images=2, progress=False)
    assert str(error.value) == (f"hf://datasets/{hub_repo_id}/part/metadata.jsonl, line 4: not valid JSON "
                                "(Expecting ',' delimiter at column 39); fix the line or remove the file")


def test_a_missing_dataset_is_a_one_line_hub_error(hub):
    with pytest.raises(HubError, match="not found"):
        load_dataset_sample("tester/no-such-dataset", n=8, progress=False)


def test_profile_a_hub_dataset_with_a_probe_served_by_the_hub(hub, hub_token, hub_repo_id, tmp_path, capsys, isolated_cache):
    probe_repo = hub_repo_id + "-clip"
    _upload(tiny_clip_dir(), probe_repo, hub_token, repo_type="model")
    sha = _upload(parquet_dataset(), hub_repo_id, hub_token)
    code = main(["dataset", "profile", hub_repo_id, "--zoo", str(tmp_path / "zoo"), "--n", "32", "--probe", probe_repo, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["revision"] == sha and result["images"] == 32 and result["probe"] == probe_repo
    assert len(result["probe_revision"]) == 40
    # The zoo remembers the probe: `similar` needs no --probe.
    code = main(["dataset", "similar", hub_repo_id, "--zoo", str(tmp_path / "zoo"), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out) == []  # the only dataset of the zoo is the query itself


def test_a_card_edit_does_not_profile_a_hub_dataset_again(hub, hub_token, hub_repo_id, tmp_path, capsys, isolated_cache):
    """A README-only commit re-profiled the dataset (footers and row groups fetched again, the
    probe run again) for the same sample. Its data files are the same: the profile stands, and
    names the new commit, so that the next run costs what a run with nothing to do always cost."""
    from hubselect.data.profile import zoo_profiles
    from hubselect.testing.tiny import write_parquet_shards
    from hubselect.zoo import Zoo

    folder = tmp_path / "data"
    write_parquet_shards(folder, 64, shards=2, row_group_size=16, style="warm", seed=3, size=(64, 64))
    profiled_at = _upload(folder, hub_repo_id, hub_token)
    zoo = tmp_path / "zoo"
    args = ["dataset", "profile", hub_repo_id, "--zoo", str(zoo), "--n", "16", "--probe", str(tiny_clip_dir())]

    def profile(*extra) -> tuple[str, list[str]]:
        hub.clear_log()
        code = main([*args, *extra])
        out, err = capsys.readouterr()
        assert code == 0, err
        return out, [f"{e.method} {e.path}" for e in hub.request_log]

    assert json.loads(profile("--format", "json")[0])["status"] == "added"
    result, nothing_to_do = profile("--format", "json")
    assert json.loads(result)["moved_from"] is None

    edited = HfApi(token=hub_token).upload_file(repo_id=hub_repo_id, repo_type="dataset", path_in_repo="README.md",
                                                path_or_fileobj=b"---\nlicense: mit\n---\n# Warm images\n").oid
    out, requests = profile()
    assert out == (f"{hub_repo_id} @ {edited[:12]} is already in {zoo} with this sample and probe local:tiny-clip (its data files are "
                   f"those profiled at {profiled_at[:12]}: the profile now names {edited[:12]}); nothing to do (--force profiles it again)\n")
    assert not [r for r in requests if ".parquet" in r], requests  # no footer, no row group
    stored = Zoo.load(zoo)
    (entry,) = zoo_profiles(stored)
    assert entry.provenance["revision"] == edited and list(stored.datasets["revision"]) == [edited]
    assert entry.provenance["content"].startswith("files-")
    result, requests = profile("--format", "json")
    assert (json.loads(result)["status"], json.loads(result)["moved_from"]) == ("unchanged", None) and requests == nothing_to_do

    # Other data files are another dataset revision: profiled again.
    write_parquet_shards(folder, 64, shards=2, row_group_size=16, style="cool", seed=5, size=(64, 64))
    changed = _upload(folder, hub_repo_id, hub_token)
    result = json.loads(profile("--format", "json")[0])
    assert (result["status"], result["revision"], result["computed"]) == ("updated", changed, True)
    (after,) = zoo_profiles(Zoo.load(zoo))
    assert after.provenance["revision"] == changed and after.provenance["content"] != entry.provenance["content"]
