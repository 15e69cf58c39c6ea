"""moto_server answering one request at a time.

moto's DynamoDB checks a condition expression and then writes, without a lock: two requests at
once can both pass the same condition. AWS documents conditional writes as atomic, and the
guard's journal relies on that (a claim is won once). This launcher runs moto's own server
with werkzeug's threading off, so that the emulator gives the same guarantee; the tests of the
DynamoDB journal use it and say so. Arguments as `moto_server`'s (`-H HOST -p PORT`)."""

import sys

import moto.server as server

_run_simple = server.run_simple


def run_simple(*args, **kwargs):
    kwargs["threaded"] = False
    return _run_simple(*args, **kwargs)


server.run_simple = run_simple

if __name__ == "__main__":
    sys.argv = ["moto_server"] + sys.argv[1:]
    server.main()
