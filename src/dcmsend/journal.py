"""The resume journal (--journal, an extension): an SQLite database of the instances a peer stored.

One row per (peer, port, calling AE title, called AE title, absolute path) holds what the file was when it was
stored (size, modification time in ns, SOP Instance UID) and the status.  Rows are written only when the peer's
C-STORE response with a success or warning status has arrived (never for an instance merely sent), in batches
(committed every BATCH rows or BATCH_SECONDS, and at the end of the run however it ends), in WAL mode: a crash
loses at most the last batch, which is then sent again.  A later run to the same peer skips the instances whose
file is unchanged (same path, size, modification time and SOP Instance UID).
"""

from __future__ import annotations

import os
import time

BATCH = 64
BATCH_SECONDS = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stored (
    peer TEXT NOT NULL,
    port INTEGER NOT NULL,
    calling_aetitle TEXT NOT NULL,
    called_aetitle TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    status INTEGER NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (peer, port, calling_aetitle, called_aetitle, path)
)"""


class JournalError(Exception):
    pass


def _key_path(path: str) -> str:
    return os.path.abspath(path.split("\0")[0])


def _stat(path: str):
    try:
        return os.stat(path.split("\0")[0])
    except (OSError, ValueError):
        return None


class Journal:
    def __init__(self, filename: str, options):
        import sqlite3

        self.filename = filename
        self.peer = (options.peer, int(options.port), options.calling_aetitle, options.called_aetitle)
        self._error = sqlite3.Error
        self.failed = False
        try:
            # (used under the tracker's lock, possibly from parallel workers' threads)
            self.db = sqlite3.connect(filename, timeout=10, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(_SCHEMA)
            self.db.commit()
        except sqlite3.Error as exc:
            raise JournalError(str(exc)) from None
        self.pending = 0
        self.last_commit = time.monotonic()
        self.recorded = 0

    def already_stored(self, entries: list) -> set[int]:
        """The ``id()`` of every entry the journal has as stored to this peer from the same, unchanged file."""
        rows = {}
        try:
            for path, size, mtime_ns, uid in self.db.execute(
                    "SELECT path, size, mtime_ns, sop_instance_uid FROM stored WHERE peer=? AND port=? AND "
                    "calling_aetitle=? AND called_aetitle=?", self.peer):
                rows[path] = (size, mtime_ns, uid)
        except self._error as exc:
            raise JournalError(str(exc)) from None
        skipped: set[int] = set()
        if not rows:
            return skipped
        for entry in entries:
            row = rows.get(_key_path(entry.path))
            if row is None:
                continue
            st = _stat(entry.path)
            if st is not None and row == (st.st_size, st.st_mtime_ns, entry.sop_instance_uid):
                skipped.add(id(entry))
        return skipped

    def record(self, entry) -> None:
        """The peer stored ``entry`` (its response had a success or warning status)."""
        if self.failed:
            return
        st = _stat(entry.path)
        if st is None:
            return
        from datetime import datetime, timezone

        try:
            self.db.execute("INSERT OR REPLACE INTO stored VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                            (*self.peer, _key_path(entry.path), st.st_size, st.st_mtime_ns, entry.sop_instance_uid,
                             entry.sop_class_uid, entry.status or 0,
                             datetime.now(timezone.utc).isoformat(timespec="milliseconds")))
            self.pending += 1
            self.recorded += 1
            if self.pending >= BATCH or time.monotonic() - self.last_commit >= BATCH_SECONDS:
                self.commit()
        except self._error as exc:
            self._fail(exc)

    def commit(self) -> None:
        if self.failed:
            return
        try:
            self.db.commit()
        except self._error as exc:
            self._fail(exc)
        self.pending = 0
        self.last_commit = time.monotonic()

    def _fail(self, exc) -> None:
        from dcmsend.log import APP

        self.failed = True
        APP.error(f"cannot write journal '{self.filename}': {exc}")

    def close(self) -> None:
        self.commit()
        try:
            self.db.close()
        except self._error:
            pass
