"""Hub datasets are streamed: a sample reads a few row groups (or files), never the whole dataset."""

from __future__ import annotations

import json
import logging

import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from fixtures.data import isolated_cache, messy_folder, parquet_dataset, tiny_clip_dir  # noqa: F401
from hubselect.cli import main
from hubselect.data.sample import load_dataset_sample
from hubselect.errors import HubError, InputError
from hubselect.hub.datasets import dataset_files


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
        "- config_name: dogs\n  splits:\n  - name: train\n    num_examples: 48\n"
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
    # Its row count too, though no config was named (what a sample reports as the split's size).
    assert dataset_files(hub_repo_id).num_rows == 48
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


@pytest.mark.filterwarnings("ignore:Warnings while validating metadata in README.md")  # the upload's, of the card this test needs
def test_a_card_without_a_metadata_block_is_read_without_a_warning(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """A README of prose only is an ordinary card: huggingface_hub's warning about it made every one-line error two lines."""
    _upload(parquet_dataset(), hub_repo_id, hub_token)
    HfApi(token=hub_token).upload_file(repo_id=hub_repo_id, repo_type="dataset", path_in_repo="README.md", path_or_fileobj=b"# Pets\n\nPhotos of pets.\n")
    code = main(["dataset", "profile", hub_repo_id, "--split", "test", "--zoo", str(tmp_path / "zoo"), "--probe", str(tiny_clip_dir())])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "choose a split with --split (found: train)" in err, err


def test_folders_of_a_repo_without_configs_are_not_configs(hub, hub_token, hub_repo_id, tmp_path):
    """As in `datasets`: without the card's `configs:`, folders are parts of the one config."""
    from hubselect.testing.tiny import write_parquet_shards

    for folder, style in (("cats", "warm"), ("dogs", "cool")):
        write_parquet_shards(tmp_path / folder, 24, shards=1, row_group_size=8, style=style, seed=1)
    _upload(tmp_path, hub_repo_id, hub_token)
    assert load_dataset_sample(f"{hub_repo_id}:default", n=10, progress=False).total == 48
    with pytest.raises(InputError, match="has no config 'cats' .*choose one of: default"):
        load_dataset_sample(f"{hub_repo_id}:cats", n=10, progress=False)


def test_card_data_files_globs_select_the_files_datasets_selects(hub, hub_token, hub_repo_id, tmp_path):
    """`*` and `?` stay within a folder, `**` is zero or more folders, `[...]` is a class: fsspec's glob, as in `datasets`."""
    import shutil

    import datasets

    from hubselect.testing.tiny import write_parquet_shards

    write_parquet_shards(tmp_path, 16, shards=1, row_group_size=8, style="warm", seed=1)  # data/train-00000-of-00001.parquet
    old = write_parquet_shards(tmp_path / "staging", 40, shards=1, row_group_size=8, style="cool", seed=2)[0]
    (tmp_path / "data" / "old").mkdir()
    shutil.move(old, tmp_path / "data" / "old" / "archive.parquet")
    shutil.rmtree(tmp_path / "staging")
    globs = {"flat": "data/*.parquet", "deep": "data/**/*.parquet", "classes": "data/train-0000[0-9]-of-0000?.parquet"}
    (tmp_path / "README.md").write_text(
        "---\nconfigs:\n"
        + "".join(f"- config_name: {name}\n  data_files:\n  - split: train\n    path: {glob}\n" for name, glob in globs.items())
        + "---\n"
    )
    _upload(tmp_path, hub_repo_id, hub_token)

    for config, rows in (("flat", 16), ("deep", 56), ("classes", 16)):
        # hf://datasets/{repo}@{sha}/{path}
        selected = {f.split("@", 1)[1].split("/", 1)[1] for f in datasets.load_dataset_builder(hub_repo_id, config).config.data_files["train"]}
        sample = load_dataset_sample(f"{hub_repo_id}:{config}", n=40, progress=False)
        assert sample.total == rows, config
        assert {source.split("[")[0] for source in sample.sources} == selected, config


def test_a_config_data_dir_is_the_config_folder_with_its_splits_found_inside(hub, hub_token, hub_repo_id, tmp_path):
    """`data_dir:` as in `datasets`: the config's files are under it, split by name there, and `data_files` are relative to it."""
    import datasets

    from hubselect.testing.tiny import write_parquet_shards

    write_parquet_shards(tmp_path / "warm", 24, shards=2, row_group_size=8, style="warm", seed=1)
    write_parquet_shards(tmp_path / "cool", 16, shards=1, row_group_size=8, style="cool", seed=2)
    write_parquet_shards(tmp_path / "cool", 8, shards=1, row_group_size=8, style="cool", seed=3, split="test")
    (tmp_path / "README.md").write_text(
        "---\nconfigs:\n- config_name: warm\n  data_dir: warm\n  default: true\n- config_name: cool\n  data_dir: cool\n"
        "- config_name: cooltest\n  data_dir: cool\n  data_files:\n  - split: train\n    path: data/test-*\n---\n"
    )
    _upload(tmp_path, hub_repo_id, hub_token)

    for config, split, rows in (("warm", "train", 24), ("cool", "train", 16), ("cool", "test", 8), ("cooltest", "train", 8)):
        selected = {f.split("@", 1)[1].split("/", 1)[1] for f in datasets.load_dataset_builder(hub_repo_id, config).config.data_files[split]}
        sample = load_dataset_sample(f"{hub_repo_id}:{config}", n=24, split=split, progress=False)
        assert sample.total == rows and {source.split("[")[0] for source in sample.sources} == selected, (config, split)
    assert load_dataset_sample(hub_repo_id, n=10, progress=False).sources[0].startswith("warm/")  # the default config
    with pytest.raises(InputError, match=r"config 'cool' has no parquet or image files for split 'validation' .*\(found: test, train\)"):
        load_dataset_sample(f"{hub_repo_id}:cool", n=10, split="validation", progress=False)


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


def test_several_configs_and_no_default_are_refused_as_datasets_refuses(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """Without a config named, the card's default is read, as `datasets` picks it (marked
    `default: true`, named `default`, or the only one); with several and no default (or several
    defaults) `datasets` refuses to guess, and so does hubselect, never sampling the first config
    under the repo's bare name."""
    import datasets

    from hubselect.testing.tiny import write_parquet_shards

    for config, style in (("cats", "warm"), ("dogs", "cool"), ("default", "mono")):
        write_parquet_shards(tmp_path / config, 16, shards=1, row_group_size=8, style=style, seed=1)

    def card(*configs: str) -> None:
        (tmp_path / "README.md").write_text("---\nconfigs:\n" + "".join(f"- config_name: {c}\n  data_dir: {c}\n" for c in configs) + "---\n")
        _upload(tmp_path, hub_repo_id, hub_token)

    card("cats", "dogs")
    with pytest.raises(ValueError, match="Config name is missing"):
        datasets.load_dataset_builder(hub_repo_id)
    with pytest.raises(InputError) as error:
        load_dataset_sample(hub_repo_id, n=10, progress=False)
    assert str(error.value) == (
        f"dataset {hub_repo_id}: its card has several configs (cats, dogs) and none is the default; "
        f"pick one as {hub_repo_id}:CONFIG, e.g. {hub_repo_id}:cats"
    )
    # The same for the commands: one line, exit 2, nothing written to the zoo.
    profile = ["dataset", "profile", hub_repo_id, "--zoo", str(tmp_path / "zoo"), "--probe", str(tiny_clip_dir())]
    for command in (["recommend", hub_repo_id, "--zoo", "demo"], ["dataset", "similar", hub_repo_id, "--zoo", "demo"], profile):
        code = main(command)
        out, err = capsys.readouterr()
        assert code == 2 and err.count("\n") == 1 and "pick one as" in err, err
    assert not (tmp_path / "zoo").exists()
    assert all(s.startswith("dogs/") for s in load_dataset_sample(f"{hub_repo_id}:dogs", n=10, progress=False).sources)

    card("cats", "default")  # a config named default is the default, as in datasets
    assert datasets.load_dataset_builder(hub_repo_id).config.name == "default"
    assert all(s.startswith("default/") for s in load_dataset_sample(hub_repo_id, n=10, progress=False).sources)

    (tmp_path / "README.md").write_text(
        "---\nconfigs:\n- config_name: cats\n  data_dir: cats\n  default: true\n- config_name: default\n  data_dir: default\n---\n"
    )
    _upload(tmp_path, hub_repo_id, hub_token)
    with pytest.raises(ValueError, match="several default configs"):
        datasets.load_dataset_builder(hub_repo_id)
    with pytest.raises(InputError, match=f"its card marks several configs default \\(cats, default\\); pick one as {hub_repo_id}:CONFIG"):
        load_dataset_sample(hub_repo_id, n=10, progress=False)


def _seed_conversion(hub, repo_id: str, token: str, tmp_path, config: str) -> None:
    """The Hub's parquet conversion of ``config``'s train split (12 rows), as the dataset viewer
    writes it: ``CONFIG/train/0000.parquet`` on the ``refs/convert/parquet`` ref."""
    from hubselect.testing.tiny import write_parquet_shards

    write_parquet_shards(tmp_path / "staging", 12, shards=1, row_group_size=4, seed=3)
    (tmp_path / "conversion" / config / "train").mkdir(parents=True)
    (tmp_path / "staging" / "data" / "train-00000-of-00001.parquet").rename(tmp_path / "conversion" / config / "train" / "0000.parquet")
    api = HfApi(token=token)
    api.create_branch(repo_id, branch="conversion", repo_type="dataset")
    api.upload_folder(repo_id=repo_id, folder_path=str(tmp_path / "conversion"), repo_type="dataset", revision="conversion")
    hub.set_ref(repo_id, "refs/convert/parquet", "conversion", repo_type="dataset")


def _webdataset(folder, shards: int = 2, per_shard: int = 4):
    """Webdataset shards (a jpg and a txt caption per sample) in ``folder``."""
    import io
    import tarfile

    import numpy as np

    from hubselect.testing.tiny import encode, style_caption, style_image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        with tarfile.open(folder / f"{shard:05d}.tar", "w") as tar:
            for i in range(per_shard):
                for ext, data in (("jpg", encode(style_image("warm", rng), "JPEG")), ("txt", style_caption("warm", rng).encode())):
                    info = tarfile.TarInfo(f"{shard * per_shard + i:06d}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def test_data_in_another_format_is_read_from_the_conversion_never_from_preview_images(hub, hub_token, hub_repo_id, tmp_path):
    """Webdataset shards and the card's example images: the shards are the data (through the Hub's parquet conversion)."""
    import numpy as np

    from hubselect.testing.tiny import encode, style_image

    _webdataset(tmp_path / "repo" / "shards")  # no split names: the whole repo is train, previews included
    (tmp_path / "repo" / "examples").mkdir()
    for i in range(8):  # more previews than shards
        (tmp_path / "repo" / "examples" / f"ex{i}.png").write_bytes(encode(style_image("cool", np.random.default_rng(i)), "PNG"))
    sha = _upload(tmp_path / "repo", hub_repo_id, hub_token)

    with pytest.raises(InputError) as error:
        load_dataset_sample(hub_repo_id, n=8, progress=False)
    assert str(error.value) == (
        f"dataset {hub_repo_id}: split 'train' is in .tar files (shards/00000.tar and 1 more) at {sha[:12]}, "
        "which hubselect does not read, and the Hub has no parquet conversion of it; "
        "push it as parquet (datasets' push_to_hub writes parquet shards) or as image files"
    )

    # Once the Hub has converted it, the conversion is read.
    _seed_conversion(hub, hub_repo_id, hub_token, tmp_path, "default")
    sample = load_dataset_sample(hub_repo_id, n=8, progress=False)
    assert sample.details["converted"] and sample.total == 12
    assert all(source.startswith("default/train/0000.parquet") for source in sample.sources)


def test_webdataset_of_the_cards_default_config_is_read_from_that_configs_conversion(hub, hub_token, hub_repo_id, tmp_path):
    """The card makes `cats` (over .tar shards) the default: the Hub converts it to `cats/train/`,
    and that is what is read without a config named, as `datasets` picks `cats`."""
    import datasets

    _webdataset(tmp_path / "repo" / "shards")
    (tmp_path / "repo" / "README.md").write_text(
        "---\nconfigs:\n- config_name: cats\n  default: true\n  data_files:\n  - split: train\n    path: shards/*.tar\n---\n"
    )
    sha = _upload(tmp_path / "repo", hub_repo_id, hub_token)
    with pytest.raises(InputError, match=f"dataset {hub_repo_id} config 'cats': split 'train' is in .tar files .* at {sha[:12]}"):
        load_dataset_sample(hub_repo_id, n=8, progress=False)

    _seed_conversion(hub, hub_repo_id, hub_token, tmp_path, "cats")

    assert datasets.load_dataset_builder(hub_repo_id).config.name == "cats"
    for name in (hub_repo_id, f"{hub_repo_id}:cats"):
        sample = load_dataset_sample(name, n=8, progress=False)
        assert sample.details["converted"] and sample.total == 12 and sample.revision == sha, name
        assert all(source.startswith("cats/train/0000.parquet") for source in sample.sources), name
    with pytest.raises(InputError, match=r"config 'cats' has no parquet or image files for split 'test' .*\(found: train\)"):
        load_dataset_sample(hub_repo_id, n=8, split="test", progress=False)


def test_the_images_of_an_imagefolder_with_a_metadata_csv_are_its_data(hub, hub_token, hub_repo_id, tmp_path, caplog):
    """metadata.csv describes the images; a table of captions under another name leaves the images
    the data (as datasets reads them: the most common file kind), and says how to name it."""
    from hubselect.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / "d", 10, style="cool", captions=False)
    rows = "".join(f"{p.name},a cool picture {i}\n" for i, p in enumerate(sorted(folder.iterdir())))
    (folder / "metadata.csv").write_text("file_name,caption\n" + rows)
    _upload(folder, hub_repo_id, hub_token)
    sample = load_dataset_sample(hub_repo_id, n=10, progress=False)
    assert len(sample) == 10 and sample.caption_column == "caption" and all(sample.captions)

    other = hub_repo_id + "-captions"
    (folder / "metadata.csv").rename(folder / "captions.csv")
    _upload(folder, other, hub_token)
    with caplog.at_level(logging.WARNING, logger="hubselect.hub.datasets"):
        sample = load_dataset_sample(other, n=10, progress=False)
    assert len(sample) == 10 and sample.caption_column is None
    assert "captions.csv not read (the images are the data); if captions.csv holds their captions, name it metadata.csv" in caplog.text

    # A zip of the images beside them (to download at once) leaves them the data too, as in datasets.
    import zipfile

    with zipfile.ZipFile(folder / "images.zip", "w") as archive:
        for image in sorted(folder.glob("*.png"))[:3]:
            archive.write(image, image.name)
    (folder / "captions.csv").unlink()
    zipped = hub_repo_id + "-zipped"
    _upload(folder, zipped, hub_token)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hubselect.hub.datasets"):
        assert len(load_dataset_sample(zipped, n=10, progress=False)) == 10
    assert "images.zip not read (the images are the data)\n" in caplog.text

    # A zip larger than the images beside it holds the data, the images are samples of it: never
    # profiled as the dataset (read from the Hub's parquet conversion; refused without one).
    data = write_image_folder(tmp_path / "data", 24, style="warm", captions=False)
    samples = tmp_path / "samples-repo"
    (samples / "samples").mkdir(parents=True)
    with zipfile.ZipFile(samples / "all.zip", "w") as archive:
        for image in sorted(data.glob("*.png")):
            archive.write(image, image.name)
    for image in sorted(data.glob("*.png"))[:9]:
        (samples / "samples" / image.name).write_bytes(image.read_bytes())
    _upload(samples, hub_repo_id + "-samples", hub_token)
    with pytest.raises(InputError, match=r"split 'train' is in \.zip files \(all\.zip\)"):
        load_dataset_sample(hub_repo_id + "-samples", n=10, min_images=2, progress=False)


def test_a_json_table_of_captions_beside_images_is_advised_into_a_metadata_file_that_reads(hub, hub_token, hub_repo_id, tmp_path, caplog):
    """captions.json beside images: the advice is one that works for JSON, metadata.jsonl with a
    file_name column (renamed metadata.csv, JSON does not parse as CSV); JSON Lines only needs the name."""
    from hubselect.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / "d", 10, style="cool", captions=False)
    captions = {p.name: f"a cool picture {i}" for i, p in enumerate(sorted(folder.iterdir()))}
    (folder / "captions.json").write_text(json.dumps(captions))
    _upload(folder, hub_repo_id, hub_token)
    with caplog.at_level(logging.WARNING, logger="hubselect.hub.datasets"):
        assert load_dataset_sample(hub_repo_id, n=10, progress=False).caption_column is None
    assert (
        "captions.json not read (the images are the data); if captions.json holds their captions, convert it to metadata.jsonl, "
        'one JSON object per line with a file_name column (e.g. {"file_name": "a.png", "text": "..."})'
    ) in caplog.text

    # Followed, the advice gives the images their captions.
    lines = "".join(json.dumps({"file_name": name, "text": text}) + "\n" for name, text in captions.items())
    (folder / "captions.json").unlink()
    (folder / "captions.jsonl").write_text(lines)
    other = hub_repo_id + "-lines"
    _upload(folder, other, hub_token)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hubselect.hub.datasets"):
        load_dataset_sample(other, n=10, progress=False)
    assert "if captions.jsonl holds their captions, name it metadata.jsonl" in caplog.text
    (folder / "captions.jsonl").rename(folder / "metadata.jsonl")
    _upload(folder, hub_repo_id + "-metadata", hub_token)
    sample = load_dataset_sample(hub_repo_id + "-metadata", n=10, progress=False)
    assert sample.caption_column == "text" and sorted(sample.captions) == sorted(captions.values())


def test_hidden_folders_of_a_hub_dataset_are_skipped_as_in_a_local_folder(hub, hub_token, hub_repo_id, tmp_path):
    """A notebook's `.ipynb_checkpoints/` (stale copies, stale metadata) is not part of the dataset, as `datasets` skips it."""
    import shutil

    from hubselect.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / "d", 10, style="cool")
    stale = folder / ".ipynb_checkpoints"
    stale.mkdir()
    for name in sorted(p.name for p in folder.glob("img_*"))[:3]:
        shutil.copy(folder / name, stale / name)
    (stale / "metadata.jsonl").write_text("".join(json.dumps({"file_name": p.name, "prompt": "stale"}) + "\n" for p in stale.glob("img_*")))
    _upload(folder, hub_repo_id, hub_token)
    hub.clear_log()

    sample = load_dataset_sample(hub_repo_id, n=20, min_images=2, progress=False)
    assert sample.total == 10 and len(sample) == 10
    assert not any(source.startswith(".") for source in sample.sources)
    assert not any("/.ipynb_checkpoints/" in e.path for e in hub.request_log)  # not even its metadata is read


