"""The extensions of issue 16 against real peers: --create-json-report, --strict-status, --journal, --retry,
--progress, the Python API's per-instance results; storescp, and tests/scp.py for chosen statuses and rejections."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import fixtures_data as fx
from harness import STORESCP, Peer, free_port, has_dcmtk, ours_command, run_program

pytestmark = pytest.mark.skipif(not has_dcmtk(), reason="DCMTK (storescp) not installed")

SCP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scp.py")
FAST_RETRY = {"DCMSEND_RETRY_DELAY": "0.05"}
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


def make_files(directory, n: int = 5) -> list[str]:
    """n small files: CT and MR, explicit and implicit VR little endian."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i in range(n):
        ts = fx.LEE if i % 2 == 0 else fx.LEI
        cls = CT if i % 3 else MR
        paths.append(fx.write_part10(os.path.join(directory, f"f{i}.dcm"), sop_class=cls,
                                     sop_instance=f"1.2.826.0.1.3680043.9.16.{i + 1}", ts=ts))
    return paths


def scp_peer(outdir, *args) -> Peer:
    return Peer(outdir, [SCP, *args], program=sys.executable)


def ours(args, cwd, env=None, timeout=120):
    code, out, err, _ = run_program(ours_command(), [str(a) for a in args], str(cwd), env=env, timeout=timeout)
    assert "Traceback" not in err, err
    return code, out, err


