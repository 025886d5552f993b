"""The C-STORE status texts, the status summary and the detailed report file (+crf), as DCMTK 3.6.7 writes them
(DU_cstoreStatusString, DcmStorageSCU::getStatusSummary and ::createReportFile)."""

from __future__ import annotations

import os

from dcmsend import exitcodes, uids
from dcmsend.collect import STATUS_INVALID_DATASET_PTR, STATUS_NO_ACCEPTABLE_CONTEXT
from dcmsend.log import NET

# DIMSE status codes of the storage service (dimse.h).
SUCCESS = 0x0000
REFUSED_SOP_CLASS_NOT_SUPPORTED = 0x0122
REFUSED_OUT_OF_RESOURCES = 0xA700  # high byte
ERROR_DATASET_DOES_NOT_MATCH = 0xA900  # high byte
ERROR_CANNOT_UNDERSTAND = 0xC000  # high nibble
WARNING_COERCION = 0xB000
WARNING_DATASET_DOES_NOT_MATCH = 0xB007
WARNING_ELEMENTS_DISCARDED = 0xB006

_EXACT_TEXTS = {
    SUCCESS: "Success",
    REFUSED_SOP_CLASS_NOT_SUPPORTED: "Refused: SOPClassNotSupported",
    WARNING_COERCION: "Warning: CoercionOfDataElements",
    WARNING_DATASET_DOES_NOT_MATCH: "Warning: DataSetDoesNotMatchSOPClass",
    WARNING_ELEMENTS_DISCARDED: "Warning: ElementsDiscarded",
}


def status_text(status: int) -> str:
    """DU_cstoreStatusString (3.6.5 and later)."""
    text = _EXACT_TEXTS.get(status)
    if text is not None:
        return text
    if status & 0xFF00 == REFUSED_OUT_OF_RESOURCES:
        return "Refused: OutOfResources"
    if status & 0xFF00 == ERROR_DATASET_DOES_NOT_MATCH:
        return "Error: DataSetDoesNotMatchSOPClass"
    if status & 0xF000 == ERROR_CANNOT_UNDERSTAND:
        return "Error: CannotUnderstand"
    return f"Unknown Status: 0x{status:x}"


def _is_warning(status: int) -> bool:
    """DICOM_WARNING_STATUS (dimse.h, 3.6.7)."""
    return status & 0xF000 == 0xB000 or status in (0x0001, 0x0107, 0x0116)


SKIPPED_TEXT = "<skipped: already stored (journal)>"


def summary_text(state, skipped=()) -> str:
    """getStatusSummary: the text starting with "Status Summary", no final newline.  ``skipped``: the ``id()`` of
    the instances --journal skipped (an extension; an empty set gives DCMTK's text)."""
    entries = state.entries
    sent = success = warning = error = refused = unknown = pending = invalid = 0
    for entry in entries:
        if not entry.request_sent:
            continue
        sent += 1
        status = entry.status or 0
        if status & 0xFF00 == REFUSED_OUT_OF_RESOURCES or status == REFUSED_SOP_CLASS_NOT_SUPPORTED:
            refused += 1
        elif status & 0xFF00 == ERROR_DATASET_DOES_NOT_MATCH or status & 0xF000 == ERROR_CANNOT_UNDERSTAND:
            error += 1
        elif _is_warning(status):
            warning += 1
        elif status == SUCCESS:
            success += 1
        elif status == STATUS_NO_ACCEPTABLE_CONTEXT:
            sent -= 1
            pending += 1
        elif status == STATUS_INVALID_DATASET_PTR:
            sent -= 1
            invalid += 1
        else:
            unknown += 1
    lines = [
        "Status Summary",
        "--------------",
        f"Number of associations   : {state.association_counter}",
        f"Number of pres. contexts : {state.context_counter}",
        f"Number of SOP instances  : {len(entries)}",
    ]
    optional = [
        ("- sent to the peer       : ", sent),
        ("  * with status SUCCESS  : ", success),
        ("  * with status WARNING  : ", warning),
        ("  * with status ERROR    : ", error),
        ("  * with status REFUSED  : ", refused),
        ("  * with unknown status  : ", unknown),
        ("- NOT sent to the peer   : ", len(entries) - sent),
        ("  * no acceptable pres.  : ", pending),
        ("  * invalid dataset ptr. : ", invalid),
        ("  * skipped (journal)    : ", len(skipped)),
    ]
    lines.extend(f"{label}{count}" for label, count in optional if count > 0)
    return "\n".join(lines)


