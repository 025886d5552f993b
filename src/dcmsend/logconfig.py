"""--log-config (-lc): DCMTK's log4cplus property files for dcmsend's logging (:mod:`dcmsend.log`): reading and
parsing the file, variable substitution, and the appenders (console, null, file, rolling file), layouts (simple,
TTCC; the pattern layout is log.py's) and filters they name, as log4cplus 2 / DCMTK 3.6.7 have them.  Loaded only for
``--log-config`` (start-up time).
"""

from __future__ import annotations

import os
import time

from dcmsend.log import (
    _C_SPACE,
    _START,
    ACCEPT,
    DENY,
    NEUTRAL,
    NOT_SET,
    Appender,
    Event,
    Logger,
    PatternLayout,
    _atoi,
    _encode,
    _parse_bool,
    _root,
    _thread_id,
    format_time,
    get_logger,
    hostname,
    level_from_name,
    level_name,
    loglog_error,
    loglog_warn,
    set_loglog_quiet,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO


class SimpleLayout:
    def format(self, event: Event) -> str:
        return f"{level_name(event.level)} - {event.message}\n"


class TTCCLayout:
    def __init__(self, date_format: str = "", use_gmtime: bool = False):
        self.date_format = date_format
        self.use_gmtime = use_gmtime

    def format(self, event: Event) -> str:
        if self.date_format:
            stamp = format_time(self.date_format, event.time, self.use_gmtime)
        else:
            stamp = str(int((event.time - _START) * 1000))
        return (f"{stamp} [{_thread_id()}] {level_name(event.level)} {event.logger} <> - {event.message}\n")


class Filter:
    def decide(self, event: Event) -> int:  # pragma: no cover - interface
        return NEUTRAL


class DenyAllFilter(Filter):
    def decide(self, event: Event) -> int:
        return DENY


class LogLevelMatchFilter(Filter):
    def __init__(self, level: int = NOT_SET, accept: bool = True):
        self.level = level
        self.accept = accept

    def decide(self, event: Event) -> int:
        if self.level == NOT_SET or event.level != self.level:
            return NEUTRAL
        return ACCEPT if self.accept else DENY


class LogLevelRangeFilter(Filter):
    def __init__(self, low: int = NOT_SET, high: int = NOT_SET, accept: bool = True):
        self.low = low
        self.high = high
        self.accept = accept

    def decide(self, event: Event) -> int:
        if self.low != NOT_SET and event.level < self.low:
            return DENY
        if self.high != NOT_SET and event.level > self.high:
            return DENY
        return ACCEPT if self.accept else NEUTRAL


class StringMatchFilter(Filter):
    def __init__(self, text: str = "", accept: bool = True):
        self.text = text
        self.accept = accept

    def decide(self, event: Event) -> int:
        if not self.text or not event.message or self.text not in event.message:
            return NEUTRAL
        return ACCEPT if self.accept else DENY


class ConsoleAppender(Appender):
    """log4cplus ConsoleAppender: stdout unless ``logToStdErr`` is true (stderr is DCMTK's built-in default)."""

    def __init__(self, to_stderr: bool = True, **kw):
        super().__init__(**kw)
        self.use_stdout = not to_stderr


class NullAppender(Appender):
    def append(self, text: str) -> None:
        pass


class FileAppender(Appender):
    def __init__(self, filename: str, append: bool = False, immediate_flush: bool = True, **kw):
        super().__init__(**kw)
        self.filename = filename
        self.immediate_flush = immediate_flush
        self.fh: IO[bytes] | None = None
        self._error_reported = False
        if not filename:
            self._error("Invalid filename")
            return
        self._open("ab" if append else "wb")
        if self.fh is None:
            self._error("Unable to open file: " + filename)

    def _error(self, message: str) -> None:  # log4cplus OnlyOnceErrorHandler
        if not self._error_reported:
            self._error_reported = True
            loglog_error(message)

    def _open(self, mode: str) -> None:
        try:
            self.fh = open(self.filename, mode)
        except OSError:
            self.fh = None

    def append(self, text: str) -> None:
        if self.fh is None:
            self._error("file is not open: " + self.filename)
            return
        self.fh.write(_encode(text))
        if self.immediate_flush:
            self.fh.flush()
        self.after_write()

    def after_write(self) -> None:
        pass

    def close(self) -> None:
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass
            self.fh = None


DEFAULT_ROLLING_LOG_SIZE = 10 * 1024 * 1024


MINIMUM_ROLLING_LOG_SIZE = 200 * 1024


class RollingFileAppender(FileAppender):
    def __init__(self, filename: str, max_file_size: int = DEFAULT_ROLLING_LOG_SIZE, max_backup_index: int = 1,
                 append: bool = True, **kw):
        super().__init__(filename, append=append, **kw)
        if max_file_size < MINIMUM_ROLLING_LOG_SIZE:
            loglog_warn(f"RollingFileAppender: MaxFileSize property value is too small. Resetting to "
                        f"{MINIMUM_ROLLING_LOG_SIZE}.")
            max_file_size = MINIMUM_ROLLING_LOG_SIZE
        self.max_file_size = max_file_size
        self.max_backup_index = max(max_backup_index, 1)

    def after_write(self) -> None:
        if self.fh is not None and self.fh.tell() > self.max_file_size:
            self.rollover()

    def rollover(self) -> None:
        self.close()
        n = self.max_backup_index
        try:
            os.remove(f"{self.filename}.{n}")
        except OSError:
            pass
        for i in range(n - 1, 0, -1):
            self._rename(f"{self.filename}.{i}", f"{self.filename}.{i + 1}")
        self._rename(self.filename, self.filename + ".1")
        self._open("wb")
        if self.fh is None:
            loglog_error("Failed to open file " + self.filename)

    @staticmethod
    def _rename(src: str, dst: str) -> None:
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            pass
        except OSError as exc:
            loglog_error(f"Failed to rename file from {src} to {dst}; error {exc.errno}")


class ConfigError(Exception):
    """A ``--log-config`` file problem; ``str()`` is DCMTK's command-line error text."""


def parse_properties(data: bytes) -> dict[str, str]:
    """log4cplus ``Properties::init``: ``key = value`` lines, ``#`` comments, the last assignment wins."""
    props: dict[str, str] = {}
    for raw in data.split(b"\n"):
        line = os.fsdecode(raw).lstrip(_C_SPACE)
        if not line or line[0] == "#":
            continue
        if line[-1] == "\r":
            line = line[:-1]
        idx = line.find("=")
        if idx < 0:
            continue
        props[line[:idx].rstrip(_C_SPACE)] = line[idx + 1:].strip(_C_SPACE)
    return props


def read_config_file(path: str) -> dict[str, str]:
    """Read and check a ``--log-config`` file as ``OFLog::configureFromCommandLine`` does; raise ConfigError."""
    if not path or not os.path.exists(path) or os.path.isdir(path):
        raise ConfigError("Specified --log-config file does not exist")
    if not os.access(path, os.R_OK):
        raise ConfigError("Specified --log-config file cannot be read")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        loglog_error("could not open file " + path)
        data = b""
    props = parse_properties(data)
    if not props:
        raise ConfigError("Specified --log-config file does not contain any settings")
    if not any(k.startswith("log4cplus.") for k in props):
        raise ConfigError("Specified --log-config file does not contain any valid settings")
    if "log4cplus.rootLogger" not in props:
        raise ConfigError("Specified --log-config file does not set up log4cplus.rootLogger")
    return props


def _get_int(props: dict[str, str], key: str) -> int | None:
    """``Properties::getInt``: a whole value that reads as an integer (stream extraction), else None."""
    if key not in props:
        return None
    words = props[key].split()
    if len(words) != 1:
        return None
    try:
        return int(words[0])
    except ValueError:
        return None


def _get_bool(props: dict[str, str], key: str) -> bool | None:
    if key not in props:
        return None
    ok, value = _parse_bool(props[key])
    return value if ok else None


def _subset(props: dict[str, str], prefix: str) -> dict[str, str]:
    n = len(prefix)
    return {k[n:]: v for k, v in props.items() if k.startswith(prefix)}


def _subst_vars(val: str, props: dict[str, str]) -> tuple[str, bool]:
    """log4cplus ``substVars`` with fRecursiveExpansion | fShadowEnvironment."""
    i = 0
    pattern = val
    changed = False
    for _ in range(10000):
        start = pattern.find("${", i)
        if start < 0:
            return pattern, changed
        end = pattern.find("}", start)
        if end < 0:
            loglog_error(f"\"{pattern}\" has no closing brace. Opening brace at position {start}.")
            return val, False
        key = pattern[start + 2:end]
        replacement = props.get(key, "")
        if not replacement:
            replacement = os.environ.get(key, "")
        if replacement:
            pattern = pattern[:start] + replacement + pattern[end + 1:]
            changed = True
        else:
            i = end + 1
    return pattern, changed


def _replace_variables(props: dict[str, str]) -> None:
    for _ in range(1000):
        changed = False
        for key in sorted(props):
            val = props.get(key, "")
            sub_key, key_changed = _subst_vars(key, props)
            if key_changed:
                props.pop(key, None)
                props[sub_key] = val
                changed = True
            sub_val, val_changed = _subst_vars(val, props)
            if val_changed:
                props[sub_key] = sub_val
                changed = True
        if not changed:
            return


def _make_layout(props: dict[str, str]):
    """Appender(properties): the layout part; returns (layout, ok) - ok False stops the appender's set-up."""
    if "layout" not in props:
        return SimpleLayout(), True
    name = props["layout"]
    lprops = _subset(props, "layout.")
    if name == "log4cplus::SimpleLayout":
        return SimpleLayout(), True
    if name == "log4cplus::TTCCLayout":
        use_gmt = _get_bool(lprops, "Use_gmtime") or False
        return TTCCLayout(lprops.get("DateFormat", ""), use_gmt), True
    if name == "log4cplus::PatternLayout":
        each = _get_bool(lprops, "FormatEachLine")
        each = True if each is None else each
        if "Pattern" in lprops:
            loglog_warn('PatternLayout- the "Pattern" property has been deprecated.  Use "ConversionPattern" instead.')
        if "ConversionPattern" in lprops:
            return PatternLayout(lprops["ConversionPattern"], each), True
        if "Pattern" in lprops:
            return PatternLayout(lprops["Pattern"], each), True
        loglog_error("ConversionPattern not specified in properties")
        loglog_error("Error while creating Layout: ConversionPattern not specified in properties")
        return SimpleLayout(), False
    loglog_error(f'Cannot find LayoutFactory: "{name}"')
    return SimpleLayout(), False


def _make_filters(props: dict[str, str]) -> list[Filter]:
    fprops = _subset(props, "filters.")
    out: list[Filter] = []
    count = 1
    while str(count) in fprops:
        name = fprops[str(count)]
        sub = _subset(fprops, f"{count}.")
        accept = _get_bool(sub, "AcceptOnMatch") or False

        def lvl(key: str) -> int:
            v = level_from_name(sub.get(key, ""))
            return NOT_SET if v is None else v

        if name == "log4cplus::spi::DenyAllFilter":
            out.append(DenyAllFilter())
        elif name == "log4cplus::spi::LogLevelMatchFilter":
            out.append(LogLevelMatchFilter(lvl("LogLevelToMatch"), accept))
        elif name == "log4cplus::spi::LogLevelRangeFilter":
            out.append(LogLevelRangeFilter(lvl("LogLevelMin"), lvl("LogLevelMax"), accept))
        elif name == "log4cplus::spi::StringMatchFilter":
            out.append(StringMatchFilter(sub.get("StringToMatch", ""), accept))
        else:
            loglog_error("Appender::ctor()- Cannot find FilterFactory: " + name)
        count += 1
    return out


_APPENDER_TYPES = ("ConsoleAppender", "NullAppender", "FileAppender", "RollingFileAppender",
                   "DailyRollingFileAppender")


def _make_appender(name: str, factory: str, props: dict[str, str]) -> Appender | None:
    kind = factory[len("log4cplus::"):] if factory.startswith("log4cplus::") else ""
    if kind not in _APPENDER_TYPES:
        loglog_error("PropertyConfigurator::configureAppenders()- Cannot find AppenderFactory: " + factory)
        return None
    layout, ok = _make_layout(props)
    threshold, filters = NOT_SET, []
    if ok:
        if "Threshold" in props:
            t = level_from_name(props["Threshold"])
            threshold = NOT_SET if t is None else t
        filters = _make_filters(props)
    kw = {"layout": layout, "threshold": threshold, "name": name, "filters": filters}
    if kind == "ConsoleAppender":
        return ConsoleAppender(to_stderr=bool(_get_bool(props, "logToStdErr")), **kw)
    if kind == "NullAppender":
        return NullAppender(**kw)
    flush = _get_bool(props, "ImmediateFlush")
    flush = True if flush is None else flush
    filename = props.get("File", "")
    if kind == "FileAppender":
        append = _get_bool(props, "Append") or False
        return FileAppender(filename, append=append, immediate_flush=flush, **kw)
    append_given = _get_bool(props, "Append")
    append = True if append_given is None else append_given
    if kind == "DailyRollingFileAppender":  # no time-based rollover: a plain appending file
        return FileAppender(filename, append=append, immediate_flush=flush, **kw)
    size = DEFAULT_ROLLING_LOG_SIZE
    text = props.get("MaxFileSize", "").upper()
    if text:
        size = _atoi(text)
        if size != 0:
            if len(text) > 2 and text.endswith("MB"):
                size *= 1024 * 1024
            elif len(text) > 2 and text.endswith("KB"):
                size *= 1024
        size = max(size, MINIMUM_ROLLING_LOG_SIZE)
    backups = _get_int(props, "MaxBackupIndex")
    return RollingFileAppender(filename, size, 1 if backups is None else backups, append=append,
                               immediate_flush=flush, **kw)


def _configure_logger(logger: Logger, config: str, appenders: dict[str, Appender]) -> None:
    text = config.replace(" ", "")
    tokens: list[str] = []
    first = 0
    i = 0
    while i < len(text):
        if text[i] == ",":
            tokens.append(text[first:i])
            while i + 1 < len(text) and text[i + 1] == ",":
                i += 1
            first = i + 1
        i += 1
    if first != i:
        tokens.append(text[first:i])
    if not tokens:
        loglog_error(f"PropertyConfigurator::configureLogger()- Invalid config string(Logger = {logger.name}): "
                     f"\"{config}\"")
        return
    level = None if tokens[0] == "INHERITED" else level_from_name(tokens[0])
    # oflog's LoggerImpl::setLogLevel is not virtual: the root logger silently takes NOT_SET, which then
    # enables every level (no "You have tried to set NOT_SET_LOG_LEVEL to root." message)
    logger.level = NOT_SET if (level is None and logger is _root) else level
    logger.appenders = []
    for name in tokens[1:]:
        app = appenders.get(name)
        if app is None:
            loglog_error("PropertyConfigurator::configureLogger()- Invalid appender: " + name)
            continue
        logger.appenders.append(app)


def configure_from_properties(props: dict[str, str], program: str = "dcmsend") -> None:
    """Apply a log4cplus configuration (``OFLog::reconfigure`` + ``PropertyConfigurator::configure``)."""
    props = dict(props)
    now = time.localtime()
    props["appname"] = os.path.basename(program)
    props["hostname"] = hostname(False)
    props["pid"] = str(os.getpid())
    props["date"] = time.strftime("%Y%m%d", now)
    props["time"] = time.strftime("%H%M%S", now)
    _replace_variables(props)
    props = _subset(props, "log4cplus.")

    quiet = _get_bool(props, "quietMode")
    if quiet is not None:
        set_loglog_quiet(quiet)

    appenders: dict[str, Appender] = {}
    aprops = _subset(props, "appender.")
    for name in sorted(aprops):
        if "." in name:
            continue
        app = _make_appender(name, aprops[name], _subset(aprops, name + "."))
        if app is not None:
            appenders[name] = app

    if "rootLogger" in props:
        _configure_logger(_root, props["rootLogger"], appenders)
    lprops = _subset(props, "logger.")
    for name in sorted(lprops):
        _configure_logger(get_logger(name), lprops[name], appenders)

    adprops = _subset(props, "additivity.")
    for name in sorted(adprops):
        value = _get_bool(adprops, name)
        lg = get_logger(name)
        if value is not None:
            lg.additive = value
