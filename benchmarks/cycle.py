"""Where one C-STORE cycle's time goes, in a real transfer (the small2000 series by default), in-process.

    python benchmarks/cycle.py [--runs 3] [DIR]

Starts ``storescp --ignore +xa -pm`` with TCP_NODELAY=1 on a free loopback port, sends DIR (``+sd``) with
dcmsend's ``cli.main`` at the default log level, timing each cycle of the prepared path:

    react  response read (network._fill returned) -> next request's send starts (parse, checks)
    send   the one sendmsg of command and data PDUs
    work   after the send, until we wait again (bookkeeping, next file's fast load and PDUs)
    wait   waiting for the next response (the peer's turn-around not hidden behind our work)

and prints the medians in microseconds, then stops the peer by its PID.  The wrappers add about 1 µs per call.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from dcmsend import cli, log, network  # noqa: E402

BENCH = os.path.expanduser("~/.cache/dcmsend-bench")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("directory", nargs="?", default=os.path.join(BENCH, "small2000"))
    args = ap.parse_args()
    if not os.path.isdir(args.directory):
        print(f"no such directory: {args.directory} (python benchmarks/run.py generates the series)")
        return 2
    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    peer = subprocess.Popen(["/usr/bin/storescp", "--ignore", "+xa", "-pm", str(port)],
                            env=dict(os.environ, TCP_NODELAY="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        events: list[tuple[str, float]] = []
        clock = time.perf_counter
        fill, send_prepared = network.Association._fill, network.Association.send_prepared

        def timed_fill(self, n, deadline):
            events.append(("fs", clock()))
            fill(self, n, deadline)
            events.append(("fe", clock()))

        def timed_send(self, prepared):
            events.append(("ss", clock()))
            result = send_prepared(self, prepared)
            events.append(("se", clock()))
            return result

        network.Association._fill = timed_fill
        network.Association.send_prepared = timed_send
        for _ in range(args.runs):
            events.clear()
            log.reset()
            start = clock()
            code = cli.main(["dcmsend", "127.0.0.1", str(port), "+sd", "+r", args.directory])
            total = clock() - start
            parts: dict[str, list[float]] = {"react": [], "send": [], "work": [], "wait": []}
            for i in range(len(events) - 4):
                if [e[0] for e in events[i:i + 5]] == ["fe", "ss", "se", "fs", "fe"]:
                    a, b, c, d, e = (t for _, t in events[i:i + 5])
                    for name, value in zip(parts, (b - a, c - b, d - c, e - d)):
                        parts[name].append(value)
            shown = ", ".join(f"{name} {statistics.median(v) * 1e6:.1f}" for name, v in parts.items() if v)
            print(f"exit {code}, {total * 1e3:.0f} ms, {len(parts['react'])} cycles: {shown} µs (medians)")
    finally:
        peer.kill()
        peer.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