def _dimse_status(entry, skipped=()) -> str:
    if skipped and id(entry) in skipped:
        return SKIPPED_TEXT
    if not entry.request_sent:
        return "<not sent>"
    status = entry.status or 0
    if status == STATUS_NO_ACCEPTABLE_CONTEXT:
        return "<no acceptable presentation context>"
    if status == STATUS_INVALID_DATASET_PTR:
        return "<invalid dataset pointer>"
    return f"0x{status:04x} ({status_text(status)})"


def report_chunks(state, options, now, skipped=(), per_chunk: int = 64):
    """The report file contents in pieces (the header, ``per_chunk`` entries at a time (~50 KB), the summary;
    together the text of report_text): the report is written as it is made, so that a large transfer list never
    has its report in memory whole (~1.4 KB per instance as one text, more as lines)."""
    yield "\n".join([
        "Detailed Report on the Transfer of Instances",
        "============================================",
        "",
        f"Communication Peer : {options.peer}:{options.port}",
        f"AE Titles used     : {options.calling_aetitle} -> {options.called_aetitle}",
        f"Current Date/Time  : {now:%Y-%m-%d %H:%M:%S}",
        "",
        "",
        "",
    ])
    uid_name, ts_name = uids.uid_name, uids.ts_name
    out: list[str] = []
    for number, entry in enumerate(state.entries, 1):
        filename = f"Filename      : {entry.path}\n" if entry.path else ""
        network = f"{entry.network_ts} = {ts_name(entry.network_ts)}" if entry.network_ts else ""
        out.append(f"Number        : {number}\n"
                   f"{filename}"
                   f"SOP Instance  : {entry.sop_instance_uid}\n"
                   f"SOP Class     : {entry.sop_class_uid} = {uid_name(entry.sop_class_uid) or 'unknown'}\n"
                   f"Original Xfer : {entry.transfer_syntax_uid} = {ts_name(entry.transfer_syntax_uid)}\n"
                   f"Dataset Size  : {entry.dataset_size} bytes\n"
                   f"Association   : {entry.association}\n"
                   f"Pres. Context : {entry.context_id}\n"
                   f"Network Xfer  : {network}\n"
                   f"DIMSE Status  : {_dimse_status(entry, skipped)}\n"
                   "\n")
        if len(out) >= per_chunk:
            yield "".join(out)
            out.clear()
    if out:
        yield "".join(out)
    yield "\n" + summary_text(state, skipped)


def report_text(state, options, now, skipped=()) -> str:
    """The complete report file contents (no final newline)."""
    return "".join(report_chunks(state, options, now, skipped))


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_atomically(filename: str, data) -> bool:
    """Replace ``filename`` by ``data`` (bytes, or an iterable of bytes written one after the other) via a temporary
    file in the same directory (falling back to writing in place where only that is possible, as a plain truncating
    open would).  False if DCMTK's open would fail."""
    target = os.path.realpath(filename)  # write through a symbolic link, as an ofstream does
    if os.path.isdir(target):
        return False
    try:
        mode = os.stat(target).st_mode & 0o7777
        exists = True
    except OSError:
        mode, exists = _new_file_mode(), False
    if exists and not os.access(target, os.W_OK):
        return False
    chunks = (data,) if isinstance(data, (bytes, bytearray)) else data
    import tempfile  # (here: only a run with a report file needs it, 5 ms of imports)

    try:
        fd, tmp = tempfile.mkstemp(prefix=".dcmsend-report-", suffix=".tmp", dir=os.path.dirname(target) or ".")
    except OSError:
        fd, tmp = -1, ""
    if fd < 0:
        try:
            with open(target, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
        except OSError:
            return False
        return True
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True


def write_report(state, options, skipped=()) -> int | None:
    """createReportFile for ``options.report_file``: log, write; return None or exit code 43 (after the E line).

    Nothing is done for an empty file name (dcmsend only asks for a report when +crf names a file).  The caller
    logs the status summary afterwards (``APP.info("\\n" + summary_text(state))`` when INFO is enabled)."""
    filename = options.report_file
    if not filename:
        return None
    NET.info("creating detailed report on the transfer ...")
    NET.debug(f"creating report file '{filename}'")
    if os.path.exists(filename) and not os.path.isdir(filename):
        NET.warn(f"file '{filename}' already exists, overwriting")
    from datetime import datetime  # (here: 2 ms of imports)

    pieces = report_chunks(state, options, datetime.now(), skipped)
    chunks = (text.encode("utf-8", "surrogateescape") for text in pieces)
    if not _write_atomically(filename, chunks):
        NET.error(f"cannot write detailed report to file '{filename}'")
        return exitcodes.CANNOT_WRITE_REPORT_FILE
    return None
