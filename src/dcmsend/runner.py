"""The transfer with the extensions (not in DCMTK): --create-json-report, --strict-status, --journal, --retry and
--progress, and the Python API's per-instance callback.

:func:`transfer` runs send.py's association rounds (``send._rounds``) once per attempt on the instances still to
send, with a :class:`Tracker` as the hooks observer: it notes every association and every instance's outcome (the
one entry point for per-instance results, ``instance_done``, which parallel workers call as well), feeds the
journal, the progress line and the callback, and builds the JSON report at the end, however the run ends.
Without these options send.py never imports this module.

Retries (--retry n): after an attempt that ended with a transient failure (connection refused or reset, TCP errors,
an A-ASSOCIATE-RJ with result "rejected-transient", a peer A-ABORT or a closed connection, a socket or DIMSE
timeout) or in which the peer answered 0xA7xx (Refused: Out of Resources), the instances not yet stored are sent
again on a new association after ``RETRY_DELAY * 2**(k-1)`` seconds before retry k (1, 2, 4, 8 ... seconds, at
most RETRY_DELAY_MAX), up to n times.  Permanent failures (unreadable files, A-ASSOCIATE-RJ permanent, no
acceptable presentation context, error statuses) are never retried.
"""

from __future__ import annotations

import os
import time

from dcmsend import exitcodes, plan, report_json
from dcmsend.log import APP

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RETRY_DELAY = 1.0  # seconds before the first retry; doubled for each further one
RETRY_DELAY_MAX = 60.0
_NET = 6  # OFCondition module of dcmnet

# dcmnet condition codes that mean the network or the peer failed for now (see the module docstring)
_TRANSIENT_CODES = frozenset((
    0x31C,  # DUL TCP Initialization Error (connection refused, reset, unreachable, timeout)
    0x31D,  # DUL TCP I/O Error
    0x317,  # Peer aborted Association (or never connected)
    0x310,  # DUL network closed
    0x31A,  # DUL network read timeout (ACSE timeout)
    0x207,  # DIMSE No data available (DIMSE timeout)
    0x20C,  # DIMSE Read PDV failed
    0x20D,  # DIMSE Failed to receive message
    0x205,  # DIMSE Caller passed in an illegal association (the association went away before: -nh)
))
_DUL_ASSOCIATION_REJECTED = 0x301
_DIMSE_SEND_FAILED = 0x20E


