"""Unit tests for the oflog clone (dcmsend.log): levels, multi-line messages, patterns, --log-config files."""

from __future__ import annotations

import io
import os
import re
import time
import warnings

import pytest

from dcmsend import cmdline, log, logconfig
from dcmsend.exitcodes import Exit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "logger.cfg.example")


@pytest.fixture(autouse=True)
def _fresh_logger():
    log.reset()
    yield
    log.close_all()
    log.reset()


def capture() -> io.StringIO:
    buf = io.StringIO()
    log.root().appenders = [log.Appender(stream=buf)]
    return buf


# --- levels and the default layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("level,shown", [
    (log.FATAL, "F"), (log.ERROR, "FE"), (log.WARN, "FEW"), (log.INFO, "FEWI"), (log.DEBUG, "FEWID"),
    (log.TRACE, "FEWIDT"), (log.OFF, ""),
])
def test_levels(level, shown):
    buf = capture()
    log.set_level(level)
    for f in (log.APP.fatal, log.APP.error, log.APP.warn, log.APP.info, log.APP.debug, log.APP.trace):
        f("m")
    assert buf.getvalue() == "".join(f"{c}: m\n" for c in shown)


def test_default_is_warn_on_stderr(capsys):
    log.NET.info("hidden")
    log.NET.warn("shown")
    assert capsys.readouterr().err == "W: shown\n"


def test_multi_line_messages():
    buf = capture()
    log.set_level(log.DEBUG)
    log.APP.debug("$banner$\n")
    log.APP.info("\nsummary")
    log.APP.error("a\nb\n\nc")
    assert buf.getvalue() == "D: $banner$\nD: \nI: \nI: summary\nE: a\nE: b\nE: \nE: c\n"


def test_force_log_ignores_level():
    buf = capture()
    log.set_level(log.OFF)
    log.root().force_log(log.INFO, "x\n")
    assert buf.getvalue() == "I: x\nI: \n"


@pytest.mark.parametrize("name,level", [
    ("fatal", log.FATAL), ("ERROR", log.ERROR), ("Warn", log.WARN), ("info", log.INFO), ("debug", log.DEBUG),
    ("trace", log.TRACE), ("all", log.TRACE), ("OFF", log.OFF), ("warning", None), (" info", None), ("", None),
    ("notset", None), ("inherited", None),
])
def test_level_from_name(name, level):
    assert log.level_from_name(name) == level


def test_old_style_line_layout_still_works():
    buf = io.StringIO()
    log.root().appenders = [log.Appender(stream=buf, layout=lambda lv, lg, line: f"<{lg}|{line}>")]
    log.DATA.error("a\nb")
    assert buf.getvalue() == "<dcmtk.dcmdata|a><dcmtk.dcmdata|b>"


# --- pattern layout ------------------------------------------------------------------------------------------------


def fmt(pattern: str, message: str = "msg", level: int = log.INFO, logger: str = "dcmtk.apps.dcmsend",
        when: float = 1_700_000_000.25) -> str:
    return log.PatternLayout(pattern).format(log.Event(level, logger, message, when))


@pytest.mark.parametrize("pattern,expected", [
    ("%P: %m%n", "I: msg\n"),
    ("%p|%5p|%-5p|%.2p|%-7.3p|%-7.5p|", "INFO| INFO|INFO |FO|NFO|INFO   |"),  # no padding after a cut
    ("%c|%c{1}|%c{2}|%c{9}", "dcmtk.apps.dcmsend|dcmsend|apps.dcmsend|dcmtk.apps.dcmsend"),
    ("100%% %m", "100% msg"),
    ("%i", str(os.getpid())),
    ("%h", log.hostname()),
    ("%D{%Y}", time.strftime("%Y", time.localtime(1_700_000_000))),
    ("%d{%H:%M:%S.%q}", "22:13:20.250"),
    ("%d{%Q}", "250.000"),
    ("%d", "2023-11-14 22:13:20"),
    ("%m%", "msg%"),
    ("%10m|%-10m|", "       msg|msg       |"),
])
def test_patterns(pattern, expected):
    assert fmt(pattern) == expected


