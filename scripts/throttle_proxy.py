#!/usr/bin/env python3
"""A throttling proxy in front of the AWS emulator, which never throttles.

AWS meters EC2's StopInstances by resources (a token bucket per account and region: 1,000
instance tokens, refilled at 20 a second) and IAM's writes by requests. This proxy keeps such
buckets, small and configurable, and answers a call the bucket cannot pay for exactly as AWS
does: EC2 with HTTP 503 `RequestLimitExceeded`, IAM with HTTP 400 `Throttling`, in their XML
error formats. A refused call takes no tokens and never reaches the emulator; every other
request is passed through unchanged.

It prints `listening http://127.0.0.1:PORT` once ready. `GET /_throttle/log` returns every
metered call as JSON: seconds since start, bucket, action, cost, accepted, tokens before.

Used by the throttled-halt tests (tests/it/throttled.rs) and scripts/bench-throttled.
"""

import argparse
import http.client
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

IAM_WRITES = {
    "AttachUserPolicy", "AttachRolePolicy", "DetachUserPolicy", "DetachRolePolicy",
    "UpdateAccessKey", "PutUserPolicy", "PutRolePolicy", "DeleteUserPolicy", "DeleteRolePolicy",
}
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class Bucket:
    def __init__(self, burst, rate, initial):
        self.burst, self.rate = float(burst), float(rate)
        self.tokens = float(burst if initial is None else initial)
        self.at = time.monotonic()

    def take(self, cost):
        """(accepted, tokens before): takes `cost` tokens when it has them, else nothing."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        before = self.tokens
        if cost <= self.tokens:
            self.tokens -= cost
            return True, before
        return False, before


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.buckets = {}
        self.log = []
        self.start = time.monotonic()

    def meter(self, name, cost, action, make):
        with self.lock:
            bucket = self.buckets.setdefault(name, make())
            accepted, before = bucket.take(cost)
            self.log.append({
                "t": round(time.monotonic() - self.start, 4), "bucket": name, "action": action,
                "cost": cost, "accepted": accepted, "tokens_before": round(before, 3),
            })
            return accepted


def scope(headers):
    """(region, service) from the SigV4 credential scope of the Authorization header."""
    auth = headers.get("Authorization", "")
    try:
        cred = auth.split("Credential=", 1)[1].split(",", 1)[0]
        parts = cred.split("/")
        return parts[2], parts[3]
    except IndexError:
        return None, None


def make_handler(state, upstream):
    host = urlsplit(upstream).netloc

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, status, body, ctype="text/xml"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def refused(self, service, action):
            rid = str(uuid.uuid4())
            if service == "ec2":
                return self.answer(503, (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                    "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
                    f"</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"))
            return self.answer(400, (
                '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
                "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
                f"</Error><RequestId>{rid}</RequestId></ErrorResponse>"))

        def metered(self, body):
            """False when a bucket refuses the call."""
            region, service = scope(self.headers)
            params = dict(parse_qsl(urlsplit(self.path).query))
            if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                params.update(parse_qsl(body.decode(errors="replace")))
            action = params.get("Action")
            a = state.args
            if service == "ec2" and action == "StopInstances" and params.get("DryRun") != "true":
                cost = sum(1 for k in params if k.startswith("InstanceId."))
                return state.meter(f"ec2:{region}", cost, action, lambda: Bucket(
                    a.ec2_burst, a.ec2_rate, a.ec2_initial)), service, action
            if service == "iam" and action in IAM_WRITES:
                return state.meter("iam", 1, action, lambda: Bucket(
                    a.iam_burst, a.iam_rate, a.iam_initial)), service, action
            return True, service, action

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path == "/_throttle/log":
                with state.lock:
                    return self.answer(200, json.dumps(state.log), "application/json")
            accepted, service, action = self.metered(body)
            if not accepted:
                return self.refused(service, action)
            conn = http.client.HTTPConnection(host, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="the emulator, e.g. http://127.0.0.1:5000")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ec2-burst", type=float, default=1000, help="StopInstances bucket size")
    p.add_argument("--ec2-rate", type=float, default=20, help="instance tokens a second")
    p.add_argument("--ec2-initial", type=float, default=None, help="tokens at start (full)")
    p.add_argument("--iam-burst", type=float, default=20, help="IAM write bucket size")
    p.add_argument("--iam-rate", type=float, default=10, help="IAM writes a second")
    p.add_argument("--iam-initial", type=float, default=None, help="tokens at start (full)")
    args = p.parse_args()
    state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state, args.upstream))
    server.daemon_threads = True
    print(f"listening http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
