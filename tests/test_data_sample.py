"""Sampling local image folders and parquet files: seeded, robust, with clear errors."""

from __future__ import annotations

import json

import pytest

from fixtures.data import isolated_cache, messy_folder, parquet_dataset  # noqa: F401
from hubselect.data.features import dataset_features
from hubselect.data.refs import DatasetRef
from hubselect.data.sample import dataset_revision, load_dataset_sample
from hubselect.errors import InputError
from hubselect.testing.tiny import write_image_folder


def test_a_messy_folder_keeps_good_images_and_reports_the_bad_ones(isolated_cache):
    sample = load_dataset_sample(str(messy_folder()), n=500, progress=False)
    assert len(sample) == 37 and sample.total == 40
    assert sample.skip_counts == {"corrupt": 2, "truncated": 1}
    assert sample.skip_summary() == "3 skipped: 2 corrupt, 1 truncated"
    assert {s.source for s in sample.skipped} == {"img_0000.jpg", "img_0001.png", "img_0002.jpg"}
    # The CMYK JPEG and the 16-bit PNG are in, as ordinary RGB images.
    assert {"img_0003.jpg", "img_0004.png"} <= set(sample.sources)
    assert all(image.mode == "RGB" for image in sample.images)
    assert sample.caption_column == "text" and all(sample.captions)
    assert sample.revision.startswith("local-")


def test_a_sample_is_seeded_and_replaces_skipped_files(isolated_cache):
    first = load_dataset_sample(str(messy_folder()), n=10, seed=4, progress=False)
    assert len(first) == 10  # undecodable files met on the way are replaced by the next ones
    assert first.sources == load_dataset_sample(str(messy_folder()), n=10, seed=4, progress=False).sources
    assert first.sources != load_dataset_sample(str(messy_folder()), n=10, seed=5, progress=False).sources


def test_features_describe_resolution_and_captions(isolated_cache):
    features = dataset_features(load_dataset_sample(str(messy_folder()), progress=False))
    assert features["images"] == 37 and features["total_images"] == 40 and features["skipped"] == 3
    assert 40 <= features["width_mean"] <= 96 and 40 <= features["height_mean"] <= 96
    assert features["aspect_min"] < 1 < features["aspect_max"]
    assert features["caption_coverage"] == 1.0 and 3 <= features["caption_words_mean"] <= 8


def test_csv_captions_and_a_chosen_caption_column(tmp_path, isolated_cache):
    folder = write_image_folder(tmp_path / "d", 10, style="cool", captions=False)
    rows = ["file_name,prompt,note"] + [f"{p.name},a cool stripe {i},n{i}" for i, p in enumerate(sorted(folder.glob("*.*")))]
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    assert load_dataset_sample(str(folder), n=10, min_images=2, progress=False).caption_column == "prompt"
    chosen = load_dataset_sample(str(folder), n=10, caption_column="note", min_images=2, progress=False)
    assert chosen.caption_column == "note" and all(c.startswith("n") for c in chosen.captions)
    with pytest.raises(InputError, match="no text column 'missing'.*prompt, note"):
        load_dataset_sample(str(folder), caption_column="missing", progress=False)


