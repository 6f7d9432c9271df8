"""Probes: local folders and Hub ids, identified by (id, revision), batched, usable by clean-fid."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import HfApi

from fixtures.data import isolated_cache, messy_folder, tiny_clip, tiny_dino  # noqa: F401
from hubselect.data.sample import load_dataset_sample
from hubselect.errors import HubError, InputError
from hubselect.metrics import extract_features
from hubselect.probes import load_probe, resolve_probe
from hubselect.testing.tiny import tiny_clip_vision


@pytest.fixture(scope="module")
def images():
    return load_dataset_sample(str(messy_folder()), n=20, progress=False).images


def test_a_local_clip_folder_is_a_probe_keyed_by_its_content(tiny_clip, tmp_path, isolated_cache):
    ref = resolve_probe(str(tiny_clip))
    assert (ref.id, ref.kind) == ("local:tiny-clip", "clip") and ref.revision.startswith("local-")
    copy = shutil.copytree(tiny_clip, tmp_path / "tiny-clip")
    assert resolve_probe(str(copy)).revision == ref.revision  # same files, same revision
    other = tiny_clip_vision(tmp_path / "other" / "tiny-clip", seed=1)
    assert resolve_probe(str(other)).revision != ref.revision  # other weights, other revision


def test_clip_embeddings_do_not_depend_on_the_batch_size(tiny_clip, images):
    probe = load_probe(str(tiny_clip), device="cpu")
    assert probe.dim == 16
    whole = probe.embed(images, batch_size=32)
    assert whole.shape == (20, 16) and whole.dtype == np.float32
    np.testing.assert_allclose(probe.embed(images, batch_size=3), whole, rtol=1e-4, atol=1e-5)


def test_preprocessing_gives_the_model_processor_s_exact_pixels(tiny_clip, tiny_dino, images):
    # The probe resizes in PIL before the processor to save time; the pixels must not change.
    for folder in (tiny_clip, tiny_dino):
        probe = load_probe(str(folder), device="cpu")
        reference = probe.processor(images=images, return_tensors="pt")["pixel_values"]
        assert (probe.preprocess(images) - reference).abs().max().item() == 0.0


def test_a_backbone_probe_embeds_with_its_pooled_output(tiny_dino, images):
    probe = load_probe(str(tiny_dino), device="cpu")
    assert probe.ref.kind == "backbone" and probe.dim == 32
    assert probe.embed(images).shape == (20, 32)


def test_a_probe_from_the_hub_is_pinned_to_a_commit_and_works_offline(hub, hub_token, hub_repo_id, tiny_clip, images, monkeypatch):
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    sha = api.upload_folder(repo_id=hub_repo_id, folder_path=str(tiny_clip)).oid
    ref = resolve_probe(hub_repo_id)
    assert (ref.id, ref.revision, ref.kind) == (hub_repo_id, sha, "clip")
    from_hub = ref.load(device="cpu").embed(images)
    np.testing.assert_allclose(from_hub, load_probe(str(tiny_clip), device="cpu").embed(images), rtol=1e-5, atol=1e-6)

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.clear_log()
    assert resolve_probe(hub_repo_id).revision == sha
    assert hub.request_log == []


def test_unknown_and_unusable_probes_are_one_line_errors(tmp_path, hub):
    with pytest.raises(InputError, match="probe 'no such probe' not found"):
        resolve_probe("no such probe")
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(InputError, match="holds no model weights"):
        resolve_probe(str(tmp_path / "empty-model"))
    with pytest.raises(HubError, match="tester/missing-probe was not found"):
        resolve_probe("tester/missing-probe")


@pytest.mark.usefixtures("isolated_cache")
def test_an_empty_probe_is_refused_by_every_command_not_read_as_the_current_folder_or_as_not_given(hub, tmp_path, monkeypatch):
    """``--probe ""`` (an unset shell variable) was the current folder to ``recommend`` (an error
    naming no probe, " holds no model weights", or a model that happened to be there, loaded as
    the probe) and "not given" to ``dataset similar`` and ``dataset profile``, which ranked with
    the zoo's probe."""
    import contextlib
    import io

    from hubselect.cli import main
    from hubselect.testing.tiny import write_image_folder

    monkeypatch.chdir(tiny_clip_vision(tmp_path / "tiny-clip"))  # a probe's folder: what "" was read as
    folder = write_image_folder(tmp_path / "images", 8, style="cool")
    commands = [
        ["recommend", folder, "--zoo", "demo", "--probe", ""],
        ["dataset", "similar", folder, "--zoo", "demo", "--probe", ""],
        ["dataset", "profile", folder, "--zoo", tmp_path / "z", "--probe", " "],
        ["evaluate", "demo", "--probe", ""],
        ["build", "demo", "--out", tmp_path / "r", "--probe", ""],
        ["profile", "--models", "a/b", "--datasets", folder, "--zoo", tmp_path / "z", "--probe", ""],
        ["profile", "--models", "a/b", "--datasets", folder, "--zoo", tmp_path / "z", "--dino-probe", ""],
    ]
    for args in commands:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
        expected = (
            "Error: --dino-probe is empty; pass a Hub model id or a local model folder, or leave it out for none\n" if "--dino-probe" in args
            else "Error: --probe is empty; pass a Hub model id, a local model folder or inception, or leave it out for the zoo's probe\n"
        )
        assert (code, out.getvalue(), err.getvalue()) == (2, "", expected), args
    assert not (tmp_path / "z").exists() and not (tmp_path / "r").exists() and not hub.request_log
    with pytest.raises(InputError, match=r"^probe is empty; pass a Hub model id \(e.g. openai/clip-vit-base-patch32\), a local model folder, or 'inception'$"):
        resolve_probe("")


