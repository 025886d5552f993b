"""The JSON report (--create-json-report, an extension) and the Python API's per-instance result objects.

The document (schema ``dcmsend-report/1``, every field in docs/report-schema.json) is built from the transfer list
(the same ``Instance`` records the +crf report reads) plus what :class:`dcmsend.runner.Tracker` saw on the way
(associations, conditions, error comments, times, attempts).  It is written atomically (a temporary file renamed
over the target), also when the run halts or is interrupted.
"""

from __future__ import annotations

import os

from dcmsend import report
from dcmsend.collect import STATUS_INVALID_DATASET_PTR, STATUS_NO_ACCEPTABLE_CONTEXT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA = "dcmsend-report/1"
DCMTK_VERSION = "3.6.7"

# Outcomes of an instance (field "outcome").
SUCCESS, WARNING, ERROR, REFUSED, UNKNOWN = "success", "warning", "error", "refused", "unknown"
NO_ACCEPTABLE_CONTEXT, INVALID_DATASET = "no-acceptable-context", "invalid-dataset"
FAILED, NOT_TRIED, SKIPPED = "failed", "not-tried", "skipped"
STORED_OUTCOMES = (SUCCESS, WARNING, SKIPPED)

# Fields of Options that shape a run (the "options" object of the run).
_RUN_OPTIONS = ("read_mode", "read_from_dicomdir", "scan_directories", "scan_pattern", "recurse", "decompress",
                "compression_level", "no_halt", "no_illegal_proposal", "no_uid_checks", "multi_associations",
                "connect_timeout", "acse_timeout", "dimse_timeout", "max_pdu", "max_send_pdu", "report_file",
                "json_report", "strict_status", "journal", "retry", "progress", "parallel", "parallel_unit",
                "async_ops")


def status_outcome(status: int) -> str:
    """The status class, as DCMTK's status summary counts it."""
    if status & 0xFF00 == report.REFUSED_OUT_OF_RESOURCES or status == report.REFUSED_SOP_CLASS_NOT_SUPPORTED:
        return REFUSED
    if status & 0xFF00 == report.ERROR_DATASET_DOES_NOT_MATCH or status & 0xF000 == report.ERROR_CANNOT_UNDERSTAND:
        return ERROR
    if report._is_warning(status):
        return WARNING
    if status == report.SUCCESS:
        return SUCCESS
    if status == STATUS_NO_ACCEPTABLE_CONTEXT:
        return NO_ACCEPTABLE_CONTEXT
    if status == STATUS_INVALID_DATASET_PTR:
        return INVALID_DATASET
    return UNKNOWN


def outcome_of(entry, record) -> str:
    """The outcome of ``entry`` (``record``: the tracker's notes on it, or None)."""
    if record is not None and record.skipped:
        return SKIPPED
    if entry.request_sent:
        return status_outcome(entry.status or 0)
    if record is not None and record.condition is not None:
        return FAILED
    return NOT_TRIED


class InstanceResult:
    """One instance's outcome: the fields of an element of the JSON report's ``instances`` (attributes of the same
    names; :meth:`as_dict` gives that element).  The Python API passes one to the per-instance callback when an
    instance is done (``done`` and ``total`` then say how far the run is) and returns them all in
    ``Result.results``."""

    __slots__ = ("number", "path", "sop_class_uid", "sop_instance_uid", "input_transfer_syntax",
                 "network_transfer_syntax", "association", "context_id", "outcome", "status", "status_text",
                 "error_comment", "condition", "dataset_size", "bytes_sent", "seconds", "attempts", "done", "total")

    _FIELDS = __slots__[:-2]
    # (each given to __init__ or None)
    number: Any
    path: Any
    sop_class_uid: Any
    sop_instance_uid: Any
    input_transfer_syntax: Any
    network_transfer_syntax: Any
    association: Any
    context_id: Any
    outcome: Any
    status: Any
    status_text: Any
    error_comment: Any
    condition: Any
    dataset_size: Any
    bytes_sent: Any
    seconds: Any
    attempts: Any
    done: Any
    total: Any

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields.get(name))

    @property
    def stored(self) -> bool:
        """Stored by the peer (success or warning status), now or by an earlier run (journal)."""
        return self.outcome in STORED_OUTCOMES

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self._FIELDS}

    def __repr__(self) -> str:
        return (f"InstanceResult(number={self.number}, path={self.path!r}, outcome={self.outcome!r}, "
                f"status={self.status!r})")