def test_empty_and_all_corrupt_folders_are_one_line_errors(tmp_path, isolated_cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image files in"):
        load_dataset_sample(str(tmp_path / "empty"), progress=False)
    bad = write_image_folder(tmp_path / "bad", 3, corrupt=3)
    with pytest.raises(InputError) as error:
        load_dataset_sample(str(bad), progress=False)
    message = str(error.value)
    assert "\n" not in message
    assert "none of the 3 images read could be decoded (3 skipped: 2 corrupt, 1 truncated)" in message
    assert message.endswith("a profile needs at least 8: add images")  # a lower --min-images cannot help: none decoded


def _tiny_images(folder, n, side=1):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (side, side), (i, 0, 0)).save(folder / f"tiny_{i:02d}.png")
    return folder


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("1x1 images", "none of the 12 images read is usable (12 skipped: 12 too small); a profile needs at least 8: use images at least 8 px a side"),
        ("some too small", "only 5 of 8 images read are usable (3 skipped: 3 too small); a profile needs at least 8: "
                           "use images at least 8 px a side or lower --min-images"),
        ("decompression bombs", "none of the 12 images read is usable (12 skipped: 12 decompression bomb); a profile needs at least 8: "
                                "use images of at most 100 px as read (JPEGs are read at up to 1/8 of their width and height; "
                                "larger ones are refused as possible decompression bombs)"),
        ("wrong image column", "none of the 64 images read is usable (64 skipped: 64 missing); a profile needs at least 8: "
                               "check --image-column (column 'text' holds no images, or names image files the dataset does not have)"),
        ("n below min", "--n 5 is below --min-images 8; raise --n to at least 8 or lower --min-images"),
        ("small dataset", "it holds only 5 images; a profile needs at least 8: add images or lower --min-images"),
    ],
)
def test_too_few_images_says_why_and_what_helps(case, expected, tmp_path, isolated_cache):
    """The advice follows the cause; "could be decoded" only where decoding failed."""
    from hubselect.data.refs import SampleSpec

    kwargs = {}
    if case == "1x1 images":
        ref = _tiny_images(tmp_path / "d", 12)
    elif case == "some too small":
        ref = _tiny_images(write_image_folder(tmp_path / "d", 5, style="cool"), 3)
    elif case == "decompression bombs":
        ref = _tiny_images(tmp_path / "d", 12, side=16)
        kwargs["spec"] = SampleSpec(max_pixels=100)  # 256 px each, over the limit
    elif case == "wrong image column":
        ref = sorted((parquet_dataset() / "data").glob("*.parquet"))[0]
        kwargs["image_column"] = "text"
    elif case == "n below min":
        ref = write_image_folder(tmp_path / "d", 10, style="cool")
        kwargs["n"] = 5
    else:
        ref = write_image_folder(tmp_path / "d", 5, style="cool")
    with pytest.raises(InputError) as error:
        load_dataset_sample(str(ref), progress=False, **kwargs)
    assert str(error.value).endswith(expected) and "\n" not in str(error.value)


def test_reading_scans_over_pils_pixel_limit_prints_no_decompression_bomb_warning(tmp_path, isolated_cache):
    """They are skipped and counted; PIL's warning (with its source line) must not reach stderr as
    well, which happened whenever decoding threads raced to set and restore warning filters."""
    import shutil
    import warnings

    from PIL import Image

    from hubselect.data.decode import TOO_LARGE

    folder = write_image_folder(tmp_path / "scans", 8, style="cool")
    Image.new("1", (10000, 9000)).save(folder / "scan000.png")  # 90 Mpx: PIL warns, a tiny file
    for i in range(1, 200):
        shutil.copy(folder / "scan000.png", folder / f"scan{i:03d}.png")
    for _ in range(20):  # the race needs threads to interleave: read it again, and again
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sample = load_dataset_sample(str(folder), n=208, min_images=8, progress=False)
        assert sample.skip_counts == {TOO_LARGE: 200} and len(sample) == 8
        assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_a_parquet_file_is_sampled_by_row_groups(isolated_cache):
    shard = sorted((parquet_dataset() / "data").glob("*.parquet"))[0]  # 64 rows, row groups of 16
    sample = load_dataset_sample(str(shard), n=20, progress=False)
    assert len(sample) == 20 and sample.total == 64
    assert (sample.image_column, sample.caption_column) == ("image", "text")
    assert sample.details["read_row_groups"] == 2  # 20 rows need two row groups of 16, not the file
    with pytest.raises(InputError, match="no column 'pixels'.*image, text"):
        load_dataset_sample(str(shard), image_column="pixels", progress=False)


def test_local_revisions_follow_content(tmp_path, isolated_cache):
    folder = write_image_folder(tmp_path / "d", 10, style="mono")
    before = dataset_revision(str(folder))
    assert dataset_revision(str(folder)) == before
    (folder / "metadata.jsonl").write_text(json.dumps({"file_name": "img_0000.jpg", "text": "changed"}) + "\n")
    assert dataset_revision(str(folder)) != before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("org/pets", ("hub", "org/pets", None, None)),
        ("org/pets:cats", ("hub", "org/pets", "cats", None)),
        ("org/pets@v1.0", ("hub", "org/pets", None, "v1.0")),
        ("org/pets:cats@0123abcd", ("hub", "org/pets", "cats", "0123abcd")),
    ],
)
def test_dataset_references(text, expected):
    ref = DatasetRef.parse(text, split="test")
    assert (ref.kind, ref.location, ref.config, ref.revision) == expected and ref.split == "test"