def retry_delay(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1, 2, ...)."""
    base = RETRY_DELAY
    env = os.environ.get("DCMSEND_RETRY_DELAY")  # (tests: a shorter base delay)
    if env:
        try:
            base = max(float(env), 0.0)
        except ValueError:
            pass
    return min(base * 2 ** (retry - 1), RETRY_DELAY_MAX)


def is_transient(cond, reject_text: str = "") -> bool:
    """Whether the condition ``cond`` is a transient failure (worth a retry on a new association)."""
    if cond is None or cond.module != _NET:
        return False
    if cond.code == _DUL_ASSOCIATION_REJECTED:
        return "Rejected Transient" in reject_text
    if cond.code == _DIMSE_SEND_FAILED:  # the network failed (an inner condition), not a conversion
        return "\n" in cond.text
    return cond.code in _TRANSIENT_CODES


def _is_refused_out_of_resources(entry) -> bool:
    return entry.request_sent and entry.status is not None and entry.status & 0xFF00 == 0xA700


class _Record:
    """What the tracker noted for one instance (the extra fields of the JSON report)."""

    __slots__ = ("skipped", "condition", "transient", "error_comment", "seconds", "attempts", "reported")

    def __init__(self):
        self.skipped = False
        self.condition: str | None = None
        self.transient = False
        self.error_comment: str | None = None
        self.seconds: float | None = None
        self.attempts: list[dict] = []
        self.reported = False


def _now() -> str:
    from datetime import datetime

    return datetime.now().astimezone().isoformat(timespec="milliseconds")


class Tracker:
    """The observer send.py calls (see send.transfer); collects the JSON report's facts."""

    def __init__(self, options, entries: list, on_instance=None):
        self.options = options
        self.entries = entries
        self.numbers = {id(e): i for i, e in enumerate(entries, 1)}
        self.records: dict[int, _Record] = {}
        self.on_instance = on_instance
        self.journal: Any = None  # (journal.Journal, with --journal)
        self.progress: Any = None  # (progress.Progress, with --progress)
        self.started = _now()
        self.now = _now
        self.attempt = 0
        self.attempts: list[dict] = []
        self.associations: list[dict] = []
        self.skipped_count = 0
        self.skipped_ids: set[int] = set()
        self.reject_text = ""
        self.done = self.failures = 0  # instances to send that are done / not stored (the progress line)
        self.reported = 0  # instances given to the callback
        self.bytes_done = 0
        self.sizes: dict[int, int] = {}
        self.by_assoc: dict[int, dict] = {}  # open associations (id of network.Association) -> their element
        import threading  # (only the extensions' runs need it)

        self.lock = threading.RLock()  # the hooks may be called by parallel workers

    def record(self, entry) -> _Record:
        rec = self.records.get(id(entry))
        if rec is None:
            rec = self.records[id(entry)] = _Record()
        return rec

    # -- hooks (send.py) ---------------------------------------------------------------------------------------
    def association_negotiated(self, number: int, assoc, condition) -> None:
        with self.lock:
            self._association_negotiated(number, assoc, condition)

    def association_ended(self, assoc, how: str) -> None:
        with self.lock:
            item = self.by_assoc.pop(id(assoc), None)
            if item is not None and item["ended"] is None:
                item["ended"] = how

    def response(self, entry, cmd) -> None:
        with self.lock:
            self.record(entry).error_comment = cmd.text(0x00000902)

    def instance_done(self, entry, condition, seconds: float) -> None:
        with self.lock:
            self._instance_done(entry, condition, seconds)

    def _association_negotiated(self, number: int, assoc, condition) -> None:
        item: dict[str, Any] = {"number": number, "attempt": self.attempt, "started": _now(), "result": "accepted",
                "condition": None, "reject": None, "contexts": [], "ended": None}
        self.reject_text = ""
        if condition is not None:
            item["condition"] = condition.text
            reject = getattr(assoc, "_reject_text", "") if assoc is not None else ""
            if condition.module == _NET and condition.code == _DUL_ASSOCIATION_REJECTED:
                item["result"] = "rejected"
                item["reject"] = reject or None
                self.reject_text = reject
            elif condition.module == _NET and condition.code == 1006:
                item["result"] = "no-acceptable-contexts"
            else:
                item["result"] = "failed"
        if assoc is not None:
            for cx in assoc.params.contexts:
                item["contexts"].append({"id": cx.id, "abstract_syntax": cx.abstract_syntax,
                                         "proposed": list(cx.proposed), "accepted": cx.accepted,
                                         "transfer_syntax": cx.transfer_syntax if cx.accepted else None})
        self.associations.append(item)
        if condition is None and assoc is not None:
            self.by_assoc[id(assoc)] = item
        if self.progress is not None:
            self._show()

    def _instance_done(self, entry, condition, seconds: float) -> None:
        rec = self.record(entry)
        rec.seconds = seconds
        rec.condition = condition.text if condition is not None and not entry.request_sent else None
        rec.transient = rec.condition is not None and is_transient(condition)
        status = entry.status if entry.request_sent else None
        rec.attempts.append({"attempt": self.attempt, "association": entry.association or None,
                             "context_id": entry.context_id or None, "status": status,
                             "condition": condition.text if condition is not None else None,
                             "error_comment": rec.error_comment, "seconds": round(seconds, 6)})
        stored = report_json.outcome_of(entry, rec) in (report_json.SUCCESS, report_json.WARNING)
        if stored and self.journal is not None:
            self.journal.record(entry)
        if stored or not self._will_retry(entry, rec):
            self.done += 1
            self.failures += not stored
            self.bytes_done += self.sizes.get(id(entry), 0)
            self._report(entry, rec)
        if self.progress is not None:
            self._show()

    # -- the rest ----------------------------------------------------------------------------------------------
    def _will_retry(self, entry, rec) -> bool:
        return self.attempt <= self.options.retry and (rec.transient or _is_refused_out_of_resources(entry))

    def _show(self, force: bool = False) -> None:
        self.progress.update(self.done, self.bytes_done, self.failures, len(self.associations), force)

    def _report(self, entry, rec) -> None:
        rec.reported = True
        self.reported += 1
        if self.on_instance is not None:
            result = report_json.instance_result(self.numbers[id(entry)], entry, rec)
            result.done, result.total = self.reported, len(self.entries)
            self.on_instance(result)

    def report_rest(self) -> None:
        """The callback for every instance not reported yet (skipped, never tried, no acceptable context)."""
        for entry in self.entries:
            rec = self.record(entry)
            if not rec.reported:
                if not rec.skipped:  # (the progress line counts the instances to send)
                    self.done += 1
                    self.failures += 1
                self._report(entry, rec)


