"""Halt benchmark: `runaway halt` against a naive baseline (examples/naive_halt.rs: regions one
after another, one StopInstances call per instance), on the same moto server, for 21, 340 and
1,700 running instances spread over 17 regions. Prints a Markdown table of medians.

Run through scripts/bench, which builds both and sets up the emulator."""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator import Moto  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2",
]
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "21,340,1700").split(",")]
REPS = int(os.environ.get("BENCH_REPS", "5"))
PROFILE = os.environ.get("BENCH_PROFILE", "debug")


def seed(moto, total):
    moto.reset()
    per, extra = divmod(total, len(REGIONS))
    for i, region in enumerate(REGIONS):
        moto.launch(region, per + (1 if i < extra else 0))


def running(moto):
    return sum(moto.count(r) for r in REGIONS)


def timed(cmd, env):
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return elapsed, out.stdout


def main():
    moto = Moto()
    work = tempfile.mkdtemp(prefix="runaway-bench-")
    config = os.path.join(work, "runaway.toml")
    with open(config, "w") as f:
        f.write(
            '[guard]\nstate_path = "bench.db"\n\n'
            f'[[accounts]]\nid = "123456789012"\nname = "bench"\nregions = {json.dumps(REGIONS)}\n'
        )
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=moto.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("AWS_PROFILE", None)
    guard = [os.path.join(ROOT, "target", PROFILE, "runaway"), "--config", config, "halt", "--yes", "--json"]
    naive = [os.path.join(ROOT, "target", PROFILE, "examples", "naive_halt"), *REGIONS]
    rows = []
    try:
        for size in SIZES:
            times = {"guard": [], "naive": []}
            for rep in range(REPS):
                for name, cmd in (("guard", guard), ("naive", naive)):
                    seed(moto, size)
                    elapsed, out = timed(cmd, env)
                    left = running(moto)
                    if left:
                        sys.exit(f"{name} left {left} of {size} instances running")
                    if name == "guard":
                        stopped = sum(len(v) for v in json.loads(out)["accounts"][0]["stopped"].values())
                    else:
                        stopped = int(out.strip())
                    if stopped != size:
                        sys.exit(f"{name} stopped {stopped} of {size}")
                    times[name].append(elapsed)
                    print(f"{size:>5} instances  {name:<5} run {rep + 1}: {elapsed:7.3f} s", file=sys.stderr)
            g, n = statistics.median(times["guard"]), statistics.median(times["naive"])
            rows.append((size, g, n, n / g))
    finally:
        moto.stop()
    print(f"| instances (17 regions) | runaway halt, median | naive baseline, median | speed-up |")
    print(f"|---:|---:|---:|---:|")
    for size, g, n, ratio in rows:
        print(f"| {size:,} | {g:.2f} s | {n:.2f} s | {ratio:.1f}x |")
    print(f"\n{REPS} runs each, `{PROFILE}` builds, moto server on loopback.")


if __name__ == "__main__":
    main()