def test_parquet_rows_naming_their_image_by_repo_path_are_read_and_links_are_refused(hub, hub_token, hub_repo_id, tmp_path):
    """A `datasets` Image of `{bytes: null, path}` or a string column of paths in the repo: only the sampled images are downloaded."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hubselect.testing.tiny import encode, style_caption, style_image

    rng = np.random.default_rng(0)
    for folder in ("images", "pictures"):  # one per config: images the first read are in the HF cache
        (tmp_path / folder).mkdir()
        for i in range(12):
            (tmp_path / folder / f"{i}.png").write_bytes(encode(style_image("warm", rng), "PNG"))
    captions = [style_caption("warm", rng) for _ in range(12)]
    features = {"image": {"_type": "Image"}, "text": {"dtype": "string", "_type": "Value"}}
    image_struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([pa.field("image", image_struct), pa.field("text", pa.string())], metadata={"huggingface": json.dumps({"info": {"features": features}})})
    pq.write_table(pa.Table.from_pylist([{"image": {"bytes": None, "path": f"images/{i}.png"}, "text": c} for i, c in enumerate(captions)], schema=schema),
                   tmp_path / "structs.parquet")
    pq.write_table(pa.table({"image": [f"pictures/{i}.png" for i in range(12)], "prompt": captions}), tmp_path / "strings.parquet")
    pq.write_table(pa.table({"url": [f"https://example.com/{i}.png" for i in range(12)], "caption": captions}), tmp_path / "links.parquet")
    (tmp_path / "README.md").write_text(
        "---\nconfigs:\n" + "".join(f"- config_name: {name}\n  data_files: {name}.parquet\n" for name in ("structs", "strings", "links")) + "---\n"
    )
    _upload(tmp_path, hub_repo_id, hub_token)

    for config, folder, caption_column in (("structs", "images", "text"), ("strings", "pictures", "prompt")):
        hub.clear_log()
        sample = load_dataset_sample(f"{hub_repo_id}:{config}", n=4, min_images=2, progress=False)
        assert len(sample) == 4 and sample.skipped == [] and (sample.image_column, sample.caption_column) == ("image", caption_column)
        assert all(sample.captions)
        # The sampled rows' images (of 12), and nothing else: sources are {file}[{row group}:{row}], one row group.
        downloads = {e.path.split(f"/{folder}/")[1] for e in hub.request_log if e.method == "GET" and f"/{folder}/" in e.path}
        assert downloads == {source.split(":")[1].rstrip("]") + ".png" for source in sample.sources}
    with pytest.raises(InputError, match=r":links: column 'url' holds links to images \(https://example.com/\d+.png\), not images; "
                                         r"hubselect reads the images stored in a dataset and does not download links"):
        load_dataset_sample(f"{hub_repo_id}:links", n=4, min_images=2, image_column="url", progress=False)


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


def test_a_hub_dataset_profiled_once_is_served_from_the_caches_offline(hub, hub_token, hub_repo_id, tmp_path, capsys, isolated_cache, monkeypatch):
    """With HF_HUB_OFFLINE=1, `dataset profile` (at main or at a pinned sha), `dataset similar` and
    `recommend` on a Hub dataset read the zoo and the caches, as zoos and probes do; what they
    lack is one line saying how to get it."""
    from huggingface_hub import constants

    from hubselect.demo import DEMO_PROBE_ID

    sha = _upload(parquet_dataset(), hub_repo_id, hub_token)
    zoo = str(tmp_path / "zoo")
    sample = ["--n", "16", "--format", "json"]
    profile = ["dataset", "profile", hub_repo_id, "--zoo", zoo, "--probe", DEMO_PROBE_ID, *sample]
    similar = ["dataset", "similar", hub_repo_id, "--zoo", "demo", *sample]
    recommend = ["recommend", hub_repo_id, "--zoo", "demo", *sample]
    online = {}
    for name, command in (("profile", profile), ("similar", similar), ("recommend", recommend)):
        code = main(command)
        out, err = capsys.readouterr()
        assert code == 0, err
        online[name] = json.loads(out)

    from huggingface_hub import scan_cache_dir

    # Which commit main is at, recorded as huggingface_hub records it (`hf cache ls` shows the ref).
    cached = next(repo for repo in scan_cache_dir().repos if repo.repo_id == hub_repo_id)
    assert [(revision.commit_hash, revision.refs) for revision in cached.revisions] == [(sha, {"main"})]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.clear_log()
    for command in (profile, [*profile[:2], f"{hub_repo_id}@{sha}", *profile[3:]]):
        code = main(command)
        out, err = capsys.readouterr()
        assert code == 0, err
        assert (json.loads(out)["status"], json.loads(out)["revision"]) == ("unchanged", sha)
    assert main(similar) == 0
    assert json.loads(capsys.readouterr().out) == online["similar"]
    assert main(recommend) == 0
    assert json.loads(capsys.readouterr().out)["recommendations"] == online["recommend"]["recommendations"]
    assert hub.request_log == []

    # Not cached: another sample of it, a dataset never asked about online.
    assert main([*profile[:-3], "17", "--format", "json"]) != 0
    err = capsys.readouterr().err
    assert "sampling it needs the Hub (HF_HUB_OFFLINE=1 is set): run once with network access" in err and err.count("\n") == 1
    assert main(["dataset", "profile", f"{hub_repo_id}-other", "--zoo", zoo, "--probe", DEMO_PROBE_ID, *sample]) != 0
    err = capsys.readouterr().err
    assert "which commit main is at is not in the local cache, and HF_HUB_OFFLINE=1 is set: run once with network access" in err
    assert err.count("\n") == 1


def test_offline_a_zoo_profile_of_another_commit_is_brought_to_main_from_the_cache(hub, hub_token, hub_repo_id, tmp_path, capsys, isolated_cache, monkeypatch):
    """With HF_HUB_OFFLINE=1, `dataset profile` of a dataset whose zoo profile names another
    commit than main asked the Hub what main's data files hold, and failed ("this needs the
    Hub"), where `recommend` answered from hubselect's cache: the cache's profile of main, of
    the same sample and probe, now takes the zoo's place, as the README promises."""
    from huggingface_hub import constants

    from hubselect.demo import DEMO_PROBE_ID

    profiled_at = _upload(parquet_dataset(), hub_repo_id, hub_token)
    main_at = HfApi(token=hub_token).upload_file(repo_id=hub_repo_id, repo_type="dataset", path_in_repo="README.md",
                                                 path_or_fileobj=b"---\nlicense: mit\n---\n").oid
    zoo = str(tmp_path / "zoo")
    sample = ["--n", "16", "--format", "json"]
    profile = ["dataset", "profile", hub_repo_id, "--zoo", zoo, "--probe", DEMO_PROBE_ID, *sample]
    assert main([*profile[:2], f"{hub_repo_id}@{profiled_at}", *profile[3:]]) == 0
    assert main(["recommend", hub_repo_id, "--zoo", "demo", *sample]) == 0  # caches main's profile, and which commit main is at
    capsys.readouterr()

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.clear_log()
    code = main(profile)
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert (result["revision"], result["computed"], result["replaced"]) == (main_at, False, {"revision": [profiled_at, main_at]})
    code = main(profile)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["status"] == "unchanged"
    assert hub.request_log == []