def test_an_unknown_dataset_reference_says_what_is_accepted(tmp_path):
    with pytest.raises(InputError, match="a folder of images, a .parquet file, or a Hub dataset id"):
        DatasetRef.parse("no-such-thing")
    with pytest.raises(InputError, match="DATASET is empty"):  # not the current folder
        DatasetRef.parse("")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a .parquet file"):
        DatasetRef.parse(str(tmp_path / "notes.txt"))


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("n", "5", "n must be a whole number of at least 1, got '5'"),
        ("seed", -1, "seed must be a whole number from 0 to 4294967295, got -1"),
        ("seed", 1.5, "seed must be a whole number from 0 to 4294967295, got 1.5"),
        ("seed", True, "seed must be a whole number from 0 to 4294967295, got True"),
        ("seed", 2**33, "seed must be a whole number from 0 to 4294967295, got 8589934592"),
    ],
)
@pytest.mark.usefixtures("isolated_cache")
def test_a_sample_size_or_seed_that_is_not_a_whole_number_in_range_is_an_input_error(option, value, expected, tmp_path):
    """``n="5"`` failed as a TypeError from a comparison; a seed of -1 drew seed 1's images but was
    recorded as another sample, and 1.5, True or 2**33 were recorded as given, as ``recommend``
    and every ``--seed`` refuse them."""
    folder = write_image_folder(tmp_path / "images", 8, style="cool")
    with pytest.raises(InputError) as raised:
        load_dataset_sample(str(folder), **{option: value}, progress=False)
    assert str(raised.value) == expected


def test_an_image_column_spelled_in_capitals_is_found(tmp_path, isolated_cache):
    """A plain binary column "Image" (no datasets features) is detected and read by that name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hubselect.testing.tiny import image_rows

    images = [row["image"]["bytes"] for row in image_rows(12, style="cool", seed=1)]
    pq.write_table(pa.table({"Image": images, "Text": [f"a cool stripe {i}" for i in range(12)]}), tmp_path / "caps.parquet")
    sample = load_dataset_sample(str(tmp_path / "caps.parquet"), n=12, progress=False)
    assert (sample.image_column, sample.caption_column) == ("Image", "Text")
    assert len(sample) == 12 and all(sample.captions)


def test_images_and_metadata_come_from_the_same_folders(tmp_path, isolated_cache):
    """Symlinked subfolders are read (a cycle once); a hidden folder's metadata is ignored, as its images are."""
    import os

    root = tmp_path / "d"
    write_image_folder(root / "real", 6, style="cool", seed=1)
    elsewhere = write_image_folder(tmp_path / "elsewhere", 6, style="cool", seed=2)
    os.symlink(elsewhere, root / "linked")
    os.symlink(root, root / "real" / "loop")  # a cycle: read once, not forever
    for metadata in (root / "real" / "metadata.jsonl", elsewhere / "metadata.jsonl"):
        metadata.write_text(metadata.read_text().replace('"text":', '"caption":'))
    # A stale notebook checkpoint whose column ranks first ("text") must not choose the column.
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "metadata.jsonl").write_text(json.dumps({"file_name": "old.png", "text": "stale"}) + "\n")

    sample = load_dataset_sample(str(root), n=50, min_images=2, progress=False)
    assert sample.total == 12 and len(sample) == 12
    assert {s.split("/")[0] for s in sample.sources} == {"real", "linked"}
    assert sample.caption_column == "caption" and all(sample.captions)
    before = dataset_revision(str(root))
    (elsewhere / "img_0001.png").write_bytes((elsewhere / "img_0003.png").read_bytes())
    assert dataset_revision(str(root)) != before  # a change behind the link is a new revision


