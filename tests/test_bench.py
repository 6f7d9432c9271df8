"""hubselect bench: throughput of a tiny pipeline on CPU; the full-size SD-1.5 figure on a GPU."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import pytest

from fixtures.bundles import write_bundle
from fixtures.paths import unwritable
from hubselect.bench import BenchConfig, measure_throughput
from hubselect.cli import main
from hubselect.testing.seed_models import build_pipeline, save_pickle_only_pipeline, save_remote_code_pipeline, save_tiny_pipeline
from hubselect.zoo import Zoo


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def weights_mb(pipe) -> float:
    import torch

    modules = [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    return sum(t.nbytes for m in modules for t in (*m.parameters(), *m.buffers())) / 2**20


def test_bench_tiny_pipeline_on_cpu(tmp_path, capsys):
    """Peak memory on CPU is what the pipeline needed, its weights included, as on CUDA: it was the
    growth of the process's memory after the warm-up call, about 0 MiB for any pipeline."""
    folder = save_tiny_pipeline(tmp_path / "sd-tiny", "sd-tiny-ddim")
    code, out, err = run_cli(
        capsys, "bench", folder, "--steps", "2", "--min-iterations", "3", "--min-seconds", "0", "--device", "cpu", "--format", "json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["images_per_s"] > 0 and report["denoiser_it_per_s"] > 0
    assert report["denoiser_step_ms_p50"] <= report["denoiser_step_ms_p90"]
    assert report["iterations"] >= 3 and report["resolution"] == 16  # the model's native resolution
    assert report["device"].startswith("cpu") and report["memory_measure"] == "cpu_weights_plus_peak_rss_growth"
    assert report["peak_memory_mb"] >= round(weights_mb(build_pipeline("sd-tiny-ddim")), 1) > 0
    assert report["dtype"] == "float32" and report["steps"] == 2 and report["batch"] == 1


def test_float16_on_the_cpu_is_measured_with_one_line_saying_what_the_figure_is_worth(tmp_path, capfd):
    """diffusers printed its 4-line "cannot run with `cpu` device" warning once per float16
    component, three times, before a run that went fine."""
    folder = save_tiny_pipeline(tmp_path / "sd-tiny", "sd-tiny-ddim")
    code, out, err = run_cli(
        capfd, "bench", folder, "--dtype", "float16", "--steps", "1", "--min-iterations", "1", "--min-seconds", "0", "--device", "cpu", "--format", "json"
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["dtype"] == "float16"
    assert "cannot run with" not in err
    assert err.count("float16 on the CPU: PyTorch computes some float16 operations slowly there") == 1, err


def test_figures_recorded_in_a_zoo_survive_a_later_import_into_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_tiny_pipeline(tmp_path / "sd-tiny", "sd-tiny-ddim")
    first = write_bundle(
        tmp_path / "b1",
        records="model,dataset,score\nsd-tiny,d1,0.9\nm2,d1,0.5\n",
        models="model,license\nsd-tiny,mit\nm2,mit\n",
    )
    second = write_bundle(tmp_path / "b2", records="model,dataset,score\nsd-tiny,d2,0.7\n", models="model,family\nsd-tiny,sd\n")
    assert run_cli(capsys, "zoo", "import", first, "--higher-is-better", "--out", "Z")[0] == 0
    code, out, err = run_cli(
        capsys, "bench", "sd-tiny", "--steps", "2", "--min-iterations", "2", "--min-seconds", "0", "--device", "cpu", "--zoo", "Z",
        "--format", "json",
    )
    assert code == 0, err
    measured = json.loads(out)["images_per_s"]
    assert run_cli(capsys, "zoo", "import", second, "--higher-is-better", "--out", "Z")[0] == 0
    features = next(r for r in Zoo.load(tmp_path / "Z").model_records() if r.model == "sd-tiny").features
    assert features["family"] == "sd" and features["license"] == "mit"
    assert features["throughput_images_per_s"] == measured and features["bench_steps"] == 2


def test_measurement_lasts_for_both_the_iterations_and_the_duration():
    pipe = build_pipeline("sd-tiny-wide")
    report = measure_throughput(pipe, BenchConfig(steps=2, batch=2, min_iterations=2, min_seconds=0.3, device="cpu", resolution=24))
    assert report.iterations >= 2 and report.seconds >= 0.3
    assert report.resolution == 24 and report.batch == 2
    assert report.images_per_s == pytest.approx(report.iterations * 2 / report.seconds)


@pytest.mark.parametrize("save, reason", [(save_pickle_only_pipeline, "pickle"), (save_remote_code_pipeline, "custom code")])
def test_bench_refuses_repos_it_cannot_load_safely(tmp_path, capsys, save, reason):
    folder = save(tmp_path / "unsafe")
    code, out, err = run_cli(capsys, "bench", folder, "--device", "cpu")
    assert code == 2 and reason in err and len(err.strip().splitlines()) == 1


def test_bench_usage_errors_are_one_line(tmp_path, capsys):
    code, out, err = run_cli(capsys, "bench")
    assert code == 2 and "MODEL or --random-weights" in err
    code, out, err = run_cli(capsys, "bench", "--random-weights", "sd99", "--device", "cpu")
    assert code == 2 and "unknown architecture 'sd99'" in err
    code, out, err = run_cli(capsys, "bench", tmp_path, "--steps", "0", "--device", "cpu")
    assert code == 2 and "Invalid value for '--steps': 0 is not in the range x>=1." in err
    code, out, err = run_cli(capsys, "bench", tmp_path, "--device", "tpu")
    assert code == 2 and err.strip() == "Error: --device tpu: not a device; use cpu, cuda, cuda:N, mps or auto"


def test_a_missing_folder_or_a_file_is_refused_before_the_hub_is_asked(hub, tmp_path, capsys):
    """A typo'd path is not sent to the Hub as a model id: no request, a one-line error at once."""
    (tmp_path / "model.safetensors").write_bytes(b"")
    before = len(hub.request_log)
    for ref, message in ((tmp_path / "no-such-pipeline", "no such folder, and not a Hub id"), (tmp_path / "model.safetensors", "is a file")):
        code, out, err = run_cli(capsys, "bench", ref, "--device", "cpu")
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert message in err and "pass a diffusers pipeline folder" in err
    assert len(hub.request_log) == before


def test_a_hub_retry_is_logged_once(hub):
    """huggingface_hub's warnings reach stderr through hubselect's log handler only, not twice."""
    hub.inject_fault(r"/api/models/tester/no-such-pipeline", "500", times=1)
    done = subprocess.run(
        [sys.executable, "-m", "hubselect", "bench", "tester/no-such-pipeline", "--device", "cpu"],
        capture_output=True, text=True, env=dict(os.environ), timeout=120,
    )  # fmt: skip
    assert done.returncode != 0 and done.stderr.strip().splitlines()[-1].startswith("Error: "), done.stderr
    assert done.stderr.count("Retrying in") == 1, done.stderr


@pytest.mark.parametrize("revision", ["", "  "])
def test_an_empty_revision_is_refused_before_the_hub_is_asked(revision, hub, capsys):
    code, out, err = run_cli(capsys, "bench", "tester/sd-tiny", "--revision", revision, "--device", "cpu")
    assert (code, out) == (2, "") and err == "Error: --revision is empty; pass a branch, tag or commit sha, or leave it out for main\n"
    assert hub.request_log == []


@pytest.mark.parametrize("zoo", ["no-such-zoo", "zoo-without-it", "zoo-it-cannot-write"])
def test_a_zoo_that_cannot_take_the_figures_is_refused_before_measuring(zoo, tmp_path, monkeypatch, capsys):
    """An hour of measuring asked for: the refusal comes at once, not after the figures are made
    (a refusal that came after them fails on the test timeout)."""
    from hubselect.zoo import ModelRecord, Zoo, ZooMeta

    save_tiny_pipeline(tmp_path / "sd-tiny", "sd-tiny-ddim")
    other = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    other.add_models([ModelRecord("org/another-model", "0" * 40)])
    other.save(tmp_path / "zoo-without-it")
    holding_it = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    holding_it.add_models([ModelRecord("sd-tiny")])
    holding_it.save(tmp_path / "zoo-it-cannot-write")
    monkeypatch.chdir(tmp_path)
    with unwritable(tmp_path / zoo) if zoo == "zoo-it-cannot-write" else contextlib.nullcontext():
        code, out, err = run_cli(capsys, "bench", "./sd-tiny", "--steps", "2", "--min-seconds", "3600", "--device", "cpu", "--zoo", zoo)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    expected = {
        "no-such-zoo": "Error: no-such-zoo is not a zoo; crawl into it first (`hubselect crawl --zoo no-such-zoo`)",
        "zoo-without-it": "Error: sd-tiny is not in the zoo zoo-without-it; crawl it first, or drop --zoo",
        "zoo-it-cannot-write": "Error: --zoo zoo-it-cannot-write: cannot create files in zoo-it-cannot-write (",
    }[zoo]
    assert err.startswith(expected), err


def test_a_hub_model_the_zoo_holds_at_another_revision_is_refused_before_its_weights_are_downloaded(hub, hub_token, hub_repo_id, tmp_path, capsys):
    from huggingface_hub import HfApi

    from hubselect.zoo import ModelRecord, Zoo, ZooMeta

    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    sha = api.upload_folder(repo_id=hub_repo_id, folder_path=str(save_tiny_pipeline(tmp_path / "sd-tiny", "sd-tiny-ddim"))).oid
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_models([ModelRecord(hub_repo_id, "0" * 40)])
    zoo.save(tmp_path / "zoo")
    hub.clear_log()
    code, out, err = run_cli(capsys, "bench", hub_repo_id, "--device", "cpu", "--zoo", tmp_path / "zoo", "--token", hub_token)
    assert code == 2 and out == ""
    assert err == f"Error: the zoo holds {hub_repo_id} at 000000000000 but these figures are of {sha[:12]}; recrawl it first, or pass --revision {'0' * 40}\n"
    assert not [e.path for e in hub.request_log if e.path.endswith(".safetensors")], "weights were downloaded"


def test_bench_records_its_figures_in_the_zoos_record_of_the_model(tmp_path, monkeypatch, capsys):
    """The zoo is checked against the id the record carries: a folder's path as given, ./ dropped."""
    from hubselect.zoo import ModelRecord, Zoo, ZooMeta

    save_tiny_pipeline(tmp_path / "sd-tiny", "sd-tiny-ddim")
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_models([ModelRecord("sd-tiny", features={"license": "apache-2.0"})])
    zoo.save(tmp_path / "zoo")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "bench", "./sd-tiny", "--steps", "2", "--min-seconds", "0", "--device", "cpu", "--zoo", "zoo", "--format", "json")
    assert code == 0, err
    (record,) = Zoo.load(tmp_path / "zoo").model_records()
    assert record.features["throughput_images_per_s"] == pytest.approx(json.loads(out)["images_per_s"])
    assert record.features["license"] == "apache-2.0"


def test_figures_name_the_device_they_were_measured_on_mps_included():
    """--device mps was accepted and measured, then labelled "cpu (...)" in the report and the
    zoo, with CPU's peak memory measure; "auto" picked CPU on a Mac where every other command
    picks MPS. (No MPS here: the labels, not a run.)"""
    from hubselect.bench.throughput import device_name, memory_measure
    from hubselect.probes.base import pick_device

    assert device_name("mps").startswith("mps (") and memory_measure("mps") == "none"
    assert device_name("cpu").startswith("cpu (") and memory_measure("cpu") == "cpu_weights_plus_peak_rss_growth"
    # A CPU by its name, as a GPU: figures from two x86_64 processors are not one setting.
    from hubselect.machine import cpu_name

    assert device_name("cpu").startswith(f"cpu ({cpu_name()}, ")
    assert memory_measure("cuda:1") == "cuda_max_allocated"
    assert BenchConfig().resolved_device() == str(pick_device("auto"))


def test_one_gpu_is_one_setting_however_the_device_was_named(monkeypatch):
    """`crawl --bench --bench-device cuda:0` after a crawl with the default `auto` measured every
    model again (a download and minutes of GPU time each): the figures were labelled "cuda (...)"
    and "cuda:0 (...)". Zoos hold labels written both ways; the GPU, not its spelling, is the
    setting. (No GPU here: torch's name of the device stands in for one.)"""
    import torch

    from hubselect.crawl.driver import _needs_bench
    from hubselect.zoo import ModelRecord

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100")
    figure = dict(throughput_images_per_s=41.7, bench_dtype="float16", bench_steps=20, bench_resolution=512, bench_batch=1,
                  bench_memory_measure="cuda_max_allocated")
    for device in ("cuda", "cuda:0"):
        config = BenchConfig(device=device, dtype="float16")
        assert config.settings(512)[0] == "cuda (NVIDIA H100)"
        for written in ("cuda (NVIDIA H100)", "cuda:0 (NVIDIA H100)"):  # by auto or cuda, and by cuda:0
            record = ModelRecord("org/m", "a" * 40, {"kind": "t2i", "total_params": 1e9, "resolution": 512, **figure, "bench_device": written})
            assert not _needs_bench(record, config), (device, written)
    other = ModelRecord("org/m", "a" * 40, {"kind": "t2i", "total_params": 1e9, **figure, "bench_device": "cuda (NVIDIA A100)"})
    assert _needs_bench(other, BenchConfig(device="cuda:0", dtype="float16"))


def test_a_figure_measured_with_other_settings_is_replaced_with_a_note_naming_them(tmp_path, monkeypatch, capsys):
    """bench --zoo wrote a quick CPU figure over an expensive GPU one without a word."""
    from hubselect.zoo import ModelRecord, Zoo, ZooMeta

    save_tiny_pipeline(tmp_path / "sd-tiny", "sd-tiny-ddim")
    gpu = dict(throughput_images_per_s=41.7, bench_device="cuda (NVIDIA H100)", bench_dtype="float16", bench_steps=20, bench_resolution=512,
               bench_batch=1, bench_memory_measure="cuda_max_allocated", peak_memory_mb=3500.0)
    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    zoo.add_models([ModelRecord("sd-tiny", features={"license": "mit", **gpu})])
    zoo.save(tmp_path / "zoo")
    monkeypatch.chdir(tmp_path)
    quick = ("bench", "sd-tiny", "--steps", "1", "--min-iterations", "1", "--min-seconds", "0", "--device", "cpu", "--zoo", "zoo")

    code, out, err = run_cli(capsys, *quick)
    assert code == 0, err
    assert [line for line in err.splitlines() if line.startswith("note:")] == [
        "note: zoo held another figure of sd-tiny, measured with other settings, which this one replaces: "
        "41.7 images/s on cuda (NVIDIA H100), float16, 20 steps, 512 px, batch 1"
    ]
    (record,) = Zoo.load(tmp_path / "zoo").model_records()
    assert record.features["bench_device"].startswith("cpu") and record.features["bench_steps"] == 1
    code, out, err = run_cli(capsys, *quick)  # the same settings again: nothing to say
    assert code == 0 and "note:" not in err, err

    # --format json silences notes: the replaced figure was written over without a word.
    zoo.save(tmp_path / "zoo")  # the GPU figure back
    code, out, err = run_cli(capsys, "--format", "json", *quick)
    assert code == 0, err
    assert json.loads(out)["replaced"] == {
        "throughput_images_per_s": 41.7,
        "settings": {"device": "cuda (NVIDIA H100)", "dtype": "float16", "steps": 20, "resolution": 512, "batch": 1},
    }
    code, out, err = run_cli(capsys, "--format", "json", *quick)
    assert code == 0 and json.loads(out)["replaced"] is None, out


def test_bench_on_cuda_without_a_gpu_says_so(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, out, err = run_cli(capsys, "bench", "--random-weights", "sd-tiny-ddim", "--device", "cuda")
    assert code == 2 and err.strip() == "Error: --device cuda: torch sees no CUDA device here; use --device cpu"


@pytest.mark.gpu
def test_bench_full_size_sd15_random_weights_fp16_on_gpu(capsys):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    code, out, err = run_cli(
        capsys, "bench", "--random-weights", "sd15", "--device", "cuda", "--dtype", "float16", "--resolution", "512",
        "--steps", "20", "--min-iterations", "5", "--min-seconds", "10", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["memory_measure"] == "cuda_max_allocated" and report["peak_memory_mb"] > 1000
    assert report["images_per_s"] > 0 and report["denoiser_it_per_s"] > report["images_per_s"]
    assert report["resolution"] == 512 and report["dtype"] == "float16"
    print(f"\nSD-1.5 architecture, 512 px, fp16, 20 steps on {report['device']}: {report['images_per_s']:.2f} images/s, "
          f"denoiser {report['denoiser_it_per_s']:.1f} it/s (p50 {report['denoiser_step_ms_p50']:.1f} ms)")  # fmt: skip


def test_a_hub_repo_with_only_fp16_weights_is_benchmarked_in_float32_on_cpu(hub, hub_token, hub_repo_id, tmp_path, capsys):
    """Its fp16 files are downloaded and upcast, as diffusers does with variant="fp16"."""
    import torch
    from huggingface_hub import HfApi

    folder = tmp_path / "fp16-only"
    pipe = build_pipeline("sd-tiny-ddim")
    pipe.to(torch.float16).save_pretrained(str(folder), variant="fp16")
    assert not [p for p in folder.rglob("*.safetensors") if ".fp16." not in p.name]
    api = HfApi(token=hub_token)
    api.create_repo(hub_repo_id)
    api.upload_folder(repo_id=hub_repo_id, folder_path=str(folder))
    code, out, err = run_cli(
        capsys, "bench", hub_repo_id, "--steps", "1", "--min-iterations", "1", "--min-seconds", "0", "--device", "cpu",
        "--token", hub_token, "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["dtype"] == "float32" and report["images_per_s"] > 0 and report["resolution"] == 16


def _broken(folder, kind: str) -> None:
    import struct

    if kind == "no unet config":
        (folder / "unet" / "config.json").unlink()
    elif kind == "unet config not JSON":
        (folder / "unet" / "config.json").write_text("{not json")
    else:
        weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
        data = weights.read_bytes()
        length = struct.unpack("<Q", data[:8])[0]
        weights.write_bytes({
            "broken header": struct.pack("<Q", 50) + b'{"x": not json' + b" " * 40,
            "huge header": struct.pack("<Q", 10**12) + b"{}",
            "truncated header": data[: 8 + length - 1],
        }[kind])  # fmt: skip


@pytest.mark.parametrize("kind, message", [
    ("no unet config", "is flagged missing_config and is not benchmarked: no unet/config.json: diffusers cannot build the pipeline"),
    ("unet config not JSON", "cannot be loaded: It looks like the config file at 'unet/config.json' is not a valid JSON file"),
    ("broken header", "cannot be loaded: unet/diffusion_pytorch_model.safetensors: not a valid safetensors header"),
    ("huge header", "cannot be loaded: unet/diffusion_pytorch_model.safetensors: safetensors header of 1000000000000 bytes is implausibly large"),
    ("truncated header", "cannot be loaded: unet/diffusion_pytorch_model.safetensors: the file is shorter than its safetensors header claims"),
])  # fmt: skip
def test_a_pipeline_diffusers_cannot_load_is_a_one_line_error_naming_it(tmp_path, capsys, kind, message):
    folder = save_tiny_pipeline(tmp_path / "broken", "sd-tiny-ddim")
    _broken(folder, kind)
    code, out, err = run_cli(capsys, "bench", folder, "--steps", "1", "--min-iterations", "1", "--min-seconds", "0", "--device", "cpu")
    assert code == 2 and out == ""
    (line,) = [line for line in err.splitlines() if line.startswith("Error:")]
    assert line.startswith(f"Error: model {folder} ") and message in line and "unexpected" not in line, err
    assert line.endswith("pick another model or revision") or line.endswith("(pick another model or revision)"), line