def test_similar_to_a_zoo_dataset_honours_another_split_by_profiling_it(hub, hub_token, hub_repo_id, tmp_path, capsys, isolated_cache):
    """`dataset similar ID --split train` of a dataset the zoo holds the test split of listed the
    test split's neighbours. It now profiles the train split (with the stored profile's other
    settings: --n 8), as for a dataset outside the zoo."""
    import shutil

    from hubselect.demo import DEMO_PROBE_ID, bundled_paths
    from hubselect.testing.tiny import write_parquet_shards

    write_parquet_shards(tmp_path / "test-split", 24, shards=1, row_group_size=8, style="mono", seed=5, split="test")
    _upload(parquet_dataset(), hub_repo_id, hub_token)
    _upload(tmp_path / "test-split", hub_repo_id, hub_token)
    zoo = shutil.copytree(bundled_paths().zoo, tmp_path / "zoo")
    assert main(["dataset", "profile", hub_repo_id, "--zoo", str(zoo), "--n", "8", "--split", "test", "--probe", DEMO_PROBE_ID]) == 0
    capsys.readouterr()

    def similar(zoo_ref, *extra) -> list:
        code = main(["dataset", "similar", hub_repo_id, "--zoo", str(zoo_ref), "--k", "3", "--format", "json", *extra])
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out)

    stored = similar(zoo)
    assert similar(zoo, "--split", "test", "--n", "8") == stored
    train = similar("demo", "--split", "train", "--n", "8")  # the train split's neighbours, from a zoo that does not hold it
    assert similar(zoo, "--split", "train") == train != stored