@pytest.mark.timeout(60)  # the fault was a hang: a FIFO blocks open() until something writes to it
def test_a_pipe_named_like_an_image_is_skipped_as_unreadable_never_opened(tmp_path, isolated_cache):
    """A FIFO (or socket, or device) named *.png in a folder hung `recommend` forever, with no
    message: hashing the folder for its revision opened it. It is skipped and counted like any
    other unreadable file, and the revision is still told without reading it."""
    import os

    folder = write_image_folder(tmp_path / "d", 10, style="cool", captions=False)
    os.mkfifo(folder / "zz.png")
    revision = dataset_revision(str(folder))
    sample = load_dataset_sample(str(folder), n=50, min_images=2, progress=False)
    assert len(sample) == 10 and sample.total == 10 and sample.revision == revision
    assert sample.skip_summary() == "1 skipped: 1 unreadable"
    assert [str(s) for s in sample.skipped] == ["zz.png: unreadable (not a regular file: a pipe, socket or device)"]
    os.remove(folder / "zz.png")
    assert dataset_revision(str(folder)) != revision  # what the sample skips is part of what it was read from


def test_a_folder_of_parquet_files_names_what_reads_them(tmp_path, isolated_cache):
    from hubselect.testing.tiny import write_parquet_shards

    shards = write_parquet_shards(tmp_path / "pq", 8, shards=2, row_group_size=4)
    with pytest.raises(InputError) as error:
        load_dataset_sample(str(tmp_path / "pq"), progress=False)
    assert str(error.value) == (f"no image files in {tmp_path / 'pq'}, but it holds 2 parquet files; "
                                f"pass one .parquet file (e.g. {shards[0]}) or the dataset's Hub id (which reads every file)")
    assert len(load_dataset_sample(str(shards[0]), n=4, min_images=2, progress=False)) == 4  # the way forward works


def _captioned_folder(path, metadata_name, content, n=10):
    """``n`` images ``img_0000..`` and a metadata file written as given (bytes or text)."""
    folder = write_image_folder(path, n, style="cool", captions=False)
    data = content if isinstance(content, bytes) else content.encode()
    (folder / metadata_name).write_bytes(data)
    return folder


def _names(n=10):
    return [f"img_{i:04d}.{'png' if i % 2 else 'jpg'}" for i in range(n)]


@pytest.mark.parametrize("metadata_name", ["metadata.csv", "metadata.jsonl"])
def test_metadata_saved_with_a_utf8_bom_keeps_its_captions(metadata_name, tmp_path, isolated_cache):
    """Excel's "CSV UTF-8" starts with a BOM; ``datasets`` reads such a file, and so do we."""
    if metadata_name == "metadata.csv":
        text = "file_name,text\r\n" + "".join(f"{name},caption {i}\r\n" for i, name in enumerate(_names()))
    else:
        text = "".join(json.dumps({"file_name": name, "text": f"caption {i}"}) + "\n" for i, name in enumerate(_names()))
    folder = _captioned_folder(tmp_path / "d", metadata_name, b"\xef\xbb\xbf" + text.encode())
    sample = load_dataset_sample(str(folder), n=10, min_images=2, progress=False)
    assert sample.caption_column == "text"
    assert sorted(sample.captions) == sorted(f"caption {i}" for i in range(10))


@pytest.mark.parametrize(
    ("metadata_name", "content", "captions"),
    [
        # A quoted title followed by more text: the csv module's lenient reading, as `datasets` reads it.
        pytest.param("metadata.csv", "file_name,text\n" + "".join(f'{name},"Starry Night" by van Gogh {i}\n' for i, name in enumerate(_names())),
                     [f"Starry Night by van Gogh {i}" for i in range(10)], id="quoted title"),
        # A quoted caption over two lines, last in the file: closed, so not an unclosed quote.
        pytest.param("metadata.csv", "file_name,text\n" + "".join(f'{name},"line one\nline two {i}"\n' for i, name in enumerate(_names())),
                     [f"line one\nline two {i}" for i in range(10)], id="multi-line caption"),
        # A quote inside an unquoted field is a character (an inch mark), last row included.
        pytest.param("metadata.csv", "file_name,text,note\n" + "".join(f'{name},"line one\nline two {i}",12" vinyl\n' for i, name in enumerate(_names())),
                     [f"line one\nline two {i}" for i in range(10)], id="inch mark after a multi-line caption"),
        # Objects spread over several lines (pretty-printed), which `datasets` reads too.
        pytest.param("metadata.jsonl", "".join(json.dumps({"file_name": name, "text": f"cap {i}"}, indent=1) + "\n" for i, name in enumerate(_names())),
                     [f"cap {i}" for i in range(10)], id="multi-line objects"),
    ],
)
def test_metadata_that_datasets_reads_keeps_its_captions(metadata_name, content, captions, tmp_path, isolated_cache):
    folder = _captioned_folder(tmp_path / "d", metadata_name, content)
    sample = load_dataset_sample(str(folder), n=10, min_images=2, progress=False)
    assert sorted(sample.captions) == sorted(captions)


