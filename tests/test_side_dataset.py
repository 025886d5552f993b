"""Corrupt and unusual data sets at send time, side by side with the real dcmsend (issue 13, items 6, 9, 10): the
CP-246 warning for unknown undefined-length elements in implicit VR (nested too), tag names from DCMTK's own data
dictionary in messages (RETIRED_ names, Unknown Tag & Data), and DCMTK's messages and results for sequences that end
in garbage, undefined-length OB, items with an odd or too large explicit length, and elements that are too large
and out of order.  Exit code, output at two levels, report and received data must agree."""

from __future__ import annotations

import os
import struct

import pytest

from conftest import requires_dcmtk
from fixtures_data import meta_group
from harness import compare

pytestmark = requires_dcmtk

LEI = "1.2.840.10008.1.2"
LEE = "1.2.840.10008.1.2.1"
SC = "1.2.840.10008.5.1.4.1.1.7"


def im(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(value) if length is None else length) + value


def ex(tag: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    n = len(value) if length is None else length
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr + b"\0\0" + struct.pack("<L", n) + value
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr + struct.pack("<H", n) + value


def item(body: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHL", 0xFFFE, 0xE000, len(body) if length is None else length) + body


def undefined_im(tag: int, items: list[bytes]) -> bytes:
    body = b"".join(struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF) + it + struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
                    for it in items)
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, 0xFFFFFFFF) + body + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)


UIDS_IM = im(0x00080016, SC.encode() + b"\0") + im(0x00080018, b"1.2.3.4.5\0")
UIDS_EX = ex(0x00080016, b"UI", SC.encode() + b"\0") + ex(0x00080018, b"UI", b"1.2.3.4.5\0")


def _sequence(explicit: bool, undefined: bool, garbage: bytes) -> bytes:
    body = (item(ex(0x00081150, b"UI", b"1.2\0")) if explicit else item(im(0x00081150, b"1.2\0"))) + garbage
    length = 0xFFFFFFFF if undefined else len(body)
    if explicit:
        return UIDS_EX + struct.pack("<HH", 0x0008, 0x1140) + b"SQ\0\0" + struct.pack("<L", length) + body
    return UIDS_IM + struct.pack("<HHL", 0x0008, 0x1140, length) + body


_ODD_BODY = im(0x00081150, SC.encode() + b"\0") + im(0x00081155, b"1.2.3\0")

CASES = {
    # 6: CP-246 (top level, nested in the item of another one, and after a private creator-less group)
    "cp246": (LEI, UIDS_IM + undefined_im(0x00091010, [im(0x00100010, b"A^B ")
                                                       + undefined_im(0x00111010, [im(0x00100020, b"ID")])])
              + im(0x00100010, b"X^Y ") + undefined_im(0x00291010, [im(0x00100020, b"Z ")])),
    # 9: names of the elements in DCMTK's messages
    "name_retired": (LEE, UIDS_EX + ex(0x00100010, b"PN", b"A^B ") + ex(0x00101000, b"LO", b"xx", 200)),
    "name_unknown_1000": (LEE, UIDS_EX + ex(0x00100010, b"PN", b"A^B ") + ex(0x10001000, b"US", b"xx", 200)),
    "name_escape_triplet": (LEE, UIDS_EX + ex(0x00100010, b"PN", b"A^B ") + ex(0x10000010, b"US", b"xx", 200)),
    "name_retired_implicit": (LEI, UIDS_IM + im(0x00100010, b"A^B ") + im(0x00101000, b"xx", 5000)),
    "name_private_group_length": (LEE, UIDS_EX + ex(0x00090000, b"UL", b"\0\0", 300)),
    # 10: corrupt data sets
    "too_large_out_of_order": (LEE, UIDS_EX + ex(0x00100020, b"LO", b"ID") + ex(0x00080020, b"DA", b"20200101", 200)),
    "too_large_twice": (LEI, UIDS_IM + im(0x00100020, b"ID") + im(0x00080018, b"1.2", 300)),
    "ob_undefined_length": (LEE, UIDS_EX + ex(0x00091010, b"OB", b"\1\2\3\4", 0xFFFFFFFF)
                            + ex(0x00100010, b"PN", b"A^B ")),
    "implicit_sequence_of_ff": (LEI, UIDS_IM + struct.pack("<HHL", 0x0008, 0x1140, 0xFFFFFFFF) + b"\xff" * 16),
    "implicit_item_then_ff": (LEI, UIDS_IM + struct.pack("<HHL", 0x0008, 0x1140, 0xFFFFFFFF)
                              + item(im(0x00081150, b"1.2\0")) + b"\xff" * 16),
    "explicit_length_sequence_element": (LEI, _sequence(False, False, im(0x00100010, b"A^B "))),
    "undefined_sequence_item_delimiter": (LEE, _sequence(True, True,
                                                         struct.pack("<HHL", 0xFFFE, 0xE00D, 0) + b"\0" * 8)),
    "explicit_sequence_ff": (LEE, _sequence(True, False, b"\xff" * 16)),
    "item_odd_length_too_large": (LEI, UIDS_IM + im(0x00081140, item(_ODD_BODY, len(_ODD_BODY) + 7))
                                  + im(0x00100010, b"A^B ")),
    "item_odd_length_past_end": (LEE, UIDS_EX + ex(0x00081140, b"SQ", item(ex(0x00081150, b"UI", SC.encode() + b"\0"),
                                                                          51)) + ex(0x00100010, b"PN", b"A^B ")),
}

MODES = [[], ["-v", "-nh", "+crf", "{report}"]]


@pytest.mark.parametrize("mode", MODES, ids=["default", "v-nh-report"])
@pytest.mark.parametrize("name", list(CASES))
def test_like_real_dcmsend(tmp_path, name, mode):
    ts, ds = CASES[name]
    path = os.path.join(str(tmp_path), name + ".dcm")
    with open(path, "wb") as fh:
        fh.write(b"\0" * 128 + b"DICM" + meta_group(SC, "1.2.3.4.5", ts) + ds)
    compare([*mode, "127.0.0.1", "{port}", path], tmp_path)
