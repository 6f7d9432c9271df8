"""`hubselect dataset profile` and `hubselect dataset similar` on local folders (and a zoo on the Hub)."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from fixtures.bundles import write_bundle
from fixtures.data import isolated_cache, messy_folder, near_duplicate_folder, style_folder, tiny_clip, tiny_dino  # noqa: F401
from fixtures.paths import unwritable
from hubselect.cli import main
from hubselect.probes.transformers_probes import TransformersProbe
from hubselect.zoo import Zoo


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def profile(capsys, dataset, zoo, probe, *extra) -> dict:
    code, out, err = run(capsys, "dataset", "profile", dataset, "--zoo", zoo, "--probe", probe, "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def forward_calls(monkeypatch) -> list[int]:
    """Counts the images that went through a probe's forward pass."""
    calls: list[int] = []
    original = TransformersProbe.forward
    monkeypatch.setattr(TransformersProbe, "forward", lambda self, pixels: calls.append(len(pixels)) or original(self, pixels))
    return calls


@pytest.fixture
def profiled_zoo(tmp_path, capsys, tiny_clip, isolated_cache):
    """A zoo of four folders profiled with the tiny CLIP: the messy one, its near-duplicate, and two other styles."""
    zoo = tmp_path / "zoo"
    results = {}
    for folder in (messy_folder(), near_duplicate_folder(), style_folder("cool"), style_folder("mono")):
        results[folder.name] = profile(capsys, folder, zoo, tiny_clip)
    return zoo, results


def test_profile_reports_skipped_images_and_similar_ranks_the_near_duplicate_first(profiled_zoo, capsys, tiny_clip):
    zoo, results = profiled_zoo
    messy = results["warm-messy"]
    assert messy["status"] == "added" and messy["computed"] is True
    assert messy["images"] == 37 and messy["total_images"] == 40
    assert messy["skipped"] == {"corrupt": 2, "truncated": 1}
    assert len(messy["skipped_examples"]) == 3 and any("truncated" in e for e in messy["skipped_examples"])
    # The last dataset added got distances to the three profiled before it.
    assert len(results["mono-32-7"]["distances"]) == 3

    code, out, _ = run(capsys, "dataset", "similar", "warm-messy", "--zoo", zoo, "--probe", tiny_clip, "--k", "3", "--format", "json")
    assert code == 0
    ranked = json.loads(out)
    assert [r["dataset"] for r in ranked][0] == "warm-copy"
    assert set(ranked[0]) == {"dataset", "distance"}
    assert ranked[0]["distance"] < ranked[1]["distance"] / 5

    stored = Zoo.load(zoo)
    assert len(stored.distances) == 6  # every pair of the four datasets
    assert set(stored.datasets["dataset"]) == {"warm-messy", "warm-copy", "cool-32-7", "mono-32-7"}


def test_human_output_says_how_many_were_skipped_and_why(tmp_path, capsys, tiny_clip, isolated_cache):
    code, out, _ = run(capsys, "dataset", "profile", messy_folder(), "--zoo", tmp_path / "zoo", "--probe", tiny_clip)
    assert code == 0
    assert "37 images (3 skipped: 2 corrupt, 1 truncated)" in out
    assert "img_0001.png: truncated" in out


def test_profiling_again_recomputes_nothing(profiled_zoo, capsys, tiny_clip, forward_calls):
    zoo, _ = profiled_zoo
    before = {p.name: p.read_bytes() for p in zoo.rglob("*") if p.is_file()}
    again = profile(capsys, messy_folder(), zoo, tiny_clip)
    assert again["status"] == "unchanged" and again["computed"] is False
    assert forward_calls == []
    assert {p.name: p.read_bytes() for p in zoo.rglob("*") if p.is_file()} == before
    # A different sample is a new profile; --force recomputes even the cached embeddings.
    changed = profile(capsys, messy_folder(), zoo, tiny_clip, "--n", "20")
    assert changed["status"] == "updated" and changed["images"] == 20 and sum(forward_calls) == 20
    forced = profile(capsys, messy_folder(), zoo, tiny_clip, "--n", "20", "--force")
    assert forced["computed"] is True and sum(forward_calls) == 40


def test_a_new_zoo_reuses_cached_embeddings(profiled_zoo, tmp_path, capsys, tiny_clip, forward_calls):
    result = profile(capsys, messy_folder(), tmp_path / "other-zoo", tiny_clip)
    assert result["status"] == "added" and result["computed"] is False and forward_calls == []
    assert result["skipped"] == {"corrupt": 2, "truncated": 1}


def test_similar_profiles_an_outside_dataset_without_adding_it(profiled_zoo, capsys, tiny_clip, tmp_path):
    zoo, _ = profiled_zoo
    from hubselect.testing.tiny import write_image_folder

    outside = write_image_folder(tmp_path / "more-stripes", 24, style="cool", seed=11)
    code, out, err = run(capsys, "dataset", "similar", outside, "--zoo", zoo, "--probe", tiny_clip, "--k", "2")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert "cool-32-7" in rows[0] and len(rows) == 2
    assert "more-stripes" not in set(Zoo.load(zoo).datasets["dataset"])


def test_similar_shows_a_bar_while_it_compares_with_the_zoos_datasets(profiled_zoo, capsys, tiny_clip, monkeypatch):
    """The exact search can compare a dataset with every dataset of a zoo of one domain (seconds
    each on a CPU, minutes for hundreds): `dataset similar` and `recommend` were silent meanwhile."""
    import importlib

    zoo, _ = profiled_zoo
    bars = importlib.import_module("huggingface_hub.utils.tqdm")
    monkeypatch.setattr(bars, "HF_HUB_DISABLE_PROGRESS_BARS", None)  # as in a terminal; the test run turns bars off
    for output, shown in (("human", True), ("json", False)):
        bars.progress_bar_states.clear()
        code, _, err = run(capsys, "dataset", "similar", "warm-messy", "--zoo", zoo, "--probe", tiny_clip, "--k", "2", "--format", output)
        assert code == 0 and ("Comparing with 3 datasets" in err) == shown, err