def _retry_list(pending: list, tracker: Tracker, code: int | None, cond) -> tuple[list, str | None]:
    """The instances to send again after an attempt, and why (None: no retry)."""
    if code is not None and not is_transient(cond, tracker.reject_text):
        return [], None
    again = []
    reasons = []
    for entry in pending:
        if entry.request_sent:
            if _is_refused_out_of_resources(entry):
                again.append(entry)
                reasons.append("status 0xA7xx (Refused: Out of Resources)")
            continue
        rec = tracker.records.get(id(entry))
        if rec is not None and rec.condition is not None:
            if rec.transient:  # (with -nh the rounds go on after a failed instance)
                again.append(entry)
                reasons.append(rec.condition.split("\n")[0])
            continue  # else failed for good (e.g. an unreadable file with -nh)
        if code is not None:  # never tried: the rounds ended before it
            again.append(entry)
    if code is not None:
        return again, cond.text.split("\n")[0]
    return again, (reasons[0] if reasons else None)


def _reset(entry) -> None:
    entry.request_sent = False
    entry.status = None
    entry.context_id = 0
    entry.association = 0
    entry.network_ts = ""
    entry.dataset_size = 0


def _any_not_stored(tracker: Tracker, entries: list) -> bool:
    return any(report_json.outcome_of(e, tracker.records.get(id(e))) not in report_json.STORED_OUTCOMES
               for e in entries)


def transfer(options, entries: list, on_instance=None, outcome: dict | None = None) -> int:
    """send.transfer with the extensions; ``outcome`` (a dict), if given, receives the JSON document under
    "report" and the :class:`report_json.InstanceResult` list under "results"."""
    from dcmsend.send import setup_tls

    tracker = Tracker(options, entries, on_instance)
    full = plan.TransferState(entries)
    result: list = [None, True]  # exit code, halted
    code = setup_tls(options)  # (storescu's TLS options: the layer is set up before the first association)
    if code is not None:
        result[0] = code
        return _end(tracker, full, options, result, outcome)
    try:
        _attempts(tracker, full, options, result)
    except BaseException as exc:
        signum = getattr(exc, "signum", None)
        if isinstance(exc, exitcodes.Exit):
            result[0] = exc.code
        elif signum:
            result[0] = exitcodes.INTERRUPTED_BASE + signum
        elif isinstance(exc, MemoryError):
            result[0] = exitcodes.MEMORY_EXHAUSTED
        else:
            result[0] = exitcodes.INTERNAL_ERROR
        _end(tracker, full, options, result, outcome)
        raise
    return _end(tracker, full, options, result, outcome)


