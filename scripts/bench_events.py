"""Event path benchmark: from the moment instances are launched to the moment the alert's
chat.postMessage reaches the Slack stand-in, through the emulator's EventBridge (a rule in
eu-west-1 forwarding to the us-east-1 bus, a rule there filling an SQS queue) and `runaway
serve`'s long poll. check_every is 5 minutes and the first check has run before the launch, so
only the event path can raise the alert. Each trial starts from a fresh emulator, journal and
serve, so that every trial opens a new incident. Run through scripts/bench-events [TRIALS]."""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slack_standin  # noqa: E402
from emulator import PAYER, Moto, event_pipe, metric, percentile, wait, put_state_changes, serve_warm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.environ.get("BENCH_PROFILE", "debug")
CHECK_EVERY_S = 300


def trial(moto, slack_url):
    moto.reset()
    queue = event_pipe(moto)
    work = tempfile.mkdtemp(prefix="runaway-bench-events-")
    config = os.path.join(work, "runaway.toml")
    with open(config, "w") as f:
        f.write(
            f'[guard]\ncheck_every = "{CHECK_EVERY_S}s"\nstate_path = "bench.db"\n\n'
            '[slack]\nchannel = "C0123456789"\napprovers = ["U0123456789"]\n\n'
            f'[events]\nqueue_url = "{queue}"\n\n'
            f'[[accounts]]\nid = "{PAYER}"\nname = "bench"\nregions = ["us-east-1", "eu-west-1"]\n'
            "max_running_instances = 2\n"
        )
    serve, url = serve_warm(os.path.join(ROOT, "target", PROFILE, "runaway"), config, moto, queue, slack_url)
    try:
        seen = len(slack_standin.arrivals)
        start = time.time()
        ids = moto.launch("eu-west-1", 3)
        put_state_changes(moto, "eu-west-1", ids)
        wait("the alert", lambda: any(m == "chat.postMessage" for m, _ in slack_standin.arrivals[seen:]), 30)
        arrived = next(t for m, t in slack_standin.arrivals[seen:] if m == "chat.postMessage")
        if metric(url, "runaway_checks_total") != 1:
            sys.exit("a periodic check ran during the trial: the figure would not be the event path's")
        return arrived - start
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    slack_standin.quiet = True
    moto = Moto()
    slack_server, slack_url = slack_standin.start()
    try:
        latencies = [trial(moto, slack_url) for _ in range(trials)]
    finally:
        slack_server.shutdown()
        moto.stop()
    ms = [x * 1000 for x in latencies]
    print("| measure | value |")
    print("|---|---:|")
    print(f"| launch → alert through EventBridge and SQS, {trials} trials: p50 | {percentile(ms, 50):.0f} ms |")
    print(f"| p99 | {percentile(ms, 99):.0f} ms |")
    print(f"| mean | {statistics.mean(ms):.0f} ms |")
    print(f"| min / max | {min(ms):.0f} / {max(ms):.0f} ms |")
    print(f"| the poll path alone (check_every = 5m): on average | {CHECK_EVERY_S / 2 * 1000:.0f} ms |")
    print(f"\n`{PROFILE}` build, moto server and Slack stand-in on loopback.")


if __name__ == "__main__":
    main()
