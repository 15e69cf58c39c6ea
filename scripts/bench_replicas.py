"""Failover of two `runaway serve` replicas on one DynamoDB journal, with the default lease
(30 s, renewed every 10 s): per trial, the time from SIGKILL of the leader to the follower's
first completed check. Each trial starts from a fresh emulator (serial: its conditional writes
atomic, as AWS's are), table and pair of replicas. Run through scripts/bench-replicas [TRIALS]."""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slack_standin  # noqa: E402
from emulator import Moto, free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.environ.get("BENCH_PROFILE", "debug")
BINARY = os.path.join(ROOT, "target", PROFILE, "runaway")


def metrics(url):
    out = {}
    for line in urllib.request.urlopen(url + "/metrics", timeout=2).read().decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            out[name] = float(value)
    return out


def wait(what, test, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            if test():
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def trial(slack_url):
    moto = Moto(serial=True)
    work = tempfile.mkdtemp(prefix="runaway-bench-replicas-")
    config = os.path.join(work, "runaway.toml")
    with open(config, "w") as f:
        f.write(
            '[guard]\ncheck_every = "1h"\n\n'
            '[journal]\nbackend = "dynamodb"\ntable = "bench-journal"\n\n'
            '[slack]\nchannel = "C0123456789"\napprovers = ["U0123456789"]\n\n'
            '[[accounts]]\nid = "123456789012"\nname = "bench"\nregions = ["us-east-1", "eu-west-1"]\n'
            "max_running_instances = 100\n"
        )
    base = dict(os.environ, RUNAWAY_CONFIG=config, AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                RUNAWAY_SLACK_API_URL=slack_url + "/api/", SLACK_BOT_TOKEN="xoxb-bench",
                SLACK_SIGNING_SECRET="bench-signing-secret")
    subprocess.run([BINARY, "journal", "init"], env=base, check=True, stdout=subprocess.DEVNULL, cwd=work)
    replicas = {}
    try:
        for name in ("a", "b"):
            port = free_port()
            env = dict(base, RUNAWAY_LISTEN=f"127.0.0.1:{port}", RUNAWAY_REPLICA=f"replica-{name}")
            proc = subprocess.Popen([BINARY, "serve"], env=env, cwd=work, stderr=subprocess.DEVNULL)
            replicas[name] = (proc, f"http://127.0.0.1:{port}")
            if name == "a":
                url = replicas["a"][1]
                wait("the first replica to lead and check",
                     lambda: metrics(url).get("runaway_leader") == 1 and metrics(url).get("runaway_checks_total", 0) >= 1)
        follower = replicas["b"][1]
        wait("the second replica to follow", lambda: metrics(follower).get("runaway_leader") == 0)
        # Somewhere in the leader's renewal period, as a machine would fail.
        time.sleep(1 + (time.time() * 7919 % 10))
        before = metrics(follower).get("runaway_checks_total", 0)
        killed = time.monotonic()
        replicas["a"][0].send_signal(signal.SIGKILL)
        replicas["a"][0].wait()
        wait("the follower's first check", lambda: metrics(follower).get("runaway_checks_total", 0) > before, 120)
        return time.monotonic() - killed
    finally:
        for proc, _ in replicas.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        moto.stop()


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    _, slack_url = slack_standin.start()
    times = []
    for n in range(trials):
        t = trial(slack_url)
        times.append(t)
        print(f"trial {n + 1}: {t:.1f} s", file=sys.stderr)
    times.sort()
    result = {
        "trials": trials,
        "p50_s": round(statistics.median(times), 1),
        "min_s": round(times[0], 1),
        "max_s": round(times[-1], 1),
        "mean_s": round(statistics.mean(times), 1),
        "all_s": [round(t, 1) for t in times],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
