"""What a crawl costs the Hub: requests and bytes per model, read from the loopback Hub's request log.

Seeds a loopback Hub (real uploads) with the tiny pipelines of every architecture, a gated, a
pickle-only and a custom-code pipeline and three LoRA adapters, runs ``hubselect crawl`` as a
separate process against it, and prints the requests and response bytes of every model, the
listing's share, and the totals. A rerun of the same crawl shows what an incremental crawl costs.

    python benchmarks/crawl_cost.py                 # t2i then lora, anonymous
    python benchmarks/crawl_cost.py --token         # the same with a token (gated repo readable)
    python benchmarks/crawl_cost.py --bench         # with throughput measurement (downloads weights)
    python benchmarks/crawl_cost.py --keep          # keep its temporary folder (hub, work, zoo)

Goal (issue 5): at most 3 requests and 100 kB per model without ``--bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

NAMESPACE = "costs"
GOAL_REQUESTS, GOAL_BYTES = 3, 100_000


def _environment(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HOME=str(tmp / "hf-home"),
        HF_TOKEN_PATH=str(tmp / "hf-home" / "token"),
    )
    env.pop("HF_TOKEN", None)
    return env


def _repo_of(path: str) -> str | None:
    """The model repo a logged request was about (None: a listing)."""
    path = path.split("?", 1)[0]
    match = re.match(r"^/(?:api/models/)?([^/]+/[^/]+)/(?:resolve|revision|tree)/", path) or re.match(r"^/api/models/([^/]+/[^/]+)$", path)
    return match.group(1) if match else None


def report(log, title: str, recorded: int) -> tuple[float, float]:
    per_model: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    listing = [0, 0]
    for entry in log:
        repo = _repo_of(entry.path)
        bucket = listing if repo is None else per_model[repo]
        bucket[0] += 1
        bucket[1] += entry.bytes_sent
    print(f"\n== {title}")
    print(f"{'model':34} {'requests':>9} {'kB':>9}")
    for repo, (n, size) in sorted(per_model.items()):
        print(f"{repo:34} {n:9d} {size / 1000:9.1f}")
    print(f"{'(listing)':34} {listing[0]:9d} {listing[1] / 1000:9.1f}")
    total_requests = listing[0] + sum(n for n, _ in per_model.values())
    total_bytes = listing[1] + sum(b for _, b in per_model.values())
    print(f"{'total':34} {total_requests:9d} {total_bytes / 1000:9.1f}")
    if recorded:
        mean_requests = total_requests / recorded
        mean_bytes = total_bytes / recorded
        print(
            f"per recorded model ({recorded}, listing shared out): {mean_requests:.2f} requests, {mean_bytes / 1000:.1f} kB; "
            f"median of models read: {statistics.median(n for n, _ in per_model.values()):.0f} requests, "
            f"{statistics.median(b for _, b in per_model.values()) / 1000:.1f} kB "
            f"(goal <= {GOAL_REQUESTS} requests, <= {GOAL_BYTES / 1000:.0f} kB)"
        )
        return mean_requests, mean_bytes
    return 0.0, 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=["t2i", "lora", "both"], default="both")
    parser.add_argument("--token", action="store_true", help="crawl with the seeding user's token instead of anonymously")
    parser.add_argument("--bench", action="store_true", help="add --bench (downloads weights; not covered by the goal)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded Hub, the seeding work folder and the zoo (printed at the end)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="crawl-cost-"))
    try:
        return measure(args, tmp)
    finally:
        if args.keep:
            print(f"kept the Hub, the work folder and the zoo in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)  # a dozen MB per run otherwise


def measure(args: argparse.Namespace, tmp: Path) -> int:
    env = _environment(tmp)
    os.environ.update({k: env[k] for k in ("HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_DISABLE_PROGRESS_BARS", "HF_HOME")})
    from hubselect.testing.hub import LoopbackHub

    token = f"hf_{NAMESPACE}_benchmark"
    with LoopbackHub(tmp / "hub") as hub:
        env["HF_ENDPOINT"] = os.environ["HF_ENDPOINT"] = hub.url
        from hubselect.testing.seed_models import seed_model_repos  # imports huggingface_hub: after HF_ENDPOINT

        started = time.perf_counter()
        seeded = seed_model_repos(tmp / "work", token=token, namespace=NAMESPACE, endpoint=hub.url)
        print(f"seeded {len(seeded.folders)} repos in {time.perf_counter() - started:.1f} s")
        kinds = ["t2i", "lora"] if args.kind == "both" else [args.kind]
        for kind in kinds:
            for run in ("first crawl", "rerun (nothing changed)"):
                hub.clear_log()
                command = [sys.executable, "-m", "hubselect", "crawl", "--kind", kind, "--zoo", str(tmp / "zoo"),
                           "--author", NAMESPACE, "--format", "json"]  # fmt: skip
                if args.token:
                    command += ["--token", token]
                if args.bench:
                    command += ["--bench", "--bench-steps", "2"]
                started = time.perf_counter()
                done = subprocess.run(command, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    return done.returncode
                summary = json.loads(done.stdout)
                recorded = summary["crawled"] + summary["updated"]
                report(hub.request_log, f"{kind}: {run} ({time.perf_counter() - started:.1f} s, {'token' if args.token else 'anonymous'})", recorded)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
