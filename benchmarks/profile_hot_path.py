"""The per-file hot path of the sending side, without the network: input phase, load, encode, read.

    python benchmarks/profile_hot_path.py [DIR ...]          # microseconds per file for each stage
    python benchmarks/profile_hot_path.py --profile DIR      # cProfile of load+encode+read (top 25 by own time)
    python benchmarks/profile_hot_path.py --check [-v] [--fuzz N] [DIR ...]  # the fast walk gives what the exact
                                                                             # reader gives

Default DIR: the benchmark series in ~/.cache/dcmsend-bench (small2000, ct500).  ``--check`` defaults to pydicom's
test files, the shapes of benchmarks/shapes.py (the issue-12 shapes, among them a 200-frame enhanced MR, and DCMTK
re-encodings of them: implicit VR, big endian, undefined lengths, group lengths, padding), a fuzz corpus of
tools/fuzz.py and the benchmark series that exist: for every file the input phase accepts it compares the fast load
(convert._fast_load, walk.walk) with the exact reader (SOP UIDs, dataset size, the encoded bytes in the file's
own syntax and in the uncompressed ones, the conditions, the log output at INFO and TRACE) and reports the files
the fast path took.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))
sys.path.insert(0, HERE)

from dcmsend import cmdline, collect, convert, log, uids  # noqa: E402
from dcmsend.exitcodes import ConditionError, Exit  # noqa: E402

BENCH = os.path.expanduser("~/.cache/dcmsend-bench")


def instances(directory: str) -> list[collect.Instance]:
    opts = cmdline.Options(peer="127.0.0.1", port=104, files=[directory], scan_directories=True, recurse=True,
                           no_halt=True)
    try:
        return collect.collect(opts)
    except Exit:
        return []


def read_all(reader, size: int, buf: bytearray) -> bytes:
    out = bytearray()
    view = memoryview(buf)
    while len(out) < size:
        n = reader.readinto(view[:min(len(buf), size - len(out))])
        if not n:
            break
        out += view[:n]
    return bytes(out)


def timing(directory: str) -> None:
    t0 = time.perf_counter()
    entries = instances(directory)
    t1 = time.perf_counter()
    if not entries:
        print(f"{directory}: no instances")
        return
    buf = bytearray(16378)
    view = memoryview(buf)
    t_load = t_enc = t_read = 0.0
    for e in entries:
        a = time.perf_counter()
        loaded = convert.load(e)
        size = loaded.dataset_size()
        b = time.perf_counter()
        reader, n = loaded.encode(e.transfer_syntax_uid)
        c = time.perf_counter()
        got = 0
        while got < n:
            got += reader.readinto(view[:min(len(buf), n - got)])
        loaded.close()
        d = time.perf_counter()
        t_load += b - a
        t_enc += c - b
        t_read += d - c
        del size
    k = 1e6 / len(entries)
    print(f"{os.path.basename(directory):12s} {len(entries):5d} files: collect {(t1 - t0) * k:6.1f}"
          f"  load {t_load * k:6.1f}  encode {t_enc * k:6.1f}  read {t_read * k:6.1f}  us/file")


def profile(directory: str) -> None:
    import cProfile
    import pstats

    entries = instances(directory)
    buf = bytearray(16378)

    def run():
        for e in entries:
            loaded = convert.load(e)
            loaded.dataset_size()
            reader, n = loaded.encode(e.transfer_syntax_uid)
            read_all(reader, n, buf)
            loaded.close()

    prof = cProfile.Profile()
    prof.runcall(run)
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def _outcome(entry: collect.Instance, fast: bool, level=None):
    """Everything the sending side takes from a loaded instance, plus the log output."""
    saved = convert._fast_load
    if not fast:
        convert._fast_load = lambda *a: None
    sink = io.StringIO()
    log.root().appenders = [log.Appender(stream=sink)]
    log.set_level(log.TRACE if level is None else level)
    buf = bytearray(7919)
    try:
        try:
            loaded = convert.load(entry)
        except ConditionError as exc:
            return ("error", str(exc.condition), sink.getvalue()), False
        took = loaded._fast is not None
        result = [loaded.original_ts, loaded.sop_class_uid, loaded.sop_instance_uid, loaded.dataset_size()]
        for ts in (loaded.original_ts, uids.LEE, uids.LEI, uids.BEE):
            try:
                reader, n = loaded.encode(ts)
                result.append((ts, n, read_all(reader, n, buf), loaded.current_ts))
            except ConditionError as exc:
                result.append((ts, "error", str(exc.condition)))
        loaded.close()
        result.append(sink.getvalue())
        return tuple(result), took
    finally:
        convert._fast_load = saved
        log.reset()


def fuzz_corpus(directory: str, cases: int) -> None:
    """``cases`` cases of tools/fuzz.py (mutated and truncated real files, hostile headers) written into
    ``directory``."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
    import fuzz

    bases = fuzz._base_paths()
    for seed in range(cases):
        case = os.path.join(directory, f"case{seed:05d}")
        os.makedirs(case)
        fuzz.build_case(seed * 7919 + 11, case, bases, False)


def check(dirs: list[str], verbose: bool = False) -> int:
    bad = taken = total = 0
    for directory in dirs:
        for entry in instances(directory):
            total += 1
            for level in (log.INFO, log.TRACE):  # (at DEBUG and below, implicit VR data sets take the exact way)
                slow, _ = _outcome(entry, False, level)
                fast, took = _outcome(entry, True, level)
                if level == log.INFO:
                    taken += took
                    if verbose and not took:
                        print(f"exact way: {entry.path}")
                if slow != fast:
                    bad += 1
                    print(f"DIFFERENT: {entry.path} (log level {level})")
                    if verbose:
                        for a, b in zip(slow, fast):
                            if a != b:
                                print("   exact:", repr(a)[:300])
                                print("   fast: ", repr(b)[:300])
                    break
    print(f"{total} instances, fast path taken for {taken}, {bad} different")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="--check: name the files the fast path leaves")
    ap.add_argument("--fuzz", type=int, default=300, help="--check without DIR: fuzz cases (default 300)")
    args = ap.parse_args()
    log.set_level(log.FATAL)
    if args.check:
        dirs = args.dirs
        if not dirs:
            import tempfile

            import pydicom.data
            import shapes

            work = tempfile.mkdtemp(prefix="dcmsend-check-")
            shapes.write_shapes(os.path.join(work, "shapes"))  # the issue-12 shapes, DCMTK re-encodings of them
            fuzz_corpus(os.path.join(work, "fuzz"), args.fuzz)
            dirs = [os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm")), os.path.join(work, "shapes"),
                    os.path.join(work, "fuzz")]
            dirs += [d for d in (os.path.join(BENCH, "small2000"), os.path.join(BENCH, "rle100"),
                                 os.path.join(BENCH, "shapes")) if os.path.isdir(d)]
            try:
                return check(dirs, args.verbose)
            finally:
                import shutil

                shutil.rmtree(work, ignore_errors=True)
        return check(dirs, args.verbose)
    dirs = args.dirs or [os.path.join(BENCH, "small2000"), os.path.join(BENCH, "ct500")]
    for d in dirs:
        (profile if args.profile else timing)(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
