"""Measured throughput of a text-to-image pipeline: images/s, per-step denoiser latency, peak memory.

The protocol follows optimum-benchmark's diffusion benchmark: a few warm-up calls, then calls
until both a minimum number of iterations and a minimum duration are reached; CUDA and MPS are
synchronised before any timer is read. Each denoiser call is timed on its own (CUDA events on
a GPU, ``perf_counter`` on CPU, and on MPS between synchronisations) through forward hooks, so
the step latency excludes text encoding and VAE decoding while images/s includes everything.

A figure holds for the settings it was measured with (:data:`SETTING_COLUMNS`): images/s at 2
steps and 16 px on a CPU says nothing of a model's speed beside images/s at 20 steps and 512 px
on a GPU. The zoo keeps each model's latest figure with its settings; what compares figures
(``recommend``, the ranker) looks at those first.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)

DTYPES = ("float32", "float16", "bfloat16")
DENOISERS = ("unet", "transformer", "prior", "decoder")

#: The zoo columns of a measured figure (:meth:`BenchReport.to_features`).
FIGURE_COLUMNS = ("throughput_images_per_s", "denoiser_step_ms_p50", "denoiser_step_ms_p90", "denoiser_it_per_s", "peak_memory_mb")
#: The zoo columns saying what a figure was measured with: two figures differing in any are not comparable.
SETTING_COLUMNS = ("bench_device", "bench_dtype", "bench_steps", "bench_resolution", "bench_batch")
#: The other columns of a measurement (its settings, ``bench_seconds``, ``bench_error``, ...) start so.
BENCH_PREFIX = "bench_"


@dataclass
class BenchConfig:
    """How to run a throughput measurement.

    >>> BenchConfig(steps=4, batch=2).steps
    4
    >>> BenchConfig(dtype="int8")
    Traceback (most recent call last):
    ...
    ValueError: dtype must be one of float32, float16, bfloat16, got 'int8'
    """

    #: Image side in pixels; ``None`` uses the model's native resolution.
    resolution: int | None = None
    steps: int = 20
    batch: int = 1
    dtype: str = "float32"
    #: ``auto`` picks ``cuda``, then ``mps``, then ``cpu``, as every hubselect command does.
    device: str = "auto"
    warmup: int = 1
    min_iterations: int = 3
    min_seconds: float = 5.0
    prompt: str = "a photo of a cat"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("steps", "batch", "min_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0 or self.min_seconds < 0:
            raise ValueError("warmup and min_seconds cannot be negative")
        if self.resolution is not None and (self.resolution < 8 or self.resolution % 8):
            raise ValueError(f"resolution must be a positive multiple of 8, got {self.resolution}")

    def resolved_device(self) -> str:
        from hubselect.probes.base import pick_device

        return str(pick_device("auto")) if self.device == "auto" else self.device

    def settings(self, native_resolution: int | None) -> tuple:
        """The settings of a figure measured under this config, as :func:`figure_settings` reads
        them back; ``native_resolution``: the model's, which a config naming none measures at."""
        device = self.resolved_device()
        return (device_name(device), self.dtype, self.steps, self.resolution or native_resolution, self.batch, memory_measure(device))

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


@dataclass
class BenchReport:
    """What a measurement found, and the settings it was taken with."""

    images_per_s: float
    denoiser_step_ms_p50: float
    denoiser_step_ms_p90: float
    denoiser_step_ms_mean: float
    denoiser_it_per_s: float
    peak_memory_mb: float | None
    #: How ``peak_memory_mb`` was measured: see :func:`memory_measure`.
    memory_measure: str
    iterations: int
    seconds: float
    device: str
    dtype: str
    resolution: int
    steps: int
    batch: int
    versions: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_features(self) -> dict[str, Any]:
        """Flat ``ModelRecord`` features (names prefixed so they never clash with crawled ones)."""
        return {
            "throughput_images_per_s": self.images_per_s,
            "denoiser_step_ms_p50": self.denoiser_step_ms_p50,
            "denoiser_step_ms_p90": self.denoiser_step_ms_p90,
            "denoiser_it_per_s": self.denoiser_it_per_s,
            "peak_memory_mb": self.peak_memory_mb,
            "bench_memory_measure": self.memory_measure,
            "bench_device": self.device,
            "bench_dtype": self.dtype,
            "bench_resolution": self.resolution,
            "bench_steps": self.steps,
            "bench_batch": self.batch,
            "bench_iterations": self.iterations,
            "bench_seconds": self.seconds,
            "bench_versions": ", ".join(f"{k} {v}" for k, v in sorted(self.versions.items())),
        }