def test_pattern_formats_each_line():
    assert fmt("[%5p] %m%n", "a\nb\n", log.DEBUG) == "[DEBUG] a\n[DEBUG] b\n[DEBUG] \n"
    layout = log.PatternLayout("[%p] %m%n", format_each_line=False)
    assert layout.format(log.Event(log.WARN, "x", "a\nb")) == "[WARN] a\nb\n"


def test_pattern_errors(capsys):
    assert fmt("%z|%m") == "%z|msg"
    assert fmt("%.x%m") == "%.xmsg"
    assert capsys.readouterr().err == (
        "log4cplus:ERROR Unexpected char [z] at position 2 in conversion pattern.\n"
        "log4cplus:ERROR Error occurred in position 3.\n Was expecting digit, instead got char \"x\".\n")
    assert fmt("%D{%H", when=0) == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(0))  # default format
    assert "No matching '}' found in conversion pattern string \"%D{%H\"" in capsys.readouterr().err


def test_simple_layout():
    assert logconfig.SimpleLayout().format(log.Event(log.WARN, "x", "a\nb")) == "WARN - a\nb\n"


# --- property files ------------------------------------------------------------------------------------------------


def test_parse_properties():
    data = (b"# comment\n  \n  log4cplus.a = 1 \r\nno equals sign\n\tlog4cplus.b\t=\tx = y\t\n"
            b"log4cplus.a=2\nempty=\n")
    assert logconfig.parse_properties(data) == {"log4cplus.a": "2", "log4cplus.b": "x = y", "empty": ""}


@pytest.mark.parametrize("content,message", [
    (None, "Specified --log-config file does not exist"),
    ("", "Specified --log-config file does not contain any settings"),
    ("# only a comment\n\n", "Specified --log-config file does not contain any settings"),
    ("foo = bar\n", "Specified --log-config file does not contain any valid settings"),
    ("log4cplus.appender.a = log4cplus::NullAppender\n",
     "Specified --log-config file does not set up log4cplus.rootLogger"),
])
def test_config_file_errors(content, message, tmp_path, capsys):
    path = tmp_path / "l.cfg"
    if content is not None:
        path.write_text(content)
    with pytest.raises(logconfig.ConfigError, match=re.escape(message)):
        logconfig.read_config_file(str(path))
    with pytest.raises(Exit) as exc:
        cmdline.evaluate(["dcmsend", "-lc", str(path), "h", "1", "f"])
    assert exc.value.code == 1
    assert capsys.readouterr().err.endswith(f"\nerror: {message}\n")


def test_config_directory_does_not_exist(tmp_path):
    with pytest.raises(logconfig.ConfigError, match="does not exist"):
        logconfig.read_config_file(str(tmp_path))


def configure(tmp_path, text: str, program: str = "/usr/bin/dcmsend") -> None:
    path = tmp_path / "l.cfg"
    path.write_text(text)
    logconfig.configure_from_properties(logconfig.read_config_file(str(path)), program)


def test_console_appender_streams(tmp_path, capsys):
    configure(tmp_path, "log4cplus.rootLogger = INFO, out, err\n"
                        "log4cplus.appender.out = log4cplus::ConsoleAppender\n"
                        "log4cplus.appender.err = log4cplus::ConsoleAppender\n"
                        "log4cplus.appender.err.logToStdErr = true\n"
                        "log4cplus.appender.err.layout = log4cplus::PatternLayout\n"
                        "log4cplus.appender.err.layout.ConversionPattern = %c: %m%n\n")
    log.APP.info("hello")
    log.APP.debug("hidden")
    out, err = capsys.readouterr()
    assert out == "INFO - hello\n"  # no logToStdErr: stdout, SimpleLayout by default
    assert err == "dcmtk.apps.dcmsend: hello\n"