def test_similar_lists_a_zoo_dataset_that_only_shares_the_folders_name(profiled_zoo, capsys, tiny_clip, tmp_path):
    """Folder names collide (`images`, `train`): a zoo dataset of the same name is left out only
    when it is the very dataset asked about, not when it is another one that happens to share it."""
    zoo, _ = profiled_zoo
    from hubselect.testing.tiny import write_image_folder

    namesake = write_image_folder(tmp_path / "mine" / "cool-32-7", 24, style="cool", seed=11)  # other images, same name
    code, out, err = run(capsys, "dataset", "similar", namesake, "--zoo", zoo, "--probe", tiny_clip, "--k", "2", "--format", "json")
    assert code == 0, err
    assert json.loads(out)[0]["dataset"] == "cool-32-7"  # the zoo's cool dataset is its nearest
    # The profiled folder itself is not its own neighbour, whatever the sample.
    for extra in ([], ["--n", "20"]):
        code, out, err = run(capsys, "dataset", "similar", style_folder("cool"), "--zoo", zoo, "--probe", tiny_clip, "--format", "json", *extra)
        assert code == 0, err
        assert "cool-32-7" not in {r["dataset"] for r in json.loads(out)}


def test_another_folder_of_the_same_name_is_refused_rather_than_replacing_its_profile(tmp_path, capsys, tiny_clip, isolated_cache):
    """Folder names collide (`pets/train`, `cars/train`): the second folder must not silently
    take the place of the first one's profile (and sit beside the first one's results)."""
    from hubselect.testing.tiny import write_image_folder

    pets = write_image_folder(tmp_path / "pets" / "train", 16, style="warm", seed=1)
    cars = write_image_folder(tmp_path / "cars" / "train", 16, style="cool", seed=2)
    zoo = tmp_path / "zoo"
    first = profile(capsys, pets, zoo, tiny_clip)
    code, out, err = run(capsys, "dataset", "profile", cars, "--zoo", zoo, "--probe", tiny_clip)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(pets) in err and "--name cars-train" in err
    assert list(Zoo.load(zoo).datasets["revision"]) == [first["revision"]]  # the pets profile is kept

    # Named apart, both are in the zoo; the same folder, grown, still updates its own profile.
    assert profile(capsys, cars, zoo, tiny_clip, "--name", "cars-train")["status"] == "added"
    write_image_folder(tmp_path / "more", 4, style="warm", seed=3)
    for extra in (tmp_path / "more").iterdir():
        extra.rename(pets / f"more-{extra.name}")
    assert profile(capsys, pets, zoo, tiny_clip)["status"] == "updated"
    # A folder that moved is profiled again from its new place with --force.
    moved = pets.rename(tmp_path / "pets-2024")
    assert run(capsys, "dataset", "profile", moved, "--zoo", zoo, "--probe", tiny_clip, "--name", "train", "--n", "10")[0] == 2
    forced = profile(capsys, moved, zoo, tiny_clip, "--name", "train", "--n", "10", "--force")
    assert forced["status"] == "updated" and forced["replaced"]["location"] == [str(tmp_path / "pets" / "train"), str(moved)]


def test_a_profile_made_before_locations_were_stored_is_replaced_by_another_folder(tmp_path, capsys, tiny_clip, isolated_cache):
    from hubselect.testing.tiny import write_image_folder

    zoo = tmp_path / "zoo"
    profile(capsys, write_image_folder(tmp_path / "pets" / "train", 16, style="warm", seed=1), zoo, tiny_clip)
    (stored,) = (zoo / "artefacts").rglob("*.json")
    older = json.loads(stored.read_text())
    older.pop("location", None)  # as an older hubselect wrote it
    stored.write_text(json.dumps(older))
    cars = write_image_folder(tmp_path / "cars" / "train", 16, style="cool", seed=2)
    assert profile(capsys, cars, zoo, tiny_clip)["status"] == "updated"


def test_an_upgrade_profiles_again_only_the_datasets_whose_big_jpegs_were_refused(tmp_path, capsys, tiny_clip, isolated_cache, forward_calls):
    """Decoding version 2 keeps JPEGs over the pixel limit (read at their draft scale). A profile
    or cached sample of version 1 holds the same images unless it refused one as a decompression
    bomb: the others are neither profiled nor embedded again (nor, offline, asked of the Hub)."""
    from dataclasses import replace

    from hubselect.data.profile import _cache_file, _cache_key
    from hubselect.data.refs import DatasetRef, SampleSpec
    from hubselect.data.sample import dataset_revision
    from hubselect.probes import resolve_probe

    zoo, folder = tmp_path / "zoo", style_folder("cool")
    made = profile(capsys, folder, zoo, tiny_clip)
    (stored,) = (zoo / "artefacts").rglob("*.json")
    older = json.loads(stored.read_text())
    older["spec"]["decode_version"] = 1
    stored.write_text(json.dumps(older))
    assert profile(capsys, folder, zoo, tiny_clip)["status"] == "unchanged"
    stored.write_text(json.dumps({**older, "skipped": {"decompression bomb": 1}}))
    assert profile(capsys, folder, zoo, tiny_clip)["status"] == "updated"

    # The embedding cache of version 1 (its key names the version) serves a new zoo.
    ref, probe, spec = DatasetRef.parse(str(folder)), resolve_probe(str(tiny_clip)), SampleSpec()
    key = _cache_key(ref, made["revision"], spec, probe)
    assert dataset_revision(ref) == made["revision"]
    _cache_file(key).rename(_cache_file(_cache_key(ref, made["revision"], replace(spec, decode_version=1), probe)))
    embedded = sum(forward_calls)
    assert profile(capsys, folder, tmp_path / "new-zoo", tiny_clip)["computed"] is False and sum(forward_calls) == embedded


