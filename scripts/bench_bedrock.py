"""LLMjacking benchmark: from the moment a leaked key's first InvokeModel record is put on the
emulator's EventBridge (as CloudTrail delivers Bedrock's management events) to the moment the
Bedrock deny policy is attached to that key's user, with `block_bedrock`, `halt_scope =
"launchers"` and `bedrock_grace_period = "0s"` (the deadline loop ticks every second). check_every
is 5 minutes, so only the event path acts. IAM is reached through a stand-in that answers the
Bedrock API keys' listing, which moto does not serve (emulator.bedrock_keys_standin). Each trial starts from a fresh
emulator state, journal and serve. Run through scripts/bench-bedrock [TRIALS]."""

import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slack_standin  # noqa: E402
from emulator import PAYER, Moto, bedrock_keys_standin, event_pipe, percentile, serve_warm, wait  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.environ.get("BENCH_PROFILE", "debug")
DENY = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": [
    "bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:Converse",
    "bedrock:ConverseStream"], "Resource": "*"}]}


def invoke_record(key):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "eventVersion": "1.09", "eventTime": now, "eventSource": "bedrock.amazonaws.com",
        "eventName": "InvokeModel", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.23",
        "userAgent": "Boto3/1.34.0", "requestParameters": {"modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"},
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{PAYER}:user/ci-deployer",
                         "accountId": PAYER, "accessKeyId": key, "userName": "ci-deployer"},
        "eventID": f"bench-{time.time_ns()}", "eventType": "AwsApiCall", "managementEvent": True,
    }


def trial(moto, slack_url, iam_url):
    moto.reset()
    queue = event_pipe(moto)
    iam = moto.client("iam", "us-east-1")
    for user in ("ci-deployer", "breakglass"):
        iam.create_user(UserName=user)
    key = iam.create_access_key(UserName="ci-deployer")["AccessKey"]["AccessKeyId"]
    deny = iam.create_policy(PolicyName="runawaytrain-bedrock-deny",
                             PolicyDocument=json.dumps(DENY))["Policy"]["Arn"]
    work = tempfile.mkdtemp(prefix="runaway-bench-bedrock-")
    config = os.path.join(work, "runaway.toml")
    with open(config, "w") as f:
        f.write(
            f'[guard]\ncheck_every = "300s"\nstate_path = "bench.db"\nbedrock_grace_period = "0s"\n'
            f'exempt_principals = ["breakglass"]\nbedrock_deny_policy_arn = "{deny}"\n\n'
            '[slack]\nchannel = "C0123456789"\napprovers = ["U0123456789"]\n\n'
            f'[events]\nqueue_url = "{queue}"\n\n'
            f'[[accounts]]\nid = "{PAYER}"\nname = "bench"\nregions = ["us-east-1"]\n'
            'halt_scope = "launchers"\nactions = ["block_bedrock"]\n'
        )
    serve, url = serve_warm(os.path.join(ROOT, "target", PROFILE, "runaway"), config, moto, queue, slack_url,
                            {"AWS_ENDPOINT_URL_IAM": iam_url})
    try:
        eb = moto.client("events", "us-east-1")
        start = time.time()
        eb.put_events(Entries=[{"Source": "aws.bedrock", "DetailType": "AWS API Call via CloudTrail",
                                "Detail": json.dumps(invoke_record(key))}])
        attached = lambda: any(p["PolicyArn"] == deny for p in iam.list_attached_user_policies(
            UserName="ci-deployer")["AttachedPolicies"])
        wait("the deny policy", attached, 30, 0.02)
        return time.time() - start
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    slack_standin.quiet = True
    moto = Moto()
    slack_server, slack_url = slack_standin.start()
    try:
        iam_url = bedrock_keys_standin(moto.url)
        seconds = [trial(moto, slack_url, iam_url) for _ in range(trials)]
    finally:
        slack_server.shutdown()
        moto.stop()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| first unexpected InvokeModel → Bedrock deny attached, {trials} trials: p50 | {percentile(seconds, 50):.2f} s |")
    print(f"| p99 | {percentile(seconds, 99):.2f} s |")
    print(f"| mean | {statistics.mean(seconds):.2f} s |")
    print(f"| min / max | {min(seconds):.2f} / {max(seconds):.2f} s |")
    print(f"\n`{PROFILE}` build, bedrock_grace_period 0 s, moto server and Slack stand-in on loopback.")


if __name__ == "__main__":
    main()
