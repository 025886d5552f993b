"""Side-by-side harness: the same arguments to the real /usr/bin/dcmsend and to ours, each against its own
fresh storescp on a free loopback port; compare exit code, stdout, stderr, report file and what the peer
received.  Only the banner line, implementation class UID / version name, timestamps, temp paths and the
port are normalised.

Use ``compare(args, tmp_path, ...)``.  In ``args`` the placeholder ``{port}`` stands for the peer's port and
``{report}`` for a report-file path inside the run's own directory; arguments are passed as they are
otherwise.  Relative file arguments are resolved against ``cwd`` (default: ``tmp_path``).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

REAL_DCMSEND = "/usr/bin/dcmsend"
STORESCP = "/usr/bin/storescp"
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def ours_command() -> list[str]:
    """How to start our dcmsend: the installed console script next to this interpreter, else ``-m``."""
    script = os.path.join(os.path.dirname(sys.executable), "dcmsend")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "dcmsend"]


def free_port() -> int:
    """A TCP port that is free on all interfaces right now (storescp binds to all of them)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited early with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"peer did not listen on port {port}")


def wait_port_open(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


class Peer:
    """A real storescp on a free port, writing into ``outdir``; stopped by its PID.

    Probing the port opens a TCP connection that storescp sees as a failed association; that is
    harmless for storescp (it goes on listening).
    """

    def __init__(self, outdir: str, args: list[str] | None = None, program: str = STORESCP):
        self.outdir = outdir
        self.args = list(args or [])
        self.program = program
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log = ""

    def start(self) -> Peer:
        os.makedirs(self.outdir, exist_ok=True)
        for attempt in range(5):
            self.port = free_port()
            cmd = [self.program, *self.args, "-od", self.outdir, str(self.port)]
            self._logfile = open(os.path.join(os.path.dirname(self.outdir), f"peer-{self.port}.log"), "w+",
                                 encoding="utf-8", errors="replace")  # (peers may log titles in any encoding)
            self.proc = subprocess.Popen(cmd, stdout=self._logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                _wait_listening(self.port, self.proc)
                return self
            except RuntimeError:
                self.stop()
                if attempt == 4:
                    raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "_logfile", None):
            self._logfile.seek(0)
            self.log = self._logfile.read()
            self._logfile.close()
            self._logfile = None

    def __enter__(self) -> Peer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    report: str | None
    received: list[tuple[str, bytes]] = field(default_factory=list)
    port: int = 0
    elapsed: float = 0.0


def received_files(outdir: str) -> list[tuple[str, bytes]]:
    """(file name, data set bytes after the File Meta Information) for each file the peer stored."""
    out = []
    if not os.path.isdir(outdir):
        return out
    for name in sorted(os.listdir(outdir)):
        path = os.path.join(outdir, name)
        with open(path, "rb") as fh:
            data = fh.read()
        out.append((name, _strip_meta(data)))
    return out


def _strip_meta(data: bytes) -> bytes:
    if len(data) < 144 or data[128:132] != b"DICM":
        return data
    # (0002,0000) UL group length, explicit VR LE
    glen = int.from_bytes(data[140:144], "little")
    return data[144 + glen:]


def run_program(cmd: list[str], args: list[str], cwd: str, env: dict | None = None, timeout: float = 120,
                stdin: bytes | None = None) -> tuple[int, str, str, float]:
    full_env = dict(os.environ)
    full_env.pop("DCMDICTPATH", None)
    if env:
        full_env.update(env)
    t0 = time.monotonic()
    proc = subprocess.run(cmd + args, cwd=cwd, env=full_env, capture_output=True, timeout=timeout,
                          input=stdin if stdin is not None else b"")
    elapsed = time.monotonic() - t0
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"),
            elapsed)


_BANNER = re.compile(r"\$(dcmtk|dcmsend): dcmsend v\S+ \S+ \$")
_IMPL_UID = re.compile(r"(Our Implementation Class UID:\s+)\S+")
_IMPL_NAME = re.compile(r"(Our Implementation Version Name:\s+)\S+")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def normalise(text: str, port: int = 0, tmpdirs: tuple[str, ...] = (), prog: str = "") -> str:
    text = _BANNER.sub("$BANNER$", text)
    text = _IMPL_UID.sub(r"\1<IMPL-UID>", text)
    text = _IMPL_NAME.sub(r"\1<IMPL-NAME>", text)
    text = _DATETIME.sub("<DATETIME>", text)
    for d in sorted(tmpdirs, key=len, reverse=True):
        if d:
            text = text.replace(d, "<TMP>")
    if prog:
        text = text.replace(f"calling '{prog}'", "calling 'dcmsend'")
    if port:
        text = re.sub(rf"(?<![0-9]){port}(?![0-9])", "<PORT>", text)
    return text


