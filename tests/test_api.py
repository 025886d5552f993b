"""The Python API runs the same stages as the command line (docs/api.md)."""

import ast
import inspect
import io
import logging
import os
import subprocess
import sys
import threading
import warnings

import pytest
from pydicom.data import get_testdata_file

import dcmsend
import dcmsend.send  # noqa: F401  (the stage module: dcmsend.send must stay the API function afterwards)
from conftest import requires_dcmtk
from dcmsend import cli, cmdline, log
from dcmsend.api import Result, options_from_keywords
from harness import Peer, free_port

CT = get_testdata_file("CT_small.dcm")
MR = get_testdata_file("MR_small.dcm")
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")


@pytest.fixture
def scp(tmp_path):
    """Our test SCP (tests/scp.py) answering every C-STORE with a given status."""
    peers = []

    def start(*args):
        peer = Peer(str(tmp_path / f"rcv{len(peers)}"), [os.path.join(HERE, "scp.py"), *args], program=sys.executable)
        peers.append(peer.start())
        return peer.port

    yield start
    for p in peers:
        p.stop()


@requires_dcmtk
def test_send_files_to_storescp(tmp_path):
    report = str(tmp_path / "report.txt")
    with Peer(str(tmp_path / "received"), ["+xa"]) as peer:
        result = dcmsend.send("127.0.0.1", peer.port, [CT, MR], report_file=report, calling_aetitle="API")
    assert result.exit_code == 0 and result.ok and result.all_stored
    assert result.failed == [] and result.errors == [] and result.message == ""
    assert [i.path for i in result.instances] == [CT, MR]
    assert [i.status for i in result.instances] == [0, 0]
    assert [i.association for i in result.instances] == [1, 1]
    assert [i.context_id for i in result.instances] == [1, 3]
    assert all(i.network_ts == "1.2.840.10008.1.2.1" for i in result.instances)
    assert all(i.dataset_size > 0 for i in result.instances)
    assert len(os.listdir(tmp_path / "received")) == 2
    with open(report, encoding="utf-8") as fh:
        text = fh.read()
    assert "AE Titles used     : API -> ANY-SCP" in text
    assert text.endswith("  * with status SUCCESS  : 2")


def test_refused_connection_says_why(caplog):
    # nothing listens on this port: the association fails as on the command line (exit 61), and the result says why
    result = dcmsend.send("127.0.0.1", free_port(), CT)
    assert result.exit_code == 61 and not result.ok and not result.all_stored
    assert [i.path for i in result.instances] == [CT]
    assert result.instances[0].status is None and result.failed == result.instances
    assert result.message.startswith("cannot negotiate network association: ")
    assert "Connection refused" in "\n".join(result.errors)
    assert any(r.name == "dcmtk.apps.dcmsend" and r.levelno == logging.CRITICAL and r.getMessage() == result.message
               for r in caplog.records)


def test_halted_input_phase_keeps_the_transfer_list(tmp_path):
    """An invalid file stops the input phase (exit 22): the result keeps what was found before it and says why."""
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not dicom")
    result = dcmsend.send("127.0.0.1", free_port(), [CT, str(bad), MR])
    assert result.exit_code == 22
    assert [i.path for i in result.instances] == [CT]
    assert result.message.startswith(f"bad DICOM file: {bad}: ")
    # with no_halt nothing valid remains (exit 23); the ignored file is a warning
    result = dcmsend.send("127.0.0.1", free_port(), [bad], no_halt=True)
    assert result.exit_code == 23 and result.instances == []
    assert result.warnings[0].startswith(f"bad DICOM file: {bad}: ") and result.warnings[0].endswith(", ignoring file")
    assert result.message == "no valid input files to be processed"