def _unclosed_quote(rows):
    lines = ["file_name,text"] + [f"{name},caption {i}" for i, name in enumerate(_names(rows))]
    lines[4] = f'{_names()[3]},"Best photo of thing 3'  # the quote is never closed
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("metadata_name", "content", "expected"),
    [
        # Leniently read, every later row becomes part of one caption; at 128 KB the csv module gave up.
        pytest.param("metadata.csv", _unclosed_quote(10),
                     'metadata.csv, line 5: a quoted field starting in this row is never closed; close the quote '
                     '(a quote inside a quoted field is written "")', id="unclosed quote"),
        # Closed by the next quote in the file, leniently: the rows between became one caption.
        pytest.param("metadata.csv", _unclosed_quote(10).replace(f"{_names()[4]},caption 4", f'{_names()[4]},"Starry Night" by van Gogh'),
                     'metadata.csv, line 5: a quoted field starting in this row is never closed; close the quote '
                     '(a quote inside a quoted field is written "")', id="unclosed quote before a quoted title"),
        pytest.param("metadata.csv", _unclosed_quote(10).replace(f"{_names()[6]},caption 6", f'{_names()[6]},a 5" screen'),
                     'metadata.csv, line 5: a quoted field starting in this row is never closed; close the quote '
                     '(a quote inside a quoted field is written "")', id="unclosed quote before an inch mark"),
        pytest.param("metadata.csv", _unclosed_quote(6000),
                     "metadata.csv, line 5: a field is longer than 131,072 characters (a quote never closed?); fix the row",
                     id="unclosed quote, long file"),
        # Read leniently, the caption would be cut at the first comma.
        pytest.param("metadata.csv", "file_name,text\nimg_0000.jpg,a, b, c\nimg_0001.png\n",
                     'metadata.csv, line 2: 4 fields where the header has 2; quote a field that holds a comma ("a, b")',
                     id="unquoted comma"),
        pytest.param("metadata.jsonl",
                     "".join(json.dumps({"file_name": name, "text": "ok"}) + "\n" for name in _names()) * 49
                     + '{"file_name": "img_0009.png", "text": "it\'s "broken"}\n',
                     "metadata.jsonl, line 491: not valid JSON (Expecting ',' delimiter at column 46); fix the line or remove the file",
                     id="broken json"),
        # A tab typed into a caption: json's message ends in "at" itself.
        pytest.param("metadata.jsonl", '{"file_name": "img_0000.jpg", "text": "a\tb"}\n',
                     "metadata.jsonl, line 1: not valid JSON (Invalid control character at column 41); fix the line or remove the file",
                     id="tab in a caption"),
        pytest.param("metadata.csv", "file_name,text\nimg_0000.jpg,a\n".encode("utf-16"),
                     "metadata.csv, line 1: not UTF-8 text (invalid start byte); save the file as UTF-8", id="utf-16"),
    ],
)
@pytest.mark.parametrize("image_column", [None, "file_name"])
def test_malformed_metadata_is_an_error_naming_the_file_and_line(metadata_name, content, expected, image_column, tmp_path, isolated_cache):
    folder = _captioned_folder(tmp_path / "d", metadata_name, content)
    with pytest.raises(InputError) as error:
        load_dataset_sample(str(folder), n=10, min_images=2, image_column=image_column, progress=False)
    assert str(error.value) == f"{folder}/{expected}"


