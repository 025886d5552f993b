"""Unit tests for the command-line engine (dcmsend.cmdline): every parsing rule and error text."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dcmsend import cmdline, log
from dcmsend.cmdline import Options, evaluate, scan_ulong, split_command_file
from dcmsend.exitcodes import Exit

HEADER = f"{cmdline.BANNER}\n\ndcmsend: Simple DICOM storage SCU (sender)\n"


@pytest.fixture(autouse=True)
def _fresh_logger():
    log.reset()
    yield
    log.reset()


def run(args, capsys) -> tuple[int, str, str, Options | None]:
    """evaluate(['dcmsend', *args]) -> (exit code or None, stdout, stderr, options)."""
    try:
        opts = evaluate(["dcmsend", *args])
        code = None
    except Exit as exc:
        opts, code = None, exc.code
    out, err = capsys.readouterr()
    return code, out, err, opts


def error_of(args, capsys) -> str:
    code, out, err, _ = run(args, capsys)
    assert code == 1, (code, out, err)
    assert out == ""
    assert err.startswith(HEADER + "error: "), err
    assert err.endswith("\n")
    return err[len(HEADER) + len("error: "):-1]


def ok(args, capsys) -> Options:
    code, out, err, opts = run(args, capsys)
    assert code is None, (code, out, err)
    assert out == ""
    return opts


# --- help / usage ----------------------------------------------------------------------------------------------

EXPECTED_HELP_TAIL = """\
usage: dcmsend [options] peer port dcmfile-in...

parameters:
  peer                           hostname of DICOM peer
  port                           tcp/ip port number of peer
  dcmfile-in                     DICOM file or directory to be transmitted

general options:
  -h      --help                 print this help text and exit
          --version              print version information and exit
          --list-decoders        list transfer syntaxes of decoders and exit
          --arguments            print expanded command line arguments
  -q      --quiet                quiet mode, print no warnings and errors
  -v      --verbose              verbose mode, print processing details
  -d      --debug                debug mode, print debug information
  -ll     --log-level            [l]evel: string constant
                                 (fatal, error, warn, info, debug, trace)
                                 use level l for the logger
  -lc     --log-config           [f]ilename: string
                                 use config file f for the logger
  +v      --verbose-pc           show presentation contexts in verbose mode
input options:
  input file format:
    +f    --read-file            read file format or data set