def test_a_new_folder_shows_a_bar_while_its_files_are_hashed_and_none_in_json_mode(tmp_path, capsys, tiny_clip, isolated_cache, monkeypatch):
    """The first profile of a folder reads every byte of it to name its revision, even for --n 50:
    minutes of silence on a big folder before anything else was said."""
    import importlib

    from hubselect.testing.tiny import write_image_folder

    bars = importlib.import_module("huggingface_hub.utils.tqdm")
    monkeypatch.setattr(bars, "HF_HUB_DISABLE_PROGRESS_BARS", None)  # as in a terminal; the test run turns bars off
    monkeypatch.setattr(bars, "progress_bar_states", {})
    photos = write_image_folder(tmp_path / "photos", 12, style="warm")
    code, _, err = run(capsys, "dataset", "profile", photos, "--zoo", tmp_path / "zoo", "--probe", tiny_clip)
    hashing = f"Hashing {len(list(photos.iterdir()))} files"  # its images and their captions' metadata
    assert code == 0 and hashing in err, err
    assert err.index(hashing) < err.index("Reading photos")
    scans = write_image_folder(tmp_path / "scans", 10, style="cool")
    bars.progress_bar_states.clear()  # as in a new process: loading the probe left them as transformers found them (off, here)
    code, _, err = run(capsys, "dataset", "similar", scans, "--zoo", tmp_path / "zoo", "--probe", tiny_clip)
    assert code == 0 and f"Hashing {len(list(scans.iterdir()))} files" in err, err
    more = write_image_folder(tmp_path / "more", 9, style="mono")
    for command in ("profile", "similar"):
        bars.progress_bar_states.clear()
        code, _, err = run(capsys, "dataset", command, more, "--zoo", tmp_path / "zoo", "--probe", tiny_clip, "--format", "json")
        assert code == 0 and "Hashing" not in err, err