def test_metadata_without_a_file_name_column_is_refused_and_says_what_works(tmp_path, isolated_cache):
    """As in ``datasets``: a metadata file must say which image each row describes."""
    rows = "".join(f"{name},cap {i}\n" for i, name in enumerate(_names()))
    folder = _captioned_folder(tmp_path / "d", "metadata.csv", "image,caption\n" + rows)
    with pytest.raises(InputError) as error:
        load_dataset_sample(str(folder), n=10, min_images=2, progress=False)
    assert str(error.value) == (f"{folder}/metadata.csv: no 'file_name' column saying which image each row describes "
                                "(columns: image, caption); rename the column of image paths to file_name or name it with --image-column")
    named = load_dataset_sample(str(folder), n=10, min_images=2, image_column="image", progress=False)
    assert named.caption_column == "caption" and sorted(named.captions) == sorted(f"cap {i}" for i in range(10))
    with pytest.raises(InputError, match=r"metadata.csv: no column 'nope'; choose --image-column from: image, caption$"):
        load_dataset_sample(str(folder), n=10, min_images=2, image_column="nope", progress=False)
    # datasets' other spelling, `*_file_name`, needs no option.
    (folder / "metadata.csv").write_text("image_file_name,caption\n" + rows)
    assert all(load_dataset_sample(str(folder), n=10, min_images=2, progress=False).captions)


@pytest.mark.parametrize("image_column", [None, "file_name"])
def test_metadata_in_subfolders_names_images_beside_it(image_column, tmp_path, isolated_cache):
    """Naming the default column changes nothing: paths are relative to the metadata file's folder."""
    for part, style in (("a", "cool"), ("b", "warm")):
        write_image_folder(tmp_path / "d" / part, 5, style=style)
    sample = load_dataset_sample(str(tmp_path / "d"), n=10, min_images=2, image_column=image_column, progress=False)
    assert sample.image_column == "file_name" and sample.caption_column == "text"
    assert len(sample) == 10 and all(sample.captions)


def test_txt_captions_beside_images_are_said_to_be_unread(tmp_path, isolated_cache, caplog):
    """Kohya-style `img.png` + `img.txt`: captions are read from imagefolder metadata only, and the `.txt` files are not silently ignored."""
    import logging

    folder = write_image_folder(tmp_path / "kohya", 10, style="cool", captions=False)
    for image in sorted(folder.glob("img_*")):
        image.with_suffix(".txt").write_text(f"a cool stripe, {image.stem}")
    with caplog.at_level(logging.WARNING, logger="hubselect.data.sample"):
        sample = load_dataset_sample(str(folder), n=10, min_images=2, progress=False)
    assert not any(sample.captions)
    assert f"{folder}: 10 .txt files beside images were not read as captions; write them into a metadata.jsonl" in caplog.text
    caplog.clear()
    (folder / "metadata.jsonl").write_text("".join(json.dumps({"file_name": p.name, "text": "a cool stripe"}) + "\n" for p in folder.glob("img_*")))
    with caplog.at_level(logging.WARNING, logger="hubselect.data.sample"):
        assert all(load_dataset_sample(str(folder), n=10, min_images=2, progress=False).captions)
    assert caplog.text == ""


def test_metadata_files_captioning_in_two_columns_say_which_captions_are_unread(tmp_path, isolated_cache, caplog):
    """`prompt` in the root's metadata.jsonl, `text` in a/metadata.jsonl: one column is read, and the other's captions are not lost without a word."""
    import logging

    root = write_image_folder(tmp_path / "d", 6, style="cool", captions=False)
    nested = write_image_folder(root / "a", 4, style="warm", captions=False)
    for folder, column in ((root, "prompt"), (nested, "text")):
        rows = [{"file_name": p.name, column: f"{column} of {p.name}"} for p in sorted(folder.glob("img_*"))]
        (folder / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with caplog.at_level(logging.WARNING, logger="hubselect.data.sample"):
        sample = load_dataset_sample(str(root), n=10, min_images=2, progress=False)
    assert sample.caption_column == "text" and sum(bool(c) for c in sample.captions) == 4
    assert (f"{root}: 6 images' captions are in metadata column 'prompt', not 'text' as the others': they are not read; "
            "name the caption column alike in every metadata file") in caplog.text