def load(path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def parse_crf(path) -> list[dict]:
    """The per-instance blocks of a +crf report as dicts (label -> text)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    blocks = []
    for chunk in text.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z. ]+?)\s*: ?(.*)$", chunk, re.M))
        if "Number" in fields and "DIMSE Status" in fields:
            blocks.append(fields)
    return blocks


def assert_same_as_crf(doc: dict, crf: list[dict]) -> None:
    """The JSON report and the +crf report say the same for every instance."""
    from dcmsend import uids

    assert len(doc["instances"]) == len(crf)
    for item, block in zip(doc["instances"], crf):
        assert str(item["number"]) == block["Number"]
        assert item["path"] == block.get("Filename")
        assert item["sop_instance_uid"] == block["SOP Instance"]
        assert block["SOP Class"].startswith(item["sop_class_uid"] + " = ")
        assert block["Original Xfer"] == f"{item['input_transfer_syntax']} = " \
                                         f"{uids.ts_name(item['input_transfer_syntax'])}"
        assert block["Dataset Size"] == f"{item['dataset_size']} bytes"
        assert block["Association"] == str(item["association"] or 0)
        assert block["Pres. Context"] == str(item["context_id"] or 0)
        network = item["network_transfer_syntax"]
        assert block["Network Xfer"] == (f"{network} = {uids.ts_name(network)}" if network else "")
        assert block["DIMSE Status"] == item["status_text"]
        if item["status"] is not None:
            assert block["DIMSE Status"].startswith(f"0x{item['status']:04x} (")


@pytest.mark.parametrize("peer_args", [None, ["--status", "0xB000", "--comment", "coerced"],
                                       ["--status", "0xA900", "--comment", "no match"]],
                         ids=["storescp", "warning", "error"])
def test_json_report_matches_crf(tmp_path, peer_args):
    files = make_files(tmp_path / "in", 5)
    peer = Peer(str(tmp_path / "out")) if peer_args is None else scp_peer(str(tmp_path / "out"), *peer_args)
    with peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "+crf", "r.txt", "+crj", "r.json", "-nh"], tmp_path)
    assert code == 0, err
    doc = load(tmp_path / "r.json")
    assert_same_as_crf(doc, parse_crf(tmp_path / "r.txt"))
    assert doc["schema"] == "dcmsend-report/1"
    run = doc["run"]
    assert (run["peer"], run["port"], run["exit_code"], run["halted"]) == ("127.0.0.1", peer.port, 0, False)
    assert run["calling_aetitle"] == "DCMSEND" and run["called_aetitle"] == "ANY-SCP"
    assert len(doc["associations"]) == doc["summary"]["associations"] == 1
    assoc = doc["associations"][0]
    assert assoc["result"] == "accepted" and assoc["ended"] == "released"
    assert {cx["abstract_syntax"] for cx in assoc["contexts"]} == {CT, MR}
    outcome = {None: "success", "0xB000": "warning", "0xA900": "error"}[peer_args and peer_args[1]]
    for item in doc["instances"]:
        assert item["outcome"] == outcome
        assert item["error_comment"] == {None: None, "success": None, "warning": "coerced",
                                         "error": "no match"}[outcome]
        assert item["bytes_sent"] == item["dataset_size"] > 0
        assert item["seconds"] >= 0 and item["condition"] is None
        assert item["network_transfer_syntax"] in (fx.LEI, fx.LEE)
        assert [a["attempt"] for a in item["attempts"]] == [1]


def test_json_report_written_when_the_run_halts(tmp_path):
    """storescp aborts after the first C-STORE-RQ: exit 62, no +crf report (DCMTK's), the JSON report marks the
    first instance failed with the condition and the others not tried."""
    files = make_files(tmp_path / "in", 4)
    with Peer(str(tmp_path / "out"), ["--abort-after"]) as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "+crf", "r.txt", "+crj", "r.json"], tmp_path)
    assert code == 62, err
    assert not os.path.exists(tmp_path / "r.txt")
    doc = load(tmp_path / "r.json")
    assert doc["run"]["exit_code"] == 62 and doc["run"]["halted"] is True
    outcomes = [i["outcome"] for i in doc["instances"]]
    assert outcomes == ["failed", "not-tried", "not-tried", "not-tried"]
    first = doc["instances"][0]
    assert "Peer aborted Association" in first["condition"] and first["status"] is None
    assert doc["associations"][0]["ended"] == "peer-aborted"
    assert doc["summary"]["outcomes"]["not-tried"] == 3
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".dcmsend-report-")]


def test_json_report_unwritable(tmp_path):
    files = make_files(tmp_path / "in", 1)
    with Peer(str(tmp_path / "out")) as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "+crj", str(tmp_path / "no" / "r.json")], tmp_path)
    assert code == 43
    assert f"E: cannot write JSON report to file '{tmp_path / 'no' / 'r.json'}'" in err


@pytest.mark.parametrize("status,strict,expected", [("0xA900", False, 0), ("0xA900", True, 101),
                                                    ("0xB000", True, 0), ("0x0000", True, 0),
                                                    ("0xC001", True, 101)])
def test_strict_status(tmp_path, status, strict, expected):
    files = make_files(tmp_path / "in", 2)
    with scp_peer(str(tmp_path / "out"), "--status", status) as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, *(["--strict-status"] if strict else [])], tmp_path)
    assert code == expected, err
    assert ("--strict-status" in err) == (expected == 101)


def test_strict_status_keeps_dcmtk_codes_for_other_failures(tmp_path):
    files = make_files(tmp_path / "in", 2)
    code, _, _ = ours(["127.0.0.1", free_port(), *files, "+ss"], tmp_path)
    assert code == 61


def test_retry_after_out_of_resources(tmp_path):
    """The peer answers 0xA700 to the first two C-STOREs: those two are sent again on a second association."""
    files = make_files(tmp_path / "in", 5)
    with scp_peer(str(tmp_path / "out"), "--status", "0xA700", "--status-count", "2", "--comment", "busy") as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "--retry", "3", "+crj", "r.json", "+crf", "r.txt"],
                            tmp_path, env=FAST_RETRY)
    assert code == 0, err
    assert err.count("W: transient failure (status 0xA7xx (Refused: Out of Resources)): sending the 2 SOP "
                     "instances not yet stored again on a new association") == 1
    assert len(os.listdir(tmp_path / "out")) == 5
    doc = load(tmp_path / "r.json")
    assert [a["number"] for a in doc["attempts"]] == [1, 2] and doc["attempts"][1]["instances"] == 2
    assert doc["attempts"][1]["delay_seconds"] == pytest.approx(0.05)
    assert [i["outcome"] for i in doc["instances"]] == ["success"] * 5
    first = doc["instances"][0]
    assert [(a["attempt"], a["association"], a["status"], a["error_comment"]) for a in first["attempts"]] == \
        [(1, 1, 0xA700, "busy"), (2, 2, 0, None)]
    assert_same_as_crf(doc, parse_crf(tmp_path / "r.txt"))


def test_no_retry_without_the_option(tmp_path):
    files = make_files(tmp_path / "in", 3)
    with scp_peer(str(tmp_path / "out"), "--status", "0xA700", "--status-count", "1") as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "+crj", "r.json", "+ss"], tmp_path)
    assert code == 101 and "transient" not in err
    assert [i["outcome"] for i in load(tmp_path / "r.json")["instances"]] == ["refused", "success", "success"]


def test_retry_exhausted_after_peer_aborts(tmp_path):
    """storescp aborts every association after the first C-STORE-RQ: 1 + 2 attempts, each in log and report."""
    files = make_files(tmp_path / "in", 3)
    with Peer(str(tmp_path / "out"), ["--abort-after"]) as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "+rt", "2", "+crj", "r.json"], tmp_path,
                            env=FAST_RETRY)
    assert code == 62
    assert err.count("W: transient failure (Peer aborted Association (or never connected))") == 2
    assert "(retry 1 of 2)" in err and "(retry 2 of 2)" in err
    doc = load(tmp_path / "r.json")
    assert [a["exit_code"] for a in doc["attempts"]] == [62, 62, 62]
    assert [a["ended"] for a in doc["associations"]] == ["peer-aborted"] * 3
    assert len(doc["instances"][0]["attempts"]) == 3
    assert [i["outcome"] for i in doc["instances"]] == ["failed", "not-tried", "not-tried"]


@pytest.mark.parametrize("reject,transient", [("1,1,7", False), ("2,3,1", True)])
def test_retry_on_association_rejection(tmp_path, reject, transient):
    files = make_files(tmp_path / "in", 1)
    with scp_peer(str(tmp_path / "out"), "--reject", reject) as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "--retry", "2", "+crj", "r.json"], tmp_path,
                            env=FAST_RETRY)
    assert code == 61
    doc = load(tmp_path / "r.json")
    assert len(doc["attempts"]) == (3 if transient else 1)
    assert err.count("W: transient failure (DUL Association Rejected)") == (2 if transient else 0)
    assert all(a["result"] == "rejected" for a in doc["associations"])
    assert ("Rejected Transient" if transient else "Rejected Permanent") in doc["associations"][0]["reject"]


def test_retry_connection_refused_then_peer_up(tmp_path):
    """Nothing listens at first; the peer comes up during the backoff: the retry stores everything."""
    files = make_files(tmp_path / "in", 2)
    port = free_port()
    proc = subprocess.Popen(ours_command() + ["127.0.0.1", str(port), *files, "--retry", "5", "+crj", "r.json"],
                            cwd=tmp_path, env={**os.environ, "DCMSEND_RETRY_DELAY": "0.5"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peer = None
    try:
        time.sleep(0.3)  # (the first attempt is refused at once; the first retry comes after 0.5 s)
        os.makedirs(tmp_path / "out", exist_ok=True)
        peer = subprocess.Popen([STORESCP, "-od", str(tmp_path / "out"), str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if peer is not None:
            peer.send_signal(signal.SIGTERM)
            peer.wait(timeout=10)
    assert proc.returncode == 0, err
    assert b"TCP Initialization Error" in err and b"transient failure" in err
    doc = load(tmp_path / "r.json")
    assert len(doc["attempts"]) >= 2 and doc["attempts"][0]["exit_code"] == 61
    assert len(os.listdir(tmp_path / "out")) == 2


def test_journal_resume_after_peer_killed(tmp_path):
    """Kill a storescp -od peer by PID mid-run, restart it on the same port, run again with the journal: every
    instance stored exactly once in total, none missing; the second run says how many it skipped."""
    files = make_files(tmp_path / "in", 6)
    first, second = tmp_path / "out1", tmp_path / "out2"
    first.mkdir()
    second.mkdir()
    port = free_port()
    peer = subprocess.Popen([STORESCP, "--sleep-after", "1", "-od", str(first), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from harness import wait_port_open

        wait_port_open(port)
        sender = subprocess.Popen(ours_command() + ["127.0.0.1", str(port), *files, "--journal", "j.db",
                                                    "+crj", "r1.json"],
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while len(os.listdir(first)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # (the response to the second instance went out right after storing it)
        os.kill(peer.pid, signal.SIGKILL)
        peer.wait()
        _, err1 = sender.communicate(timeout=60)
        assert sender.returncode == 62, err1
        stored_first = set(os.listdir(first))
        assert 1 <= len(stored_first) < 6
        peer = subprocess.Popen([STORESCP, "-od", str(second), str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_port_open(port)
        code, _, err2 = ours(["127.0.0.1", port, *files, "--journal", "j.db", "+crj", "r2.json", "+crf", "r2.txt"],
                             tmp_path)
    finally:
        peer.send_signal(signal.SIGTERM)
        peer.wait(timeout=10)
    assert code == 0, err2
    stored_second = set(os.listdir(second))
    assert not stored_first & stored_second
    assert len(stored_first | stored_second) == 6
    journaled = load(tmp_path / "r1.json")["summary"]["stored"]
    assert journaled == len(stored_first)
    assert f"W: skipping {journaled} of 6 SOP instances already stored to this peer (journal 'j.db')" in err2
    doc = load(tmp_path / "r2.json")
    assert doc["summary"]["outcomes"]["skipped"] == journaled and doc["run"]["journal_skipped"] == journaled
    assert_same_as_crf(doc, parse_crf(tmp_path / "r2.txt"))
    with open(tmp_path / "r2.txt", encoding="utf-8") as fh:
        text = fh.read()
    assert text.count("DIMSE Status  : <skipped: already stored (journal)>") == journaled
    assert f"  * skipped (journal)    : {journaled}" in text
    with sqlite3.connect(tmp_path / "j.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM stored").fetchone()[0] == 6


def test_journal_changed_file_is_sent_again_and_other_peer_is_not_skipped(tmp_path):
    files = make_files(tmp_path / "in", 3)
    with Peer(str(tmp_path / "out")) as peer:
        assert ours(["127.0.0.1", peer.port, *files, "+jo", "j.db"], tmp_path)[0] == 0
        st = os.stat(files[1])
        os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: sent again
        code, _, err = ours(["127.0.0.1", peer.port, *files, "+jo", "j.db", "+crj", "r.json"], tmp_path)
        assert code == 0 and "W: skipping 2 of 3 SOP instances" in err
        assert [i["outcome"] for i in load(tmp_path / "r.json")["instances"]] == ["skipped", "success", "skipped"]
        # another called AE title: another peer
        code, _, err = ours(["127.0.0.1", peer.port, *files, "+jo", "j.db", "-aec", "OTHER"], tmp_path)
        assert code == 0 and "skipping" not in err


def test_journal_unusable(tmp_path):
    files = make_files(tmp_path / "in", 1)
    (tmp_path / "adir").mkdir()
    code, _, err = ours(["127.0.0.1", free_port(), *files, "+jo", "adir", "+crj", "r.json"], tmp_path)
    assert code == 40 and "F: cannot use journal 'adir': " in err
    assert load(tmp_path / "r.json")["run"]["exit_code"] == 40


def test_journal_never_records_unstored(tmp_path):
    files = make_files(tmp_path / "in", 3)
    with scp_peer(str(tmp_path / "out"), "--status", "0xA700", "--status-count", "1") as peer:
        ours(["127.0.0.1", peer.port, *files, "+jo", "j.db"], tmp_path)
    with sqlite3.connect(tmp_path / "j.db") as db:
        paths = sorted(os.path.basename(r[0]) for r in db.execute("SELECT path FROM stored"))
    assert paths == ["f1.dcm", "f2.dcm"]


def test_progress_plain_lines_leave_the_log_alone(tmp_path):
    files = make_files(tmp_path / "in", 3)
    with Peer(str(tmp_path / "out")) as peer:
        _, _, plain = ours(["127.0.0.1", peer.port, *files, "-v"], tmp_path)
        code, _, err = ours(["127.0.0.1", peer.port, *files, "-v", "--progress"], tmp_path)
    assert code == 0
    progress = [line for line in err.splitlines() if line.startswith("dcmsend progress: ")]
    assert progress and progress[-1].startswith("dcmsend progress: 3/3 instances, ")
    assert "0 failed, 1 associations" in progress[-1]
    assert "\n".join(line for line in err.splitlines() if not line.startswith("dcmsend progress: ")) == \
        plain.rstrip("\n")


def test_progress_on_a_terminal_is_wiped(tmp_path):
    import pty

    files = make_files(tmp_path / "in", 3)
    master, slave = pty.openpty()
    try:
        with Peer(str(tmp_path / "out")) as peer:
            proc = subprocess.run(ours_command() + ["127.0.0.1", str(peer.port), *files, "+pg", "-v"], cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=slave, timeout=60)
        os.close(slave)
        slave = -1
        data = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    text = data.decode()
    assert "instances" in text and "\r\x1b[K" in text
    # what stays on the screen: each status line is wiped before the next log line and at the end
    screen = re.sub(r"\r[^\r\n]*\x1b\[K", "", text.replace("\r\n", "\n"))
    assert re.search(r"\d/3 instances, ", text)
    assert not re.search(r"/3 instances, ", screen) and screen.startswith("I: checking input files ...")
    assert "I: Releasing Association" in screen and "\x1b" not in screen


def test_plain_transfer_imports_no_extension(tmp_path):
    """Without the extension options the command imports none of their modules (start-up cost)."""
    files = make_files(tmp_path / "in", 1)
    command = ours_command()
    if len(command) == 1:
        command = [sys.executable, command[0]]
    with Peer(str(tmp_path / "out")) as peer:
        proc = subprocess.run([command[0], "-X", "importtime", *command[1:], "127.0.0.1", str(peer.port), *files],
                              capture_output=True, timeout=60, cwd=tmp_path)
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode(errors="replace").splitlines()
                if line.startswith("import time:")}
    assert proc.returncode == 0 and "dcmsend.send" in imported
    assert not imported & {"dcmsend.runner", "dcmsend.report_json", "dcmsend.journal", "dcmsend.progress", "json",
                           "sqlite3", "_sqlite3"}


def test_api_callback_and_results(tmp_path):
    import dcmsend

    files = make_files(tmp_path / "in", 4)
    seen = []
    with scp_peer(str(tmp_path / "out"), "--status", "0xA700", "--status-count", "1") as peer:
        os.environ["DCMSEND_RETRY_DELAY"] = "0.05"
        try:
            result = dcmsend.send_files("127.0.0.1", peer.port, files, on_instance=seen.append, retry=1,
                                        json_report=str(tmp_path / "r.json"), strict_status=True)
        finally:
            del os.environ["DCMSEND_RETRY_DELAY"]
    assert result.exit_code == 0
    assert sorted(r.number for r in seen) == [1, 2, 3, 4]
    assert [r.done for r in seen] == [1, 2, 3, 4] and {r.total for r in seen} == {4}
    assert all(r.stored and r.status == 0 for r in seen)
    assert [r.as_dict() for r in result.results] == load(tmp_path / "r.json")["instances"]
    assert result.report["run"]["exit_code"] == 0 and len(result.report["attempts"]) == 2
    assert result.results[0].attempts[0]["status"] == 0xA700


def test_no_halt_with_retry_and_journal(tmp_path):
    files = make_files(tmp_path / "in", 4)
    with scp_peer(str(tmp_path / "out"), "--status", "0xA702", "--status-count", "2") as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "-nh", "+rt", "1", "+jo", "j.db", "+crj", "r.json",
                             "+ss"], tmp_path, env=FAST_RETRY)
    assert code == 0, err
    assert [i["outcome"] for i in load(tmp_path / "r.json")["instances"]] == ["success"] * 4
    with sqlite3.connect(tmp_path / "j.db") as db:
        assert db.execute("SELECT count(*) FROM stored").fetchone()[0] == 4


def test_json_report_written_when_interrupted(tmp_path):
    """SIGTERM while the peer sleeps during the second instance: exit 143, the JSON report says so."""
    files = make_files(tmp_path / "in", 4)
    with Peer(str(tmp_path / "out"), ["--sleep-after", "2"]) as peer:
        proc = subprocess.Popen(ours_command() + ["127.0.0.1", str(peer.port), *files, "+crj", "r.json"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not os.listdir(tmp_path / "out") and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and b"F: interrupted by signal 15" in err
    doc = load(tmp_path / "r.json")
    assert doc["run"]["exit_code"] == 143 and doc["run"]["halted"] is True
    outcomes = [i["outcome"] for i in doc["instances"]]
    assert outcomes[0] == "success" and outcomes[-1] == "not-tried"
    assert doc["associations"][0]["ended"] == "aborted"


def test_json_report_when_the_input_phase_fails(tmp_path):
    code, _, err = ours(["127.0.0.1", free_port(), "missing.dcm", "+crj", "r.json"], tmp_path)
    assert code == 22 and "F: bad DICOM file: missing.dcm" in err
    doc = load(tmp_path / "r.json")
    assert (doc["run"]["exit_code"], doc["run"]["halted"], doc["instances"]) == (22, True, [])


def test_json_report_is_ascii_for_undecodable_file_names(tmp_path):
    directory = tmp_path / "in"
    directory.mkdir()
    name = os.fsdecode(b"f\xff.dcm")
    fx.write_part10(os.path.join(str(directory), name))
    with Peer(str(tmp_path / "out")) as peer:
        code, _, err = ours(["127.0.0.1", peer.port, "+sd", "in", "+crj", "r.json"], tmp_path)
    assert code == 0, err
    raw = (tmp_path / "r.json").read_bytes()
    assert raw.isascii()
    assert load(tmp_path / "r.json")["instances"][0]["path"] == os.path.join("in", name)


def test_retry_after_dimse_timeout(tmp_path):
    """A peer that never answers: each attempt ends with the DIMSE timeout (-td 1), a transient failure."""
    files = make_files(tmp_path / "in", 2)
    with scp_peer(str(tmp_path / "out"), "--raw", "mute") as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "-td", "1", "+rt", "1", "+crj", "r.json"], tmp_path,
                            env=FAST_RETRY)
    assert code == 62
    assert err.count("W: transient failure (DIMSE No data available (timeout in non-blocking mode))") == 1
    doc = load(tmp_path / "r.json")
    assert len(doc["attempts"]) == 2 and doc["attempts"][1]["instances"] == 2
    assert doc["instances"][0]["condition"].startswith("DIMSE No data available")


class _Screen:
    def __init__(self, tty: bool):
        self.tty = tty
        self.text = ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_rate_limit_and_wipe(monkeypatch):
    from dcmsend import log, progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    screen = _Screen(True)
    bar = progress.Progress(1000, 10**6, screen)
    try:
        for i in range(1, 1001):  # 1000 instances in one second: at most 10 + 1 redraws
            clock[0] += 0.001
            bar.update(i, i * 1000, 0, 1)
        draws = screen.text.count("\r") - screen.text.count("\r\x1b[K\r")
        assert 2 <= draws <= 11
        log.write_text(screen, "I: a log line\n")  # wiped first
        assert screen.text.endswith("\x1b[K\r\x1b[KI: a log line\n")
    finally:
        bar.finish()
    assert log.before_console_write is None
    plain = _Screen(False)
    bar = progress.Progress(10, 100, plain)
    for i in range(1, 11):
        clock[0] += 1.0
        bar.update(i, i * 10, 0, 1)
    bar.finish()
    lines = plain.text.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("dcmsend progress: 10/10 instances, 100 B of 100 B")


def test_retry_with_no_halt_after_peer_aborts(tmp_path):
    """With -nh the rounds go on after the abort (every instance fails with a condition): all are retried."""
    files = make_files(tmp_path / "in", 3)
    with Peer(str(tmp_path / "out"), ["--abort-after"]) as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "-nh", "+rt", "1", "+ss", "+crj", "r.json"], tmp_path,
                            env=FAST_RETRY)
    assert code == 101, err
    assert "sending the 3 SOP instances not yet stored again" in err
    doc = load(tmp_path / "r.json")
    assert [a["instances"] for a in doc["attempts"]] == [3, 3]
    assert [i["outcome"] for i in doc["instances"]] == ["failed"] * 3
    assert all(len(i["attempts"]) == 2 for i in doc["instances"])


def test_json_report_associations_in_number_order_with_parallel(tmp_path):
    """With --parallel the workers' associations are negotiated concurrently; the JSON report still lists them in
    the order of their numbers (as the schema says), so ``associations[n - 1]`` is association n."""
    files = make_files(tmp_path / "in", 16)
    with Peer(str(tmp_path / "out"), ["--fork"]) as peer:
        code, _, err = ours(["127.0.0.1", peer.port, *files, "-j", "8", "--parallel-unit", "instance",
                             "+crj", "r.json"], tmp_path)
    assert code == 0, err
    doc = load(tmp_path / "r.json")
    numbers = [a["number"] for a in doc["associations"]]
    assert numbers == list(range(1, doc["summary"]["associations"] + 1))
    for item in doc["instances"]:
        assert doc["associations"][item["association"] - 1]["number"] == item["association"]