def run_side(which: str, args: list[str], base: str, cwd: str | None, peer_args: list[str] | None,
             env: dict | None, with_peer: bool, setup=None, peer_program: str = STORESCP, timeout: float = 120) -> Run:
    """Run one side (``real`` or ``ours``) in its own directory ``base/which``."""
    side_dir = os.path.join(base, which)
    os.makedirs(side_dir, exist_ok=True)
    peer = Peer(os.path.join(side_dir, "received"), peer_args, peer_program) if with_peer else None
    cmd = [REAL_DCMSEND] if which == "real" else ours_command()
    if setup is not None:
        setup(side_dir)
    try:
        port = peer.start().port if peer else free_port()
        report = os.path.join(side_dir, "report.txt")
        real_args = [a.replace("{port}", str(port)).replace("{report}", report).replace("{side}", side_dir)
                     for a in args]
        rc, out, err, elapsed = run_program(cmd, real_args, cwd or side_dir, env, timeout)
    finally:
        if peer:
            peer.stop()
    rep = None
    if os.path.exists(report):
        with open(report, encoding="utf-8", errors="replace") as fh:
            rep = fh.read()
    received = received_files(peer.outdir) if peer else []
    tmpdirs = (side_dir, base)
    prog = cmd[0] if len(cmd) == 1 else cmd[-1]
    return Run(rc, normalise(out, port, tmpdirs, prog), normalise(err, port, tmpdirs, prog),
               None if rep is None else normalise(rep, port, tmpdirs), received, port, elapsed)


def compare(args: list[str], tmp_path, cwd: str | None = None, peer_args: list[str] | None = None,
            env: dict | None = None, with_peer: bool = True, check_received: bool = True, setup=None,
            ignore_lines=None, peer_program: str = STORESCP, timeout: float = 120) -> tuple[Run, Run]:
    """Run both programs and assert that exit code, stdout, stderr, report and received files agree."""
    base = str(tmp_path)
    real = run_side("real", args, base, cwd, peer_args, env, with_peer, setup, peer_program, timeout)
    ours = run_side("ours", args, base, cwd, peer_args, env, with_peer, setup, peer_program, timeout)
    assert_same(real, ours, ignore_lines)
    if check_received:
        assert [n for n, _ in real.received] == [n for n, _ in ours.received], "peer received different files"
        for (name, a), (_, b) in zip(real.received, ours.received):
            assert a == b, f"received data set differs for {name}"
    return real, ours


def compare_scp(args: list[str], tmp_path, scp_args: list[str], ignore_lines=None, timeout: float = 120,
                setup=None):
    """compare() with tests/scp.py (a pynetdicom peer with chosen behaviour) in place of storescp."""
    scp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scp.py")
    return compare(args, tmp_path, peer_args=[scp, *scp_args], peer_program=sys.executable, check_received=False,
                   ignore_lines=ignore_lines, timeout=timeout, setup=setup)


def _filter(text: str, ignore_lines) -> str:
    if not ignore_lines:
        return text
    return "\n".join(line for line in text.split("\n") if not any(re.search(p, line) for p in ignore_lines))


def assert_same(real: Run, ours: Run, ignore_lines=None) -> None:
    problems = []
    if real.returncode != ours.returncode:
        problems.append(f"exit code: real {real.returncode}, ours {ours.returncode}")
    for what in ("stdout", "stderr", "report"):
        a = _filter(getattr(real, what) or "", ignore_lines)
        b = _filter(getattr(ours, what) or "", ignore_lines)
        if (getattr(real, what) is None) != (getattr(ours, what) is None):
            problems.append(f"{what}: present for one side only (real {getattr(real, what) is not None})")
        elif a != b:
            diff = "\n".join(difflib.unified_diff(a.split("\n"), b.split("\n"), "real", "ours", lineterm=""))
            problems.append(f"{what} differs:\n{diff}")
    if problems:
        raise AssertionError("\n".join(problems))


def has_dcmtk() -> bool:
    return os.path.exists(REAL_DCMSEND) and os.path.exists(STORESCP) and shutil.which(STORESCP) is not None


# DCMTK's debug output may start with the dictionary loading lines (depends on how DCMTK was packaged)
IGNORE_DICTIONARY = [r"^D: DcmDataDictionary: Loading file: "]


def testfile(name: str) -> str:
    """The path of one of pydicom's test files; the test is skipped where it is not available."""
    import pytest
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if not path:
        pytest.skip(f"pydicom test file {name} is not available")
    return path