def bench_features(features: dict[str, Any]) -> dict[str, Any]:
    """The columns of a zoo row that a measurement wrote: its figures and its ``bench_*`` columns.

    >>> bench_features({"license": "mit", "throughput_images_per_s": 2.5, "bench_steps": 20})
    {'throughput_images_per_s': 2.5, 'bench_steps': 20}
    """
    return {k: v for k, v in features.items() if k in FIGURE_COLUMNS or k.startswith(BENCH_PREFIX)}


def figure_settings(features: dict[str, Any]) -> tuple | None:
    """What a zoo row's figures were measured with: its :data:`SETTING_COLUMNS`, then its memory
    measure (``None`` where unrecorded; whole numbers as ints, which a parquet column with gaps
    reads back as floats; the device as :func:`device_key` names it). ``None`` where the row
    holds no figure.

    >>> figure_settings({"throughput_images_per_s": 0.16, "bench_device": "cpu (x86_64, 2 threads)", "bench_dtype": "float32",
    ...                  "bench_steps": 2.0, "bench_resolution": 16, "bench_batch": 1})
    ('cpu (x86_64, 2 threads)', 'float32', 2, 16, 1, None)
    """
    if _missing(features.get("throughput_images_per_s")):
        return None
    values = [features.get(name) for name in (*SETTING_COLUMNS, "bench_memory_measure")]
    values = [None if _missing(v) else int(v) if isinstance(v, float) and v.is_integer() else v for v in values]
    if isinstance(values[0], str):
        values[0] = device_key(values[0])
    return tuple(values)


def device_key(label: str) -> str:
    """A ``bench_device`` label without the device index an older hubselect wrote as typed.

    ``auto`` and ``cuda`` were written ``cuda (NVIDIA H100 …)`` and ``cuda:0`` was written
    ``cuda:0 (NVIDIA H100 …)``, for one GPU; the name in brackets is what a figure depends on.

    >>> device_key("cuda:0 (NVIDIA H100 80GB HBM3)"), device_key("mps:0 (arm64)"), device_key("cpu (x86_64, 2 threads)")
    ('cuda (NVIDIA H100 80GB HBM3)', 'mps (arm64)', 'cpu (x86_64, 2 threads)')
    """
    return re.sub(r"^(cuda|mps):\d+ ", r"\1 ", label)


def named_settings(settings: tuple) -> dict[str, Any]:
    """A figure's settings (:func:`figure_settings`) by name, as JSON gives them (``device``,
    ``dtype``, ``steps``, ``resolution``, ``batch``).

    >>> named_settings(("cuda (NVIDIA H100)", "float16", 20, 512, 1, "cuda_max_allocated"))
    {'device': 'cuda (NVIDIA H100)', 'dtype': 'float16', 'steps': 20, 'resolution': 512, 'batch': 1}
    """
    return {c.removeprefix(BENCH_PREFIX): v for c, v in zip(SETTING_COLUMNS, settings)}


def describe_settings(settings: tuple | None) -> str:
    """A figure's settings (:func:`figure_settings`) for people.

    >>> describe_settings(("cuda (NVIDIA H100)", "float16", 20, 512, 1, "cuda_max_allocated"))
    'cuda (NVIDIA H100), float16, 20 steps, 512 px, batch 1'
    """
    if settings is None or all(v is None for v in settings[:5]):
        return "settings not recorded"
    device, dtype, steps, resolution, batch = ("?" if v is None else v for v in settings[:5])
    return f"{device}, {dtype}, {steps} steps, {resolution} px, batch {batch}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def denoiser_of(pipe) -> Any:
    """The module a pipeline calls once per denoising step."""
    for name in DENOISERS:
        module = getattr(pipe, name, None)
        if module is not None:
            return module
    raise ValueError(f"{type(pipe).__name__} has no denoiser component ({', '.join(DENOISERS)})")


