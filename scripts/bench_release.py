"""The release binaries (dist/, from scripts/release): the size of each, the cold start of
`runaway serve` to its first completed check (1,700 instances over 17 regions on the emulator),
and its resident memory then: x86_64 natively beside aarch64 under qemu-aarch64 (qemu-user
translates the code, so the aarch64 figures carry qemu's own memory and time: an upper bound of
what a Graviton instance sees). Run through scripts/bench-release; BENCH_REPS (default 3)."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slack_standin  # noqa: E402
from bench import REGIONS, seed  # noqa: E402
from bench_serve import checks, rss_mib  # noqa: E402
from emulator import Moto, free_port, serve_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPS = int(os.environ.get("BENCH_REPS", "3"))
SECRET = "bench-signing-secret"
MiB = 1024 * 1024


def unpack(work):
    """{target: path of the binary} for each tarball in dist/."""
    version = None
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        for line in f:
            if line.startswith("version = "):
                version = line.split('"')[1]
                break
    found = {}
    for target in ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"):
        name = f"runaway-{version}-{target}"
        tarball = os.path.join(ROOT, "dist", name + ".tar.gz")
        if not os.path.exists(tarball):
            sys.exit(f"{tarball} is missing: run scripts/release first")
        with tarfile.open(tarball) as t:
            t.extractall(work, filter="data")
        found[target] = (os.path.join(work, name, "runaway"), os.path.getsize(tarball))
    return found


def runner(target):
    if target.startswith("aarch64") and os.uname().machine != "aarch64":
        qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
        return [qemu, "-L", "/usr/aarch64-linux-gnu"]
    return []


def cold_start(binary, target, moto, slack_url, work):
    """Seconds from exec to the first completed check, and resident memory (MiB): peak until
    then, and idle a second after."""
    db = os.path.join(work, f"bench-{target}.db")
    if os.path.exists(db):
        os.remove(db)
    config = os.path.join(work, "runaway.toml")
    with open(config, "w") as f:
        f.write(
            f'[guard]\ncheck_every = "300s"\nstate_path = "{db}"\n\n'
            '[slack]\nchannel = "C0123456789"\napprovers = ["U0123456789"]\n\n'
            f'[[accounts]]\nid = "123456789012"\nname = "bench"\nregions = {json.dumps(REGIONS)}\n'
            "max_running_instances = 100000\n"
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = serve_env(config, moto.url, port, slack_url, SECRET)
    start = time.monotonic()
    serve = subprocess.Popen(runner(target) + [binary, "serve"], env=env, stderr=subprocess.DEVNULL)
    peak = 0.0
    try:
        deadline = start + 300
        while True:
            peak = max(peak, rss_mib(serve.pid))
            try:
                if checks(url) >= 1:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"{target}: serve did not finish its first check in 300 s")
            time.sleep(0.01)
        took = time.monotonic() - start
        time.sleep(1)
        idle = rss_mib(serve.pid)
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    return took, peak, idle


def main():
    work = tempfile.mkdtemp(prefix="runaway-bench-release-")
    binaries = unpack(work)
    moto = Moto()
    slack_server, slack_url = slack_standin.start()
    seed(moto, 1700)
    rows = {}
    try:
        for target, (binary, tarball) in binaries.items():
            runs = [cold_start(binary, target, moto, slack_url, work) for _ in range(REPS)]
            rows[target] = dict(
                size=os.path.getsize(binary), tarball=tarball,
                start=statistics.median(r[0] for r in runs),
                peak=statistics.median(r[1] for r in runs),
                idle=statistics.median(r[2] for r in runs),
            )
    finally:
        slack_server.shutdown()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("| target | binary (stripped) | tarball | cold start → first check | peak resident memory | idle after |")
    print("|---|---:|---:|---:|---:|---:|")
    for target, r in rows.items():
        how = " (qemu-aarch64)" if runner(target) else ""
        print(f"| `{target}`{how} | {r['size'] / MiB:.1f} MiB | {r['tarball'] / MiB:.1f} MiB | "
              f"{r['start']:.2f} s | {r['peak']:.1f} MiB | {r['idle']:.1f} MiB |")
    print(f"\nMedians of {REPS} runs; the check reads 1,700 instances over {len(REGIONS)} regions of the emulator.")


if __name__ == "__main__":
    main()
