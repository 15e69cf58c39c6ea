"""The main job, locally and end to end: an AWS emulator (moto) with an organisation of two
accounts, a local Slack stand-in that prints what the channel would show, and `runaway serve`
with a short grace period. The payer account breaks its rules; the bot alerts; nobody presses
Override; at the deadline the bot stops the instances on its own. Then a leaked key launches
instances in the member account, and the event path (EventBridge → SQS) alerts within a second,
naming the leaked key from the CloudTrail record it carries.
Run through scripts/demo."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slack_standin  # noqa: E402
from emulator import MEMBER, PAYER, Moto, event_pipe, free_port, send_event  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNAWAY = os.path.join(ROOT, "target", "debug", "runaway")
SIGNING_SECRET = "demo-signing-secret"
GRACE = 20


def banner(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def run(*args, env):
    banner("$ runaway " + " ".join(args))
    code = subprocess.run([RUNAWAY, *args], env=env).returncode
    print(f"(exit status {code})", flush=True)


def slash(url, text, user):
    """A /runaway command, signed as Slack signs it."""
    # Every field Slack sends with a slash command (the guard reads them with Slack's models).
    body = urllib.parse.urlencode({
        "team_id": "T0123456789", "channel_id": "C0123456789", "command": "/runaway",
        "text": text, "user_id": user, "response_url": "http://127.0.0.1:9/response",
        "trigger_id": f"{time.time()}.{user}"}).encode()
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(url + "/slack/commands", data=body, headers={
        "x-slack-request-timestamp": ts, "x-slack-signature": sig,
        "content-type": "application/x-www-form-urlencoded"})
    return json.load(urllib.request.urlopen(req))


def main():
    moto = Moto()
    slack_server, slack_url = slack_standin.start()
    serve = None
    try:
        banner(f"AWS emulator (moto) on {moto.url}: two accounts")
        moto.launch("us-east-1", 4)
        moto.launch("us-east-1", 1, tags={"runaway:exempt": "true", "Name": "bastion"})
        moto.launch("eu-west-1", 3)
        moto.launch("ap-northeast-1", 2)
        moto.auto_scaling_group("us-east-1", "web", 2)
        moto.estimated_charges(612.50)
        moto.launch("eu-central-1", 5, account=MEMBER)
        moto.launch("sa-east-1", 1, account=MEMBER)
        topic = moto.client("sns", "us-east-1").create_topic(Name="runawaytrain")["TopicArn"]
        queue = event_pipe(moto)
        print(f"payer {PAYER}: us-east-1 5 + 2 in Auto Scaling group 'web' (one tagged exempt), "
              "eu-west-1 3, ap-northeast-1 2; estimated charges $612.50")
        print(f"research {MEMBER} (through an assumed role): eu-central-1 5, sa-east-1 1")

        work = tempfile.mkdtemp(prefix="runaway-demo-")
        config = os.path.join(work, "runaway.toml")
        with open(config, "w") as f:
            f.write(textwrap.dedent(f"""\
                [guard]
                home_region = "us-east-1"
                check_every = "30s"
                grace_period = "{GRACE}s"
                state_path = "runaway.db"

                [slack]
                channel = "C0123456789"
                approvers = ["U0123456789"]

                [notify]
                sns_topic_arn = "{topic}"

                [events]
                queue_url = "{queue}"

                [[accounts]]
                id = "{PAYER}"
                name = "payer"
                regions = ["us-east-1", "eu-west-1", "ap-northeast-1", "sa-east-1"]
                max_running_instances = 4
                max_estimated_charges_usd = 500.0

                [[accounts]]
                id = "{MEMBER}"
                name = "research"
                role_arn = "arn:aws:iam::{MEMBER}:role/runawaytrain-member"
                max_running_instances = 10
                """))
        banner(f"configuration {config}")
        print(open(config).read(), end="")

        env = dict(
            os.environ,
            RUNAWAY_CONFIG=config,
            AWS_ENDPOINT_URL=moto.url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_EC2_METADATA_DISABLED="true",
            RUNAWAY_SLACK_API_URL=slack_url + "/api/",
            SLACK_BOT_TOKEN="xoxb-demo",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
        )
        env.pop("AWS_PROFILE", None)
        run("check", env=env)

        port = free_port()
        env["RUNAWAY_LISTEN"] = f"127.0.0.1:{port}"
        env["RUNAWAY_LOG"] = "runawaytrain=info"
        log = os.path.join(work, "serve.log")
        banner(f"$ runaway serve   (Slack stand-in on {slack_url}; log in {log})")
        serve = subprocess.Popen([RUNAWAY, "serve"], env=env, stderr=open(log, "w"))
        del env["RUNAWAY_LOG"]
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while not any(m == "chat.postMessage" for m, _ in slack_standin.messages):
            if time.time() > deadline or serve.poll() is not None:
                sys.exit(f"no alert within a minute; see {log}")
            time.sleep(0.2)

        banner("$ /runaway status   (a signed slash command, as Slack sends it)")
        print(textwrap.indent(slash(url, "status", "U0123456789")["text"], "    "))
        banner(f"nobody presses Override: waiting out the {GRACE}s grace period")
        while not any(m == "chat.update" and "stopped" in json.dumps(b) for m, b in slack_standin.messages):
            if time.time() > deadline + GRACE or serve.poll() is not None:
                sys.exit(f"the deadline did not act; see {log}")
            time.sleep(0.2)
        time.sleep(0.5)

        banner("a leaked key starts 8 instances in research's eu-central-1; EC2 emits its events")
        posted = sum(1 for m, _ in slack_standin.messages if m == "chat.postMessage")
        launched = time.time()
        ids = moto.launch("eu-central-1", 8, account=MEMBER)
        # CloudTrail's record of the call, as EventBridge delivers it ("AWS API Call via CloudTrail").
        send_event(moto, queue, MEMBER, "eu-central-1", "AWS API Call via CloudTrail", {
            "eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "awsRegion": "eu-central-1",
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{MEMBER}:user/ci-deploy",
                             "accountId": MEMBER, "accessKeyId": "AKIAEXAMPLELEAKED01", "userName": "ci-deploy"},
            "sourceIPAddress": "198.51.100.23", "userAgent": "Boto3/1.35.0",
            "responseElements": {"instancesSet": {"items": [{"instanceId": i} for i in ids]}},
            "recipientAccountId": MEMBER})
        for iid in ids:
            # As EventBridge delivers the member account's events to the guard's queue.
            send_event(moto, queue, MEMBER, "eu-central-1", "EC2 Instance State-change Notification",
                       {"instance-id": iid, "state": "running"})
        while sum(1 for m, _ in slack_standin.messages if m == "chat.postMessage") == posted:
            if time.time() > launched + 30 or serve.poll() is not None:
                sys.exit(f"no alert from the event path; see {log}")
            time.sleep(0.05)
        print(f"  alerted {time.time() - launched:.2f} s after the launch, with the next periodic check "
              "still up to 30 s away", flush=True)
        time.sleep(1.5)
        run("events", env=env)
        incident = next(b["metadata"]["event_payload"]["incident"] for m, b in reversed(slack_standin.messages)
                        if m == "chat.postMessage")
        run("status", incident, env=env)

        banner("SNS e-mails to the notify list (moto keeps them)")
        data = json.load(urllib.request.urlopen(moto.url + "/moto-api/data.json"))
        for _, message, subject, *_ in data["sns"]["Topic"][0]["sent_notifications"]:
            print(f"  subject: {subject}")
        banner("health and metrics")
        print("  " + urllib.request.urlopen(url + "/healthz").read().decode())
        for line in urllib.request.urlopen(url + "/metrics").read().decode().splitlines():
            if not line.startswith("#"):
                print("  " + line)
        serve.send_signal(signal.SIGTERM)
        print(f"runaway serve stopped on SIGTERM, exit status {serve.wait(timeout=30)}")
        serve = None
        run("status", env=env)
        run("check", env=env)
    finally:
        if serve is not None:
            serve.kill()
        slack_server.shutdown()
        moto.stop()


if __name__ == "__main__":
    main()
