"""The AWS emulator (moto server) for the demo and the benchmarks: start it on a free loopback
port, seed it as an operator's organisation would look, reset it. Uses the project's virtualenv
(scripts/setup), where moto brings boto3 along."""

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAYER = "123456789012"  # the account moto's default credentials belong to
MEMBER = "222222222222"
AMI = "ami-12c6146b"  # moto accepts any AMI id


def serve_env(config, moto_url, port, slack_url, signing_secret="bench-signing-secret"):
    """The environment `runaway serve` runs with in the benchmarks: the configuration file, the
    emulator, dummy credentials, no instance metadata, its own port, the Slack stand-in."""
    return dict(os.environ, RUNAWAY_CONFIG=config, AWS_ENDPOINT_URL=moto_url, AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing", AWS_EC2_METADATA_DISABLED="true",
                RUNAWAY_LISTEN=f"127.0.0.1:{port}", RUNAWAY_SLACK_API_URL=slack_url + "/api/",
                SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=signing_secret)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, serial=False, env=None):
        """`serial`: one request at a time (scripts/moto_serial.py), so that DynamoDB's
        conditional writes are atomic as AWS's are; `env`: more of moto's environment."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        venv = os.path.join(ROOT, ".venv", "bin")
        if serial:
            command = [os.path.join(venv, "python"), os.path.join(ROOT, "scripts", "moto_serial.py")]
        else:
            command = [os.path.join(venv, "moto_server")]
        self.proc = subprocess.Popen(
            command + ["-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, **(env or {})),
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        sys.exit("moto_server did not start")

    def stop(self):
        # moto may ignore SIGTERM: ask, then kill.
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def reset(self):
        self._clients = {}
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"))

    def session(self, account=PAYER):
        kw = dict(aws_access_key_id="testing", aws_secret_access_key="testing")
        if account != PAYER:
            sts = boto3.client("sts", region_name="us-east-1", endpoint_url=self.url, **kw)
            c = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed"
            )["Credentials"]
            kw = dict(
                aws_access_key_id=c["AccessKeyId"],
                aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"],
            )
        return boto3.session.Session(**kw)

    def client(self, service, region, account=PAYER):
        key = (service, region, account)
        cache = self.__dict__.setdefault("_clients", {})
        if key not in cache:
            cache[key] = self.session(account).client(
                service, region_name=region, endpoint_url=self.url
            )
        return cache[key]

    def launch(self, region, n, account=PAYER, tags=None):
        """n instances in one RunInstances call."""
        if n == 0:
            return []
        kw = {}
        if tags:
            kw["TagSpecifications"] = [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        ec2 = self.client("ec2", region, account)
        out = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=n, MaxCount=n, **kw)
        return [i["InstanceId"] for i in out["Instances"]]

    def auto_scaling_group(self, region, name, size, account=PAYER):
        asg = self.client("autoscaling", region, account)
        asg.create_launch_configuration(
            LaunchConfigurationName=name, ImageId=AMI, InstanceType="t3.micro"
        )
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchConfigurationName=name,
            MinSize=size,
            MaxSize=size,
            DesiredCapacity=size,
            AvailabilityZones=[region + "a"],
        )

    def estimated_charges(self, usd, account=PAYER):
        cw = self.client("cloudwatch", "us-east-1", account)
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
        cw.put_metric_data(
            Namespace="AWS/Billing",
            MetricData=[
                {
                    "MetricName": "EstimatedCharges",
                    "Dimensions": [{"Name": "Currency", "Value": "USD"}],
                    "Value": usd,
                    "Timestamp": when,
                }
            ],
        )

    def count(self, region, state="running", account=PAYER):
        ec2 = self.client("ec2", region, account)
        n = 0
        for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": [state]}]
        ):
            n += sum(len(r["Instances"]) for r in page["Reservations"])
        return n


# The event path, as the Terraform module builds it: a queue with a dead-letter queue, a rule on
# the home region's default bus targeting it, a rule in each other region forwarding there.
# moto's default SQS body leaves out the envelope's `account` field (AWS always sends it): the
# central rule's target here writes the documented envelope back with an input transformer.
EVENT_PATTERN = json.dumps({"detail-type": [
    "EC2 Instance State-change Notification", "AWS API Call via CloudTrail", "GuardDuty Finding"]})
ENVELOPE = ('{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
            '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
            '"detail": <detail>}')


def event_pipe(moto, home="us-east-1", regions=("eu-west-1",)):
    """Builds the pipe on the emulator; returns the queue's URL."""
    sqs = moto.client("sqs", home)
    dlq = sqs.create_queue(QueueName="runawaytrain-events-dead-letters")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="runawaytrain-events", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        "VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    central = moto.client("events", home)
    central.put_rule(Name="runawaytrain-events", EventPattern=EVENT_PATTERN)
    paths = {k: f"$.{k}" for k in ("id", "account", "time", "region", "source", "detail-type", "resources", "detail")}
    central.put_targets(Rule="runawaytrain-events", Targets=[{
        "Id": "queue", "Arn": arn,
        "InputTransformer": {"InputPathsMap": paths, "InputTemplate": ENVELOPE}}])
    for region in regions:
        away = moto.client("events", region)
        away.put_rule(Name="runawaytrain-forward", EventPattern=EVENT_PATTERN)
        away.put_targets(Rule="runawaytrain-forward", Targets=[{
            "Id": "central-bus", "Arn": f"arn:aws:events:{home}:{PAYER}:event-bus/default",
            "RoleArn": f"arn:aws:iam::{PAYER}:role/runawaytrain-event-forwarder"}])
    return queue


