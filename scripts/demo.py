"""The main job, locally: an AWS emulator with an organisation of two accounts, then
`runaway check`, a dry-run halt, the halt itself, and a check after it. Run through
scripts/demo, which builds the binary and sets up the emulator."""

import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator import MEMBER, PAYER, Moto  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNAWAY = os.path.join(ROOT, "target", "debug", "runaway")


def banner(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def run(*args, env):
    banner("$ runaway " + " ".join(args))
    code = subprocess.run([RUNAWAY, *args], env=env).returncode
    print(f"(exit status {code})", flush=True)


def main():
    moto = Moto()
    try:
        banner(f"AWS emulator (moto) on {moto.url}: seeding two accounts")
        moto.launch("us-east-1", 4)
        moto.launch("us-east-1", 1, tags={"runaway:exempt": "true", "Name": "bastion"})
        moto.launch("eu-west-1", 3)
        moto.launch("ap-northeast-1", 2)
        moto.auto_scaling_group("us-east-1", "web", 2)
        moto.estimated_charges(612.50)
        moto.launch("eu-central-1", 5, account=MEMBER)
        moto.launch("sa-east-1", 1, account=MEMBER)
        print(f"payer {PAYER}: us-east-1 5 + 2 in Auto Scaling group 'web' (one tagged exempt), "
              "eu-west-1 3, ap-northeast-1 2; estimated charges $612.50")
        print(f"research {MEMBER} (through an assumed role): eu-central-1 5, sa-east-1 1")

        work = tempfile.mkdtemp(prefix="runaway-demo-")
        config = os.path.join(work, "runaway.toml")
        with open(config, "w") as f:
            f.write(textwrap.dedent(f"""\
                [guard]
                home_region = "us-east-1"
                state_path = "runaway.db"
                exempt_tag = "runaway:exempt"

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
        )
        env.pop("AWS_PROFILE", None)
        run("check", env=env)
        run("halt", "--dry-run", env=env)
        run("halt", "--yes", env=env)
        run("check", env=env)

        banner(f"the journal, {os.path.join(work, 'runaway.db')}")
        db = sqlite3.connect(os.path.join(work, "runaway.db"))
        for row in db.execute("SELECT id, kind, status, opened_at, actor FROM incidents"):
            print("incident", *row)
        for row in db.execute(
            "SELECT account_id, region, action, status, count(*) FROM changes "
            "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3"
        ):
            print("  {} {:<15} {:<18} {:<7} x{}".format(*row))
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