def instance_result(number: int, entry, record) -> InstanceResult:
    outcome = outcome_of(entry, record)
    sent = entry.request_sent and outcome not in (NO_ACCEPTABLE_CONTEXT, INVALID_DATASET)
    status = entry.status if entry.request_sent and sent else None
    return InstanceResult(
        number=number,
        path=entry.path,
        sop_class_uid=entry.sop_class_uid,
        sop_instance_uid=entry.sop_instance_uid,
        input_transfer_syntax=entry.transfer_syntax_uid,
        network_transfer_syntax=entry.network_ts or None,
        association=entry.association or None,
        context_id=entry.context_id or None,
        outcome=outcome,
        status=status,
        status_text=report._dimse_status(entry) if outcome != SKIPPED else report.SKIPPED_TEXT,
        error_comment=record.error_comment if record is not None else None,
        condition=record.condition if record is not None and outcome == FAILED else None,
        dataset_size=entry.dataset_size,
        bytes_sent=entry.dataset_size if sent else 0,
        seconds=round(record.seconds, 6) if record is not None and record.seconds is not None else None,
        attempts=list(record.attempts) if record is not None else [],
    )


def summary(results: list[InstanceResult], state) -> dict:
    counts = {name: 0 for name in (SUCCESS, WARNING, ERROR, REFUSED, UNKNOWN, NO_ACCEPTABLE_CONTEXT,
                                   INVALID_DATASET, FAILED, NOT_TRIED, SKIPPED)}
    for result in results:
        counts[result.outcome] += 1
    return {
        "associations": state.association_counter,
        "presentation_contexts": state.context_counter,
        "instances": len(results),
        "stored": counts[SUCCESS] + counts[WARNING],
        "not_stored": len(results) - counts[SUCCESS] - counts[WARNING] - counts[SKIPPED],
        "outcomes": counts,
        "bytes_sent": sum(r.bytes_sent for r in results),
    }


def document(tracker, state, options, exit_code: int | None, halted: bool) -> dict:
    """The whole JSON report as a dict."""
    from dcmsend import __version__

    results = [instance_result(i, e, tracker.records.get(id(e))) for i, e in enumerate(state.entries, 1)]
    run = {
        "program": "dcmsend",
        "version": __version__,
        "dcmtk_version": DCMTK_VERSION,
        "peer": options.peer,
        "port": options.port,
        "calling_aetitle": options.calling_aetitle,
        "called_aetitle": options.called_aetitle,
        "options": {name: getattr(options, name, None) for name in _RUN_OPTIONS},
        "arguments": _masked(list(getattr(options, "arguments", []) or [])),
        "started": tracker.started,
        "ended": tracker.now(),
        "exit_code": exit_code,
        "halted": halted,
        "journal_skipped": tracker.skipped_count,
    }
    return {
        "schema": SCHEMA,
        "run": run,
        "attempts": tracker.attempts,
        # (in the order of their numbers: with --parallel, workers negotiate concurrently)
        "associations": sorted(tracker.associations, key=lambda item: item["number"]),
        "instances": [r.as_dict() for r in results],
        "summary": summary(results, state),
    }


def write(filename: str, doc: dict) -> bool:
    """Write ``doc`` to ``filename`` atomically; False if that is impossible."""
    import json

    # ASCII with \u escapes: always valid UTF-8, also for file names that are not (kept as surrogates)
    data = json.dumps(doc, indent=2, ensure_ascii=True).encode("ascii") + b"\n"
    if os.path.isdir(filename):
        return False
    return report._write_atomically(filename, data)


_SECRET_OPTIONS = frozenset({"--use-passwd", "--password"})  # (storescu's: the key's password, the user's password)


def _masked(arguments: list[str]) -> list[str]:
    """The expanded arguments with the values of the password options replaced by "*****" (a report file is no
    place for a password)."""
    out = list(arguments)
    for i, arg in enumerate(out[:-1]):
        if arg in _SECRET_OPTIONS:
            out[i + 1] = "*****"
    return out