def put_state_changes(moto, region, ids, state="running"):
    """EC2's state-change events for `ids`, put on the region's default bus of the payer, as EC2
    would emit them (moto emits none itself)."""
    eb = moto.client("events", region)
    for i in range(0, len(ids), 10):
        eb.put_events(Entries=[{
            "Source": "aws.ec2", "DetailType": "EC2 Instance State-change Notification",
            "Resources": [f"arn:aws:ec2:{region}:{PAYER}:instance/{iid}"],
            "Detail": json.dumps({"instance-id": iid, "state": state})} for iid in ids[i:i + 10]])


def send_event(moto, queue, account, region, detail_type, detail, home="us-east-1"):
    """An event of another account, sent to the queue in EventBridge's documented envelope, as
    EventBridge delivers it (moto re-puts a forwarded event under the receiving account)."""
    import uuid
    body = {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": "aws.ec2",
            "account": account, "region": region, "resources": [], "detail": detail,
            "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    moto.client("sqs", home).send_message(QueueUrl=queue, MessageBody=json.dumps(body))


def metric(url, name):
    """One value of `runaway serve`'s /metrics (0 when absent)."""
    import urllib.request
    for line in urllib.request.urlopen(url + "/metrics").read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def wait(what, pred, limit=60, step=0.01):
    """Polls `pred` until true, for at most `limit` seconds; exits naming `what` otherwise."""
    import sys
    import time
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(step)
    sys.exit(f"timed out waiting for {what}")


def percentile(values, p):
    """Nearest rank."""
    import math
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def bedrock_keys_standin(moto_url):
    """IAM's endpoint for the guard in front of the emulator, which does not serve service-specific
    credentials (moto answers ListServiceSpecificCredentials with a 500): that call answered in
    IAM's Query wire format with no Bedrock API key, every other request passed to moto. Returns
    its URL; a daemon thread serves it."""
    import threading
    import urllib.error
    import urllib.parse
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    empty = ('<ListServiceSpecificCredentialsResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
             '<ListServiceSpecificCredentialsResult><ServiceSpecificCredentials/><IsTruncated>false</IsTruncated>'
             '</ListServiceSpecificCredentialsResult><ResponseMetadata><RequestId>bench</RequestId>'
             '</ResponseMetadata></ListServiceSpecificCredentialsResponse>').encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
            if action == "ListServiceSpecificCredentials":
                status, headers, answer = 200, {"Content-Type": "text/xml"}, empty
            else:
                request = urllib.request.Request(moto_url + self.path, data=body, method="POST", headers={
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")})
                try:
                    with urllib.request.urlopen(request) as r:
                        status, headers, answer = r.status, dict(r.headers), r.read()
                except urllib.error.HTTPError as e:
                    status, headers, answer = e.code, dict(e.headers), e.read()
            self.send_response(status)
            self.send_header("Content-Type", headers.get("Content-Type", "text/xml"))
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def serve_warm(binary, config, moto, queue, slack_url, extra_env=None):
    """Starts `runaway serve` on a free port and returns (process, base URL) once its first
    check has run and its long poll is in place (an event of an account not watched has gone
    through), so that a measurement starts from a settled bot."""
    import subprocess
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = serve_env(config, moto.url, port, slack_url)
    env.update(extra_env or {})
    env.pop("AWS_PROFILE", None)
    serve = subprocess.Popen([binary, "serve"], env=env, stderr=subprocess.DEVNULL)
    try:
        wait("the first check", lambda: metric(url, "runaway_checks_total") >= 1)
        send_event(moto, queue, "999999999999", "us-east-1", "EC2 Instance State-change Notification",
                   {"instance-id": "i-warmup", "state": "running"})
        wait("the event loop", lambda: metric(url, "runaway_events_received_total") >= 1)
    except BaseException:
        serve.terminate()
        raise
    return serve, url