def test_loggers_additivity_threshold_and_variables(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DCMSEND_TEST_TAG", "tag")
    configure(tmp_path, "log4cplus.rootLogger = WARN, c\n"
                        "log4cplus.logger.dcmtk.dcmnet = DEBUG, n\n"
                        "log4cplus.additivity.dcmtk.dcmnet = false\n"
                        "log4cplus.appender.c = log4cplus::ConsoleAppender\n"
                        "log4cplus.appender.c.logToStdErr = 1\n"
                        "log4cplus.appender.c.layout = log4cplus::PatternLayout\n"
                        "log4cplus.appender.c.layout.ConversionPattern = ${log4cplus.prefix} %m%n\n"
                        "log4cplus.prefix = [${appname}/${DCMSEND_TEST_TAG}/${pid}]\n"
                        "log4cplus.appender.n = log4cplus::ConsoleAppender\n"
                        "log4cplus.appender.n.logToStdErr = true\n"
                        "log4cplus.appender.n.Threshold = info\n"
                        "log4cplus.appender.n.layout = log4cplus::PatternLayout\n"
                        "log4cplus.appender.n.layout.ConversionPattern = net %p %m%n\n")
    log.APP.info("no")
    log.APP.warn("app")
    log.NET.debug("below threshold")
    log.NET.info("net info")
    assert capsys.readouterr().err == f"[dcmsend/tag/{os.getpid()}] app\nnet INFO net info\n"


def test_filters(tmp_path, capsys):
    configure(tmp_path, "log4cplus.rootLogger = TRACE, c\n"
                        "log4cplus.appender.c = log4cplus::ConsoleAppender\n"
                        "log4cplus.appender.c.logToStdErr = true\n"
                        "log4cplus.appender.c.layout = log4cplus::PatternLayout\n"
                        "log4cplus.appender.c.layout.ConversionPattern = %P %m%n\n"
                        "log4cplus.appender.c.filters.1 = log4cplus::spi::StringMatchFilter\n"
                        "log4cplus.appender.c.filters.1.StringToMatch = secret\n"
                        "log4cplus.appender.c.filters.1.AcceptOnMatch = false\n"
                        "log4cplus.appender.c.filters.2 = log4cplus::spi::LogLevelRangeFilter\n"
                        "log4cplus.appender.c.filters.2.LogLevelMin = INFO\n"
                        "log4cplus.appender.c.filters.2.LogLevelMax = ERROR\n"
                        "log4cplus.appender.c.filters.2.AcceptOnMatch = true\n")
    log.APP.debug("debug")
    log.APP.info("info")
    log.APP.info("a secret")
    log.APP.fatal("fatal")
    log.APP.error("error")
    assert capsys.readouterr().err == "I info\nE error\n"


def test_config_problems_reported_like_log4cplus(tmp_path, capsys):
    configure(tmp_path, "log4cplus.rootLogger = BOGUS, c, missing\n"
                        "log4cplus.appender.c = log4cplus::ConsoleAppender\n"
                        "log4cplus.appender.c.logToStdErr = true\n"
                        "log4cplus.appender.x = log4cplus::FooAppender\n"
                        "log4cplus.appender.c.layout = log4cplus::PatternLayout\n"
                        "log4cplus.appender.c.layout.ConversionPattern = ${unterminated %m%n\n")
    err = capsys.readouterr().err
    assert err == (
        "log4cplus:ERROR \"${unterminated %m%n\" has no closing brace. Opening brace at position 0.\n"
        "log4cplus:ERROR PropertyConfigurator::configureAppenders()- Cannot find AppenderFactory: "
        "log4cplus::FooAppender\n"
        "log4cplus:ERROR PropertyConfigurator::configureLogger()- Invalid appender: missing\n")
    # an unknown root level sets NOT_SET on the root logger (oflog quirk): everything is enabled
    assert log.APP.enabled(log.TRACE)
    log.APP.trace("t")
    assert capsys.readouterr().err == "${unterminated t\n"


def test_file_appender_truncates_or_appends(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.log").write_text("old\n")
    (tmp_path / "b.log").write_text("old\n")
    configure(tmp_path, "log4cplus.rootLogger = INFO, a, b\n"
                        "log4cplus.appender.a = log4cplus::FileAppender\n"
                        "log4cplus.appender.a.File = a.log\n"
                        "log4cplus.appender.b = log4cplus::FileAppender\n"
                        "log4cplus.appender.b.File = b.log\n"
                        "log4cplus.appender.b.Append = true\n")
    log.APP.info("new")
    log.close_all()
    assert (tmp_path / "a.log").read_text() == "INFO - new\n"
    assert (tmp_path / "b.log").read_text() == "old\nINFO - new\n"


def test_file_appender_cannot_open(tmp_path, capsys):
    configure(tmp_path, "log4cplus.rootLogger = INFO, a\n"
                        "log4cplus.appender.a = log4cplus::FileAppender\n"
                        f"log4cplus.appender.a.File = {tmp_path}/no/such/dir.log\n")
    log.APP.info("x")
    log.APP.info("y")
    assert capsys.readouterr().err == f"log4cplus:ERROR Unable to open file: {tmp_path}/no/such/dir.log\n"


def test_rolling_file_appender(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    configure(tmp_path, "log4cplus.rootLogger = DEBUG, r\n"
                        "log4cplus.appender.r = log4cplus::RollingFileAppender\n"
                        "log4cplus.appender.r.File = ${appname}.log\n"
                        "log4cplus.appender.r.MaxFileSize = 1KB\n"  # raised to the 200 KB minimum
                        "log4cplus.appender.r.MaxBackupIndex = 2\n"
                        "log4cplus.appender.r.layout = log4cplus::PatternLayout\n"
                        "log4cplus.appender.r.layout.ConversionPattern = %m%n\n", program="./tools/mysend")
    line = "x" * 1023
    for i in range(1000):  # 1000 KB: rolls over four times, two backups kept
        log.APP.debug(f"{i:04d}{line[4:]}")
    log.close_all()
    names = sorted(os.listdir(tmp_path))
    assert names == ["l.cfg", "mysend.log", "mysend.log.1", "mysend.log.2"]
    for name in names[1:]:
        assert os.path.getsize(tmp_path / name) <= 200 * 1024 + 1024
    first = (tmp_path / "mysend.log.2").read_text().split("\n")[0]
    last = (tmp_path / "mysend.log").read_text().split("\n")[-2]
    assert last.startswith("0999")
    assert int(first[:4]) > 0


def test_example_config_file(tmp_path, monkeypatch, capsys):
    """logger.cfg.example: console at INFO (stderr, time + %5p) and a rolling ${appname}.log at DEBUG."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exit):
        cmdline.evaluate(["/opt/bin/dcmsend", "-lc", EXAMPLE, "--arguments", "-to", "0", "h", "1", "f"])
    log.close_all()
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.split("\n")
    assert re.fullmatch(r"\d\d:\d\d:\d\d  INFO: calling '/opt/bin/dcmsend' with 8 arguments: '--log-config' "
                        r"'.*' '--arguments' '--timeout' '0' 'h' '1' 'f' ", lines[0])
    assert re.fullmatch(r"\d\d:\d\d:\d\d  INFO: ", lines[1])
    assert lines[2] == cmdline.BANNER  # the command-line error itself follows (not through the logger)
    text = (tmp_path / "dcmsend.log").read_text()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  INFO \[root\] calling '/opt/bin/dcmsend'", text)

    log.reset()
    os.remove(tmp_path / "dcmsend.log")
    cmdline.evaluate(["dcmsend", "-lc", EXAMPLE, "h", "1", "f"])
    log.APP.debug("only in the file")
    log.NET.info("both")
    log.close_all()
    err = capsys.readouterr().err
    assert re.fullmatch(r"\d\d:\d\d:\d\d  INFO: both\n", err)
    text = (tmp_path / "dcmsend.log").read_text()
    assert "DEBUG [dcmtk.apps.dcmsend] $dcmsend: dcmsend v" in text
    assert "DEBUG [dcmtk.apps.dcmsend] only in the file\n" in text
    assert " INFO [dcmtk.dcmnet] both\n" in text


# --- library output ------------------------------------------------------------------------------------------------


def test_capture_library_output():
    import logging

    buf = capture()
    log.set_level(log.TRACE)
    log.capture_library_output()
    logging.getLogger("pynetdicom.assoc").info("Requesting Association")
    logging.getLogger("pydicom").warning("Invalid value")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("careful", UserWarning, stacklevel=1)
    assert buf.getvalue() == "T: Requesting Association\nT: Invalid value\nT: UserWarning: careful\n"


def test_capture_library_output_hidden_by_default(capsys):
    import logging

    log.capture_library_output()
    log.set_level(log.DEBUG)
    logging.getLogger("pynetdicom").error("library error")
    logging.getLogger("pydicom.config").critical("library critical")
    assert capsys.readouterr() == ("", "")