def test_failed_instances_under_no_halt_are_not_ok(scp):
    """With no_halt the exit code is 0 although the peer refused every instance: ``ok`` is False, ``failed`` lists
    them."""
    port = scp("--status", "0xA700")
    result = dcmsend.send("127.0.0.1", port, [CT, MR], no_halt=True)
    assert result.exit_code == 0
    assert [i.status for i in result.instances] == [0xA700, 0xA700]
    assert result.failed == result.instances and result.stored == []
    assert not result.ok and not result.all_stored
    # a warning status is stored
    port = scp("--status", "0xB000")
    result = dcmsend.send("127.0.0.1", port, CT)
    assert result.ok and result.all_stored and result.stored == result.instances


@requires_dcmtk
def test_instances_skipped_by_the_journal_are_not_failed(tmp_path):
    """A resumed run (journal) whose instances were all stored before: they are skipped, not failed; ``ok``."""
    journal = str(tmp_path / "j.db")
    with Peer(str(tmp_path / "received"), ["+xa"]) as peer:
        first = dcmsend.send("127.0.0.1", peer.port, [CT], journal=journal)
        assert first.ok
        second = dcmsend.send("127.0.0.1", peer.port, [CT, MR], journal=journal)
    assert [r.outcome for r in second.results] == ["skipped", "success"]
    assert second.exit_code == 0 and second.failed == []
    assert second.ok and second.all_stored
    assert [i.path for i in second.skipped] == [CT] and [i.path for i in second.stored] == [MR]
    assert "0 failed" in repr(second)


@requires_dcmtk
@pytest.mark.parametrize("keywords", [{}, {"parallel": 2, "parallel_unit": "instance"}, {"async_ops": 2}])
def test_an_exception_in_the_callback_reaches_the_caller(tmp_path, keywords):
    """The callback's exception propagates out of send(), with or without --parallel (not an internal error)."""
    def callback(result):
        if result.done == 2:
            raise KeyError("from the callback")

    with Peer(str(tmp_path / "received"), ["+xa"]) as peer:
        with pytest.raises(KeyError, match="from the callback"):
            dcmsend.send("127.0.0.1", peer.port, [CT, MR, CT, MR], on_instance=callback, **keywords)
        # the peer is still usable: no association was left half open
        assert dcmsend.send("127.0.0.1", peer.port, [CT], **keywords).ok


@requires_dcmtk
def test_file_name_keywords_take_path_objects(tmp_path):
    """report_file / json_report / journal given as pathlib.Path, as the inputs may be."""
    with Peer(str(tmp_path / "received"), ["+xa"]) as peer:
        result = dcmsend.send("127.0.0.1", peer.port, [CT], report_file=tmp_path / "r.txt",
                              json_report=tmp_path / "r.json", journal=tmp_path / "j.db")
    assert result.ok
    assert all((tmp_path / name).is_file() for name in ("r.txt", "r.json", "j.db"))
    options = options_from_keywords("127.0.0.1", 104, {"tls_anonymous": True, "tls_ca_files": [tmp_path / "c.pem"]})
    assert list(options.tls_ca_files) == [str(tmp_path / "c.pem")]


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="no_such_option"):
        dcmsend.send("127.0.0.1", 104, CT, no_such_option=True)


# --- options are checked as the command line checks them ------------------------------------------------------------


@pytest.mark.parametrize("keywords, argv", [
    ({"compression_level": 42}, ["--compression-level", "42"]),
    ({"acse_timeout": -1}, ["--acse-timeout", "-1"]),
    ({"acse_timeout": 0}, ["--acse-timeout", "0"]),
    ({"dimse_timeout": 0}, ["--dimse-timeout", "0"]),
    ({"connect_timeout": 0}, ["--timeout", "0"]),
    ({"max_pdu": 10}, ["--max-pdu", "10"]),
    ({"max_pdu": 200000}, ["--max-pdu", "200000"]),
    ({"max_send_pdu": 10}, ["--max-send-pdu", "10"]),
    ({"scan_pattern": "*.dcm"}, ["--scan-pattern", "*.dcm"]),
    ({"recurse": True}, ["--recurse"]),
])
def test_invalid_values_raise_the_command_lines_message(keywords, argv, capsys):
    with pytest.raises(ValueError) as info:
        dcmsend.send("127.0.0.1", 104, CT, **keywords)
    assert cli.main(["dcmsend", *argv, "127.0.0.1", "104", CT]) == 1
    assert capsys.readouterr().err.endswith(f"error: {info.value}\n")


