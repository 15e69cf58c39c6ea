"""A local stand-in for Slack's Web API, for the demo: answers chat.postMessage / chat.update
in Slack's wire format (`ok`, `ts`, `message`) and prints each message readably, as a person
would see it in the channel. response_url posts go to /response/<id>."""

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_seq = itertools.count(1)
messages = []  # (method, body) in arrival order
arrivals = []  # (method, time.time()) in arrival order: when each call reached the stand-in
quiet = False  # True: print nothing (benchmarks)
_lock = threading.Lock()


def render(body):
    """A Block Kit message as terminal text."""
    out = []
    for block in body.get("blocks", []):
        kind = block.get("type")
        if kind == "header":
            out.append("\033[1m" + block["text"]["text"] + "\033[0m")
        elif kind == "section":
            if "text" in block:
                out.append(block["text"]["text"])
            for field in block.get("fields", []):
                out.append("  " + field["text"].replace("\n", ": "))
        elif kind == "actions":
            out.append("  ".join(f"[ {e['text']['text']} ]" for e in block["elements"]))
        elif kind == "context":
            out.append("\033[2m" + " ".join(e.get("text", "") for e in block["elements"]) + "\033[0m")
    if not out:
        out.append(body.get("text", ""))
    return "\n".join("    │ " + line for text in out for line in text.splitlines())


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        arrived = time.time()
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        method = self.path.rsplit("/", 1)[-1] if self.path.startswith("/api/") else "response_url"
        with _lock:
            messages.append((method, body))
            arrivals.append((method, arrived))
        what = {"chat.postMessage": "new message", "chat.update": "message updated", "response_url": "reply"}.get(method, method)
        where = body.get("channel", "")
        if not quiet:
            print(f"\n  \033[36mslack ▸ {what} {where}\033[0m\n{render(body)}", flush=True)
        if method == "response_url":
            answer = {}
        else:
            ts = body.get("ts") or f"1700000000.{next(_seq):06d}"
            answer = {"ok": True, "channel": where, "ts": ts, "message": {"ts": ts, "text": body.get("text", "")}}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def start():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
