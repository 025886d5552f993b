"""What the extensions cost: a plain transfer against the same with --create-json-report, --journal and --progress,
and a resumed run that the journal skips entirely.

    python benchmarks/extensions.py [--files 500] [--rounds 3]

Makes --files small CT files (once per run, in a temporary directory), starts ``storescp --ignore`` on a free
loopback port and runs, alternating, ``dcmsend 127.0.0.1 PORT +sd DIR`` and the same with ``+crj +jo +pg`` (a fresh
journal each time), then a run that finds everything in the journal; prints the median wall times and the ratios.
Needs DCMTK's storescp.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _dcmsend() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "dcmsend")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "dcmsend"]


def _time(cmd: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit code {proc.returncode}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import fixtures_data as fx

    work = tempfile.mkdtemp(prefix="dcmsend-ext-bench-")
    data = os.path.join(work, "data")
    os.makedirs(data)
    for i in range(args.files):
        fx.write_part10(os.path.join(data, f"f{i:05d}.dcm"), sop_instance=f"1.2.826.0.1.3680043.9.16.9.{i + 1}")
    port = _free_port()
    peer = subprocess.Popen(["storescp", "--ignore", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        base = _dcmsend() + ["127.0.0.1", str(port), "+sd", data]
        plain, extended, resumed = [], [], []
        for _ in range(args.rounds):
            plain.append(_time(base, work))
            journal = os.path.join(work, "j.sqlite")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(journal + suffix):
                    os.unlink(journal + suffix)
            extended.append(_time(base + ["+crj", "r.json", "+jo", journal, "+pg"], work))
            resumed.append(_time(base + ["+jo", journal], work))
    finally:
        peer.send_signal(signal.SIGTERM)
        peer.wait()
        shutil.rmtree(work, ignore_errors=True)
    p, e, r = (statistics.median(x) for x in (plain, extended, resumed))
    print(f"{args.files} files, median of {args.rounds} alternating rounds")
    print(f"plain                 {p:7.3f} s")
    print(f"+crj +jo +pg          {e:7.3f} s  ({e / p:.2f} of plain, {(e - p) / args.files * 1000:.2f} ms/instance)")
    print(f"resumed (all skipped) {r:7.3f} s  ({r / p:.2f} of plain)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
