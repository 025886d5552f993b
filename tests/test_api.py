"""The Python API runs the same stages as the command line."""

import os

import pytest
from pydicom.data import get_testdata_file

import dcmsend
import dcmsend.send  # noqa: F401  (the stage module: dcmsend.send must stay callable as the API afterwards)
from conftest import requires_dcmtk
from harness import Peer, free_port

CT = get_testdata_file("CT_small.dcm")
MR = get_testdata_file("MR_small.dcm")


@requires_dcmtk
def test_send_files_to_storescp(tmp_path):
    report = str(tmp_path / "report.txt")
    with Peer(str(tmp_path / "received"), ["+xa"]) as peer:
        result = dcmsend.send("127.0.0.1", peer.port, [CT, MR], report_file=report, calling_aetitle="API")
    assert result.exit_code == 0 and result.ok
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


def test_send_single_path_and_exit_codes(tmp_path):
    # nothing listens on this port: the association fails as on the command line (exit 61)
    result = dcmsend.send("127.0.0.1", free_port(), CT)
    assert result.exit_code == 61
    assert [i.path for i in result.instances] == [CT]
    assert result.instances[0].status is None
    # an invalid input file stops the input phase (exit 22), with -nh nothing valid remains (exit 23)
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not dicom")
    assert dcmsend.send("127.0.0.1", free_port(), [str(bad)]).exit_code == 22
    assert dcmsend.send("127.0.0.1", free_port(), [bad], no_halt=True).exit_code == 23


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        dcmsend.send("127.0.0.1", 104, CT, no_such_option=True)
