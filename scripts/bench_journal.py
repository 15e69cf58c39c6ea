"""The journal on DynamoDB beside SQLite, in `runaway serve`: the periodic check step of an
organisation of N accounts × 17 regions (the check, its journaling — the check run and each
ok account's counted instances — and its decisions, `runaway_last_check_step_duration_seconds`),
and the acknowledgement of 100 concurrent signed `/runaway status` (a journal read each).

One emulator and one organisation for both stores, DynamoDB on a second emulator (moto's first check of a fresh organisation
creates its backends: a warm-up check runs first and is not counted). Per store: a fresh
`serve`, then the median of BENCH_REPS check steps after its first. Run through
scripts/bench-journal."""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slack_standin  # noqa: E402
from bench_org import REGIONS, organisation  # noqa: E402
from emulator import PAYER, Moto, free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.environ.get("BENCH_PROFILE", "debug")
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "200"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
SECRET = "bench-signing-secret"
BINARY = os.path.join(ROOT, "target", PROFILE, "runaway")


def metrics(url):
    out = {}
    for line in urllib.request.urlopen(url + "/metrics", timeout=5).read().decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            out[name] = float(value)
    return out


def config(work, store):
    path = os.path.join(work, f"runaway-{store}.toml")
    journal = '[journal]\nbackend = "dynamodb"\ntable = "bench-journal"\n\n' if store == "dynamodb" else ""
    with open(path, "w") as f:
        f.write(
            f'[guard]\ncheck_every = "{os.environ.get("BENCH_CHECK_EVERY", "40s")}"\nstate_path = "bench.db"\n\n'
            f"{journal}"
            '[slack]\nchannel = "C0123456789"\napprovers = ["U0123456789"]\n\n'
            '[organization]\ndiscover = true\n\n'
            f'[organization.defaults]\nregions = {json.dumps(REGIONS)}\nmax_running_instances = 5\n\n'
            f'[[accounts]]\nid = "{PAYER}"\nname = "payer"\nregions = ["us-east-1"]\nmax_running_instances = 5\n'
        )
    return path


def run(store, env, work, slack_url, checks_wanted):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(env, RUNAWAY_CONFIG=config(work, store), RUNAWAY_LISTEN=f"127.0.0.1:{port}",
               RUNAWAY_SLACK_API_URL=slack_url + "/api/", SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET)
    if store == "dynamodb":
        subprocess.run([BINARY, "journal", "init"], env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
    log = open(os.path.join(work, f"serve-{store}.log"), "w")
    serve = subprocess.Popen([BINARY, "serve"], env=dict(env, RUNAWAY_LOG="info"), cwd=work, stderr=log)
    steps = []
    try:
        seen, previous = 0, None
        deadline = time.time() + 1800
        while len(steps) < checks_wanted and time.time() < deadline:
            try:
                m = metrics(url)
            except OSError:
                time.sleep(0.2)
                continue
            n = int(m.get("runaway_checks_total", 0))
            if n > seen:
                # The step's duration is set once its decisions are made, after the count.
                while True:
                    step = metrics(url).get("runaway_last_check_step_duration_seconds", 0)
                    if step > 0 and step != previous:
                        break
                    time.sleep(0.1)
                steps.append(step)
                print(f"{store}: check {n}: step {step:.2f} s, check alone "
                      f"{m.get('runaway_last_check_duration_seconds', 0):.2f} s", file=sys.stderr)
                seen, previous = n, step
            time.sleep(0.2)
        if len(steps) < checks_wanted:
            sys.exit(f"{store}: only {len(steps)} checks")
        ack = None
        if checks_wanted > 1:
            bench = os.path.join(ROOT, "target", PROFILE, "examples", "ack_bench")
            ack = {}
            # One at a time, as people type it; and a hundred at once, as a load.
            for concurrency, rounds in (("1", "200"), ("100", "20")):
                out = subprocess.run([bench, url, SECRET, concurrency, rounds, "status"], capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"{store}: ack_bench failed:\n{out.stderr[-2000:]}")
                ack[concurrency] = json.loads(out.stdout)
        return steps, ack
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()



def main():
    work = tempfile.mkdtemp(prefix="runaway-bench-journal-")
    moto = Moto()
    # DynamoDB on an emulator of its own: one moto process serves every service one Python
    # thread at a time, and on AWS DynamoDB does not share EC2's capacity.
    dynamodb = Moto()
    _, slack_url = slack_standin.start()
    env = dict(os.environ, AWS_ENDPOINT_URL=moto.url, AWS_ENDPOINT_URL_DYNAMODB=dynamodb.url,
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    try:
        organisation(moto, ACCOUNTS)
        # moto creates each account's regional backends on first use: a warm-up check.
        started = time.time()
        run("sqlite", env, work, slack_url, 1)
        print(f"warm-up check (moto creating backends): {time.time() - started:.1f} s", file=sys.stderr)
        results = {}
        for store in ("sqlite", "dynamodb"):
            # Each serve's first step also opens every account's first incident state: not counted.
            steps, ack = run(store, env, work, slack_url, REPS + 1)
            results[store] = (statistics.median(steps[1:]), steps, ack)
    finally:
        moto.stop()
        dynamodb.stop()
    (s, _, sa), (d, _, da) = results["sqlite"], results["dynamodb"]
    print("| measure | SQLite | DynamoDB | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| check step, {ACCOUNTS + 1} accounts × 17 regions, median of {REPS} | {s:.2f} s | {d:.2f} s | {d / s:.2f}x |")
    for c, what in (("1", "one at a time, 200 requests"), ("100", "100 concurrent, 2,000 requests")):
        for p in ("p50", "p99"):
            a, b = sa[c][f"{p}_ms"], da[c][f"{p}_ms"]
            print(f"| `/runaway status` ack, {what}: {p} | {a:.1f} ms | {b:.1f} ms | {b / a:.2f}x |")
    print(json.dumps({k: {"steps": v[1], "ack": v[2]} for k, v in results.items()}), file=sys.stderr)
    print(f"\n`{PROFILE}` build, moto server {ACCOUNTS} member accounts, Slack stand-in on loopback.")


if __name__ == "__main__":
    main()
