"""main(argv) -> exit code: wires the stages, nothing else."""

from __future__ import annotations

import sys

from dcmsend import cmdline, collect, log
from dcmsend.exitcodes import Exit


def main(argv: list[str] | None = None) -> int:
    """Run dcmsend with ``argv`` (program name first, as in ``sys.argv``); return the exit code."""
    argv = list(sys.argv if argv is None else argv)
    try:
        options = cmdline.evaluate(argv)
        log.capture_library_output()
        transfer_list = collect.collect(options)
        # imported here: --help, --version and errors never load the network stack
        from dcmsend.send import transfer

        return transfer(options, transfer_list)
    except Exit as exc:
        return exc.code
    finally:
        log.close_all()


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