def test_a_probe_that_is_not_a_str_is_an_input_error_naming_it(tmp_path):
    """``probe=5`` raised "AttributeError: 'int' object has no attribute 'lower'" from inside."""
    import hubselect
    from hubselect.data.profile import profile_dataset
    from hubselect.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / "images", 8, style="cool")
    calls = [
        lambda: resolve_probe(5),
        lambda: profile_dataset(str(folder), probe=5),
        lambda: hubselect.recommend(str(folder), zoo="demo", probe=5),
    ]
    for call in calls:
        with pytest.raises(InputError) as raised:
            call()
        assert str(raised.value) == "probe must be a Hub model id, a local model folder or 'inception' (a str or a path), got 5"


def test_a_local_probe_folder_given_as_a_path_is_the_probe_its_str_names():
    """``resolve_probe(pathlib.Path(folder))`` was refused ("... (a str), got PosixPath(...)")
    where ``str(folder)`` is taken, and so was every ``probe=`` a Path was passed to."""
    from fixtures.data import tiny_clip_dir

    from hubselect.data.profile import profile_dataset
    from hubselect.probes.registry import probe_identity

    folder = tiny_clip_dir()
    as_str = resolve_probe(str(folder))
    assert resolve_probe(folder) == as_str and probe_identity(folder) == as_str
    assert load_probe(folder, device="cpu").ref == as_str
    profile = profile_dataset(messy_folder(), probe=folder, n=20, min_images=8)
    assert (profile.probe.id, profile.probe.revision) == (as_str.id, as_str.revision)


def test_the_probe_registry_examples_pass_offline(monkeypatch):
    """``HF_HUB_OFFLINE=1`` is the offline mode the README recommends: ``probe_identity``'s example
    of a Hub probe pinned at a commit failed there (the probe is not in the HF cache)."""
    import doctest

    from huggingface_hub import constants

    from hubselect.probes import registry

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert doctest.testmod(registry).failed == 0


def test_inception_without_its_weights_offline_says_where_to_put_them(isolated_cache, monkeypatch, tmp_path):
    if Path("/tmp/inception-2015-12-05.pt").exists():
        pytest.skip("clean-fid's Inception weights are present on this machine")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HUBSELECT_INCEPTION_DIR", str(tmp_path))
    with pytest.raises(HubError, match="inception-2015-12-05.pt.*not available offline.*choose another --probe"):
        resolve_probe("inception")


def test_the_inception_probe_runs_clean_fid_s_resize_and_network(images, tmp_path, monkeypatch, isolated_cache):
    from hubselect.testing.tiny import fake_inception_weights

    monkeypatch.setenv("HUBSELECT_INCEPTION_DIR", str(fake_inception_weights(tmp_path / "inception")))
    ref = resolve_probe("inception")
    assert (ref.id, ref.kind) == ("clean-fid/inception-v3", "inception") and ref.revision.startswith("sha256-")
    probe = ref.load(device="cpu")
    assert tuple(probe.preprocess(images[:2]).shape) == (2, 3, 299, 299)
    embeddings = probe.embed(images, batch_size=8)
    assert embeddings.shape == (20, 2048)
    # As a clean-fid extractor it is the network itself: clean-fid's pipeline gives the same features.
    np.testing.assert_allclose(extract_features(images, probe.clean_fid_extractor(), mode="clean"), embeddings, rtol=1e-5, atol=1e-4)


def test_a_probe_is_a_clean_fid_feature_extractor(tiny_clip, images):
    probe = load_probe(str(tiny_clip), device="cpu")
    from PIL import Image

    # clean-fid's batch pipeline with the probe as custom extractor gives the probe's own
    # embeddings of the resized images; with the "clean" 299 px resize, the same shape.
    def resize(array):
        return np.asarray(Image.fromarray(array).resize((48, 48)))

    through_clean_fid = extract_features(images, probe.clean_fid_extractor(), custom_fn_resize=resize, batch_size=8)
    resized = [Image.fromarray(resize(np.asarray(image))) for image in images]
    np.testing.assert_allclose(through_clean_fid, probe.embed(resized), rtol=1e-4, atol=1e-4)
    assert extract_features(images[:4], probe.clean_fid_extractor(), mode="clean").shape == (4, 16)


@pytest.mark.parametrize("device", ["xla", "xpu", "meta"])
def test_a_device_type_hubselect_does_not_run_on_is_refused_by_every_command(device, hub, tmp_path):
    """torch names these devices, but nothing here runs on them: every job failed later with an
    'unexpected RuntimeError' (or AssertionError, NotImplementedError) after loading the data."""
    import contextlib
    import io

    from hubselect.cli import main

    commands = [
        ["profile", "--models", "a/b", "--datasets", tmp_path, "--zoo", tmp_path / "z", "--device", device],
        ["dataset", "profile", tmp_path, "--zoo", tmp_path / "z", "--device", device],
        ["crawl", "--zoo", tmp_path / "z", "--bench", "--bench-device", device],
        ["bench", tmp_path, "--device", device],
    ]
    for args in commands:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
        option = "--bench-device" if "--bench-device" in args else "--device"
        assert (code, out.getvalue(), err.getvalue()) == (
            2, "", f"Error: {option} {device}: hubselect runs models on cpu, cuda or mps only; use cpu, cuda, cuda:N, mps or auto\n"
        ), args
    assert not (tmp_path / "z").exists() and not hub.request_log
