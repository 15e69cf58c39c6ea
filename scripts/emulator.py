"""The AWS emulator (moto server) for the demo and the benchmarks: start it on a free loopback
port, seed it as an operator's organisation would look, reset it. Uses the project's virtualenv
(scripts/setup), where moto brings boto3 along."""

import datetime
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = os.path.join(ROOT, ".venv", "bin", "moto_server")
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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