def test_invalid_port_raises_the_command_lines_message(capsys):
    with pytest.raises(ValueError, match=r"^Invalid parameter value 70000 \(overflow\)$"):
        dcmsend.send("127.0.0.1", 70000, CT)
    with pytest.raises(ValueError, match=r"^Invalid parameter value 0 \(underflow\)$"):
        dcmsend.send("127.0.0.1", 0, CT)


@pytest.mark.parametrize("keywords, message", [
    ({"decompress": "sometimes"}, "Invalid value for decompress: 'sometimes' (one of 'never', 'lossless', 'lossy')"),
    ({"read_mode": "bogus"}, "Invalid value for read_mode: 'bogus' (one of 'file', 'fileonly', 'dataset')"),
    ({"calling_aetitle": "A" * 40}, "Invalid value for option --aetitle (AE title longer than 16 characters: "),
    ({"called_aetitle": ""}, "Invalid value for option --call (empty AE title)"),
    ({"called_aetitle": "A\\B"}, "Invalid value for option --call (AE title with a backslash"),
])
def test_values_the_command_line_cannot_express(keywords, message):
    with pytest.raises(ValueError) as info:
        dcmsend.send("127.0.0.1", 104, CT, **keywords)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("keywords", [{"compression_level": "6"}, {"no_halt": 1}, {"acse_timeout": True},
                                      {"max_pdu": 4096.0}, {"report_file": None}, {"scan_directories": "yes"}])
def test_values_of_the_wrong_type_are_type_errors(keywords):
    with pytest.raises(TypeError):
        dcmsend.send("127.0.0.1", 104, CT, **keywords)
    with pytest.raises(TypeError):
        dcmsend.send("127.0.0.1", "104", CT)


def test_valid_keywords_give_the_command_lines_options():
    opts = options_from_keywords("pacs", 11112, {"decompress": "lossy", "no_halt": True, "compression_level": 9,
                                                 "calling_aetitle": "ME", "multi_associations": False,
                                                 "connect_timeout": 5, "dimse_timeout": None, "recurse": False,
                                                 "read_mode": "dataset", "max_send_pdu": 4096, "verbose_pc": True})
    expected = cmdline.evaluate(["dcmsend", "+dly", "-nh", "+cl", "9", "-aet", "ME", "-ma", "-to", "5", "-f",
                                 "--max-send-pdu", "4096", "-v", "+v", "pacs", "11112", "x"])
    expected.files, expected.arguments, opts.arguments = [], [], []
    assert opts == expected
    log.reset()


def test_every_option_field_is_reachable_from_the_option_table():
    """The API builds its checks from the option table: every field of Options (but the parameters) is set by an
    option of the table (give the Opt a ``field=``/``sets=`` when its long name is not the field's name), every
    option names a field of Options, and the typed keywords of send() (SendOptions) are exactly these fields."""
    fields = set(cmdline.Options.__annotations__) - {"peer", "port", "files", "program_name", "arguments"}
    reached = {o.field for o in cmdline.OPTIONS if o.field}
    assert reached == fields - dcmsend.api.API_ONLY
    with open(os.path.join(SRC, "dcmsend", "api.py"), encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    typed = next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == "SendOptions")
    keys = {stmt.target.id for stmt in typed.body if isinstance(stmt, ast.AnnAssign)}
    assert keys == fields


# --- send is a function, dcmsend.log is there, typed ------------------------------------------------------------------


