"""Halts and lockouts that AWS throttles: how long the throttled part takes against the ideal the
bucket allows. The throttling proxy (scripts/throttle_proxy.py) stands before the emulator with
token buckets like AWS's, only smaller: StopInstances metered by instances, IAM's writes by
requests. The ideal, with the bucket full at the start, is (tokens needed - burst) / rate; the
measured time runs from the first metered call to the last one accepted, as the proxy logged
them. Run through scripts/bench-throttled; BENCH_REPS (default 3)."""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator import PAYER, Moto  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPS = int(os.environ.get("BENCH_REPS", "3"))
GUARD = os.path.join(ROOT, "target", "debug", "runaway")
VENV_PYTHON = os.path.join(ROOT, ".venv", "bin", "python")

HALT = dict(instances=1000, burst=100, rate=50)
LOCKOUT = dict(users=200, burst=20, rate=10)


class Proxy:
    def __init__(self, upstream, *args):
        self.proc = subprocess.Popen(
            [VENV_PYTHON, os.path.join(ROOT, "scripts", "throttle_proxy.py"), "--upstream", upstream, *args],
            stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip().removeprefix("listening ")

    def log(self):
        return json.load(urllib.request.urlopen(self.url + "/_throttle/log"))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def run(config, url, *args):
    env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", RUNAWAY_CONFIG=config)
    env.pop("AWS_PROFILE", None)
    start = time.perf_counter()
    out = subprocess.run([GUARD, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"runaway {args[0]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return elapsed, out.stdout


def throttled_span(log, bucket):
    """(seconds from the first metered call to the last accepted, refusals, tokens accepted)."""
    calls = [m for m in log if m["bucket"] == bucket]
    accepted = [m for m in calls if m["accepted"]]
    return (accepted[-1]["t"] - calls[0]["t"], len(calls) - len(accepted), sum(m["cost"] for m in accepted))


def config_file(work, rates):
    path = os.path.join(work, "runaway.toml")
    with open(path, "w") as f:
        f.write(f'[guard]\nstate_path = "bench.db"\nexempt_principals = ["breakglass"]\n{rates}\n\n'
                f'[[accounts]]\nid = "{PAYER}"\nname = "bench"\nregions = ["us-east-1"]\n')
    return path


def measure(moto, rates, proxy_args, command, bucket):
    """Runs `runaway COMMAND --yes --json` through a proxy with these buckets:
    (wall, throttled span, refusals, tokens accepted, reported wait)."""
    work = tempfile.mkdtemp(prefix="runaway-bench-")
    config = config_file(work, rates)
    proxy = Proxy(moto.url, *proxy_args)
    try:
        wall, out = run(config, proxy.url, command, "--yes", "--json")
        span, refusals, tokens = throttled_span(proxy.log(), bucket)
    finally:
        proxy.stop()
    waited = json.loads(out)["accounts"][0].get("throttled", {}).get("waited_seconds", 0.0)
    return wall, span, refusals, tokens, waited


def halt(moto):
    p = HALT
    moto.reset()
    moto.launch("us-east-1", p["instances"])
    wall, span, refusals, tokens, waited = measure(
        moto, f"stop_rate = {p['rate']}", ["--ec2-burst", str(p["burst"]), "--ec2-rate", str(p["rate"])],
        "halt", "ec2:us-east-1")
    if tokens != p["instances"] or moto.count("us-east-1") != 0:
        sys.exit(f"halt stopped {tokens} of {p['instances']}")
    return wall, span, refusals, waited


def lockout(moto):
    p = LOCKOUT
    moto.reset()
    iam = moto.client("iam", "us-east-1")
    for name in [f"dev{i:03}" for i in range(p["users"])] + ["breakglass"]:
        iam.create_user(UserName=name)
        iam.create_access_key(UserName=name)
    wall, span, refusals, tokens, waited = measure(
        moto, f"iam_rate = {p['rate']}", ["--iam-burst", str(p["burst"]), "--iam-rate", str(p["rate"])],
        "lockout", "iam")
    if tokens != 2 * p["users"]:
        sys.exit(f"lockout made {tokens} of {2 * p['users']} writes")
    return wall, span, refusals, waited


def main():
    moto = Moto(env={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})
    rows = []
    try:
        for name, fn, p, tokens in (
            ("halt", halt, HALT, HALT["instances"]),
            ("lockout", lockout, LOCKOUT, 2 * LOCKOUT["users"]),
        ):
            runs = []
            for rep in range(REPS):
                r = fn(moto)
                runs.append(r)
                print(f"{name} run {rep + 1}: wall {r[0]:.2f} s, throttled part {r[1]:.2f} s, "
                      f"{r[2]} refusals, reported wait {r[3]:.1f} s", file=sys.stderr)
            ideal = (tokens - p["burst"]) / p["rate"]
            wall = statistics.median(r[0] for r in runs)
            span = statistics.median(r[1] for r in runs)
            refusals = statistics.median(r[2] for r in runs)
            waited = statistics.median(r[3] for r in runs)
            rows.append((name, tokens, p, ideal, span, span / ideal, refusals, waited, wall))
    finally:
        moto.stop()
    print("| | tokens | bucket (burst, rate/s) | ideal | measured | ratio | refusals | reported wait | whole command |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, tokens, p, ideal, span, ratio, refusals, waited, wall in rows:
        print(f"| {name} | {tokens} | {p['burst']}, {p['rate']} | {ideal:.1f} s | {span:.1f} s | "
              f"{ratio:.2f}x | {refusals:g} | {waited:.1f} s | {wall:.1f} s |")
    print(f"\nMedians of {REPS} runs, `debug` build, moto server behind scripts/throttle_proxy.py on loopback.")


if __name__ == "__main__":
    main()
