"""Organisation benchmark: one `runaway check` of N accounts × 17 regions, the accounts created
in the emulator's Organizations and discovered by the guard (`[organization] discover = true`),
each reached through an assumed role; each account runs instances in two regions, one of them
a GPU type so that the burn rate's read of instance types can be measured too. Prints a
Markdown table of the median wall time and the peak resident memory (GNU time) per size.

Run through scripts/bench-org, which builds the binary and sets up the emulator."""

import http.server
import json
import os
import threading
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator import Moto, PAYER  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2",
]
SIZES = [int(s) for s in os.environ.get("BENCH_ACCOUNTS", "20,50,100,200").split(",")]
REPS = int(os.environ.get("BENCH_REPS", "3"))
PROFILE = os.environ.get("BENCH_PROFILE", "debug")


class Prices(http.server.BaseHTTPRequestHandler):
    """A stand-in for the Price List Query API (moto has none): GetProducts in AWS's JSON 1.1
    wire format, one product of $1.00 an hour for any instance type asked for."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        terms = {f["Field"]: f["Value"] for f in body.get("Filters", [])}
        product = {
            "product": {"attributes": terms},
            "terms": {"OnDemand": {"T.JRTCKXETXF": {"priceDimensions": {
                "T.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": "1.0000000000"}}}}}},
        }
        answer = json.dumps({"FormatVersion": "aws_v1", "PriceList": [json.dumps(product)]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def organisation(moto, n):
    """A fresh organisation of `n` member accounts, each running two instances."""
    moto.reset()
    org = moto.client("organizations", "us-east-1")
    org.create_organization(FeatureSet="ALL")
    ids = []
    for i in range(n):
        status = org.create_account(Email=f"a{i}@example.com", AccountName=f"team-{i:03}")
        ids.append(status["CreateAccountStatus"]["AccountId"])
    for i, account in enumerate(ids):
        moto.launch(REGIONS[i % len(REGIONS)], 1, account=account)
        ec2 = moto.client("ec2", "us-east-1", account=account)
        ec2.run_instances(ImageId="ami-12c6146b", InstanceType="g5.xlarge", MinCount=1, MaxCount=1)
    return ids


def config(work, burn):
    path = os.path.join(work, f"runaway-{'burn' if burn else 'count'}.toml")
    rule = "max_burn_rate_usd_per_hour = 1000.0" if burn else "max_running_instances = 5"
    with open(path, "w") as f:
        f.write(
            '[guard]\nstate_path = "bench.db"\n\n'
            '[organization]\ndiscover = true\n\n'
            f'[organization.defaults]\nregions = {json.dumps(REGIONS)}\n{rule}\n\n'
            f'[[accounts]]\nid = "{PAYER}"\nname = "payer"\nregions = ["us-east-1"]\n'
        )
    return path


def timed(cmd, env):
    """Wall time and peak resident memory (KiB, GNU time) of one run."""
    report = tempfile.mktemp(prefix="runaway-time-")
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report, *cmd], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    with open(report) as f:
        rss = int(f.read().strip().splitlines()[-1])
    os.unlink(report)
    if out.returncode not in (0, 1):
        sys.exit(f"check failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return elapsed, rss, json.loads(out.stdout)


def main():
    work = tempfile.mkdtemp(prefix="runaway-bench-org-")
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("AWS_PROFILE", None)
    prices = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Prices)
    threading.Thread(target=prices.serve_forever, daemon=True).start()
    env["AWS_ENDPOINT_URL_PRICING"] = f"http://127.0.0.1:{prices.server_address[1]}"
    binary = os.path.join(ROOT, "target", PROFILE, "runaway")
    rows = []
    for n in SIZES:
        # A fresh emulator per size: moto keeps what a reset forgets, and 200 accounts × 17
        # regions of backends take gigabytes.
        moto = Moto()
        env["AWS_ENDPOINT_URL"] = moto.url
        try:
            ids = organisation(moto, n)
            result = {}
            for burn in (False, True):
                cmd = [binary, "--config", config(work, burn), "check", "--json"]
                # Each size starts with no price kept, as a first check would.
                for f in ("bench.db", "bench.db-wal", "bench.db-shm"):
                    if os.path.exists(os.path.join(work, f)):
                        os.unlink(os.path.join(work, f))
                times, peaks, cold = [], [], None
                # The first check of a fresh organisation also pays moto creating each
                # account's regional backends on first use: reported apart, not in the median.
                for rep in range(REPS + (0 if burn else 1)):
                    elapsed, rss, report = timed(cmd, env)
                    checked = [a for a in report["accounts"] if a["source"] == "discovered"]
                    regions = sum(len(a["regions"]) for a in checked)
                    errors = [e for a in report["accounts"] for e in a["errors"]]
                    if len(checked) != n or regions != n * len(REGIONS) or errors:
                        sys.exit(f"{n} accounts: checked {len(checked)} accounts, {regions} regions, errors {errors[:3]}")
                    if not burn and rep == 0:
                        cold = elapsed
                    else:
                        times.append(elapsed)
                    peaks.append(rss)
                    print(f"{n:>4} accounts {'burn ' if burn else 'count'} run {rep + 1}: {elapsed:6.2f} s, {rss / 1024:6.1f} MiB", file=sys.stderr)
                result[burn] = (statistics.median(times), max(peaks), cold)
            rows.append((n, result))
        finally:
            moto.stop()
    print("| accounts × 17 regions | check, median | peak RSS | with a burn rate rule (+ instance types), median | peak RSS | first check (moto creating backends) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, r in rows:
        (t, m, cold), (tb, mb, _) = r[False], r[True]
        print(f"| {n} × 17 = {n * 17:,} | {t:.1f} s | {m / 1024:.0f} MiB | {tb:.1f} s | {mb / 1024:.0f} MiB | {cold:.1f} s |")
    print(f"\n{REPS} runs each, `{PROFILE}` build, moto server on loopback, max_concurrency 16.")


if __name__ == "__main__":
    main()