def test_send_is_a_function_with_signature_and_docstring():
    assert sys.modules["dcmsend.send"].transfer  # (the stage module is imported)
    assert inspect.isfunction(dcmsend.send) and dcmsend.send is dcmsend.api.send and dcmsend.send_files is dcmsend.send
    assert list(inspect.signature(dcmsend.send).parameters) == ["peer", "port", "inputs", "options", "on_instance",
                                                                "keywords"]
    assert "Result" in dcmsend.send.__doc__
    from dcmsend import send

    assert send is dcmsend.send


def test_import_dcmsend_gives_log_and_the_api():
    code = ("import dcmsend, sys\nassert dcmsend.log.INFO == 20000\nassert callable(dcmsend.send)\n"
            "assert 'dcmsend.api' in sys.modules\nimport dcmsend.send\nassert callable(dcmsend.send)\n"
            "assert dcmsend.Result.__name__ == 'Result' and dcmsend.Options.__name__ == 'Options'\n")
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_options_object_and_keywords():
    base = cmdline.Options(calling_aetitle="BASE", no_halt=True)
    opts = options_from_keywords("h", 1, {"called_aetitle": "PEER"}, base=base)
    assert (opts.calling_aetitle, opts.called_aetitle, opts.no_halt) == ("BASE", "PEER", True)
    with pytest.raises(ValueError):
        options_from_keywords("h", 1, {}, base=cmdline.Options(compression_level=10))


def test_result_repr_and_helpers():
    r = Result(61, [], ["E: x", "cannot negotiate network association: refused"])
    assert r.message == "cannot negotiate network association: refused"
    assert "exit_code=61" in repr(r) and not r.ok and not r.all_stored


# --- logging through the standard logging module ----------------------------------------------------------------------


@requires_dcmtk
def test_messages_go_to_standard_logging_and_not_to_stderr(tmp_path, caplog, capsys):
    before = log.save_state()
    caplog.set_level(logging.INFO, logger="dcmtk")
    with Peer(str(tmp_path / "received")) as peer:
        result = dcmsend.send("127.0.0.1", peer.port, CT)
    assert result.ok
    ours = [r for r in caplog.records if r.name.startswith("dcmtk.")]
    assert {r.name for r in ours} >= {"dcmtk.apps.dcmsend", "dcmtk.dcmnet"}
    texts = [r.getMessage() for r in ours]
    assert "checking input files ..." in texts and "Releasing Association" in texts
    assert any(t.startswith("Sending C-STORE Request (MsgID 1, CT)") for t in texts)
    assert all(r.levelno == logging.INFO for r in ours)
    assert len({r.dcmsend_send for r in ours}) == 1
    assert capsys.readouterr().err == ""  # (nothing through dcmsend's own console appender)
    assert log.save_state() == before  # dcmsend's logger set-up is as it was
    # at WARNING (the default) the informational lines are not even produced
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="dcmtk")
    with Peer(str(tmp_path / "received2")) as peer:
        assert dcmsend.send("127.0.0.1", peer.port, CT).ok
    assert [r for r in caplog.records if r.name.startswith("dcmtk.")] == []