def _attempts(tracker: Tracker, full, options, result: list) -> None:
    from dcmsend.send import _finish, _rounds, _Scu  # (``dcmsend.send`` may still be the package's function)

    entries = full.entries
    pending = entries
    if options.journal:
        from dcmsend import journal

        try:
            tracker.journal = journal.Journal(options.journal, options)
            skipped = tracker.journal.already_stored(entries)
        except journal.JournalError as exc:
            APP.fatal(f"cannot use journal '{options.journal}': {exc}")
            result[0] = exitcodes.CANNOT_WRITE_OUTPUT_FILE
            return
        if skipped:
            for entry in entries:
                if id(entry) in skipped:
                    tracker.record(entry).skipped = True
            pending = [e for e in entries if id(e) not in skipped]
            tracker.skipped_ids = skipped
            tracker.skipped_count = len(skipped)
            APP.warn(f"skipping {len(skipped)} of {len(entries)} SOP instances already stored to this peer "
                     f"(journal '{options.journal}')")
    if options.progress:
        from dcmsend import progress

        total = 0
        for entry in pending:
            try:
                size = os.stat(entry.path.split("\0")[0]).st_size
            except (OSError, ValueError):
                size = 0
            tracker.sizes[id(entry)] = size
            total += size
        tracker.progress = progress.Progress(len(pending), total)
        tracker.progress.update(0, 0, 0, 0, force=True)
    delay = 0.0
    while pending:
        tracker.attempt += 1
        attempt = {"number": tracker.attempt, "started": _now(), "delay_seconds": delay, "instances": len(pending),
                   "exit_code": None, "condition": None, "retry_reason": None}
        tracker.attempts.append(attempt)
        sub = plan.TransferState(pending, context_counter=full.context_counter,
                                 association_counter=full.association_counter)
        try:
            code, last_condition = _attempt_rounds(options, sub, tracker, _Scu, _rounds)
        finally:
            full.association_counter = sub.association_counter
            full.context_counter = sub.context_counter
        result[0] = code
        attempt["exit_code"] = code
        attempt["condition"] = last_condition.text if code is not None and last_condition else None
        again, reason = _retry_list(pending, tracker, code, last_condition)
        if not again or reason is None or tracker.attempt > options.retry:
            break
        attempt["retry_reason"] = reason
        delay = retry_delay(tracker.attempt)
        APP.warn(f"transient failure ({reason}): sending the {len(again)} SOP instances not yet stored again "
                 f"on a new association in {delay:g} s (retry {tracker.attempt} of {options.retry})")
        for entry in again:
            _reset(entry)
            rec = tracker.records.get(id(entry))
            if rec is not None:
                rec.condition = None
                rec.transient = False
                rec.error_comment = None
        time.sleep(delay)
        pending = again
    if result[0] is None:
        result[1] = False
        result[0] = _finish(full, options, tracker.skipped_ids)
    if options.strict_status and result[0] == exitcodes.NO_ERROR and _any_not_stored(tracker, entries):
        APP.error("not every SOP instance was stored with a success or warning status (--strict-status)")
        result[0] = exitcodes.STRICT_STATUS_FAILED


def _attempt_rounds(options, state, tracker: Tracker, scu_class, rounds) -> tuple:
    """One attempt's association rounds over ``state``: (exit code or None, the condition that ended them).

    With --parallel (an extension of another module), a function ``dcmsend.parallel.rounds(options, state, hooks)``
    with the same result runs the workers instead, each with ``_Scu(options, hooks)``; the tracker's hooks are
    thread-safe.  Without it, the rounds run one association at a time, as dcmsend does."""
    if getattr(options, "parallel", 1) > 1:
        try:
            from dcmsend import parallel  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            parallel = None  # type: ignore[assignment]
        parallel_rounds = getattr(parallel, "rounds", None)
        if parallel_rounds is not None:
            return parallel_rounds(options, state, tracker)
    from dcmsend.send import guarded

    scu = scu_class(options, tracker)
    code = guarded(scu, lambda: rounds(scu, state, options))
    return code, scu.last_condition


def _end(tracker: Tracker, full, options, result: list, outcome: dict | None) -> int:
    """However the run ended: commit the journal, wipe the progress line, the callback for the instances not
    reported yet, the JSON report; return the exit code."""
    code, halted = result
    if tracker.journal is not None:
        tracker.journal.close()
    tracker.report_rest()
    if tracker.progress is not None:
        tracker.progress.done, tracker.progress.failures = tracker.done, tracker.failures
        tracker.progress.finish()
    if not options.json_report and outcome is None:
        return code
    doc = report_json.document(tracker, full, options, code, halted)
    if outcome is not None:
        outcome["report"] = doc
        outcome["results"] = [report_json.instance_result(i, e, tracker.records.get(id(e)))
                              for i, e in enumerate(full.entries, 1)]
    if options.json_report and not report_json.write(options.json_report, doc):
        APP.error(f"cannot write JSON report to file '{options.json_report}'")
        if code == exitcodes.NO_ERROR:
            code = exitcodes.CANNOT_WRITE_REPORT_FILE
            doc["run"]["exit_code"] = code
    return code


def input_phase_failed(options, code: int) -> int:
    """The input phase ended the run (cli.main): with --create-json-report, a report without instances saying so."""
    if not getattr(options, "json_report", ""):
        return code
    tracker = Tracker(options, [])
    return _end(tracker, plan.TransferState([]), options, [code, True], None)