def test_profiling_another_split_says_what_it_replaces_and_never_the_split_of_the_results(hub, hub_token, hub_repo_id, tmp_path, capsys, isolated_cache):
    """A zoo keys a dataset by its name, not its split: a profile of another split replaces the
    stored one and says so, and one that would no longer match the zoo's fine-tuning results of
    the dataset (made on train) is refused, the stored profile kept; --name keeps both."""
    from hubselect.data.profile import zoo_profiles
    from hubselect.demo import DEMO_PROBE_ID
    from hubselect.testing.tiny import write_parquet_shards
    from hubselect.zoo import ProfileRecord, Zoo

    write_parquet_shards(tmp_path / "test-split", 24, shards=1, row_group_size=8, style="cool", seed=5, split="test")
    _upload(parquet_dataset(), hub_repo_id, hub_token)
    sha = _upload(tmp_path / "test-split", hub_repo_id, hub_token)
    zoo = tmp_path / "zoo"

    def profile(*extra: str) -> tuple[int, str, str]:
        code = main(["dataset", "profile", hub_repo_id, "--zoo", str(zoo), "--probe", DEMO_PROBE_ID, "--n", "8", *extra])
        out, err = capsys.readouterr()
        return code, out, err

    def stored_split(name: str = hub_repo_id) -> str:
        return next(e.provenance["spec"]["split"] for e in zoo_profiles(Zoo.load(zoo)) if e.dataset == name)

    assert profile()[0] == 0
    code, out, err = profile("--split", "test")
    assert code == 0, err
    assert f"Updated in {zoo} (replacing its profile of split train → test)" in out
    code, out, err = profile("--format", "json")
    assert code == 0, err
    assert (json.loads(out)["status"], json.loads(out)["replaced"]) == ("updated", {"split": ["test", "train"]})
    assert stored_split() == "train"

    # The zoo now holds a fine-tuning result of the dataset, made on train (as `hubselect profile` records it).
    with_result = Zoo.load(zoo)
    with_result.add_profiles([ProfileRecord("tester/sd-tiny", hub_repo_id, 30.0, "lora", "c0ffee", dataset_revision=sha,
                                            details={"split": "train", "dataset_ref": hub_repo_id})])
    with_result.save(zoo)
    code, out, err = profile("--split", "test")
    assert code != 0 and out == ""
    assert err == (
        f"Error: zoo {zoo} holds fine-tuning results of {hub_repo_id} made on split 'train', so its profile must be of that split: "
        f"pass --split train, or profile split 'test' as another dataset with --name (e.g. --name {hub_repo_id}-test), "
        f"or move {hub_repo_id} to split 'test' with --force, then redo its results there (hubselect profile ... --split test)\n"
    )
    assert stored_split() == "train" and len(Zoo.load(zoo).records) == 1
    code, out, err = profile("--split", "test", "--name", f"{hub_repo_id}-test", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["status"] == "added" and json.loads(out)["distances"][0]["dataset"] == hub_repo_id
    assert (stored_split(), stored_split(f"{hub_repo_id}-test")) == ("train", "test")


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


def test_new_images_that_parquet_rows_name_by_path_profile_the_dataset_again(hub, hub_token, hub_repo_id, tmp_path, capsys, isolated_cache):
    """Parquet rows that name their image by its path in the repo read those images: a commit
    that replaced every image and left the parquet alone kept the profile, relabelled to the new
    commit ("its data files are those profiled at ..."), and `profile` kept its fine-tuning
    results the same way: numbers of images the dataset no longer holds. A card edit still
    changes nothing."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hubselect.data.refs import DatasetRef
    from hubselect.data.sample import dataset_content
    from hubselect.testing.tiny import encode, style_image

    rng = np.random.default_rng(0)
    (tmp_path / "repo" / "images").mkdir(parents=True)
    (tmp_path / "repo" / "data").mkdir()
    for i in range(20):
        (tmp_path / "repo" / "images" / f"{i}.png").write_bytes(encode(style_image("warm", rng), "PNG"))
    features = {"image": {"_type": "Image"}}
    schema = pa.schema([pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))],
                       metadata={"huggingface": json.dumps({"info": {"features": features}})})
    pq.write_table(pa.Table.from_pylist([{"image": {"bytes": None, "path": f"images/{i}.png"}} for i in range(20)], schema=schema),
                   tmp_path / "repo" / "data" / "train-00000-of-00001.parquet")
    _upload(tmp_path / "repo", hub_repo_id, hub_token)
    zoo = tmp_path / "zoo"

    def profile() -> dict:
        code = main(["dataset", "profile", hub_repo_id, "--zoo", str(zoo), "--n", "10", "--probe", str(tiny_clip_dir()), "--format", "json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out)

    def content() -> str:  # what `profile` compares a fine-tuning result's dataset by
        return dataset_content(DatasetRef.parse(hub_repo_id))[1]

    assert profile()["status"] == "added"
    profiled = content()
    api = HfApi(token=hub_token)
    api.upload_file(repo_id=hub_repo_id, repo_type="dataset", path_in_repo="README.md", path_or_fileobj=b"---\nlicense: mit\n---\n")
    assert (profile()["status"], content()) == ("unchanged", profiled)

    replaced = api.create_commit(hub_repo_id, [CommitOperationAdd(f"images/{i}.png", encode(style_image("cool", rng), "PNG")) for i in range(20)],
                                 commit_message="other images", repo_type="dataset").oid
    result = profile()
    assert (result["status"], result["revision"], result["computed"]) == ("updated", replaced, True)
    assert content() != profiled


def test_a_cached_profile_of_a_hub_dataset_made_under_another_file_rule_is_not_reused(hub, hub_token, hub_repo_id, tmp_path, capsys, isolated_cache, monkeypatch):
    """Which files of a Hub dataset a sample reads changed (preview images beside webdataset
    shards or a zip were read as the data): a profile cached under the old rule would have been
    reused for any new zoo, at the same commit, as if of the dataset's data."""
    import hubselect.data.profile as data_profile

    _upload(parquet_dataset(), hub_repo_id, hub_token)

    def profile(zoo: str) -> dict:
        code = main(["dataset", "profile", hub_repo_id, "--zoo", str(tmp_path / zoo), "--n", "16", "--probe", str(tiny_clip_dir()), "--format", "json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out)

    monkeypatch.setattr(data_profile, "HUB_FILES_RULE", data_profile.HUB_FILES_RULE - 1)
    assert profile("old")["computed"] is True
    assert profile("again")["computed"] is False  # the embedding cache, under the same rule
    monkeypatch.undo()
    assert profile("new")["computed"] is True
