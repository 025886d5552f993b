"""Concurrent sending (--parallel, --async-ops) over a WAN-like link and on loopback, ours vs DCMTK's dcmsend.

    python benchmarks/wan.py [--files 256] [--series 32] [--delay 0.025] [--runs 1] [--cases wan,async,loopback]
                             [--parallel 1,4,16] [--async-ops 1,8,16,32] [--data DIR] [--out docs-table.md]

The WAN link is an asyncio delay proxy on loopback (this script, ``proxy`` sub-command, a process of its own) that
holds every chunk ``--delay`` seconds in each direction before passing it on (order kept).  Cases:
  wan       proxy in front of ``storescp --fork`` (TCP_NODELAY=1): DCMTK's dcmsend, ours at --parallel 1, 4, 16
  async     proxy in front of tests/async_scp.py (grants a window of 64): DCMTK's dcmsend, ours at --async-ops
            1, 8, 16, 32 (one association)
  loopback  ``storescp --fork`` directly: DCMTK's dcmsend, ours at --parallel 1 and 2
Every run is checked: the SOP Instance UIDs the peer stored are exactly the ones sent, each once (storescp with
--unique-filenames, so a duplicate would be a second file; the async SCP lists what it received).

The data: copies of pydicom's CT_small.dcm (~39 KB) with new UIDs, ``--files`` in ``--series`` series (interleaved
in the input order), generated once into --data (default ~/.cache/dcmsend-bench/wan).  Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REAL = "/usr/bin/dcmsend"
STORESCP = "/usr/bin/storescp"
ASYNC_SCP = os.path.join(ROOT, "tests", "async_scp.py")


def ours_cmd() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "dcmsend")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "dcmsend"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


# ------------------------------------------------------------------------------------------------ the delay proxy

async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue = asyncio.Queue()

    async def later() -> None:
        while True:
            due, chunk = await queue.get()
            if chunk is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
        writer.close()

    task = asyncio.ensure_future(later())
    try:
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            queue.put_nowait((time.monotonic() + delay, chunk))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((time.monotonic() + delay, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def _proxy(listen: int, target: int, delay: float) -> None:
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        for w in (writer, up_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(_pipe(reader, up_writer, delay), _pipe(up_reader, writer, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=128)
    async with server:
        await server.serve_forever()


def start(cmd: list[str], log: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=None if env is None else {**os.environ, **env})


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------------------- the data

def make_corpus(directory: str, files: int, series: int) -> list[str]:
    stamp = os.path.join(directory, f".made-{files}-{series}")
    if not os.path.exists(stamp):
        shutil.rmtree(directory, ignore_errors=True)
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        import series_data

        series_data.write_series(directory, files, series, studies=max(1, series // 4))
        open(stamp, "w").close()
    return sorted(glob.glob(os.path.join(directory, "img*.dcm")))


def uids_of(paths: list[str]) -> list[str]:
    from pydicom import dcmread

    return [str(dcmread(p, specific_tags=["SOPInstanceUID"]).SOPInstanceUID) for p in paths]


# ------------------------------------------------------------------------------------------------------- the runs

def one_run(label: str, cmd: list[str], peer: list[str], peer_kind: str, delay: float, paths: list[str],
            expected: list[str], work: str) -> float:
    outdir = tempfile.mkdtemp(dir=work)
    port = free_port()
    # storescp with Nagle's algorithm off (TCP_NODELAY=1): with its default a response can wait for the sender's
    # delayed ACK (~40 ms), which DCMTK's dcmsend suffers on loopback (we acknowledge at once)
    peer_proc = start([*peer, "-od", outdir, str(port)], os.path.join(work, "peer.log"), {"TCP_NODELAY": "1"})
    proxy_proc = None
    try:
        wait_port(port)
        target = port
        if delay:
            target = free_port()
            proxy_proc = start([sys.executable, __file__, "proxy", str(target), str(port), str(delay)],
                               os.path.join(work, "proxy.log"))
            wait_port(target)
        t0 = time.perf_counter()
        done = subprocess.run([*cmd, "127.0.0.1", str(target), *paths],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"{label}: exit code {done.returncode}\n{done.stdout.decode(errors='replace')[-2000:]}")
        time.sleep(0.2)  # (storescp --fork children finish writing)
        if peer_kind == "async":
            with open(os.path.join(outdir, "received.txt")) as f:
                got = f.read().split()
        else:
            got = uids_of(sorted(glob.glob(os.path.join(outdir, "*"))))
        if sorted(got) != sorted(expected):
            missing = len(set(expected) - set(got))
            raise RuntimeError(f"{label}: peer stored {len(got)} instances ({len(set(got))} distinct, {missing} "
                               f"missing) of {len(expected)}")
        return wall
    finally:
        if proxy_proc is not None:
            stop(proxy_proc)
        stop(peer_proc)
        shutil.rmtree(outdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["proxy"]:
        listen, target, delay = int(argv[1]), int(argv[2]), float(argv[3])
        try:
            asyncio.run(_proxy(listen, target, delay))
        except KeyboardInterrupt:
            pass
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=256)
    parser.add_argument("--series", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.025)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cases", default="wan,async,loopback")
    parser.add_argument("--parallel", default="1,4,16")
    parser.add_argument("--async-ops", default="1,8,16,32")
    parser.add_argument("--data", default=os.path.expanduser("~/.cache/dcmsend-bench/wan"))
    parser.add_argument("--out", default="")
    parser.add_argument("--ours-args", default="", help="more arguments for ours (space-separated)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    paths = make_corpus(args.data, args.files, args.series)
    expected = uids_of(paths)
    work = tempfile.mkdtemp(prefix="dcmsend-wan-")
    rows: list[tuple[str, str, float]] = []
    storescp = [STORESCP, "--fork", "--unique-filenames"]
    extra = args.ours_args.split()
    # DCMTK's dcmsend with Nagle's algorithm off (TCP_NODELAY=1, read by DCMTK): with its default (on) a small data set
    # waits for the peer's delayed ACK (~40 ms) on loopback; both rows are shown
    real_nodelay = ["env", "TCP_NODELAY=1", REAL]
    async_scp = [sys.executable, ASYNC_SCP, "--window", "64"]
    cases = args.cases.split(",")
    plan: list[tuple[str, str, list[str], list[str], str, float]] = []
    if "wan" in cases:
        plan.append(("wan", "dcmsend (DCMTK)", [REAL], storescp, "storescp", args.delay))
        plan.append(("wan", "dcmsend (DCMTK) TCP_NODELAY=1", real_nodelay, storescp, "storescp", args.delay))
        for n in args.parallel.split(","):
            plan.append(("wan", f"ours --parallel {n}", [*ours_cmd(), *extra, "--parallel", n], storescp, "storescp",
                         args.delay))
    if "async" in cases:
        plan.append(("async", "dcmsend (DCMTK) TCP_NODELAY=1", real_nodelay, async_scp, "async", args.delay))
        for n in args.async_ops.split(","):
            plan.append(("async", f"ours --async-ops {n}", [*ours_cmd(), *extra, "--async-ops", n], async_scp,
                         "async", args.delay))
    if "loopback" in cases:
        plan.append(("loopback", "dcmsend (DCMTK) TCP_NODELAY=1", real_nodelay, storescp, "storescp", 0.0))
        for n in ("1", "2"):
            plan.append(("loopback", f"ours --parallel {n}", [*ours_cmd(), *extra, "--parallel", n], storescp,
                         "storescp", 0.0))
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for _ in range(args.runs):  # (alternating: one run of each, then the next round)
            for case, label, cmd, peer, kind, delay in plan:
                wall = one_run(f"{case} {label}", cmd, peer, kind, delay, paths, expected, work)
                times.setdefault((case, label), []).append(wall)
                print(f"{case:9} {label:24} {wall:7.3f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"{args.files} files (CT_small.dcm copies, ~39 KB) in {args.series} series; delay "
             f"{args.delay * 1000:.0f} ms each way on the WAN cases; median of {args.runs} run(s); every run checked: "
             "each SOP Instance UID stored exactly once", "",
             "| case | program | wall (s) | speed-up vs ours at 1 |", "|---|---|---|---|"]
    for case in ("wan", "async", "loopback"):
        base = None
        for (c, label), walls in times.items():
            if c != case:
                continue
            walls = sorted(walls)
            wall = walls[len(walls) // 2]
            if label.endswith(" 1") and label.startswith("ours"):
                base = wall
            rows.append((case, label, wall))
        for c, label, wall in rows:
            if c == case:
                speed = f"{base / wall:.1f}x" if base else ""
                lines.append(f"| {c} | {label} | {wall:.3f} | {speed} |")
    text = "\n".join(lines)
    print("\n" + text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
