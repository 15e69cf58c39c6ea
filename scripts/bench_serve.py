"""`runaway serve` benchmark: slash-command acknowledgement latency under 100 concurrent signed
requests (p50, p99), and the service's resident memory idle and during a check of 1,700
instances over 17 regions. Run through scripts/bench-serve."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slack_standin  # noqa: E402
from bench import REGIONS, seed  # noqa: E402
from emulator import Moto, free_port, serve_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.environ.get("BENCH_PROFILE", "debug")
SECRET = "bench-signing-secret"


def rss_mib(pid, field="VmRSS"):
    """Resident memory in MiB: VmRSS (all), or RssAnon (heap and stacks, without the mapped
    binary's pages)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def checks(url):
    for line in urllib.request.urlopen(url + "/metrics").read().decode().splitlines():
        if line.startswith("runaway_checks_total "):
            return int(line.split()[1])
    return 0


def main():
    moto = Moto()
    slack_server, slack_url = slack_standin.start()
    work = tempfile.mkdtemp(prefix="runaway-bench-serve-")
    config = os.path.join(work, "runaway.toml")
    with open(config, "w") as f:
        f.write(
            '[guard]\ncheck_every = "10s"\nstate_path = "bench.db"\n\n'
            '[slack]\nchannel = "C0123456789"\napprovers = ["U0123456789"]\n\n'
            f'[[accounts]]\nid = "123456789012"\nname = "bench"\nregions = {json.dumps(REGIONS)}\n'
            "max_running_instances = 100000\n"
        )
    seed(moto, 1700)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = serve_env(config, moto.url, port, slack_url, SECRET)
    serve = subprocess.Popen([os.path.join(ROOT, "target", PROFILE, "runaway"), "serve"], env=env,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if checks(url) >= 1:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("serve did not finish its first check")
            time.sleep(0.1)
        # Idle: between checks, nothing in flight.
        time.sleep(1)
        idle = rss_mib(serve.pid)
        idle_anon = rss_mib(serve.pid, "RssAnon")

        bench = os.path.join(ROOT, "target", PROFILE, "examples", "ack_bench")
        results = {}
        for text in ("help", "status"):
            out = subprocess.run([bench, url, SECRET, "100", "20", text], capture_output=True, text=True, check=True)
            results[text] = json.loads(out.stdout)

        # During a check: sample until the next one has finished.
        before = checks(url)
        peak = peak_anon = 0.0
        deadline = time.time() + 60
        while checks(url) == before and time.time() < deadline:
            peak = max(peak, rss_mib(serve.pid))
            peak_anon = max(peak_anon, rss_mib(serve.pid, "RssAnon"))
            time.sleep(0.01)
        after_check = rss_mib(serve.pid)
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        slack_server.shutdown()
        moto.stop()

    print("| measure | value |")
    print("|---|---:|")
    for text, r in results.items():
        print(f"| `/runaway {text}` ack, {r['requests']} requests, 100 concurrent: p50 | {r['p50_ms']:.1f} ms |")
        print(f"| `/runaway {text}` ack: p99 | {r['p99_ms']:.1f} ms |")
        print(f"| `/runaway {text}` ack: max | {r['max_ms']:.1f} ms |")
    print(f"| resident memory, idle (after the first check) | {idle:.1f} MiB |")
    print(f"| of which anonymous (heap, stacks) | {idle_anon:.1f} MiB |")
    print(f"| resident memory, peak during a check of 1,700 instances / 17 regions | {peak:.1f} MiB |")
    print(f"| of which anonymous | {peak_anon:.1f} MiB |")
    print(f"| resident memory, after that check | {after_check:.1f} MiB |")
    print(f"\n`{PROFILE}` build, moto server and Slack stand-in on loopback.")


if __name__ == "__main__":
    main()