"""


def test_help_layout(capsys):
    code, out, err, _ = run(["--help"], capsys)
    assert code == 0 and err == ""
    assert out.startswith(HEADER + EXPECTED_HELP_TAIL)
    # DCMTK's options end with +crf; the extensions follow in groups of their own ("... not in DCMTK ...")
    dcmtk_part, _, extensions = out.partition("(if successful) and write it to text file f\n")
    assert dcmtk_part and out.endswith("\n\n")
    for line in extensions.split("\n"):
        if line and not line.startswith(" "):
            assert "not in DCMTK" in line, line
    assert "-i4" not in out  # 3.6.7 has no IP protocol options
    for opt in cmdline.OPTIONS:
        assert opt.long in out


@pytest.mark.parametrize("args", [[], ["@EMPTY"], ["-h"], ["--help", "x"], ["--version", "-h"], ["h", "1", "-h"]])
def test_usage_cases(args, capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\t ")
    args = [str(a).replace("EMPTY", str(empty)) for a in args]
    code, out, err, _ = run(args, capsys)
    assert (code, err) == (0, "")
    assert out == cmdline.usage_text()


def test_help_with_unknown_option_is_an_error(capsys):
    assert error_of(["--help", "--bogus"], capsys) == "Unknown option --bogus"


def test_help_with_missing_value_is_an_error(capsys):
    assert error_of(["-h", "-aet"], capsys) == "Missing value for option --aetitle"


# --- --version / --list-decoders ------------------------------------------------------------------------------------


def test_version_layout(capsys):
    code, out, err, _ = run(["--version", "+r"], capsys)
    assert (code, err) == (0, "")
    lines = out.split("\n")
    assert lines[:4] == [cmdline.BANNER, "", "dcmsend: Simple DICOM storage SCU (sender)", ""]
    assert lines[4].startswith("Host type: ")
    assert lines[5].startswith("Character encoding: ")
    assert lines[6].startswith("Python: ")
    assert lines[7:9] == ["", "External libraries used:"]
    assert lines[9].startswith("- ZLIB, Version ")
    libs = [ln for ln in lines[10:] if ln]
    assert all(ln.startswith("- ") and ", Version " in ln for ln in libs)
    assert any(ln.startswith("- pydicom, Version ") for ln in libs)
    assert any(ln.startswith("- imagecodecs, Version ") for ln in libs)  # (used for lossy JPEG)
    assert not any(ln.startswith("- pynetdicom,") for ln in libs)  # (a test tool only, never imported by sending)
    assert out.endswith("\n") and not out.endswith("\n\n")


def test_version_wins_over_list_decoders(capsys):
    for args in (["--version", "--list-decoders"], ["--list-decoders", "--version"]):
        code, out, _, _ = run(args, capsys)
        assert code == 0 and "External libraries used:" in out


def test_list_decoders(capsys):
    code, out, err, _ = run(["--list-decoders", "-to", "0"], capsys)
    assert (code, err) == (0, "")
    head = (f"{cmdline.BANNER}\n\ndcmsend: Simple DICOM storage SCU (sender)\n\n"
            "Transfer syntaxes supported natively:\n- Little Endian Implicit\n- Little Endian Explicit\n"
            "- Big Endian Explicit\n\nTransfer syntaxes supported by decoders:\n"
            "- Deflated Explicit VR Little Endian\n")
    assert out.startswith(head)
    listed = out[len(head):].splitlines()
    assert all(ln.startswith("- ") for ln in listed)
    # whatever is listed really is decodable by pydicom's registry (or, for the JPEG DCT processes pydicom has no
    # decoder for, by the JPEG library decompress.py calls directly)
    from pydicom.pixels.decoders.base import get_decoder

    from dcmsend import decompress, uids

    for ln in listed:
        uid = uids.transfer_syntax(ln[2:]).uid
        assert (uid in decompress.JPEG_DCT and decompress._ijg_available()) or get_decoder(uid).is_available
    assert "- RLE Lossless" in listed  # pydicom's own RLE decoder is always there


# --- tokenising ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arg,expected", [
    ("-", False), ("+", False), ("", False), ("-5", False), ("+5", False), ("-12abc", False),
    ("-.5", True), ("-v", True), ("+v", True), ("--x", True), ("x-", False), ("@x", False),
])
def test_is_option(arg, expected):
    assert cmdline.is_option(arg) is expected


@pytest.mark.parametrize("args,message", [
    (["-xyz"], "Unknown option -xyz"),
    (["-cl", "5", "h", "1", "f"], "Unknown option -cl"),
    (["-.5", "h", "1", "f"], "Unknown option -.5"),
    (["--verbose=1", "h", "1", "f"], "Unknown option --verbose=1"),
    (["--verb", "h", "1", "f"], "Unknown option --verb"),
    (["-V", "h", "1", "f"], "Unknown option -V"),
    (["h", "1", "f", "-aet"], "Missing value for option --aetitle"),
    (["h", "1", "f", "--call"], "Missing value for option --call"),
    (["-lc"], "Missing value for option --log-config"),
    (["-xyz", "-aet"], "Unknown option -xyz"),
    (["-aet", "-xyz"], "Missing parameter peer"),
    (["h"], "Missing parameter port"),
    (["h", "1"], "Missing parameter dcmfile-in"),
    ([""], "Missing parameter port"),
    (["-v", "-d"], "Missing parameter peer"),
])
def test_parse_errors(args, message, capsys):
    assert error_of(args, capsys) == message


def test_values_are_taken_whatever_they_look_like(capsys):
    opts = ok(["-aet", "-v", "-aec", "--help", "+crf", "-", "h", "1", "f"], capsys)
    assert (opts.calling_aetitle, opts.called_aetitle, opts.report_file) == ("-v", "--help", "-")
    assert log.root().effective_level() == log.WARN  # the "-v" was a value


def test_options_anywhere_and_parameters(capsys):
    opts = ok(["h", "-nh", "104", "a", "-nip", "b", "-nuc", "-5", "+", ""], capsys)
    assert (opts.peer, opts.port, opts.files) == ("h", 104, ["a", "b", "-5", "+", ""])
    assert opts.no_halt and opts.no_illegal_proposal and opts.no_uid_checks


def test_defaults(capsys):
    opts = ok(["peer", "11112", "f.dcm"], capsys)
    assert opts == Options(peer="peer", port=11112, files=["f.dcm"], program_name="dcmsend",
                           arguments=["peer", "11112", "f.dcm"])
    assert (opts.read_mode, opts.decompress, opts.calling_aetitle, opts.called_aetitle) == (
        "fileonly", "lossless", "DCMSEND", "ANY-SCP")
    assert (opts.acse_timeout, opts.connect_timeout, opts.dimse_timeout, opts.max_pdu, opts.max_send_pdu) == (
        30, None, None, 16384, None)


def test_all_options_set(capsys):
    opts = ok(["+f", "+rd", "+sd", "+sp", "*.dcm", "+r", "+dly", "+cl", "9", "-nh", "-nip", "-nuc", "-aet", "ME",
               "-aec", "YOU", "-ma", "-to", "5", "-ta", "7", "-td", "9", "-pdu", "4096", "--max-send-pdu", "131072",
               "+crf", "r.txt", "-v", "+v", "", "65535", "x"], capsys)
    assert opts.read_mode == "file" and opts.read_from_dicomdir and opts.scan_directories and opts.recurse
    assert opts.scan_pattern == "*.dcm" and opts.decompress == "lossy" and opts.compression_level == 9
    assert (opts.calling_aetitle, opts.called_aetitle, opts.multi_associations) == ("ME", "YOU", False)
    assert (opts.connect_timeout, opts.acse_timeout, opts.dimse_timeout) == (5, 7, 9)
    assert (opts.max_pdu, opts.max_send_pdu, opts.report_file, opts.verbose_pc) == (4096, 131072, "r.txt", True)
    assert (opts.peer, opts.port, opts.files) == ("", 65535, ["x"])


def test_empty_string_values_are_accepted(capsys):
    opts = ok(["-aet", "", "-aec", "", "+crf", "", "+sd", "+sp", "", "h", "1", "f"], capsys)
    assert (opts.calling_aetitle, opts.called_aetitle, opts.report_file, opts.scan_pattern) == ("", "", "", "")


# --- rightmost wins, blocks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,attr,value", [
    (["+f", "-f"], "read_mode", "dataset"),
    (["-f", "+fo"], "read_mode", "fileonly"),
    (["-f", "+f"], "read_mode", "file"),
    (["+fo", "-f", "+f"], "read_mode", "file"),
    (["-dn", "+dly", "+dls"], "decompress", "lossless"),
    (["+dly", "-dn"], "decompress", "never"),
    (["-ma", "+ma"], "multi_associations", True),
    (["+ma", "-ma"], "multi_associations", False),
    (["+sd", "+r", "-r"], "recurse", False),
    (["+sd", "-r", "+r"], "recurse", True),
    (["-aet", "A", "-aet", "B"], "calling_aetitle", "B"),
    (["-to", "0", "-to", "5"], "connect_timeout", 5),
    (["-pdu", "1", "-pdu", "8192"], "max_pdu", 8192),
    (["+cl", "x", "+cl", "3"], "compression_level", 3),
    (["+crf", "a", "+crf", "b"], "report_file", "b"),
])
def test_rightmost_wins(args, attr, value, capsys):
    assert getattr(ok([*args, "h", "1", "f"], capsys), attr) == value


@pytest.mark.parametrize("args,level", [
    (["-v", "-d"], log.DEBUG), (["-d", "-v"], log.INFO), (["-v", "-q"], log.FATAL), (["-q", "-v"], log.INFO),
    (["-d", "-q", "-v", "-d"], log.DEBUG), ([], log.WARN),
    (["-ll", "trace"], log.TRACE), (["-ll", "ERROR"], log.ERROR), (["-ll", "Info"], log.INFO),
    (["-ll", "all"], log.TRACE), (["-ll", "off"], log.OFF), (["-ll", "x", "-ll", "warn"], log.WARN),
])
def test_log_levels(args, level, capsys):
    ok([*args, "h", "1", "f"], capsys)
    assert log.root().effective_level() == level


# --- numbers -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,value", [
    ("5", 5), (" 5", 5), ("\t\n 5x", 5), ("+5", 5), ("007", 7), ("5 6", 5), ("0x10", 0),
    ("", None), ("x", None), ("  ", None), ("+-5", None), ("- 5", None),
    ("-5", 2**64 - 5), ("-0", 0), ("99999999999999999999999", 2**64 - 1), ("-99999999999999999999999", 2**64 - 1),
])
def test_scan_ulong(text, value):
    assert scan_ulong(text) == value


@pytest.mark.parametrize("args,message", [
    (["-to", ""], "Invalid value for option --timeout"),
    (["-to", "abc"], "Invalid value for option --timeout (abc)"),
    (["-to", "-5"], "Invalid value for option --timeout (-5)"),
    (["-to", "  -5"], "Invalid value for option --timeout (  -5)"),
    (["-to", "-0"], "Invalid value for option --timeout (-0)"),
    (["-to", "0"], "Invalid value for option --timeout (underflow: 0)"),
    (["-ta", "0"], "Invalid value for option --acse-timeout (underflow: 0)"),
    (["-td", "0x"], "Invalid value for option --dimse-timeout (underflow: 0x)"),
    (["-pdu", "4095"], "Invalid value for option --max-pdu (underflow: 4095)"),
    (["-pdu", "131073"], "Invalid value for option --max-pdu (overflow: 131073)"),
    (["--max-send-pdu", "200000"], "Invalid value for option --max-send-pdu (overflow: 200000)"),
    (["--max-send-pdu", "9" * 20], "Invalid value for option --max-send-pdu (overflow: " + "9" * 20 + ")"),
    (["+cl", "10"], "Invalid value for option --compression-level (overflow: 10)"),
    (["+cl", "-1"], "Invalid value for option --compression-level (-1)"),
])
def test_option_value_errors(args, message, capsys):
    assert error_of([*args, "h", "1", "f"], capsys) == message


@pytest.mark.parametrize("args,attr,value", [
    (["-to", " 5x"], "connect_timeout", 5),
    (["-to", "99999999999999999999999"], "connect_timeout", None),  # Sint32(ULONG_MAX) = -1: blocking
    (["-to", "\t-5"], "connect_timeout", None),  # the minus check only skips spaces: wraps, then -5 as Sint32
    (["-ta", "4294967297"], "acse_timeout", 1),  # Uint32 cast
    (["+cl", "0"], "compression_level", 0),
    (["-pdu", "131072abc"], "max_pdu", 131072),
])
def test_option_value_accepted(args, attr, value, capsys):
    assert getattr(ok([*args, "h", "1", "f"], capsys), attr) == value


@pytest.mark.parametrize("port,message", [
    ("", "Invalid parameter value "),
    ("abc", "Invalid parameter value abc"),
    ("0", "Invalid parameter value 0 (underflow)"),
    ("0x68", "Invalid parameter value 0x68 (underflow)"),
    ("65536", "Invalid parameter value 65536 (overflow)"),
    ("70000", "Invalid parameter value 70000 (overflow)"),
    ("-5", "Invalid parameter value -5 (overflow)"),
    ("-0", "Invalid parameter value -0 (underflow)"),
])
def test_port_errors(port, message, capsys):
    assert error_of(["h", port, "f"], capsys) == message


@pytest.mark.parametrize("port,value", [("104abc", 104), (" +5", 5), ("1", 1), ("65535", 65535), ("\t7", 7)])
def test_port_accepted(port, value, capsys):
    assert ok(["h", port, "f"], capsys).port == value


# --- dependencies and check order --------------------------------------------------------------------------------


@pytest.mark.parametrize("args,message", [
    (["+sp", "*"], "--scan-pattern only allowed with --scan-directories"),
    (["+r"], "--recurse only allowed with --scan-directories"),
    (["-r", "+r"], "--recurse only allowed with --scan-directories"),
    (["+v"], "--verbose-pc only allowed with verbose mode"),
    (["+v", "-ll", "warn"], "--verbose-pc only allowed with verbose mode"),
    (["-v", "-ll", "info"], "--log-level not allowed with --verbose, --debug or --quiet"),
    (["-ll", "info", "-q"], "--log-level not allowed with --verbose, --debug or --quiet"),
    (["-ll", "bogus"], "Invalid log level for --log-level option"),
    (["-ll", "warning"], "Invalid log level for --log-level option"),
    (["-ll", " info"], "Invalid log level for --log-level option"),
    (["-ll", ""], "Invalid log level for --log-level option"),
    (["-lc", "x", "-ll", "info"], "--log-config not allowed with --log-level"),
    (["-lc", "x", "-d"], "--log-config not allowed with --verbose, --debug or --quiet"),
    (["-q", "-lc", "x"], "--log-config not allowed with --verbose, --debug or --quiet"),
    (["-lc", "does-not-exist.cfg"], "Specified --log-config file does not exist"),
    (["-lc", ""], "Specified --log-config file does not exist"),
    # check order: the first failing check wins
    (["+v", "+r", "-to", "0", "h", "0"], "--verbose-pc only allowed with verbose mode"),
    (["+r", "+sp", "*"], "--scan-pattern only allowed with --scan-directories"),
    (["+sp", "*", "+r"], "--scan-pattern only allowed with --scan-directories"),
    (["+r", "+cl", "10"], "--recurse only allowed with --scan-directories"),
    (["-pdu", "1", "+cl", "10"], "Invalid value for option --compression-level (overflow: 10)"),
    (["-pdu", "1", "-to", "0"], "Invalid value for option --timeout (underflow: 0)"),
    (["--max-send-pdu", "1", "-pdu", "1"], "Invalid value for option --max-pdu (underflow: 1)"),
    (["-td", "0", "-ta", "0"], "Invalid value for option --acse-timeout (underflow: 0)"),
])
def test_check_errors(args, message, capsys):
    assert error_of([*args, "h", "1", "f"], capsys) == message


def test_port_checked_last(capsys):
    assert error_of(["h", "0", "f", "-pdu", "1"], capsys) == "Invalid value for option --max-pdu (underflow: 1)"


@pytest.mark.parametrize("args", [
    ["-q", "-to", "0"], ["-ll", "fatal", "+r"], ["-ll", "off", "h", "0"], ["-q", "+v"], ["-q", "+cl", "99"],
])
def test_quiet_mode_silences_later_errors(args, capsys):
    code, out, err, _ = run([*args, "h", "1", "f"], capsys)
    assert (code, out, err) == (1, "", "")


def test_quiet_mode_does_not_silence_parse_errors(capsys):
    assert error_of(["-q", "-xyz"], capsys) == "Unknown option -xyz"
    assert error_of(["-q", "h"], capsys) == "Missing parameter port"


# --- @command files --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data,words", [
    (b"a b\tc\nd\re", ["a", "b", "c", "d", "e"]),
    (b"  a   \n\n  b  ", ["a", "b"]),
    (b'"with space"', ["with space"]),
    (b"'single q'", ["single q"]),
    (b'""', [""]),
    (b'"" \'\'', ["", ""]),
    (b'ab"cd ef"', ["abcd ef"]),
    (b'"x"gh', ["x", "gh"]),
    (b'a"b"c"d"', ["ab", "cd"]),
    (b"'a\"b'", ['a"b']),
    (b"\"a'b\"", ["a'b"]),
    (b'"unterminated x y', ["unterminated x y"]),
    (b'a "', ["a"]),
    (b"@other -v", ["@other", "-v"]),
    (b'a\\"b"', ['a\\b']),
    (b"", []),
])
def test_split_command_file(data, words):
    assert split_command_file(data) == words


def test_command_file_expansion(capsys, tmp_path):
    f1 = tmp_path / "one.txt"
    f1.write_bytes(b'-aet "MY AE" -nh\n')
    f2 = tmp_path / "two.txt"
    f2.write_bytes(b"h 1 '' @nested")
    opts = ok([f"@{f1}", f"@{f2}", "x"], capsys)
    assert opts.calling_aetitle == "MY AE" and opts.no_halt
    assert (opts.peer, opts.port, opts.files) == ("h", 1, ["", "@nested", "x"])
    assert opts.arguments == ["--aetitle", "MY AE", "--no-halt", "h", "1", "", "@nested", "x"]


def test_command_file_params_in_order(capsys, tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("peer 104")
    opts = ok([f"@{f}", "a.dcm", "b.dcm"], capsys)
    assert (opts.peer, opts.port, opts.files) == ("peer", 104, ["a.dcm", "b.dcm"])


def test_nested_command_file_is_a_parameter(capsys, tmp_path):
    f = tmp_path / "n.txt"
    f.write_text("h 1 @inner")
    assert ok([f"@{f}"], capsys).files == ["@inner"]


def test_command_file_errors(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert error_of(["@missing.txt"], capsys) == "Cannot open command file 'missing.txt'"
    # expansion comes first: an unknown option before it does not matter
    assert error_of(["-xyz", "@missing.txt"], capsys) == "Cannot open command file 'missing.txt'"
    # a lone @ is a parameter
    assert error_of(["@"], capsys) == "Missing parameter port"
    assert ok(["@", "1", "f"], capsys).peer == "@"


def test_command_file_directory_expands_to_nothing(capsys, tmp_path):
    code, out, err, _ = run([f"@{tmp_path}"], capsys)
    assert (code, out) == (0, cmdline.usage_text())


def test_command_file_empty_quotes_count(capsys, tmp_path):
    f = tmp_path / "e.txt"
    f.write_text('"" ""')
    assert error_of([f"@{f}"], capsys) == "Missing parameter dcmfile-in"


def test_command_file_values_and_options(capsys, tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("-aet")
    # the value of an option may come from the next argument outside the file
    assert ok([f"@{f}", "-v", "h", "1", "f"], capsys).calling_aetitle == "-v"
    g = tmp_path / "w.txt"
    g.write_text("h 1 f -aet")
    assert error_of([f"@{g}"], capsys) == "Missing value for option --aetitle"


# --- --arguments ---------------------------------------------------------------------------------------------------


def test_arguments_output(capsys, tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("'with space.dcm' \"\" ab\"cd ef\" \"x\"gh @other")
    code, out, err, _ = run(["--arguments", "-v", "localhost", "11112", f"@{f}"], capsys)
    assert code is None and out == ""
    assert err.startswith(
        "I: calling 'dcmsend' with 10 arguments: '--arguments' '--verbose' 'localhost' '11112' 'with space.dcm' "
        "'abcd ef' 'x' 'gh' '@other' \nI: \n")


def test_arguments_forced_even_when_quiet(capsys):
    code, out, err, _ = run(["-q", "--arguments", "-to", "0", "h", "1", "f"], capsys)
    assert code == 1 and out == ""
    assert err == ("I: calling 'dcmsend' with 7 arguments: '--quiet' '--arguments' '--timeout' '0' 'h' '1' 'f' \n"
                   "I: \n")


def test_arguments_uses_argv0_as_typed(capsys):
    try:
        evaluate(["/usr/local/bin/dcmsend", "--arguments", "-ll", "off", "h", "1", "f"])
    except Exit:
        pytest.fail("unexpected exit")
    assert capsys.readouterr().err == (
        "I: calling '/usr/local/bin/dcmsend' with 6 arguments: '--arguments' '--log-level' 'off' 'h' '1' 'f' \nI: \n")


def test_arguments_not_printed_on_parse_error(capsys):
    assert error_of(["--arguments", "h"], capsys) == "Missing parameter port"


# --- the banner debug line -----------------------------------------------------------------------------------------


def test_debug_banner_is_last(capsys):
    code, out, err, _ = run(["-d", "h", "1", "f"], capsys)
    assert code is None and out == ""
    assert err == f"D: {cmdline.BANNER}\nD: \n"


def test_no_output_for_valid_command_line(capsys):
    code, out, err, _ = run(["-v", "h", "1", "f"], capsys)
    assert (code, out, err) == (None, "", "")


# --- start-up cost -------------------------------------------------------------------------------------------------


def test_help_does_not_import_heavy_libraries():
    code = ("import sys\nfrom dcmsend import cli\ntry:\n    cli.main(['dcmsend', '--help'])\nexcept SystemExit:\n"
            "    pass\nheavy = [m for m in ('pydicom', 'pynetdicom', 'numpy') if m in sys.modules]\n"
            "sys.stderr.write(repr(heavy))\n")
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    assert proc.stderr.decode().strip().endswith("[]"), proc.stderr


_SLOW_IMPORTS = {"re", "enum", "ssl", "functools", "collections", "locale", "platform", "tempfile", "typing",
                 "logging", "dcmsend.api", "pydicom", "pynetdicom", "numpy"}


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["--bogus"], ["127.0.0.1", "PORT", "FILE"]])
def test_command_imports_nothing_slow(args, tmp_path):
    """The dcmsend command (the installed script, else ``-m dcmsend``) imports none of the standard modules that
    cost milliseconds (re, enum, functools, ...) nor the DICOM libraries: for help, version, an error, and a transfer
    (connection refused: the whole sending stage is imported)."""
    import fixtures_data as fx
    from harness import free_port, ours_command

    command = ours_command()
    if len(command) == 1:
        command = [sys.executable, command[0]]  # (the script, run with -X importtime below)
    path = fx.write_part10(str(tmp_path / "f.dcm"))
    args = [str(free_port()) if a == "PORT" else path if a == "FILE" else a for a in args]
    proc = subprocess.run([command[0], "-X", "importtime", *command[1:], *args], capture_output=True, timeout=60)
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode(errors="replace").splitlines()
                if line.startswith("import time:")}
    assert "dcmsend.cli" in imported
    assert args[0].startswith("-") or "dcmsend.send" in imported
    assert not imported & _SLOW_IMPORTS, sorted(imported & _SLOW_IMPORTS)


def test_command_writes_its_bytecode_cache_despite_pythondontwritebytecode(tmp_path):
    """PYTHONDONTWRITEBYTECODE (set in many container images) would make every start of an editable install compile
    the package from source (~50 ms): the command writes its bytecode cache anyway (here into a PYTHONPYCACHEPREFIX,
    so the test does not depend on what the source tree already holds); the library leaves the setting alone."""
    from harness import ours_command

    command = ours_command()
    if len(command) == 1:
        command = [sys.executable, command[0]]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(tmp_path / "cache"))
    proc = subprocess.run([*command, "--version"], capture_output=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    written = [name for _, _, names in os.walk(tmp_path / "cache") for name in names]
    assert any(name.startswith("cli.") and name.endswith(".pyc") for name in written), written
    assert any(name.startswith("cmdline.") for name in written), written
    library = subprocess.run([sys.executable, "-c", "import sys, dcmsend; print(sys.dont_write_bytecode)"],
                             capture_output=True, timeout=60, env=env)
    assert library.stdout.strip() == b"True", library


# --- manual page ---------------------------------------------------------------------------------------------------


def test_manpage_is_up_to_date():
    from dcmsend import manpage

    # (the page of this source tree, also when dcmsend is imported from an installed copy: an unpacked sdist)
    page = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "dcmsend.1")
    with open(page, encoding="utf-8") as fh:
        committed = fh.read()
    assert committed == manpage.render(), "docs/dcmsend.1 is stale: run `python -m dcmsend.manpage`"


def test_manpage_lists_every_option():
    from dcmsend import manpage

    text = manpage.render()
    for opt in cmdline.OPTIONS:
        assert manpage.esc(opt.long) in text
        if opt.short:
            assert manpage.esc(opt.short) + " " + manpage.esc(opt.long) in text
    assert "\n.SH EXIT CODES\n" in text and "EXITCODE_CANNOT_SEND_REQUEST" in text.replace("\\", "")


def test_manpage_has_examples_and_every_exit_code():
    from dcmsend import exitcodes, manpage

    text = manpage.render()
    assert "\n.SH EXAMPLES\n" in text
    exit_codes = text.split("\n.SH EXIT CODES\n")[1].split("\n.SH ")[0]
    codes = [int(line.replace(".B ", "").split(",")[0]) for line in exit_codes.splitlines() if line.startswith(".B ")]
    expected = [v for k, v in vars(exitcodes).items() if k.isupper() and isinstance(v, int) and k != "INTERRUPTED_BASE"]
    assert sorted(codes) == sorted(expected + [130])
    assert ".B 130, 143\n" in exit_codes


def test_manpage_without_argument_outside_a_source_tree_writes_no_file(tmp_path, monkeypatch, capsys):
    """An installed copy (no source tree around it) prints the page instead of writing next to site-packages."""
    from dcmsend import manpage

    monkeypatch.setattr(manpage, "SOURCE_ROOT", str(tmp_path))
    monkeypatch.setattr(manpage, "DEFAULT_PATH", str(tmp_path / "docs" / "dcmsend.1"))
    assert manpage.main([]) == 0
    assert capsys.readouterr().out == manpage.render()
    assert os.listdir(tmp_path) == []


def test_manpage_escapes_hyphens():
    """Options are written with roff's \\- (an ASCII hyphen-minus when rendered, so they can be copied)."""
    from dcmsend import manpage

    text = manpage.render()
    assert "\\-\\-scan\\-directories" in text and "dcmsend \\- Simple DICOM storage SCU" in text
    assert "--scan-directories" not in text
