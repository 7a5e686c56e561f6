"""Experiments on the emulator's Python process, for bench/knobs.sh only (never part of the stack).

bench/knobs.sh starts the scratch stack with PYTHONPATH=bench/pypatch, so ministack's interpreter
imports this module at start; BENCH_PY_PATCHES (comma-separated) says what to change:

  nodelay    TCP_NODELAY on ministack's in-process Lambda Runtime API servers. Their handlers
             (http.server) answer `GET /runtime/invocation/next` in two writes, headers then the
             event; with Nagle's algorithm on, the event waits for the client's delayed ACK of
             the headers (about 40 ms on Linux) on every invocation.
  switch=S   sys.setswitchinterval(S): how long a thread may hold the GIL before it is asked to
             give it up (Python's default 0.005 s).

Without BENCH_PY_PATCHES this module changes nothing.
"""

import os
import sys

for patch in filter(None, os.environ.get("BENCH_PY_PATCHES", "").split(",")):
    name, _, value = patch.partition("=")
    if name == "nodelay":
        import http.server

        http.server.BaseHTTPRequestHandler.disable_nagle_algorithm = True
    elif name == "switch":
        sys.setswitchinterval(float(value))
    else:
        raise SystemExit(f"sitecustomize: unknown BENCH_PY_PATCHES entry {patch!r}")
