"""Speed and memory of our dcmsend side by side with DCMTK's, in one run, reported as ratios.

    python benchmarks/run.py [--runs 3] [--cases shapes,mem,startup,small1,ct500,small2000,big400,conv,nagle]
                             [--storescu] [--data DIR]

The headline is the realistic corpus (benchmarks/corpus.py): eight shapes of the files PACS hold (CT with private
groups, implicit VR MR, big endian MR, JPEG secondary capture, structured report, RT plan, enhanced multi-frame MR,
ECG waveform), each a study of several series of copies with new UIDs. For every shape, DCMTK's dcmsend and ours
(both with TCP_NODELAY=1) send the folder (+sd +r) to `storescp --ignore +xa -pm` (TCP_NODELAY=1, a free loopback
port), alternating, N runs each; the table gives the median microseconds per file, the ratio ours / DCMTK, the
geometric mean of the ratios, the peak RSS of each sender, and pynetdicom's storescu (one run) for reference where it
finishes within a minute. `--cases ct,sr` runs only those shapes; `shapes` is all eight. `mem` sends 2,000 and
20,000 small files and reports the peak RSS of both senders and the growth per instance.

The earlier cases stay available: 500 CT files 512x512 16-bit (~512 KB each, ct500), 2000 minimal 64x64 CT files
(small2000, the minimal synthetic series: one case among others, never the headline), one ~400 MB multi-frame file
(big400), a compressed (RLE) series for the conversion path (conv), start-up (startup, small1), and DCMTK with its
defaults against a peer with Nagle on (nagle). There, the real dcmsend runs with TCP_NODELAY=1 and with its
defaults (skip those with --no-default), and optionally pynetdicom's storescu.

The data is generated once per set (in --data, default ~/.cache/dcmsend-bench). Peak RSS is that of the child
(GNU time's wait4). Prints the results and writes the tables to benchmarks/results.md (--out). Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import math
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
sys.path.insert(0, HERE)
import corpus  # noqa: E402  (benchmarks/corpus.py, next to this script)

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


def prepare(data: str, cases: list[str] | None = None) -> dict[str, str]:
    """The folders of the earlier cases, each generated (once) when a case needs it."""
    sets = {
        "ct500": os.path.join(data, "ct500"),
        "small2000": os.path.join(data, "small2000"),
        "big400": os.path.join(data, "big400"),
        "conv": os.path.join(data, "rle100"),
    }
    need = set(sets) if cases is None else set(cases)
    if "small1" in need:
        need.add("small2000")
    if "conv" in need or "nagle" in need:
        need.add("ct500")
    everything = os.path.exists(os.path.join(data, ".complete"))  # written by earlier versions: all four made
    for name in ("ct500", "small2000", "big400", "conv"):
        marker = os.path.join(data, f".{name}.complete")  # outside the folder that is sent
        if name not in need or everything or os.path.exists(marker):
            continue
        print(f"generating benchmark data {name} in {data} (once) ...", flush=True)
        shutil.rmtree(sets[name], ignore_errors=True)
        if name == "ct500":
            make_series(sets[name], 500, 512, 512)
        elif name == "small2000":
            make_series(sets[name], 2000, 64, 64)
        elif name == "big400":
            os.makedirs(sets[name])
            make_big(os.path.join(sets[name], "big.dcm"), 800)
        else:
            make_rle(sets["ct500"], sets[name], 100)
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


def timed(cmd: list[str], env: dict, timeout: float | None = None) -> tuple[float, int, int | None]:
    """(wall seconds, peak RSS in KiB, exit code) of one child process; exit code None when it was stopped after
    `timeout` seconds.

    The peak RSS comes from GNU time (its own wait4 on the child), because a child forked from this Python process
    would carry this process's resident size in its ru_maxrss even after exec (0 without /usr/bin/time).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        full = ["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd] if os.path.exists("/usr/bin/time") else cmd
        t0 = time.perf_counter()
        # a session of its own, so that a run stopped at its timeout is stopped with its children (GNU time's)
        proc = subprocess.Popen(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            code: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        wall = time.perf_counter() - t0
        try:
            rss = int(out.read().strip().splitlines()[-1])
        except (ValueError, IndexError):
            rss = 0
    return wall, rss, code


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


def count_files(folder: str) -> int:
    return sum(len(names) for _, _, names in os.walk(folder))


def storescu_text(wall: float | None, files: int, timeout: float) -> str:
    if wall is None:
        return f"> {timeout:.0f} s in all"
    if wall < 0:
        return "failed"
    return f"{wall / files * 1e6:.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default="shapes,mem,startup,small1,ct500,small2000,big400,conv",
                    help="comma-separated: shapes (all eight) or single shapes (%s), mem, startup, small1, ct500, "
                         "small2000, big400, conv, nagle" % ",".join(corpus.SHAPES))
    ap.add_argument("--storescu-timeout", type=float, default=60.0,
                    help="seconds after which pynetdicom's storescu is stopped on a shape (reported as slower)")
    ap.add_argument("--no-default", action="store_true", help="skip dcmsend with its defaults (slow on small files)")
    ap.add_argument("--storescu", action="store_true",
                    help="also time pynetdicom's storescu on the earlier cases (slow; on the shapes it always runs)")
    ap.add_argument("--no-storescu", action="store_true", help="no pynetdicom storescu on the shapes")
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/dcmsend-bench"))
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    args = ap.parse_args()
    for tool in (REAL, STORESCP):
        if not os.path.exists(tool):
            print(f"{tool} is missing: apt-get install dcmtk", file=sys.stderr)
            return 2
    cases = args.cases.split(",")
    if "shapes" in cases:
        cases[cases.index("shapes"):cases.index("shapes") + 1] = list(corpus.SHAPES)
    known = {*corpus.SHAPES, "mem", "startup", "small1", "ct500", "small2000", "big400", "conv", "nagle"}
    unknown = [case for case in cases if case not in known]
    if unknown:
        print(f"unknown case {', '.join(unknown)}; known: shapes, {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    # An installed package has its byte code compiled; make sure ours has too (PYTHONDONTWRITEBYTECODE may be set).
    import compileall

    compileall.compile_dir(os.path.join(ROOT, "src"), quiet=1)
    sets = prepare(args.data, cases)
    load_start = os.getloadavg()
    shapes = {}
    for shape in [case for case in cases if case in corpus.SHAPES or case == "mem"]:
        folder = corpus.prepare_shape(args.data, shape)
        if folder is not None:
            shapes[shape] = folder
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

    # ------------------------------------------------------------------ the realistic corpus, shape by shape
    shape_rows = []
    nodelay_env = program_env(True)
    for shape in [case for case in cases if case in corpus.SHAPES and case in shapes]:
        folder = shapes[shape]
        files = count_files(folder)
        inputs = ["+sd", "+r", folder]
        peer = Peer(accept_all, True)
        try:
            contestants = [("dcmsend", [REAL, "127.0.0.1", str(peer.port), *inputs], nodelay_env),
                           ("ours", [*ours, "127.0.0.1", str(peer.port), *inputs], nodelay_env)]
            res = run_case(shape, contestants, args.runs)
            storescu = None
            if not args.no_storescu:
                cmd = [sys.executable, "-m", "pynetdicom", "storescu", "-q", "127.0.0.1", str(peer.port), folder, "-r"]
                wall, _, code = timed(cmd, nodelay_env, args.storescu_timeout)
                storescu = wall if code == 0 else (None if code is None else -1.0)
        finally:
            peer.stop()
        dcmtk = statistics.median(w for w, _ in res["dcmsend"])
        mine = statistics.median(w for w, _ in res["ours"])
        row = (shape, files, dcmtk, mine, mine / dcmtk, max(r for _, r in res["dcmsend"]) / 1024,
               max(r for _, r in res["ours"]) / 1024, storescu)
        shape_rows.append(row)
        print(f"{shape:12s} {files:5d} files  DCMTK {dcmtk / files * 1e6:8.0f} us/file  ours {mine / files * 1e6:8.0f}"
              f" us/file  ratio {row[4]:5.2f}  RSS {row[5]:5.1f} / {row[6]:5.1f} MB  storescu "
              f"{storescu_text(storescu, files, args.storescu_timeout)}", flush=True)
    if shape_rows:
        gmean = math.exp(sum(math.log(r[4]) for r in shape_rows) / len(shape_rows))
        print(f"geometric mean of the ratios ours / DCMTK: {gmean:.2f}", flush=True)

    # ------------------------------------------------------------------ memory per instance
    mem_rows = []
    if "mem" in shapes:
        folder = shapes["mem"]
        few = os.path.join(folder, "s00")
        n_few, n_all = count_files(few), count_files(folder)
        peer = Peer(accept_all, True)
        reports = tempfile.mkdtemp(prefix="dcmsend-bench-")
        variants = [(f"{label}{' +crf' if crf else ''}", cmd, crf)
                    for label, cmd in (("dcmsend", [REAL]), ("ours", ours)) for crf in (False, True)]
        try:
            contestants = []
            for label, cmd, crf in variants:
                extra = ["--create-report-file", os.path.join(reports, label.replace(" ", "") + ".txt")] if crf else []
                for n, inputs in ((n_few, ["+sd", few]), (n_all, ["+sd", "+r", folder])):
                    contestants.append((f"{label} {n}", [*cmd, "127.0.0.1", str(peer.port), *extra, *inputs],
                                        nodelay_env))
            res = run_case("mem", contestants, args.runs)
        finally:
            peer.stop()
            shutil.rmtree(reports, ignore_errors=True)
        for label, _, _ in variants:
            rss_few = max(r for _, r in res[f"{label} {n_few}"])
            rss_all = max(r for _, r in res[f"{label} {n_all}"])
            wall_all = statistics.median(w for w, _ in res[f"{label} {n_all}"])
            slope = (rss_all - rss_few) * 1024 / (n_all - n_few)
            mem_rows.append((label, rss_few / 1024, rss_all / 1024, slope, wall_all / n_all * 1e6))
            print(f"mem {label:13s} peak RSS {rss_few / 1024:6.1f} MB at {n_few}, {rss_all / 1024:6.1f} MB at "
                  f"{n_all}: {slope:6.0f} bytes per instance ({wall_all / n_all * 1e6:.0f} us/file)", flush=True)

    load_end = os.getloadavg()
    with open(args.out, "w") as fh:
        fh.write(f"Machine: {os.cpu_count()} cores; runs per case: {args.runs} (median wall time, max peak RSS); "
                 f"load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end (other work on the "
                 "machine makes the figures noisy)\n\n")
        if shape_rows:
            fh.write("Realistic corpus (benchmarks/corpus.py), both senders with TCP_NODELAY=1, peer "
                     "`storescp --ignore +xa -pm`, µs per file (median wall time / files):\n\n")
            fh.write("| shape | files | DCMTK µs/file | ours µs/file | ratio | DCMTK RSS (MB) | ours RSS (MB) | "
                     "pynetdicom storescu µs/file |\n|---|---|---|---|---|---|---|---|\n")
            for shape, files, dcmtk, mine, ratio, rss_d, rss_o, storescu in shape_rows:
                fh.write(f"| {corpus.SHAPES[shape][0]} | {files} | {dcmtk / files * 1e6:.0f} | "
                         f"{mine / files * 1e6:.0f} | {ratio:.2f} | {rss_d:.1f} | {rss_o:.1f} | "
                         f"{storescu_text(storescu, files, args.storescu_timeout)} |\n")
            fh.write(f"| **geometric mean of the ratios** | | | | **{gmean:.2f}** | | | |\n\n")
        if mem_rows:
            fh.write(f"Memory per instance ({n_few} and {n_all} minimal 64x64 CT files; +crf: with a report file):\n\n")
            fh.write(f"| sender | peak RSS at {n_few} (MB) | peak RSS at {n_all} (MB) | growth per instance (bytes) "
                     f"| µs/file at {n_all} |\n|---|---|---|---|---|\n")
            for label, few_mb, all_mb, slope, us in mem_rows:
                fh.write(f"| {label} | {few_mb:.1f} | {all_mb:.1f} | {slope:.0f} | {us:.0f} |\n")
            fh.write("\n")
        if rows:
            fh.write("| case | program | wall (s) | peak RSS (MB) | ratio to |\n|---|---|---|---|---|\n")
            for case, label, wall, rss, ratio, base in rows:
                fh.write(f"| {case} | {label} | {wall:.3f} | {rss:.1f} | {ratio:.2f} × {base} |\n")
    print(f"\ntable written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
