"""main(argv) -> exit code: wires the stages; plus the last-resort exits (signals, internal errors)."""

from __future__ import annotations

import _signal as signal  # (the C module: signal.py imports enum, milliseconds at start-up)
import sys

from dcmsend import cmdline, collect, exitcodes, log
from dcmsend.exitcodes import Exit

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
RECURSION_LIMIT = 20000


class Interrupted(BaseException):
    """Raised by the SIGINT/SIGTERM handler.  A BaseException, so no ``except Exception`` of a stage swallows it;
    the stages' cleanup runs while it unwinds (the transfer stage aborts an open association)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.announced = False

    def announce(self) -> None:
        """Log the fatal line once (the transfer stage calls this before it aborts the association)."""
        if not self.announced:
            self.announced = True
            log.APP.fatal(f"interrupted by signal {self.signum}")


def _on_signal(signum, _frame):
    network = sys.modules.get("dcmsend.network")
    if network is not None and network.hold_signal_for_send(signum):
        return  # raised again as soon as the send in progress is recorded (an exact A-ABORT needs that)
    raise Interrupted(signum)


def _install_handlers() -> dict:
    previous = {}
    for sig in _SIGNALS:
        try:
            old = signal.getsignal(sig)
            if old == signal.SIG_IGN:  # e.g. started with nohup / in the background by a shell: keep ignoring
                continue
            signal.signal(sig, _on_signal)
            previous[sig] = old
        except (ValueError, OSError):  # not the main thread: leave signals alone
            pass
    return previous


def _restore_handlers(previous: dict) -> None:
    for sig, old in previous.items():
        try:
            signal.signal(sig, old)
        except (ValueError, OSError, TypeError):
            pass


def main(argv: list[str] | None = None) -> int:
    """Run dcmsend with ``argv`` (program name first, as in ``sys.argv``); return the exit code.

    Leaves the interpreter as it found it: signal handlers, recursion limit, the warnings hook, the standard
    ``logging`` set-up of pydicom and pynetdicom, and dcmsend's own logger configuration are restored on return."""
    argv = list(sys.argv if argv is None else argv)
    previous = _install_handlers()
    recursion_limit = sys.getrecursionlimit()
    log_state = log.save_state()
    # deeply nested sequences are parsed recursively: follow as deep as DCMTK does (it crashes beyond ~10000
    # levels), deeper nesting is an input error (collect), never a crash
    if recursion_limit < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    options = None
    try:
        options = cmdline.evaluate(argv)
        log.capture_library_output()
        try:
            transfer_list = collect.collect(options)
        except Exit as exc:
            if options.json_report:  # (an extension: the JSON report is written however the run ends)
                from dcmsend import runner

                return runner.input_phase_failed(options, exc.code)
            raise
        # imported here: --help, --version and errors never load the network stack
        from dcmsend.send import transfer

        return transfer(options, transfer_list)
    except Exit as exc:
        return exc.code
    except Interrupted as exc:
        exc.announce()
        return exitcodes.INTERRUPTED_BASE + exc.signum
    except MemoryError:
        log.APP.fatal("internal error: out of memory")
        return exitcodes.MEMORY_EXHAUSTED
    except Exception as exc:  # last resort: never a Python traceback
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log.APP.fatal(f"internal error: {text}")
        return exitcodes.INTERNAL_ERROR
    finally:
        _restore_handlers(previous)
        log.close_all()
        log.release_library_output()
        log.restore_state(log_state)
        if sys.getrecursionlimit() != recursion_limit:
            sys.setrecursionlimit(recursion_limit)


def run() -> None:
    """Console-script entry point."""
    log.BROKEN_PIPE_KILLS = True
    try:
        code = main()
    except KeyboardInterrupt:  # a signal in the instant after main() restored the previous handlers
        code = exitcodes.INTERRUPTED_BASE + signal.SIGINT
    _exit(code)


def _exit(code: int) -> None:
    """End the process with ``code``.  Everything main() opened is closed by now (report, log files, association,
    spool files, which are anonymous): the exit handlers run and the standard streams are flushed, then the process
    ends without the interpreter's tear-down of every module and object (5-10 ms after a large transfer).  Should
    flushing fail (a closed pipe), the normal exit says what Python says about it."""
    import atexit
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        sys.exit(code)
    atexit._run_exitfuncs()  # (they print their own errors)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