@requires_dcmtk
def test_two_sends_in_two_threads_are_told_apart(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dcmtk")
    results: dict = {}
    refused = free_port()
    with Peer(str(tmp_path / "received")) as peer:
        def run(name, port):
            results[name] = dcmsend.send("127.0.0.1", port, [CT, MR], calling_aetitle=name)

        threads = [threading.Thread(target=run, args=("GOOD", peer.port), name="t-good"),
                   threading.Thread(target=run, args=("REFUSED", refused), name="t-refused")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    good, bad = results["GOOD"], results["REFUSED"]
    assert good.ok and good.errors == [] and bad.exit_code == 61 and bad.errors
    by_thread: dict = {}
    for r in caplog.records:
        if r.name.startswith("dcmtk."):
            by_thread.setdefault(r.threadName, set()).add(r.dcmsend_send)
    assert set(by_thread) == {"t-good", "t-refused"}
    assert all(len(v) == 1 for v in by_thread.values()) and by_thread["t-good"] != by_thread["t-refused"]
    refused_texts = [r.getMessage() for r in caplog.records if r.threadName == "t-refused"]
    assert bad.message in refused_texts
    assert not any("Connection refused" in r.getMessage() for r in caplog.records if r.threadName == "t-good")


@requires_dcmtk
def test_cli_main_leaves_the_interpreter_as_it_found_it(tmp_path, capsys):
    import pydicom  # noqa: F401  (so that the library output capture touches pydicom's logger)

    py = logging.getLogger("pydicom")
    before = (sys.getrecursionlimit(), warnings.showwarning, list(py.handlers), py.propagate, py.level,
              list(sys.meta_path), log.save_state())
    with Peer(str(tmp_path / "received")) as peer:
        assert cli.main(["dcmsend", "-v", "+dly", "127.0.0.1", str(peer.port), CT]) == 0
    assert "I: Releasing Association" in capsys.readouterr().err
    after = (sys.getrecursionlimit(), warnings.showwarning, list(py.handlers), py.propagate, py.level,
             list(sys.meta_path), log.save_state())
    assert after == before


# --- inputs beyond paths ----------------------------------------------------------------------------------------------


@requires_dcmtk
def test_bytes_file_objects_and_datasets(tmp_path):
    import pydicom

    ct_bytes = open(CT, "rb").read()
    mr = pydicom.dcmread(MR)
    bare = pydicom.dcmread(get_testdata_file("MR_small_implicit.dcm"))
    del bare.file_meta  # no file meta information: one is made for it
    with Peer(str(tmp_path / "received"), ["--bit-preserving"]) as peer:
        result = dcmsend.send("127.0.0.1", peer.port, [ct_bytes, io.BytesIO(ct_bytes), mr, bare, CT],
                              multi_associations=True)
    assert result.ok, result.errors
    ct_uid = pydicom.dcmread(CT).SOPInstanceUID
    assert [result.instances[n].sop_instance_uid for n in (0, 1, 4)] == [ct_uid] * 3
    assert result.instances[2].sop_instance_uid == mr.SOPInstanceUID
    assert result.instances[3].sop_instance_uid == bare.SOPInstanceUID
    assert [os.path.basename(i.path) for i in result.instances[:4]] == [f"input-{n}.dcm" for n in range(4)]
    assert not any(os.path.exists(i.path) for i in result.instances[:4])  # (the temporary files are gone)
    assert result.instances[4].path == CT
    received = os.listdir(tmp_path / "received")
    assert len(received) == 2  # (the CT three times, the two MRs: the same SOP instance UIDs, one name each)
    stored = pydicom.dcmread(os.path.join(tmp_path / "received", next(n for n in received if n.startswith("CT"))))
    assert stored.PixelData == pydicom.dcmread(CT).PixelData


def test_a_text_file_object_or_other_input_is_a_type_error():
    with pytest.raises(TypeError, match="binary mode"):
        dcmsend.send("127.0.0.1", 104, io.StringIO("x"))
    with pytest.raises(TypeError, match="expected a path"):
        dcmsend.send("127.0.0.1", 104, [CT, 42])


def test_messages_of_a_worker_thread_of_the_one_running_send_are_its_own():
    """A thread the send starts (parallel workers) has no collector of its own: with one send running, its
    messages count for that send."""
    from dcmsend import pylogging

    with pylogging.library_logging() as collector:
        worker = threading.Thread(target=lambda: log.NET.error("from a worker"))
        worker.start()
        worker.join()
        log.APP.warn("from the send's thread")
    assert collector.errors == ["from a worker"] and collector.warnings == ["from the send's thread"]
