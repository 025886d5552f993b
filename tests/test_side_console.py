"""Side by side with the real /usr/bin/dcmsend: what a console that cannot be written does to the program.

DCMTK ignores failing console writes (a full device, a closed descriptor: same output elsewhere, same exit status)
and dies by SIGPIPE when the reader of its output pipe has gone.
"""

from __future__ import annotations

import os
import subprocess

import pytest

import fixtures_data as fx
from conftest import requires_dcmtk
from harness import REAL_DCMSEND, Peer, ours_command

pytestmark = requires_dcmtk


def _run(cmd: list[str], args: list[str], how: str, stream: int) -> tuple[int, bytes]:
    """(exit status, the other stream's bytes) with ``stream`` (1 or 2) as ``how``: full, closed or broken."""
    other = subprocess.PIPE
    redirect = {}
    close_fds = ()
    if how == "full":
        target = open("/dev/full", "wb")
        redirect = {"stdout" if stream == 1 else "stderr": target}
    elif how == "broken":
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader has gone before anything is written
        target = os.fdopen(write_end, "wb")
        redirect = {"stdout" if stream == 1 else "stderr": target}
    else:
        target = None
        close_fds = (stream,)
    kwargs = {"stdout": other, "stderr": other, **redirect}

    def close_stream():
        for fd in close_fds:
            os.close(fd)

    try:
        proc = subprocess.run([*cmd, *args], preexec_fn=close_stream, timeout=60, **kwargs)
    finally:
        if target is not None:
            target.close()
    rest = proc.stderr if stream == 1 else proc.stdout
    return proc.returncode, rest or b""


@pytest.mark.parametrize("how", ["full", "closed", "broken"])
@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_stdout_that_cannot_be_written(how, args):
    real = _run([REAL_DCMSEND], args, how, 1)
    ours = _run(ours_command(), args, how, 1)
    assert ours[0] == real[0]
    assert ours[1] == real[1] == b""


@pytest.mark.parametrize("how", ["full", "closed", "broken"])
@pytest.mark.parametrize("level", ["-q", "-v", "-d"])
def test_log_that_cannot_be_written(tmp_path, how, level):
    """A transfer whose log goes nowhere: with a broken pipe both die at the first line (nothing sent, at -q
    nothing is written, so the transfer completes); otherwise the transfer runs as usual."""
    files = [fx.write_part10(str(tmp_path / f"in{i}.dcm"), sop_instance=f"1.2.3.{i}") for i in range(3)]
    results = []
    for which, cmd in (("real", [REAL_DCMSEND]), ("ours", ours_command())):
        outdir = tmp_path / which
        with Peer(str(outdir), []) as peer:
            code, stdout = _run(cmd, [level, "127.0.0.1", str(peer.port), *files], how, 2)
        results.append((code, stdout, sorted(os.listdir(outdir))))
    assert results[0] == results[1]
    assert results[0][0] in ((0,) if how != "broken" or level == "-q" else (-13,))


def test_bad_option_with_stderr_full():
    assert _run(ours_command(), ["--bogus"], "full", 2) == _run([REAL_DCMSEND], ["--bogus"], "full", 2)
