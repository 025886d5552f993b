#!/usr/bin/env python3
"""Fuzz dcmsend's input phase and sender: zero tracebacks, zero hangs, only DCMTK-style messages and exit codes.

Each case is built from a seed: mutated and truncated versions of real DICOM files (pydicom's test files), random
File Meta Information headers, and hostile DICOMDIRs (escaping and absolute paths, loops of record offsets, huge,
"negative" and undefined lengths, deep nesting, many records), run with a random choice of dcmsend options.
Cases run in-process (``dcmsend.cli.main(argv)``, stdout/stderr captured); most go to a port where nothing listens
(the input phase only, then exit 61), every ``--send-every``-th case is sent to a local DCMTK storescp (the sender
and the converter).

A case fails if an exception leaves ``cli.main``, the output contains a traceback or an ``F: internal error``, an
output line is not a DCMTK log line, the exit code is not one of dcmsend's, or the case runs longer than
``--case-timeout`` seconds (a hang).  Failing cases are written to ``--keep`` (default ./fuzz-failures) with their
command line, so they can be replayed with ``--replay DIR``.

    python tools/fuzz.py --cases 10000 --seed 1
    python tools/fuzz.py --replay fuzz-failures/case-000123
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from dcmsend import cli, log  # noqa: E402

STORESCP = "/usr/bin/storescp"
EXIT_CODES = {0, 1, 21, 22, 23, 43, 60, 61, 62, 65}
LINE_PREFIXES = ("F: ", "E: ", "W: ", "I: ", "D: ", "T: ")

BASE_FILES = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm",
              "rtplan.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm", "JPEG-lossy.dcm", "SC_rgb_jpeg_dcmtk.dcm",
              "SC_rgb_small_odd.dcm", "ExplVR_BigEnd.dcm", "rtdose.dcm"]
UIDS = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5",
        "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.3.10", "1.2.3", "", "0.0",
        "1.2.840.10008.1.2.4.201", "1.2..3", "01.2", "1.2.3.", "abc", "1" * 70, "1.2.840.10008.5.1.4.1.1.7\0"]


class CaseTimeout(BaseException):
    pass


class FakeStream(io.StringIO):
    """A captured stdout/stderr (text only: undecodable bytes stay surrogates)."""

    def fileno(self):  # some code asks; there is none
        raise io.UnsupportedOperation("fileno")


# ---------------------------------------------------------------------------------------------------------------
# building blocks


def _el(tag: int, vr: bytes, value: bytes, explicit: bool = True, little: bool = True) -> bytes:
    end = "<" if little else ">"
    g, e = tag >> 16, tag & 0xFFFF
    if not explicit:
        return struct.pack(end + "HHI", g, e, len(value)) + value
    if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV"):
        return struct.pack(end + "HH", g, e) + vr + b"\0\0" + struct.pack(end + "I", len(value)) + value
    return struct.pack(end + "HH", g, e) + vr + struct.pack(end + "H", len(value) & 0xFFFF) + value


def _pad(value: bytes, pad: bytes = b"\0") -> bytes:
    return value + pad if len(value) % 2 else value


def _meta(sop_class: str, sop_instance: str, ts: str, rng: random.Random | None = None) -> bytes:
    body = (_el(0x00020001, b"OB", b"\0\1") + _el(0x00020002, b"UI", _pad(sop_class.encode()))
            + _el(0x00020003, b"UI", _pad(sop_instance.encode())) + _el(0x00020010, b"UI", _pad(ts.encode()))
            + _el(0x00020012, b"UI", _pad(b"1.2.3.4")))
    glen = len(body)
    if rng is not None and rng.random() < 0.3:
        glen = rng.choice([0, 1, glen - 2, glen + 2, 0xFFFFFFFF, 0x7FFFFFFF, rng.getrandbits(32)])
    return b"\0" * 128 + b"DICM" + _el(0x00020000, b"UL", struct.pack("<I", glen & 0xFFFFFFFF)) + body


def _random_meta(rng: random.Random) -> bytes:
    """A File Meta Information header of random elements (tags, VRs, lengths, values)."""
    out = bytearray(b"\0" * 128 + b"DICM")
    if rng.random() < 0.7:
        out += _el(0x00020000, b"UL", struct.pack("<I", rng.choice([rng.randrange(0, 400), rng.getrandbits(32)])))
    for _ in range(rng.randrange(0, 12)):
        tag = 0x00020000 | rng.choice([0x0001, 0x0002, 0x0003, 0x0010, 0x0012, 0x0013, 0x0016, 0x0100, 0x0102,
                                       rng.getrandbits(16)])
        if rng.random() < 0.1:
            tag = rng.getrandbits(32)
        vr = rng.choice([b"UI", b"OB", b"UL", b"SH", b"AE", b"SQ", b"UN", b"XX", bytes([rng.getrandbits(8)] * 2)])
        value = rng.choice([rng.choice(UIDS).encode(), os.urandom(rng.randrange(0, 40)), b""])
        raw = _el(tag, vr, _pad(value)) if vr.isalpha() else struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr + \
            struct.pack("<H", len(value)) + value
        if rng.random() < 0.15:  # a lying length
            raw = raw[:6] + struct.pack("<H", rng.getrandbits(16)) + raw[8:] if len(raw) >= 8 else raw
        out += raw
    return bytes(out)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        kind = rng.randrange(8)
        n = len(data)
        if n == 0:
            break
        head = min(n, rng.choice([512, 2048, n]))
        if kind == 0:  # truncate
            del data[rng.randrange(0, n):]
        elif kind == 1:  # flip bytes, mostly in the header region
            for _ in range(rng.randrange(1, 24)):
                data[rng.randrange(0, head)] = rng.getrandbits(8)
        elif kind == 2:  # a 32-bit length somewhere: huge, "negative", undefined, odd, zero
            pos = rng.randrange(0, max(1, head - 4))
            data[pos:pos + 4] = struct.pack("<I", rng.choice([0xFFFFFFFF, 0xFFFFFFFE, 0x80000000, 0x7FFFFFFF, 1, 0,
                                                             rng.getrandbits(32), n, n * 2 + 1]))
        elif kind == 3:  # a 16-bit length
            pos = rng.randrange(0, max(1, head - 2))
            data[pos:pos + 2] = struct.pack("<H", rng.choice([0xFFFF, 0, 1, rng.getrandbits(16)]))
        elif kind == 4:  # insert garbage
            pos = rng.randrange(0, n)
            data[pos:pos] = os.urandom(rng.randrange(1, 64))
        elif kind == 5:  # delete a chunk
            pos = rng.randrange(0, n)
            del data[pos:pos + rng.randrange(1, 64)]
        elif kind == 6:  # replace a UID-like string
            pos = data.find(b"1.2.840.10008", rng.randrange(0, n))
            if pos >= 0:
                new = rng.choice(UIDS).encode()
                data[pos:pos + len(new)] = new
        else:  # an item/sequence delimiter or an undefined length planted
            pos = rng.randrange(0, max(1, head - 8))
            data[pos:pos + 8] = rng.choice([b"\xfe\xff\x00\xe0\xff\xff\xff\xff", b"\xfe\xff\xdd\xe0\0\0\0\0",
                                            b"\xfe\xff\x0d\xe0\0\0\0\0", b"\xe0\x7f\x10\x00OB\0\0"])
    return bytes(data)


# ---- hostile DICOMDIRs -----------------------------------------------------------------------------------------


def _dicomdir(rng: random.Random, case_dir: str, targets: list[str]) -> bytes:
    explicit = rng.random() < 0.8
    clean = rng.random() < 0.5  # well-formed lengths only (so that deep nesting and loops are really parsed)

    def el(tag, vr, value):
        return _el(tag, vr, value, explicit)

    def record(depth: int) -> bytes:
        fid = rng.choice([
            lambda: rng.choice(targets),
            lambda: "..\\..\\..\\etc\\passwd", lambda: "/etc/passwd", lambda: "\\etc\\hosts",
            lambda: "A\\..\\..\\" + rng.choice(targets), lambda: "", lambda: "\\", lambda: "..",
            lambda: "X" * rng.choice([8, 300, 5000]), lambda: "SUB\\" * 40 + "F",
            lambda: rng.choice(targets).replace("/", "\\"), lambda: "NOFILE", lambda: "a\0b",
            lambda: os.urandom(12).decode("latin-1"),
        ])()
        items = [el(0x00041400, b"UL", struct.pack("<I", rng.choice([0, 1, 0xFFFFFFFF, rng.getrandbits(32)]))),
                 el(0x00041410, b"US", b"\xff\xff"),
                 el(0x00041420, b"UL", struct.pack("<I", rng.choice([0, 0x7FFFFFFF, rng.getrandbits(32)]))),
                 el(0x00041430, b"CS", _pad(rng.choice([b"IMAGE", b"PATIENT", b"STUDY", b"", b"\xff"]), b" "))]
        if rng.random() < 0.9:
            items.append(el(0x00041500, b"CS", _pad(fid.encode("latin-1", "replace"), b" ")))
        if rng.random() < 0.9:
            items.append(el(0x00041510, b"UI", _pad(rng.choice(UIDS).encode())))
        if rng.random() < 0.9:
            items.append(el(0x00041511, b"UI", _pad(f"1.2.3.{rng.randrange(10**6)}".encode())))
        if rng.random() < 0.9:
            items.append(el(0x00041512, b"UI", _pad(rng.choice(UIDS).encode())))
        if depth > 0 and rng.random() < 0.9:  # nesting: a sequence inside the record
            items.append(sequence(0x00041220 if rng.random() < 0.5 else 0x00400275, [record(depth - 1)]))
        body = b"".join(items)
        return item(body)

    def item(body: bytes) -> bytes:
        mode = rng.random() * (0.85 if clean else 1)
        if mode < 0.7:
            return struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body
        if mode < 0.85:
            return struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + body + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
        if mode < 0.93:  # undefined length, delimiter missing
            return struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + body
        return struct.pack("<HHI", 0xFFFE, 0xE000, rng.choice([0xFFFFFFF0, 0x80000000, len(body) + 9, 3])) + body

    def sequence(tag, items) -> bytes:
        body = b"".join(items)
        mode = rng.random() * (0.9 if clean else 1)
        if mode < 0.6:
            length = len(body)
        elif mode < 0.9:
            length = 0xFFFFFFFF
            body += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0) if clean or rng.random() < 0.8 else b""
        else:
            length = rng.choice([0xFFFFFFF0, 0x80000000, len(body) + 100, 1])
        if explicit:
            return struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"SQ\0\0" + struct.pack("<I", length) + body
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, length) + body

    shape = rng.random()
    if shape < 0.15:  # deep nesting
        depth = rng.choice([50, 200, 1000, 3000])
        records = [record(0)]
        inner = records[0]
        for _ in range(depth):
            inner = item(sequence(0x00041220, [inner]))
        records = [inner]
    elif shape < 0.25:  # many records
        records = [record(0) for _ in range(rng.choice([500, 3000]))]
    else:
        records = [record(rng.randrange(0, 4)) for _ in range(rng.randrange(0, 12))]
    ds = (el(0x00041130, b"CS", b"FUZZ") + el(0x00041200, b"UL", struct.pack("<I", rng.getrandbits(32)))
          + el(0x00041202, b"UL", struct.pack("<I", rng.getrandbits(32)))
          + el(0x00041212, b"US", b"\0\0") + sequence(0x00041220, records))
    ts = "1.2.840.10008.1.2.1" if explicit else "1.2.840.10008.1.2"
    return _meta("1.2.840.10008.1.3.10", "1.2.3.4.5.6", ts, rng if rng.random() < 0.2 else None) + ds


# ---------------------------------------------------------------------------------------------------------------
# cases


def _base_paths() -> list[str]:
    from pydicom.data import get_testdata_file

    out = []
    for name in BASE_FILES:
        try:
            path = get_testdata_file(name)
        except Exception:
            path = None
        if path:
            out.append(path)
    return out


def build_case(seed: int, case_dir: str, bases: list[str], send: bool) -> list[str]:
    """Write the case's files into ``case_dir``; return dcmsend's options and file arguments (no peer/port)."""
    rng = random.Random(seed)
    files = []
    kind = rng.random()
    count = rng.choice([1, 1, 1, 2, 3])
    for i in range(count):
        path = os.path.join(case_dir, f"f{i}.dcm")
        with open(rng.choice(bases), "rb") as fh:
            data = fh.read()
        if kind < 0.55:
            data = _mutate(data, rng)
        elif kind < 0.65:
            data = _random_meta(rng) + (data[132:] if rng.random() < 0.5 else _mutate(data[132:], rng))
        elif kind < 0.72:  # the bare data set (meta removed), possibly mutated
            if data[128:132] == b"DICM":
                glen = struct.unpack_from("<I", data, 140)[0]
                data = data[144 + glen:]
            if rng.random() < 0.5:
                data = _mutate(data, rng)
        elif kind < 0.8:  # tiny and degenerate files
            data = rng.choice([b"", b"DICM", b"\0" * 132, b"\0" * 128 + b"DICM", os.urandom(rng.randrange(1, 300)),
                               b"\0" * 128 + b"DICM" + b"\2\0\0\0UL\4\0\xff\xff\xff\xff", data[:rng.randrange(1, 200)]])
        elif i == 0:  # a hostile DICOMDIR referencing (mutated) files
            targets = []
            for j in range(rng.randrange(1, 4)):
                name = f"T{j}.DCM"
                with open(rng.choice(bases), "rb") as fh:
                    tdata = fh.read()
                with open(os.path.join(case_dir, name), "wb") as fh:
                    fh.write(_mutate(tdata, rng) if rng.random() < 0.5 else tdata)
                targets.append(name)
            data = _dicomdir(rng, case_dir, targets)
            path = os.path.join(case_dir, "DICOMDIR")
        with open(path, "wb") as fh:
            fh.write(data)
        files.append(path)
    opts = []
    if rng.random() < 0.5:
        opts.append("-nh")
    opts.append(rng.choice(["-v", "-v", "-q", "-d"] if rng.random() < 0.9 else ["-d"]))
    if kind >= 0.8 or rng.random() < 0.2:
        opts.append("+rd")
    mode = rng.random()
    if mode < 0.3:
        opts.append("+f")
    elif mode < 0.4:
        opts.append("-f")
    if rng.random() < 0.2:
        opts.append("-nuc")
    if rng.random() < 0.2:
        opts.append(rng.choice(["-dn", "+dly", "+dls"]))
    if rng.random() < 0.2:
        opts += ["+crf", os.path.join(case_dir, "report.txt")]
    if rng.random() < 0.1:
        opts += ["+sd", "+r"]
        files = [case_dir]
    if send and rng.random() < 0.3:
        opts += ["--max-send-pdu", str(rng.choice([4096, 16384, 65536]))]
    return opts + ["-ta", "5", "-td", "10"] + ["PEER", "PORT"] + files


def check_output(rc, out: str, err: str) -> list[str]:
    problems = []
    if not isinstance(rc, int) or rc not in EXIT_CODES:
        problems.append(f"exit code {rc!r} is not one of dcmsend's")
    for text in (out, err):
        if "Traceback" in text:
            problems.append("traceback in the output")
        if "F: internal error" in text:
            problems.append("internal error: " + text[text.index("F: internal error"):].split("\n")[0])
    for line in err.split("\n"):
        if line and not line.startswith(LINE_PREFIXES):
            problems.append(f"not a DCMTK log line: {line[:200]!r}")
            break
    return problems


@contextlib.contextmanager
def library_logging_preserved():
    """Undo, on exit, what an in-process ``cli.main`` does to Python's logging and warnings set-up (dcmsend's
    log.capture_library_output is once per process; tests that run after expect a fresh process)."""
    import logging
    import warnings

    saved = {name: (lg.level, list(lg.handlers), lg.propagate)
             for name, lg in ((n, logging.getLogger(n)) for n in ("pydicom", "pynetdicom"))}
    showwarning, captured, meta_path = warnings.showwarning, log._captured, list(sys.meta_path)
    try:
        yield
    finally:
        for name, (level, handlers, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
        warnings.showwarning = showwarning
        log._captured = captured
        sys.meta_path[:] = meta_path


def run_case(argv: list[str], timeout: float) -> tuple[object, str, str, float]:
    """cli.main(argv) with stdout/stderr captured and a time limit; (exit code or exception text, out, err, s)."""
    out, err = FakeStream(), FakeStream()

    def on_alarm(_signum, _frame):
        raise CaseTimeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            log.reset()
            try:
                rc: object = cli.main(argv)
            finally:
                log.reset()
    except CaseTimeout:
        rc = f"hang: still running after {timeout} s"
    except BaseException as exc:  # noqa: BLE001 - anything that escapes is a finding
        rc = f"exception escaped cli.main: {type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return rc, out.getvalue(), err.getvalue(), time.monotonic() - t0


class Peer:
    """A DCMTK storescp accepting everything (promiscuous, all transfer syntaxes), storing nothing."""

    def __init__(self):
        self.proc = None
        self.port = 0

    def ensure(self) -> int:
        if self.proc is not None and self.proc.poll() is None:
            return self.port
        with socket.socket() as s:
            s.bind(("", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([STORESCP, "-pm", "+xa", "--ignore", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self.port
            time.sleep(0.05)
        raise RuntimeError("storescp did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when returned: nothing listens there


def fuzz(cases: int, seed: int, send_every: int, case_timeout: float, keep: str | None, quiet: bool = False,
         memory_limit_mb: int = 4096) -> dict:
    """Run ``cases`` cases; return a summary dict (cases, sent, failures: list of (case seed, problems), ...)."""
    if memory_limit_mb:
        with contextlib.suppress(ValueError, OSError):
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            limit = memory_limit_mb * 1024 * 1024
            if soft == resource.RLIM_INFINITY or soft > limit:
                resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    bases = _base_paths()
    peer = Peer() if send_every and os.path.exists(STORESCP) else None
    failures = []
    codes: dict = {}
    sent = 0
    slowest = (0.0, None)
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="dcmsend-fuzz-")
    try:
        for n in range(cases):
            case_seed = seed * 1_000_003 + n
            case_dir = os.path.join(work, f"c{n}")
            os.makedirs(case_dir)
            send = peer is not None and n % send_every == 0
            argv = build_case(case_seed, case_dir, bases, send)
            port = peer.ensure() if send else closed_port()
            argv = ["dcmsend"] + [a if a != "PEER" else "127.0.0.1" for a in argv]
            argv[argv.index("PORT")] = str(port)
            rc, out, err, elapsed = run_case(argv, case_timeout)
            problems = check_output(rc, out, err)
            sent += send
            codes[rc if isinstance(rc, int) else "other"] = codes.get(rc if isinstance(rc, int) else "other", 0) + 1
            if elapsed > slowest[0]:
                slowest = (elapsed, case_seed)
            if problems:
                failures.append((case_seed, problems))
                if keep:
                    dest = os.path.join(keep, f"case-{case_seed}")
                    shutil.rmtree(dest, ignore_errors=True)
                    shutil.copytree(case_dir, dest)
                    with open(os.path.join(dest, "case.json"), "w") as fh:
                        json.dump({"seed": case_seed, "argv": argv, "case_dir": case_dir, "rc": str(rc), "send": send,
                                   "problems": problems, "stderr": err[-20000:]}, fh, indent=1)
                if not quiet:
                    print(f"case {case_seed}: {'; '.join(problems)}", file=sys.__stderr__)
            shutil.rmtree(case_dir, ignore_errors=True)
            if not quiet and (n + 1) % 1000 == 0:
                print(f"{n + 1} cases, {len(failures)} failures, {time.monotonic() - t_start:.0f} s",
                      file=sys.__stderr__)
    finally:
        if peer is not None:
            peer.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"cases": cases, "sent": sent, "failures": failures, "exit_codes": codes,
            "seconds": round(time.monotonic() - t_start, 1), "slowest": [round(slowest[0], 2), slowest[1]]}


def replay(case_path: str, case_timeout: float) -> int:
    with open(os.path.join(case_path, "case.json")) as fh:
        case = json.load(fh)
    argv = [a.replace(case["case_dir"], case_path) for a in case["argv"]]
    peer = Peer() if case.get("send") else None
    try:
        if peer is not None:
            argv[argv.index("127.0.0.1") + 1] = str(peer.ensure())
        rc, out, err, _ = run_case(argv, case_timeout)
    finally:
        if peer is not None:
            peer.stop()
    sys.stdout.write(out)
    sys.stderr.write(err)
    problems = check_output(rc, out, err)
    print(f"exit code {rc}; problems: {problems or 'none'}")
    return 1 if problems else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--send-every", type=int, default=10, help="send every N-th case to a local storescp (0: never)")
    ap.add_argument("--case-timeout", type=float, default=60.0)
    ap.add_argument("--keep", default="fuzz-failures", help="directory for failing cases ('' to keep none)")
    ap.add_argument("--replay", help="run one kept case again")
    args = ap.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.case_timeout)
    result = fuzz(args.cases, args.seed, args.send_every, args.case_timeout, args.keep or None)
    print(json.dumps({k: v for k, v in result.items() if k != "failures"}))
    print(f"{result['cases']} cases ({result['sent']} sent to storescp), {len(result['failures'])} failures")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