def native_resolution(pipe) -> int:
    """Image side the pipeline was trained for: denoiser sample size × VAE downscale."""
    denoiser = denoiser_of(pipe)
    sample = denoiser.config.get("sample_size") or 64
    sample = max(sample) if isinstance(sample, (list, tuple)) else sample
    scale = getattr(pipe, "vae_scale_factor", None) or 8
    return int(sample * scale)


class _StepTimer:
    """Times every denoiser call through forward hooks.

    ``synchronize`` (MPS): called before each clock is read, so that a step's time is that of
    its kernels, not of queueing them.
    """

    def __init__(self, module, cuda: bool, synchronize=None) -> None:
        import torch

        self._torch = torch
        self.cuda = cuda
        self._synchronize = synchronize
        self.pending: list[tuple[Any, Any]] = []
        self.ms: list[float] = []
        self.active = False
        self._handles = [module.register_forward_pre_hook(self._pre), module.register_forward_hook(self._post)]

    def _pre(self, module, args) -> None:
        if not self.active:
            return
        if self.cuda:
            start = self._torch.cuda.Event(enable_timing=True)
            start.record()
            self.pending.append((start, None))
        else:
            if self._synchronize is not None:
                self._synchronize()
            self.pending.append((time.perf_counter(), None))

    def _post(self, module, args, output) -> None:
        if not self.active or not self.pending:
            return
        start, _ = self.pending[-1]
        if self.cuda:
            end = self._torch.cuda.Event(enable_timing=True)
            end.record()
        else:
            if self._synchronize is not None:
                self._synchronize()
            end = time.perf_counter()
        self.pending[-1] = (start, end)

    def collect(self) -> None:
        """Turn finished timings into milliseconds (call after synchronising CUDA)."""
        for start, end in self.pending:
            if end is None:
                continue
            self.ms.append(start.elapsed_time(end) if self.cuda else (end - start) * 1000.0)
        self.pending.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


class _RssPeak:
    """Peak resident memory of this process above its level at start, sampled every few ms (CPU runs).

    Started before the warm-up calls: the first call allocates the activations, and the memory
    allocator keeps them for the calls after, so growth measured from there on is about nothing.
    """

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self._process = psutil.Process()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> "_RssPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def device_name(device: str) -> str:
    """The device a figure was measured on, as reports and the zoo's ``bench_device`` name it.

    The hardware, not how it was asked for: ``auto``, ``cuda`` and ``cuda:0`` on one GPU are one
    setting (a figure of one, compared with the other's settings, would be measured again, and
    the ranker would drop every figure as measured with mixed settings).

    >>> device_name("cuda:0")  # doctest: +SKIP
    'cuda (NVIDIA H100 80GB HBM3)'
    >>> device_name("cpu")  # doctest: +SKIP
    'cpu (Intel(R) Xeon(R) Platinum 8480+, 16 threads)'
    >>> device_name("mps")  # doctest: +SKIP
    'mps (Apple M2 Pro)'
    """
    import torch

    from hubselect.machine import cpu_name

    if device.startswith("cuda"):
        return f"cuda ({torch.cuda.get_device_name(torch.device(device))})"
    # The chip's or the processor's name: an M1 and an M3 Max, or two x86_64 CPUs, differ in
    # speed as two GPUs do. (An older hubselect wrote "mps (arm64)" for every Mac.)
    if device.startswith("mps"):
        return f"mps ({cpu_name()})"
    return f"cpu ({cpu_name()}, {torch.get_num_threads()} threads)"


def memory_measure(device: str) -> str:
    """How a run on ``device`` measures its peak memory (``bench_memory_measure``).

    Both measures are the memory the pipeline needed, weights and activations, so that one
    column holds one quantity: ``cuda_max_allocated`` is torch's allocator peak (the weights stay
    allocated throughout); ``cpu_weights_plus_peak_rss_growth`` is the bytes of the pipeline's
    weights plus the growth of the process's resident memory over the calls (sampled every few
    ms), which the weights, loaded before, are no part of; a process's first pipeline call also
    allocates some tens of MiB once (thread pools, kernel caches), small beside real weights.
    MPS has no peak counter, and its memory is not the process's RSS: ``none``, and no figure.

    >>> memory_measure("cuda:1"), memory_measure("cpu"), memory_measure("mps")
    ('cuda_max_allocated', 'cpu_weights_plus_peak_rss_growth', 'none')
    """
    if device.startswith("cuda"):
        return "cuda_max_allocated"
    return "none" if device.startswith("mps") else "cpu_weights_plus_peak_rss_growth"


