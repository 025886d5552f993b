"""dcmsend: a faithful, fast Python clone of DCMTK's dcmsend.

Command line: ``dcmsend [options] peer port dcmfile-in...`` (see ``dcmsend --help``).
Python: :func:`send` runs the same stages as the command line and returns the transfer list with statuses.
"""

from __future__ import annotations

__version__ = "0.1.0"
# Release date printed in the banner line, like DCMTK's "$dcmtk: dcmsend v3.6.7 2022-04-22 $".
__date__ = "2026-11-25"

__all__ = ["Result", "send", "send_files", "__version__"]


class Result:
    """What :func:`send` returns: the exit code dcmsend would give and the transfer list (``Instance`` records with
    association number, presentation context, network transfer syntax, dataset size and DIMSE status filled in);
    ``report``: the JSON report's document (a dict, see docs/report-schema.json) and ``results``: one
    ``InstanceResult`` per instance carrying that report's instance fields (``outcome``, ``status``,
    ``status_text``, ``error_comment``, ``condition``, ``bytes_sent``, ``seconds``, ``attempts``, ...)."""

    __slots__ = ("exit_code", "instances", "report", "results")

    def __init__(self, exit_code: int, instances: list | None = None, report: dict | None = None,
                 results: list | None = None):
        self.exit_code = exit_code
        self.instances = list(instances or [])
        self.report = report
        self.results = list(results or [])

    def __repr__(self) -> str:
        return f"Result(exit_code={self.exit_code}, instances=<{len(self.instances)} instances>)"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def send_files(peer: str, port: int, paths, on_instance=None, **options) -> Result:
    """Send DICOM files like ``dcmsend peer port paths...``.

    ``paths`` is a path or a list of paths (files or directories).  Keyword options are the fields of
    :class:`dcmsend.cmdline.Options` (for example ``scan_directories=True``, ``recurse=True``, ``no_halt=True``,
    ``calling_aetitle="ME"``, ``called_aetitle="PACS"``, ``decompress="lossy"``, ``report_file="report.txt"``).
    The extensions are keywords too: ``json_report="run.json"``, ``strict_status=True``, ``journal="j.sqlite"``,
    ``retry=3``, ``progress=True``.  ``on_instance``, if given, is called with a
    :class:`dcmsend.report_json.InstanceResult` each time an instance is done (its ``done`` and ``total`` say how
    far the run is).  Log output goes through dcmsend's DCMTK-style logger (stderr, WARN by default).
    """
    from dcmsend import collect as _collect
    from dcmsend.cmdline import Options
    from dcmsend.exitcodes import Exit
    from dcmsend.runner import transfer

    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    import os

    opts = Options(peer=str(peer), port=int(port), files=[os.fsdecode(p) for p in paths], **options)
    entries: list = []
    outcome: dict = {}
    try:
        entries = _collect.collect(opts)
        code = transfer(opts, entries, on_instance, outcome)
    except Exit as exc:
        code = exc.code
    return Result(code, entries, outcome.get("report"), outcome.get("results"))


# ``dcmsend.send`` is this function; once the stage module ``dcmsend.send`` is imported, the package attribute is that
# module, which is made callable with the same signature (see the end of send.py).
send = send_files
