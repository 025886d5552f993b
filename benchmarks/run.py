"""Speed and memory of our dcmsend side by side with DCMTK's, in one run, reported as ratios.

    python benchmarks/run.py [--runs 3] [--cases ct500,small2000,big400,conv,nagle,startup] [--storescu] [--data DIR]

Generates its data once (in --data, default ~/.cache/dcmsend-bench): 500 CT files 512x512 16-bit (~512 KB each),
2000 small 64x64 CT files, one ~400 MB multi-frame file, and a compressed (RLE) series for the conversion path.
Starts `storescp --ignore +xa -pm` with TCP_NODELAY=1 on a free loopback port and times, alternating, the real dcmsend
with TCP_NODELAY=1, the real dcmsend with its defaults, ours, and optionally pynetdicom's storescu. Prints wall time,
peak RSS of the child (wait4) and the ratio ours / dcmsend(TCP_NODELAY=1); writes the table to
benchmarks/results.md. Only 127.0.0.1 is used.
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
ROOT = os.path.dirname(HERE)
REAL = "/usr/bin/dcmsend"
STORESCP = "/usr/bin/storescp"


def ours_cmd() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "dcmsend")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "dcmsend"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------- data generation

def _ct_dataset(rows: int, cols: int, frames: int = 1):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2" if frames == 1 else "1.2.840.10008.5.1.4.1.1.2.1"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = "BENCH^MARK"
    ds.PatientID = "BENCH"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.Modality = "CT"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    return ds


def make_series(folder: str, count: int, rows: int, cols: int) -> None:
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    base = (rng.integers(0, 4096, size=(rows, cols), dtype=np.uint16))
    for i in range(count):
        ds = _ct_dataset(rows, cols)
        ds.InstanceNumber = i + 1
        ds.PixelData = np.roll(base, i, axis=1).tobytes()
        ds.save_as(os.path.join(folder, f"img{i:05d}.dcm"), enforce_file_format=True)


def make_big(path: str, frames: int) -> None:
    """A multi-frame file of frames x 512 KB, written without holding the pixel data in memory."""
    import struct

    from pydicom.filewriter import dcmwrite

    ds = _ct_dataset(512, 512, frames)
    tmp = path + ".head"
    dcmwrite(tmp, ds, enforce_file_format=True)
    frame = bytes(range(256)) * 2048  # 512 KB
    length = len(frame) * frames
    with open(tmp, "rb") as fh, open(path + ".part", "wb") as out:
        out.write(fh.read())
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, length))
        for _ in range(frames):
            out.write(frame)
    os.remove(tmp)
    os.replace(path + ".part", path)


def make_rle(src: str, dst: str, count: int) -> None:
    os.makedirs(dst, exist_ok=True)
    names = sorted(os.listdir(src))[:count]
    for name in names:
        subprocess.run(["/usr/bin/dcmcrle", os.path.join(src, name), os.path.join(dst, name)], check=True)


def prepare(data: str) -> dict[str, list[str]]:
    sets = {
        "ct500": os.path.join(data, "ct500"),
        "small2000": os.path.join(data, "small2000"),
        "big400": os.path.join(data, "big400"),
        "conv": os.path.join(data, "rle100"),
    }
    marker = os.path.join(data, ".complete")
    if not os.path.exists(marker):
        print(f"generating benchmark data in {data} (once) ...", flush=True)
        shutil.rmtree(data, ignore_errors=True)
        make_series(sets["ct500"], 500, 512, 512)
        make_series(sets["small2000"], 2000, 64, 64)
        os.makedirs(sets["big400"])
        make_big(os.path.join(sets["big400"], "big.dcm"), 800)
        make_rle(sets["ct500"], sets["conv"], 100)
        open(marker, "w").close()
    return sets


# ----------------------------------------------------------------------------------------------- running

class Peer:
    def __init__(self, args: list[str], nodelay: bool):
        self.port = free_port()
        env = dict(os.environ)
        if nodelay:
            env["TCP_NODELAY"] = "1"
        else:
            env.pop("TCP_NODELAY", None)
        self.proc = subprocess.Popen([STORESCP, *args, str(self.port)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("storescp did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def timed(cmd: list[str], env: dict) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit code) of one child process.

    The peak RSS comes from GNU time (its own wait4 on the child), because a child forked from this Python process
    would carry this process's resident size in its ru_maxrss even after exec.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        full = ["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd] if os.path.exists("/usr/bin/time") else cmd
        t0 = time.perf_counter()
        proc = subprocess.run(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        try:
            rss = int(out.read().strip().splitlines()[-1])
        except (ValueError, IndexError):
            rss = 0
    return wall, rss, proc.returncode


def program_env(nodelay: bool | None) -> dict:
    env = dict(os.environ)
    env.pop("TCP_NODELAY", None)
    if nodelay is True:
        env["TCP_NODELAY"] = "1"
    elif nodelay is False:
        env["TCP_NODELAY"] = "0"
    return env


def run_case(name: str, contestants: list[tuple[str, list[str], dict]], runs: int,
             expect: int = 0) -> dict[str, list[tuple]]:
    results: dict[str, list[tuple]] = {label: [] for label, _, _ in contestants}
    for r in range(runs):
        order = contestants if r % 2 == 0 else list(reversed(contestants))
        for label, cmd, env in order:
            wall, rss, code = timed(cmd, env)
            if code != expect:
                print(f"  ! {name} {label} exited with {code}", flush=True)
            results[label].append((wall, rss))
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default="startup,small1,ct500,small2000,big400,conv,nagle")
    ap.add_argument("--no-default", action="store_true", help="skip dcmsend with its defaults (slow on small files)")
    ap.add_argument("--storescu", action="store_true", help="also time pynetdicom's storescu (slow)")
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/dcmsend-bench"))
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    args = ap.parse_args()
    for tool in (REAL, STORESCP):
        if not os.path.exists(tool):
            print(f"{tool} is missing: apt-get install dcmtk", file=sys.stderr)
            return 2
    cases = args.cases.split(",")
    # An installed package has its byte code compiled; make sure ours has too (PYTHONDONTWRITEBYTECODE may be set).
    import compileall

    compileall.compile_dir(os.path.join(ROOT, "src"), quiet=1)
    sets = prepare(args.data)
    ours = ours_cmd()
    rows = []

    def report(case: str, res: dict[str, list[tuple]], base_label: str) -> None:
        base = statistics.median(w for w, _ in res[base_label])
        for label, values in res.items():
            wall = statistics.median(w for w, _ in values)
            rss = max(r for _, r in values) / 1024
            ratio = wall / base if base else float("nan")
            rows.append((case, label, wall, rss, ratio, base_label))
            print(f"{case:10s} {label:28s} {wall:8.3f} s  {rss:7.1f} MB  ratio {ratio:5.2f}", flush=True)

    if "startup" in cases:
        for what, extra in (("help", ["--help"]), ("version", ["--version"]), ("error", ["--bogus"])):
            res = run_case(what, [("dcmsend", [REAL, *extra], program_env(None)),
                                  ("ours", [*ours, *extra], program_env(None))], max(args.runs, 5),
                           expect=1 if what == "error" else 0)
            report(what, res, "dcmsend")

    def transfer_case(case: str, peer_args: list[str], peer_nodelay: bool,
                      spec: list[tuple[str, list[str], bool | None, list[str]]]) -> None:
        """spec: (label, command, TCP_NODELAY for the sender, input arguments); the first is the ratio's base."""
        peer = Peer(peer_args, peer_nodelay)
        try:
            contestants = [(label, [*cmd, "127.0.0.1", str(peer.port), *inputs], program_env(nd))
                           for label, cmd, nd, inputs in spec]
            res = run_case(case, contestants, args.runs)
        finally:
            peer.stop()
        report(case, res, spec[0][0])

    def standard(inputs: list[str], storescu_inputs: list[str] | None = None) -> list:
        spec = [("dcmsend TCP_NODELAY=1", [REAL], True, inputs), ("dcmsend default", [REAL], None, inputs),
                ("ours", ours, None, inputs)]
        if args.no_default:
            del spec[1]
        if args.storescu and storescu_inputs:
            spec.append(("pynetdicom storescu", [sys.executable, "-m", "pynetdicom", "storescu"], None,
                         storescu_inputs))
        return spec

    accept_all = ["--ignore", "+xa", "-pm"]
    if "small1" in cases:
        one = os.path.join(sets["small2000"], "img00000.dcm")
        transfer_case("small1", accept_all, True, standard([one]))
    for case in ("ct500", "small2000", "big400"):
        if case in cases:
            storescu = ["-r", sets[case]] if case != "big400" else None
            transfer_case(case, accept_all, True, standard(["+sd", sets[case]], storescu))
    if "conv" in cases:
        # an RLE series to a peer that accepts native syntaxes only: both decode and send
        transfer_case("conv", ["--ignore", "-pm"], True, standard(["+sd", sets["conv"]]))
    if "nagle" in cases:
        # the real-world peer: storescp with Nagle on (its default); dcmsend's defaults versus ours
        inputs = ["+sd", sets["ct500"]]
        transfer_case("nagle-ct500", accept_all, False,
                      [("dcmsend default", [REAL], None, inputs), ("ours", ours, None, inputs)])

    with open(args.out, "w") as fh:
        fh.write(f"Machine: {os.cpu_count()} cores; runs per case: {args.runs} (median wall time, max peak RSS)\n\n")
        fh.write("| case | program | wall (s) | peak RSS (MB) | ratio to |\n|---|---|---|---|---|\n")
        for case, label, wall, rss, ratio, base in rows:
            fh.write(f"| {case} | {label} | {wall:.3f} | {rss:.1f} | {ratio:.2f} × {base} |\n")
    print(f"\ntable written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