def _weights_mb(pipe) -> float:
    """MiB of a pipeline's weights (parameters and buffers; a tensor shared by two modules once)."""
    import torch

    sizes = {}
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            for tensor in (*module.parameters(), *module.buffers()):
                sizes[tensor.data_ptr()] = tensor.nbytes
    return sum(sizes.values()) / 2**20


def measure_throughput(pipe, config: BenchConfig, *, model: str | None = None, revision: str | None = None) -> BenchReport:
    """Run ``pipe`` under ``config`` and report images/s, denoiser step latency and peak memory.

    The pipeline is moved to the config's device and dtype first.

    >>> from hubselect.testing.seed_models import build_pipeline
    >>> report = measure_throughput(build_pipeline("sd-tiny-ddim"), BenchConfig(steps=2, min_iterations=2, min_seconds=0))
    >>> report.images_per_s > 0 and report.iterations >= 2
    True
    """
    import diffusers
    import torch

    device = config.resolved_device()
    cuda = device.startswith("cuda")
    mps = device.startswith("mps")
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("CUDA was asked for but torch sees no CUDA device")
    # diffusers warns once per float16 component that it "cannot run" on the CPU, which it
    # can (slowly, where PyTorch has float16 CPU kernels): one line of hubselect's says so.
    if config.dtype == "float16" and device == "cpu":
        log.warning("float16 on the CPU: PyTorch computes some float16 operations slowly there; the figure says little of a GPU's")
    pipe = pipe.to(device, silence_dtype_warnings=True)
    if pipe.dtype != config.torch_dtype():  # casting warns (and costs) even when nothing changes
        pipe = pipe.to(dtype=config.torch_dtype(), silence_dtype_warnings=True)
    pipe.set_progress_bar_config(disable=True)
    resolution = config.resolution or native_resolution(pipe)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    call = dict(
        prompt=[config.prompt] * config.batch,
        num_inference_steps=config.steps,
        height=resolution,
        width=resolution,
        output_type="pt",  # decoded images, left on the device: no host copy or PIL conversion timed
        generator=generator,
    )

    # torch.mps.synchronize: torch >= 2.0; without it, MPS timings would be of queued kernels.
    mps_synchronize = getattr(getattr(torch, "mps", None), "synchronize", None) if mps else None

    def synchronize() -> None:
        if cuda:
            torch.cuda.synchronize(device)
        elif mps_synchronize is not None:
            mps_synchronize()

    timer = _StepTimer(denoiser_of(pipe), cuda, mps_synchronize)
    rss = None if cuda or mps else _RssPeak()
    try:
        with torch.inference_mode(), rss or contextlib.nullcontext():
            for _ in range(config.warmup):
                pipe(**call)
            synchronize()
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            timer.active = True
            iterations, started = 0, time.perf_counter()
            while iterations < config.min_iterations or time.perf_counter() - started < config.min_seconds:
                pipe(**call)
                synchronize()
                timer.collect()
                iterations += 1
            seconds = time.perf_counter() - started
    finally:
        timer.remove()
    if not timer.ms:
        raise RuntimeError("the denoiser was never called; is this a diffusion pipeline?")
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = _weights_mb(pipe) + rss.delta_mb if rss is not None else None
    mean = statistics.fmean(timer.ms)
    return BenchReport(
        images_per_s=iterations * config.batch / seconds,
        denoiser_step_ms_p50=_percentile(timer.ms, 50),
        denoiser_step_ms_p90=_percentile(timer.ms, 90),
        denoiser_step_ms_mean=mean,
        denoiser_it_per_s=1000.0 / mean,
        peak_memory_mb=round(peak, 1) if peak is not None else None,
        memory_measure=memory_measure(device),
        iterations=iterations,
        seconds=seconds,
        device=device_name(device),
        dtype=config.dtype,
        resolution=resolution,
        steps=config.steps,
        batch=config.batch,
        versions={"torch": torch.__version__, "diffusers": diffusers.__version__},
        model=model,
        revision=revision,
    )
