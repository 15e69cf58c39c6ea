"""Compute beyond EC2 in the benchmarks (issue: whole compute bill), on one moto server:

1. The 1,700-instance halt over 17 regions with `halt_services = ["all"]` and a few resources of
   every other service present (target: at or under 1.5 s).
2. The halt of N resources of each service in one region (default 200): databases, ECS services,
   functions, notebooks, Batch queues, each stopped and checked stopped in moto.
3. A check of 17 regions with all services read against the same check reading EC2 alone
   (target: under 2x).

Run through scripts/bench-services, which builds the binary and sets up the emulator. Medians of
BENCH_REPS runs (default 5); BENCH_PROFILE debug|release."""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator import Moto  # noqa: E402
from bench import REGIONS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPS = int(os.environ.get("BENCH_REPS", "5"))
PROFILE = os.environ.get("BENCH_PROFILE", "debug")
PER_SERVICE = int(os.environ.get("BENCH_PER_SERVICE", "200"))


def role(moto, region="us-east-1"):
    iam = moto.client("iam", region)
    try:
        return iam.get_role(RoleName="bench")["Role"]["Arn"]
    except Exception:
        return iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]


def seed_services(moto, region, n):
    """n of each: databases, ECS services, functions, notebooks, Batch queues (on one
    environment)."""
    arn = role(moto)
    rds = moto.client("rds", region)
    for i in range(n):
        rds.create_db_instance(
            DBInstanceIdentifier=f"db-{i}", DBInstanceClass="db.t3.micro", Engine="postgres",
            MasterUsername="u", MasterUserPassword="password-password", AllocatedStorage=20,
        )
    ecs = moto.client("ecs", region)
    ecs.create_cluster(clusterName="bench")
    ecs.register_task_definition(family="t", containerDefinitions=[{"name": "a", "image": "x", "memory": 128}])
    for i in range(n):
        ecs.create_service(cluster="bench", serviceName=f"svc-{i}", taskDefinition="t", desiredCount=2)
    lam = moto.client("lambda", region)
    for i in range(n):
        lam.create_function(
            FunctionName=f"fn-{i}", Runtime="python3.12", Role=arn, Handler="a.h",
            Code={"ZipFile": b"bench"},
        )
    sm = moto.client("sagemaker", region)
    for i in range(n):
        sm.create_notebook_instance(NotebookInstanceName=f"nb-{i}", InstanceType="ml.t3.medium", RoleArn=arn)
    ec2 = moto.client("ec2", region)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    batch = moto.client("batch", region)
    env = batch.create_compute_environment(
        computeEnvironmentName="bench-env", type="MANAGED", state="ENABLED",
        computeResources={"type": "FARGATE", "maxvCpus": 16, "subnets": [subnet], "securityGroupIds": [group]},
        serviceRole=arn,
    )["computeEnvironmentArn"]
    for i in range(n):
        batch.create_job_queue(
            jobQueueName=f"queue-{i}", state="ENABLED", priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
        )


def config(work, services, extra=""):
    path = os.path.join(work, "runaway.toml")
    with open(path, "w") as f:
        f.write(
            '[guard]\nstate_path = "bench.db"\n\n'
            f'[[accounts]]\nid = "123456789012"\nname = "bench"\nregions = {json.dumps(REGIONS)}\n'
            f"halt_services = {json.dumps(services)}\n{extra}"
        )
    return path


def run(cmd, env, ok=(0,)):
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode not in ok:
        sys.exit(f"{cmd} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return elapsed, out.stdout


def main():
    moto = Moto()
    work = tempfile.mkdtemp(prefix="runaway-bench-services-")
    env = dict(
        os.environ, AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("AWS_PROFILE", None)
    exe = os.path.join(ROOT, "target", PROFILE, "runaway")
    results = {}
    try:
        # 1. The 1,700-instance halt with every service present, a few of each.
        times = []
        for rep in range(REPS):
            moto.reset()
            per, extra = divmod(1700, len(REGIONS))
            for i, region in enumerate(REGIONS):
                moto.launch(region, per + (1 if i < extra else 0))
            seed_services(moto, "us-east-1", 3)
            cfg = config(work, ["all"])
            elapsed, out = run([exe, "--config", cfg, "halt", "--yes", "--json"], env)
            report = json.loads(out)["accounts"][0]
            stopped = sum(len(v) for v in report["stopped"].values())
            halted = sum(len(s["stopped"]) for s in report.get("services", {}).values())
            if stopped != 1700 or halted != 16:  # 3 of each, and the queues' compute environment
                sys.exit(f"halt with services stopped {stopped} instances and {halted} resources")
            os.remove(os.path.join(work, "bench.db"))
            times.append(elapsed)
            print(f"halt 1,700 + services run {rep + 1}: {elapsed:.3f} s", file=sys.stderr)
        results["halt_all"] = statistics.median(times)

        # 2. N of each service in one region.
        times = []
        for rep in range(REPS):
            moto.reset()
            seed_services(moto, "us-east-1", PER_SERVICE)
            cfg = config(work, ["rds", "ecs", "lambda", "sagemaker", "batch"])
            elapsed, out = run([exe, "--config", cfg, "halt", "--yes", "--json"], env)
            services = json.loads(out)["accounts"][0]["services"]
            for name in ("rds", "ecs", "lambda", "sagemaker", "batch"):
                if len(services[name]["stopped"]) < PER_SERVICE:
                    sys.exit(f"{name}: {len(services[name]['stopped'])} of {PER_SERVICE} halted")
            os.remove(os.path.join(work, "bench.db"))
            times.append(elapsed)
            print(f"halt {PER_SERVICE} of each service run {rep + 1}: {elapsed:.3f} s", file=sys.stderr)
        results["halt_each"] = statistics.median(times)

        # 3. A check with every service read against EC2 alone, 1,700 instances and a few of each.
        moto.reset()
        per, extra = divmod(1700, len(REGIONS))
        for i, region in enumerate(REGIONS):
            moto.launch(region, per + (1 if i < extra else 0))
        seed_services(moto, "us-east-1", 3)
        for name, services in (("check_ec2", ["ec2"]), ("check_all", ["all"])):
            cfg = config(work, services)
            times = []
            for rep in range(REPS):
                elapsed, _ = run([exe, "--config", cfg, "check", "--json"], env, ok=(0, 1))
                times.append(elapsed)
                print(f"{name} run {rep + 1}: {elapsed:.3f} s", file=sys.stderr)
            results[name] = statistics.median(times)
    finally:
        moto.stop()
    print("| what | median |")
    print("|---|---:|")
    print(f"| halt: 1,700 instances over 17 regions, `halt_services = [\"all\"]`, 3 of each other service | {results['halt_all']:.2f} s |")
    print(f"| halt: {PER_SERVICE} databases, ECS services, functions, notebooks and Batch queues (one region) | {results['halt_each']:.2f} s |")
    print(f"| check: 1,700 instances, EC2 alone | {results['check_ec2']:.2f} s |")
    print(f"| check: the same, every service read in 17 regions | {results['check_all']:.2f} s ({results['check_all'] / results['check_ec2']:.2f}x) |")
    print(f"\n{REPS} runs each, `{PROFILE}` build, moto server on loopback.")


if __name__ == "__main__":
    main()
