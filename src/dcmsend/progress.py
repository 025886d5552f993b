"""--progress (an extension): how far the run is, on stderr.

On a terminal one status line, redrawn at most MAX_RATE times a second, wiped before every log line (the log
writes through :data:`dcmsend.log.before_console_write`) and at the end, so that what stays on the screen is
DCMTK's log.  Otherwise (a file, a pipe) a plain line every PLAIN_INTERVAL seconds and one at the end.  Imported
only when the option is given.
"""

from __future__ import annotations

import sys
import time

MAX_RATE = 10  # redraws per second on a terminal
PLAIN_INTERVAL = 5.0  # seconds between plain lines


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # (not reached)


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total_instances: int, total_bytes: int, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            self.tty = False
        self.total_instances = total_instances
        self.total_bytes = total_bytes
        self.done = self.bytes = self.failures = self.associations = 0
        self.start = time.monotonic()
        self.last = 0.0 if self.tty else self.start
        self.shown = False  # a status line is on the terminal
        if self.tty:
            from dcmsend import log

            log.before_console_write = self._before_log

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = self.bytes / elapsed
        text = (f"{self.done}/{self.total_instances} instances, {_size(self.bytes)} of {_size(self.total_bytes)}, "
                f"{_size(rate)}/s")
        if self.done and self.done < self.total_instances:
            remaining = (self.total_bytes - self.bytes) / rate if rate > 0 and self.bytes else \
                elapsed / self.done * (self.total_instances - self.done)
            text += f", ETA {_clock(max(remaining, 0))}"
        return text + f", {self.failures} failed, {self.associations} associations"

    def update(self, done: int, nbytes: int, failures: int, associations: int, force: bool = False) -> None:
        self.done, self.bytes, self.failures, self.associations = done, nbytes, failures, associations
        now = time.monotonic()
        if self.tty:
            if force or now - self.last >= 1.0 / MAX_RATE:
                self.last = now
                self._write("\r" + self.line()[: self._width()] + "\x1b[K")
                self.shown = True
        elif force or now - self.last >= PLAIN_INTERVAL:
            self.last = now
            self._write("dcmsend progress: " + self.line() + "\n")

    def _width(self) -> int:
        import shutil

        return max(shutil.get_terminal_size((80, 24)).columns - 1, 20)

    def _before_log(self, stream) -> None:
        if self.shown and stream is self.stream:
            self.shown = False
            self._write("\r\x1b[K")

    def _write(self, text: str) -> None:
        from dcmsend import log

        hook, log.before_console_write = log.before_console_write, None
        try:
            log.write_text(self.stream, text)
        finally:
            log.before_console_write = hook

    def finish(self) -> None:
        """Wipe the status line (terminal) or write the last plain line."""
        if self.tty:
            from dcmsend import log

            if log.before_console_write == self._before_log:
                log.before_console_write = None
            if self.shown:
                self.shown = False
                self._write("\r\x1b[K")
        else:
            self._write("dcmsend progress: " + self.line() + "\n")
