"""main(argv) -> exit code: wires the stages, nothing else."""

from __future__ import annotations

import sys

from dcmsend import cmdline, collect, exitcodes
from dcmsend.exitcodes import Exit
from dcmsend.log import APP


def main(argv: list[str] | None = None) -> int:
    """Run dcmsend with ``argv`` (program name first, as in ``sys.argv``); return the exit code."""
    argv = list(sys.argv if argv is None else argv)
    try:
        options = cmdline.evaluate(argv)
        transfer_list = collect.collect(options)
        # TEMPORARY (until the sending stages land): stop after the input phase.
        APP.fatal("sending is not implemented yet")
        del transfer_list
        return exitcodes.CANNOT_INITIALIZE_NETWORK
    except Exit as exc:
        return exc.code


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