def _parquet_naming_images(folder, column: str, form: str, style: str) -> None:
    """``folder/rows.parquet`` whose 12 rows name their image (``images/i.png``, written in ``style``) by path."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hubselect.testing.tiny import style_image

    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(12):
        style_image(style, rng).save(folder / "images" / f"{i}.png")
    if not (folder / "rows.parquet").exists():
        names = [f"images/{i}.png" for i in range(12)]
        cells = names if form == "string" else [{"bytes": None, "path": name} for name in names]
        pq.write_table(pa.table({column: cells, "text": [f"picture {i}" for i in range(12)]}), folder / "rows.parquet")


@pytest.mark.parametrize(
    ("column", "form", "extra"),
    [("image", "string", []), ("image", "struct", []), ("picture_path", "string", ["--image-column", "picture_path"])],
)
def test_new_images_that_local_parquet_rows_name_by_path_profile_it_again(column, form, extra, tmp_path, capsys, tiny_clip, forward_calls, isolated_cache):
    """A local .parquet whose rows name their image files by path is read from those files, but
    its revision hashed the .parquet alone: after the images were replaced, `dataset profile`
    said "nothing to do" and `recommend` served the cached embeddings of the old images."""
    folder, zoo = tmp_path / "pqp", tmp_path / "zoo"
    _parquet_naming_images(folder, column, form, "warm")
    first = profile(capsys, folder / "rows.parquet", zoo, tiny_clip, *extra)
    assert (first["status"], first["images"]) == ("added", 12)
    assert profile(capsys, folder / "rows.parquet", zoo, tiny_clip, *extra)["status"] == "unchanged"

    _parquet_naming_images(folder, column, form, "mono")  # the same names, other images; the .parquet untouched
    calls = len(forward_calls)
    again = profile(capsys, folder / "rows.parquet", zoo, tiny_clip, *extra)
    assert (again["status"], again["computed"]) == ("updated", True) and again["revision"] != first["revision"]
    assert again["replaced"] == {"revision": [first["revision"], again["revision"]]} and len(forward_calls) > calls
    assert profile(capsys, folder / "rows.parquet", zoo, tiny_clip, *extra)["status"] == "unchanged"


def test_a_parquet_file_holding_its_images_keeps_the_revision_it_was_profiled_at(tmp_path, capsys, tiny_clip, isolated_cache):
    """Its revision is the content hash of the .parquet alone, as it always was: a zoo profiled
    before local parquet revisions counted the image files rows name finds it current. Its rows'
    ``path`` names no file beside it (``datasets`` writes the original file name there)."""
    import hashlib

    from fixtures.data import parquet_dataset

    shard = sorted((parquet_dataset() / "data").glob("*.parquet"))[0]
    content = hashlib.sha256(f"{shard.name}\0".encode())
    content.update(hashlib.sha256(shard.read_bytes()).digest())
    result = profile(capsys, shard, tmp_path / "zoo", tiny_clip, "--n", "16")
    assert result["revision"] == f"local-{content.hexdigest()[:40]}"


def test_a_name_the_zoo_lacks_says_how_to_list_its_datasets_and_that_lists_them(profiled_zoo, capsys, tiny_clip):
    zoo, _ = profiled_zoo
    code, out, err = run(capsys, "dataset", "similar", "nonexistent-thing", "--zoo", zoo, "--probe", tiny_clip)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    program, *advice = err.split("`")[1].split()
    assert program == "hubselect"
    code, out, err = run(capsys, *advice)
    assert code == 0, err
    rows = {row.split("│")[1].strip(): row for row in out.split("datasets of zoo")[1].splitlines() if row.startswith("│")}
    assert set(rows) == {"warm-messy", "warm-copy", "cool-32-7", "mono-32-7"} and "local:tiny-clip" in rows["warm-messy"]
    code, out, _ = run(capsys, *advice, "--format", "json")
    listed = json.loads(out)["dataset_list"]
    assert listed[0] == {"dataset": "cool-32-7", "records": 0, "profiled_with": ["local:tiny-clip"]} and len(listed) == 4


def test_similar_to_a_zoo_dataset_says_it_is_its_stored_profile_and_refuses_a_sample_it_cannot_read(profiled_zoo, capsys, tiny_clip):
    """`dataset similar NAME` of a zoo dataset answered with its stored profile's neighbours,
    whatever --split, --n or --seed asked for, and never said so. The stored profile answers
    where it is of the sample asked for (options left out are its own), and the output says so;
    another sample of a dataset the zoo knows by name only cannot be read, and is refused."""
    zoo, _ = profiled_zoo
    similar = ["dataset", "similar", "warm-messy", "--zoo", zoo, "--probe", tiny_clip, "--k", "2"]
    code, out, err = run(capsys, *similar)
    assert code == 0, err
    assert err == (f"note: warm-messy is compared through its profile in zoo {zoo} (made with --n 500 --seed 0 at "
                   f"{Zoo.load(zoo).datasets.set_index('dataset').loc['warm-messy', 'revision'][:18]}); "
                   "pass another --n or --seed to compare another sample of it\n")
    assert run(capsys, *similar, "--n", "500", "--seed", "0") == (0, out, err)  # that very sample, asked for
    code, out, err = run(capsys, *similar, "--n", "10", "--format", "json")
    assert (code, out) == (2, "")
    assert err == (f"Error: zoo {zoo}'s profile of warm-messy was made with --n 500 --seed 0, and warm-messy is not a folder, "
                   ".parquet file or Hub dataset id to read another sample of; leave out --n to compare that profile, "
                   "or pass the dataset's folder or file\n")


@pytest.mark.parametrize("kind", ["empty", "corrupt"])
def test_a_folder_without_usable_images_is_a_one_line_error(tmp_path, capsys, tiny_clip, kind, isolated_cache):
    from hubselect.testing.tiny import write_image_folder

    folder = tmp_path / kind
    if kind == "empty":
        folder.mkdir()
    else:
        write_image_folder(folder, 5, corrupt=5)
    code, out, err = run(capsys, "dataset", "profile", folder, "--zoo", tmp_path / "zoo", "--probe", tiny_clip)
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert ("no image files in" if kind == "empty" else "none of the 5 images read could be decoded") in err
    assert not (tmp_path / "zoo").exists()


@pytest.mark.parametrize("zoo", ["locked/Z", "zoo", "a-file/Z"], ids=["new-in-a-folder-it-cannot-write", "zoo-it-cannot-write", "under-a-file"])
def test_a_zoo_it_cannot_write_is_refused_before_any_image_is_read(zoo, tmp_path, monkeypatch, capsys, tiny_clip, forward_calls, isolated_cache):
    """It failed as "unexpected PermissionError" after the whole sample was read and embedded."""
    profile(capsys, style_folder("mono"), tmp_path / "zoo", tiny_clip)

    def files() -> dict[str, bytes]:
        return {str(p.relative_to(tmp_path)): p.read_bytes() for p in (tmp_path / "zoo").rglob("*") if p.is_file()}

    before = files()
    forward_calls.clear()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    with unwritable(tmp_path / zoo.split("/")[0]) if zoo != "a-file/Z" else contextlib.nullcontext():
        code, out, err = run(capsys, "dataset", "profile", style_folder("cool"), "--zoo", zoo, "--probe", tiny_clip)
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert err.startswith(f"Error: --zoo {zoo}: ") and "unexpected" not in err and "; pass a path in a folder" in err
    assert forward_calls == [] and files() == before


def test_ctrl_c_says_in_one_line_that_nothing_is_lost(tmp_path, monkeypatch, capsys, tiny_clip, isolated_cache):
    """It printed only "Aborted.", with no word of what to do (Ctrl-C while the sample is read and embedded)."""
    import hubselect.data.profile

    profile(capsys, style_folder("mono"), tmp_path / "zoo", tiny_clip)
    before = {str(p.relative_to(tmp_path)): p.read_bytes() for p in (tmp_path / "zoo").rglob("*") if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hubselect.data.profile, "profile_dataset", interrupted)
    code, out, err = run(capsys, "dataset", "profile", style_folder("cool"), "--zoo", tmp_path / "zoo", "--probe", tiny_clip)
    assert (code, out) == (130, "") and err.strip() == "Interrupted: nothing written so far is lost; rerun the same command to finish"
    assert {str(p.relative_to(tmp_path)): p.read_bytes() for p in (tmp_path / "zoo").rglob("*") if p.is_file()} == before


def test_ctrl_c_between_a_replaced_profiles_files_leaves_a_rerun_work_to_finish(tmp_path, monkeypatch, capsys, tiny_clip, isolated_cache):
    """Stopped after the first of the new profile's two files was written (its provenance), the
    rerun called the old statistics "nothing to do" and kept them for good."""
    import hubselect.zoo.store

    zoo = tmp_path / "zoo"
    profile(capsys, style_folder("mono"), zoo, tiny_clip, "--n", "20")
    write = hubselect.zoo.store.atomic_write

    def interrupted_after_a_profiles_first_file(target, *args):
        write(target, *args)
        if "artefacts/datasets/" in str(target):
            raise KeyboardInterrupt

    monkeypatch.setattr(hubselect.zoo.store, "atomic_write", interrupted_after_a_profiles_first_file)
    code, _, _ = run(capsys, "dataset", "profile", style_folder("mono"), "--zoo", zoo, "--probe", tiny_clip, "--n", "30")
    assert code == 130
    monkeypatch.setattr(hubselect.zoo.store, "atomic_write", write)
    rerun = profile(capsys, style_folder("mono"), zoo, tiny_clip, "--n", "30")
    assert rerun["status"] == "updated" and rerun["images"] == 30
    profile(capsys, style_folder("mono"), tmp_path / "uninterrupted", tiny_clip, "--n", "30")
    assert [p.read_bytes() for p in zoo.rglob("*.npz")] == [p.read_bytes() for p in (tmp_path / "uninterrupted").rglob("*.npz")]


def test_min_images_holds_for_cached_and_stored_profiles(tmp_path, capsys, tiny_clip, isolated_cache):
    """The same answer whether the sample is read, cached, or already in the zoo."""
    from hubselect.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / "ten", 10, style="cool")
    zoo = tmp_path / "zoo"
    strict = ("--probe", tiny_clip, "--min-images", "12")
    code, _, refused = run(capsys, "dataset", "profile", folder, "--zoo", zoo, *strict)
    assert code == 2 and "it holds only 10 images; a profile needs at least 12" in refused
    assert profile(capsys, folder, zoo, tiny_clip)["images"] == 10  # cached, and stored in the zoo
    for args in (["profile", folder, "--zoo", zoo], ["profile", folder, "--zoo", tmp_path / "other"], ["similar", folder, "--zoo", zoo]):
        assert run(capsys, "dataset", *args, *strict) == (2, "", refused), args


@pytest.mark.parametrize("device", ["bogus", "cuda:99"])
def test_a_device_torch_cannot_use_is_a_one_line_error(device, tmp_path, capsys, tiny_clip, isolated_cache):
    zoo = tmp_path / "zoo"
    profile(capsys, style_folder("cool"), zoo, tiny_clip)
    runs = [
        ["similar", style_folder("mono"), "--zoo", zoo],  # profiled (not cached): the probe would be loaded
        ["profile", style_folder("cool"), "--zoo", tmp_path / "other"],  # embeddings cached: nothing to load
        ["profile", style_folder("cool"), "--zoo", zoo],  # already in the zoo
    ]
    for args in runs:
        code, out, err = run(capsys, "dataset", *args, "--probe", tiny_clip, "--device", device)
        assert code == 2 and out == "" and err.startswith(f"Error: --device {device}: ") and err.count("\n") == 1, (args, err)


def test_a_broken_link_is_skipped_like_a_corrupt_file(tmp_path, capsys, tiny_clip, isolated_cache):
    from hubselect.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / "linked", 10, style="cool")
    (folder / "zz.png").symlink_to(tmp_path / "nonexistent.png")
    result = profile(capsys, folder, tmp_path / "zoo", tiny_clip)
    assert result["images"] == 10 and result["skipped"] == {"missing": 1}
    assert result["skipped_examples"] == ["zz.png: missing (broken link)"]
    # The same folder, with the link fixed, is another revision.
    (tmp_path / "nonexistent.png").write_bytes((folder / "img_0001.png").read_bytes())
    fixed = profile(capsys, folder, tmp_path / "zoo", tiny_clip)
    assert fixed["revision"] != result["revision"] and fixed["images"] == 11 and fixed["skipped"] == {}


def test_files_whose_names_are_not_utf8_are_read_and_named_by_their_bytes(tmp_path, capsys, tiny_clip, isolated_cache):
    """Names from an old zip or a Latin-1 copy: the image is read, a corrupt one skipped and named."""
    import os

    from hubselect.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / "latin1", 10, style="cool")
    os.rename(folder / "img_0001.png", os.fsdecode(bytes(folder) + b"/caf\xe9.png"))
    (folder / os.fsdecode(b"d\xe9j\xe0.png")).write_bytes(b"not an image")
    result = profile(capsys, folder, tmp_path / "zoo", tiny_clip)
    assert result["images"] == 10 and result["skipped_examples"] == ["d\\xe9j\\xe0.png: corrupt (not a readable image file)"]
    profile(capsys, style_folder("mono"), tmp_path / "zoo", tiny_clip)
    code, out, err = run(capsys, "dataset", "similar", folder, "--zoo", tmp_path / "zoo", "--probe", tiny_clip)
    assert code == 0 and "mono-32-7" in out, err


def test_a_folder_whose_name_is_not_utf8_is_named_by_its_bytes_in_the_zoo(tmp_path, capsys, tiny_clip, isolated_cache):
    import os

    from hubselect.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / os.fsdecode(b"caf\xe9"), 10, style="cool")
    result = profile(capsys, folder, tmp_path / "zoo", tiny_clip)
    assert result["dataset"] == "caf\\xe9" and set(Zoo.load(tmp_path / "zoo").datasets["dataset"]) == {"caf\\xe9"}
    profile(capsys, style_folder("mono"), tmp_path / "zoo", tiny_clip)
    code, out, err = run(capsys, "dataset", "similar", "caf\\xe9", "--zoo", tmp_path / "zoo", "--probe", tiny_clip)
    assert code == 0 and "mono-32-7" in out, err


def test_a_zoo_folder_whose_path_is_not_utf8_is_written_and_read(tmp_path, capsys, tiny_clip, isolated_cache):  # noqa: F811
    """A zoo kept under a Latin-1 folder name (an old copy, a mounted share): pyarrow cannot encode
    its path, so every profile into it failed at the save, after the embedding."""
    import os

    zoo = tmp_path / os.fsdecode(b"caf\xe9-zoo")
    profile(capsys, style_folder("cool"), zoo, tiny_clip)
    profile(capsys, style_folder("mono"), zoo, tiny_clip)
    assert set(Zoo.load(zoo).datasets["dataset"]) == {"cool-32-7", "mono-32-7"}
    code, out, err = run(capsys, "dataset", "similar", style_folder("cool"), "--zoo", zoo, "--probe", tiny_clip)
    assert code == 0 and "mono-32-7" in out, err


def test_advice_naming_a_zoo_folder_with_spaces_and_quotes_is_a_command_that_works_when_pasted(tmp_path, capsys):
    """`dataset similar` of a name the zoo lacks advises `hubselect zoo show ZOO --datasets`: with the
    folder's path unquoted, the pasted command split it at its spaces and stopped at its quote."""
    import shlex
    import shutil

    from hubselect.demo.paths import bundled_paths

    zoo = shutil.copytree(bundled_paths().zoo, tmp_path / "my zoo's copy")
    code, out, err = run(capsys, "dataset", "similar", "no-such-dataset", "--zoo", zoo)
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    advised = shlex.split(err.split("`")[1])
    assert advised == ["hubselect", "zoo", "show", str(zoo), "--datasets"]
    code, out, err = run(capsys, *advised[1:], "--format", "json")
    assert code == 0 and len(json.loads(out)["dataset_list"]) == 24, err

    empty = tmp_path / "no profiles $HOME"
    bundle = write_bundle(tmp_path / "b", records="model,dataset,score\nm1,d1,0.5\n")
    assert run(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", empty)[0] == 0
    code, out, err = run(capsys, "dataset", "similar", "no-such-dataset", "--zoo", empty)
    assert (code, out) == (2, "") and shlex.split(err.split("`")[1])[-2:] == ["--zoo", str(empty)], err


def test_names_and_paths_with_brackets_are_printed_as_they_are(tmp_path, capsys, tiny_clip, isolated_cache):
    """Brackets are text, not markup: `cats[small]` and `cats[large]` stay two names, and `[/i]` is no crash after the zoo is written."""
    zoo = tmp_path / "z[/x]"
    for name in ("cats[small]", "cats[large]", "warm[/i]"):
        code, out, err = run(capsys, "dataset", "profile", style_folder("cool"), "--name", name, "--zoo", zoo, "--probe", tiny_clip)
        assert code == 0 and out.startswith(f"Profiled {name} @") and f"in {zoo}" in out, err
    code, out, err = run(capsys, "dataset", "profile", style_folder("cool"), "--name", "warm[/i]", "--zoo", zoo, "--probe", tiny_clip)
    assert code == 0 and out.startswith("warm[/i] @ ") and f"already in {zoo} " in out, err
    code, out, err = run(capsys, "dataset", "similar", "cats[small]", "--zoo", zoo, "--probe", tiny_clip)
    assert code == 0 and "datasets nearest to cats[small]" in out, err
    assert [row.split("│")[2].strip() for row in out.splitlines() if row.startswith("│")] == ["cats[large]", "warm[/i]"]
    code, out, err = run(capsys, "zoo", "show", zoo)
    assert code == 0 and "z[/x]" in out, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["profile", "", "--zoo", "zoo"], "DATASET is empty"),
        (["similar", "  ", "--zoo", "zoo"], "DATASET is empty"),
        (["profile", "FOLDER", "--zoo", "zoo", "--name", "  "], "--name is blank"),
        (["profile", "FOLDER", "--zoo", "zoo", "--name", ""], "--name is blank"),
    ],
)
def test_an_empty_dataset_or_name_is_refused(args, expected, tmp_path, monkeypatch, capsys, tiny_clip, isolated_cache):
    """An empty DATASET is not the current folder (a script's unset variable), a blank --name not a name."""
    zoo = tmp_path / "zoo"
    args = [zoo if a == "zoo" else style_folder("cool") if a == "FOLDER" else a for a in args]
    monkeypatch.chdir(style_folder("mono"))  # a folder of images: what "" used to be read as
    code, out, err = run(capsys, "dataset", *args, "--probe", tiny_clip)
    assert code == 2 and out == "" and err.count("\n") == 1 and expected in err, err
    assert not zoo.exists()


def test_a_zoo_with_two_probes_keeps_their_distances_apart(profiled_zoo, capsys, tiny_clip, tiny_dino):
    zoo, _ = profiled_zoo
    profile(capsys, messy_folder(), zoo, tiny_dino)
    profile(capsys, near_duplicate_folder(), zoo, tiny_dino)
    stored = Zoo.load(zoo)
    assert set(stored.distances["probe"]) == {"local:tiny-clip", "local:tiny-dino"}
    code, _, err = run(capsys, "dataset", "similar", "warm-messy", "--zoo", zoo)
    assert code == 2 and "profiled with local:tiny-clip, local:tiny-dino: choose one with --probe" in err
    code, out, _ = run(capsys, "dataset", "similar", "warm-messy", "--zoo", zoo, "--probe", tiny_dino, "--format", "json")
    assert [r["dataset"] for r in json.loads(out)] == ["warm-copy"]


def test_a_zoo_profiled_with_inception_is_compared_without_probe_option(tmp_path, capsys, monkeypatch, isolated_cache):
    """Its profiles name the probe clean-fid/inception-v3, which is Inception, not a Hub repo to fetch."""
    from hubselect.testing.tiny import fake_inception_weights

    monkeypatch.setenv("HUBSELECT_INCEPTION_DIR", str(fake_inception_weights(tmp_path / "inception")))
    for style in ("warm", "cool"):
        code = main(["dataset", "profile", str(style_folder(style, 16)), "--zoo", str(tmp_path / "zoo"), "--n", "16", "--probe", "inception"])
        assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    code = main(["dataset", "similar", str(style_folder("cool", 16, 3)), "--zoo", str(tmp_path / "zoo"), "--n", "16", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [r["dataset"] for r in json.loads(out)] == ["cool-16-7", "warm-16-7"]


def test_profiles_travel_with_the_zoo_through_the_hub(profiled_zoo, capsys, tiny_clip, hub, hub_token, hub_repo_id, tmp_path):
    zoo, _ = profiled_zoo
    code, _, err = run(capsys, "zoo", "push", zoo, "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0, err
    # `similar` reads the statistics straight from the Hub zoo.
    code, out, err = run(capsys, "dataset", "similar", "warm-messy", "--zoo", hub_repo_id, "--probe", tiny_clip, "--format", "json", "--token", hub_token)
    assert code == 0, err
    assert json.loads(out)[0]["dataset"] == "warm-copy"
    code, _, err = run(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "pulled", "--token", hub_token)
    assert code == 0, err
    assert Zoo.load(tmp_path / "pulled").artefact_names() == Zoo.load(zoo).artefact_names()


def _distances(zoo) -> dict[tuple[str, str], float]:
    return {(d.dataset_a, d.dataset_b): d.distance for d in Zoo.load(zoo).distance_records()}


def test_zoos_profiled_apart_merge_with_every_distance_a_zoo_profiled_in_one_place_holds(
    tmp_path, capsys, tiny_clip, isolated_cache, hub, hub_token, hub_repo_id
):
    """Two writers profile warm+cool and warm+mono into their own zoos and share them through one
    repo: the cool–mono distance neither could compute is computed from the stored statistics."""
    warm, cool, mono = (style_folder(style) for style in ("warm", "cool", "mono"))
    for zoo, folders in (("single", (warm, cool, mono)), ("w1", (warm, cool)), ("w2", (warm, mono))):
        for folder in folders:
            profile(capsys, folder, tmp_path / zoo, tiny_clip)
    single = _distances(tmp_path / "single")
    assert len(single) == 3
    Zoo.load(tmp_path / "w2").save(tmp_path / "w2-copy")

    code, _, err = run(capsys, "zoo", "push", tmp_path / "w1", "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0, err
    # Pulled into w2's folder: the folder holds every pair, as if profiled in one place.
    code, out, err = run(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "w2-copy", "--token", hub_token)
    assert code == 0 and "note: computed 1 distance between datasets profiled apart (only in the folder or only in the pulled zoo)" in err, err
    assert _distances(tmp_path / "w2-copy") == pytest.approx(single, rel=1e-5)
    # Pushed on top of w1's: the Hub's zoo holds every pair too.
    code, _, err = run(capsys, "zoo", "push", tmp_path / "w2", "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0, err
    on_hub = Zoo.pull(hub_repo_id, token=hub_token)
    assert {(d.dataset_a, d.dataset_b): d.distance for d in on_hub.distance_records()} == pytest.approx(single, rel=1e-5)

    # A zoo merged without them (by an older hubselect): `dataset profile` of a dataset it holds
    # computes its missing pairs instead of saying there is nothing to do.
    Zoo.load(tmp_path / "w1").merge(Zoo.load(tmp_path / "w2")).save(tmp_path / "merged")
    assert len(_distances(tmp_path / "merged")) == 2
    again = profile(capsys, mono, tmp_path / "merged", tiny_clip)
    assert (again["status"], again["computed"], again["distances_added"]) == ("unchanged", False, 1)
    assert _distances(tmp_path / "merged") == pytest.approx(single, rel=1e-5)
    code, out, _ = run(capsys, "dataset", "profile", mono, "--zoo", tmp_path / "merged", "--probe", tiny_clip)
    assert code == 0 and "nothing to do" in out


def _synthetic_zoo(names, seed: int = 0) -> Zoo:
    """A zoo profiled in one place, one dataset after another as `dataset profile` adds them
    (add_to_zoo), from synthetic 8-d statistics: the tester's zoo of more than MAX_EXACT + 1."""
    from hubselect.data.profile import DatasetProfile, add_to_zoo
    from hubselect.data.refs import SampleSpec
    from hubselect.metrics.frechet import frechet_stats
    from hubselect.probes.base import ProbeRef

    probe = ProbeRef("local:clip", "local-abc", "clip")
    zoo = Zoo()
    for name in names:
        rng = np.random.default_rng([seed, int(name[-3:])])
        stats = frechet_stats(rng.normal(size=(40, 8)) + rng.normal(size=8) * 3, extractor="local:clip@local-abc")
        add_to_zoo(zoo, DatasetProfile(name, "r" * 40, SampleSpec(), probe, {"images": 40}, stats))
    return zoo


NAMES = [f"org/d{i:03d}" for i in range(80)]


def test_a_zoo_profiled_in_one_place_gains_no_distance_when_imported_into_pushed_or_pulled(tmp_path, capsys, hub, hub_token, hub_repo_id):
    """80 datasets (more than MAX_EXACT + 1, so each was paired with its nearest profiled
    before it): nobody lacks a distance, so no merge computes one, and pushing the unchanged
    folder again leaves the Hub's zoo as the folder's."""
    from hubselect.data.profile import missing_distances

    folder = tmp_path / "zoo"
    _synthetic_zoo(NAMES).save(folder)
    single = _distances(folder)
    assert len(single) == 3040
    # What `dataset profile` of any of them asks: nothing is missing.
    assert not any(missing_distances(Zoo.load(folder), name, "local:clip") for name in NAMES)

    Zoo.load(folder).save(tmp_path / "imported")
    bundle = write_bundle(tmp_path / "bundle", records="model,dataset,score\nm1,org/d001,1\nm2,org/d001,2\n")
    code, _, err = run(capsys, "zoo", "import", bundle, "--lower-is-better", "--out", tmp_path / "imported")
    assert code == 0 and "distance" not in err, err
    assert _distances(tmp_path / "imported") == single

    for _ in range(2):  # the second push: the repo holds the folder's datasets already
        code, _, err = run(capsys, "-v", "zoo", "push", folder, "--repo", hub_repo_id, "--token", hub_token)
        assert code == 0 and "computing" not in err and "computed" not in err, err
    assert {(d.dataset_a, d.dataset_b): d.distance for d in Zoo.pull(hub_repo_id, token=hub_token).distance_records()} == single

    code, out, err = run(capsys, "zoo", "pull", hub_repo_id, "--out", folder, "--token", hub_token, "--format", "json")
    assert code == 0 and json.loads(out)["distances_added"] == 0, err
    assert _distances(folder) == single


def test_two_writers_zoos_meet_with_the_distances_a_zoo_profiled_in_one_place_holds(tmp_path, capsys, hub, hub_token, hub_repo_id):
    """Writers A and B each profiled 25 of 50 datasets into their own zoo: a pull and a push add
    every A–B pair (neither side holds more than MAX_EXACT), and the zoos meet with the very
    table the 50 profiled in one place hold."""
    single = _distances(_synthetic_zoo(NAMES[:50]).save(tmp_path / "single"))
    assert len(single) == 50 * 49 // 2
    _synthetic_zoo(NAMES[:25]).save(tmp_path / "A")
    _synthetic_zoo(NAMES[25:50]).save(tmp_path / "B")

    assert run(capsys, "zoo", "push", tmp_path / "A", "--repo", hub_repo_id, "--token", hub_token)[0] == 0
    Zoo.load(tmp_path / "B").save(tmp_path / "B-copy")
    code, out, err = run(capsys, "zoo", "pull", hub_repo_id, "--out", tmp_path / "B-copy", "--token", hub_token, "--format", "json")
    assert code == 0 and json.loads(out)["distances_added"] == 25 * 25, err
    assert _distances(tmp_path / "B-copy") == pytest.approx(single, rel=1e-6)
    code, _, err = run(capsys, "zoo", "push", tmp_path / "B", "--repo", hub_repo_id, "--token", hub_token)
    assert code == 0, err
    assert {(d.dataset_a, d.dataset_b): d.distance for d in Zoo.pull(hub_repo_id, token=hub_token).distance_records()} == pytest.approx(single, rel=1e-6)


def test_datasets_profiled_apart_are_paired_with_their_nearest_of_the_other_side_only():
    """Above max_exact datasets on the other side, each dataset only one zoo holds gets its
    max_exact nearest of those only the other holds (by mean embedding, as add_to_zoo picks),
    from both sides; datasets both hold are paired with none."""
    from hubselect.data.profile import _zoo_mean, distances_apart, zoo_profiles

    one, other = _synthetic_zoo(NAMES[:6]), _synthetic_zoo(NAMES[4:9])  # both hold d004 and d005
    merged = one.merge(other)
    pairs = {(a.dataset, b.dataset) for a, b in distances_apart(merged, one, other, max_exact=2)}
    means = {entry.dataset: _zoo_mean(merged, entry) for entry in zoo_profiles(merged)}
    only_one, only_other = NAMES[:4], NAMES[6:9]

    def nearest(name, among):
        return sorted(among, key=lambda n: float(np.sum((means[n] - means[name]) ** 2)))[:2]

    expected = {tuple(sorted((a, b))) for side, among in ((only_one, only_other), (only_other, only_one)) for a in side for b in nearest(a, among)}
    assert pairs == expected and len(expected) < len(only_one) * len(only_other)
    assert distances_apart(merged, one, one.merge(Zoo())) == []  # a zoo meeting a copy of itself


def _import(capsys, zoo, folder, datasets_csv: str | None = None) -> None:
    """``zoo import`` into ``zoo`` of a bundle of three records, with ``datasets_csv`` as its datasets.csv if given."""
    bundle = write_bundle(folder, records="model,dataset,score\nm1,d1,0.9\nm2,d1,0.5\nm1,d2,0.8\n",
                          **({} if datasets_csv is None else {"datasets": datasets_csv}))
    code, _, err = run(capsys, "zoo", "import", bundle, "--higher-is-better", "--out", zoo)
    assert code == 0, err


def _profile_d1_after_importing(datasets_csv: str, tmp_path, capsys, tiny_clip) -> dict:
    """The features of every dataset once a bundle with ``datasets_csv`` is imported and a folder profiled as d1."""
    zoo = tmp_path / "zoo"
    _import(capsys, zoo, tmp_path / "b", datasets_csv)
    profile(capsys, style_folder("cool"), zoo, tiny_clip, "--name", "d1", "--n", "16")
    return {r.dataset: r.features for r in Zoo.load(zoo).dataset_records()}


def test_importing_dataset_features_keeps_the_profile_of_a_profiled_dataset(tmp_path, capsys, tiny_clip, isolated_cache):
    zoo = tmp_path / "zoo"
    _import(capsys, zoo, tmp_path / "a")
    profile(capsys, style_folder("cool"), zoo, tiny_clip, "--name", "d1", "--n", "16")
    profiled = next(r for r in Zoo.load(zoo).dataset_records() if r.dataset == "d1")
    _import(capsys, zoo, tmp_path / "b", "dataset,kind\nd1,photo\nd2,art\n")
    after = next(r for r in Zoo.load(zoo).dataset_records() if r.dataset == "d1")
    assert after.revision == profiled.revision
    assert after.features == {**profiled.features, "kind": "photo"}


def test_profiling_keeps_the_imported_features_of_a_dataset(tmp_path, capsys, tiny_clip, isolated_cache):
    features = _profile_d1_after_importing("dataset,kind\nd1,photo\nd2,art\n", tmp_path, capsys, tiny_clip)
    assert features["d1"]["kind"] == "photo" and features["d1"]["images"] == 16
    assert features["d2"]["kind"] == "art"


def test_profiling_a_dataset_whose_imported_feature_column_is_text(tmp_path, capsys, tiny_clip, isolated_cache):
    features = _profile_d1_after_importing("dataset,images\nd1,5k\nd2,12k\n", tmp_path, capsys, tiny_clip)
    # The column now mixes a count and text: it is kept as text, every value in it.
    assert features["d1"]["images"] == "16" and features["d2"]["images"] == "12k"
    assert features["d1"]["width_mean"] > 0


def test_zoo_artefacts_are_saved_loaded_merged_and_validated(tmp_path):
    zoo = Zoo()
    zoo.put_artefact("datasets/p/a.npz", b"first")
    source = tmp_path / "b.json"
    source.write_bytes(b"{}")
    zoo.put_artefact("datasets/p/b.json", source)
    zoo.save(tmp_path / "z")
    loaded = Zoo.load(tmp_path / "z")
    assert loaded.artefact_names() == ["datasets/p/a.npz", "datasets/p/b.json"]
    with loaded.open_artefact("datasets/p/a.npz") as handle:
        assert handle.read() == b"first"
    other = Zoo()
    other.put_artefact("datasets/p/a.npz", b"second")
    merged = loaded.merge(other)
    merged.save(tmp_path / "z")  # saving over the folder it was loaded from
    with Zoo.load(tmp_path / "z").open_artefact("datasets/p/a.npz") as handle:
        assert handle.read() == b"second"
    for bad in ("../escape.npz", "/abs.npz", "a//b", ".hidden/x"):
        with pytest.raises(ValueError, match="relative path"):
            zoo.put_artefact(bad, b"")
