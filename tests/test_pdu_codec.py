"""Our own PDU / DIMSE codec (dcmsend.pdu, plain ``struct``) against pynetdicom 3 as an independent oracle.

dcmsend.pdu encodes and parses the association PDUs (PS3.8 §9.3) and the DIMSE command sets (PS3.7, Implicit VR
Little Endian) itself, to keep pynetdicom (and numpy, which it pulls in through pydicom) off the start-up path.  These
tests check both directions against pynetdicom's PDU classes (pynetdicom.pdu, pynetdicom.pdu_items) and its DIMSE
message classes (pynetdicom.dimse_messages, encoding through pydicom):

* our A-ASSOCIATE-RQ decoded by pynetdicom (and re-encoded / built from scratch by pynetdicom: the same bytes);
* pynetdicom's A-ASSOCIATE-AC and A-ASSOCIATE-RJ parsed by us (results, max PDU, implementation, reject texts);
* A-RELEASE-RQ/RP and A-ABORT: our bytes, as the real Association code sends them, equal pynetdicom's;
* P-DATA-TF both ways (the PDUs of our send_store, pynetdicom's PDVs split by ``_split_pdvs``);
* C-STORE-RQ: our command set decoded by pynetdicom (alone and as a whole message from send_store); C-STORE-RSP:
  pynetdicom's / pydicom's command sets parsed by ``parse_command`` and received by ``receive_command``.

Everything is local (a TCP connection to ourselves on 127.0.0.1, no peer process) and fixed (no randomness).

These tests found two bugs in our codec (both checked against /usr/bin/dcmsend 3.6.7), now fixed: CommandDataSetType
was 0x0000 instead of DCMTK's 0x0001 (``test_cstore_rq_bytes_equal_*``), and the reject reason of an A-ASSOCIATE-RJ
with an invalid source was looked up with the defaulted source (the ``-log`` / ``-text`` cases of
``test_associate_rj_from_pynetdicom_reject_text``).
"""

from __future__ import annotations

import io
import socket
import struct
import threading

import pytest
from pydicom.dataset import Dataset
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION, dsutils
from pynetdicom.dimse_messages import C_STORE_RQ, C_STORE_RSP, DIMSEMessage
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu import (
    A_ABORT_RQ,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    P_DATA_TF,
)
from pynetdicom.pdu_items import (
    ApplicationContextItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PresentationContextItemAC,
    TransferSyntaxSubItem,
    UserInformationItem,
)
from pynetdicom.pdu_primitives import (
    A_ABORT,
    A_ASSOCIATE,
    A_P_ABORT,
    P_DATA,
    AsynchronousOperationsWindowNegotiation,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext as PynetContext

from dcmsend import log, network
from dcmsend import pdu as codec  # (pdu: the PDUs of the tests)
from dcmsend.cmdline import Options
from dcmsend.plan import PresentationContext

APP_CONTEXT = "1.2.840.10008.3.1.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"  # 25 characters: odd
MR = "1.2.840.10008.5.1.4.1.1.4"
US_MF = "1.2.840.10008.5.1.4.1.1.3.1"  # 27
SC = "1.2.840.10008.5.1.4.1.1.7"
LEI = "1.2.840.10008.1.2"  # 17
LEE = "1.2.840.10008.1.2.1"  # 19
BEE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"  # 22: even
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.70"
RLE = "1.2.840.10008.1.2.5"
PREFIX = "1.2.826.0.1.3680043.8.498."  # 26
UID64 = PREFIX + "1" * 38  # the longest UID (64, even)
UID63 = PREFIX + "2" * 37  # odd
UID70 = PREFIX + "3" * 44  # too long: DCMTK (and we) keep 64 characters of it
assert (len(UID64), len(UID63), len(UID70)) == (64, 63, 70)


def pattern(n: int, seed: int = 0) -> bytes:
    """``n`` fixed, non-trivial bytes."""
    return bytes((i * 131 + seed * 17 + (i >> 8)) & 0xFF for i in range(n))


# ---------------------------------------------------------------------------------------------------------------
# A-ASSOCIATE-RQ: ours -> pynetdicom


def _many_contexts() -> list[tuple[int, str, list[str]]]:
    """128 contexts, ids 1, 3, ..., 255, with 1 to 4 transfer syntaxes each and odd and even UID lengths."""
    ts_pool = [LEE, LEI, BEE, DEFLATED, JPEG_BASELINE, JPEG_LOSSLESS, RLE, UID63]
    out = []
    for k in range(128):
        abstract = f"1.2.840.10008.5.1.4.1.1.{k // 8}.{k % 8 + 1}" if k % 3 else f"{PREFIX}{k + 1}"
        ts = [ts_pool[(k + j) % len(ts_pool)] for j in range(k % 4 + 1)]
        out.append((2 * k + 1, abstract, ts))
    return out


# (calling AE, called AE, our max PDU, contexts as (id, abstract syntax, transfer syntaxes))
RQ_CASES = {
    "one-context": ("DCMSEND", "ANY-SCP", 16384, [(1, CT, [LEE])]),
    "several-ts-per-context": ("STORESCU", "STORESCP", 32768,
                               [(1, CT, [LEE, LEI, BEE]), (3, MR, [JPEG_BASELINE, JPEG_LOSSLESS, RLE, LEI]),
                                (5, US_MF, [DEFLATED])]),
    "128-contexts": ("DCMSEND", "ANY-SCP", 131072, _many_contexts()),
    "max-pdu-0": ("A", "B", 0, [(1, SC, [LEI]), (255, CT, [LEE, LEI])]),
    "max-pdu-max": ("SCU-1", "SCP 2", 0xFFFFFFFF, [(7, MR, [LEI])]),
    "16-char-aes-64-char-uids": ("ABCDEFGHIJKLMNOP", "0123456789ABCDEF", 4096, [(1, UID64, [UID63, LEE]),
                                                                            (3, UID63, [UID64])]),
    "long-ae-and-uid-truncated": ("CALLING_AE_TITLE_TOO_LONG", "CALLED_AE_TOO_LONG_TOO", 65536,
                                  [(1, UID70, [LEE, UID70])]),
}


def _params(calling: str, called: str, max_pdu: int, contexts) -> codec.AssociationParameters:
    return codec.AssociationParameters(
        calling_ae=calling, called_ae=called, max_pdu=max_pdu,
        contexts=[codec.ContextResult(cid, abstract, list(ts)) for cid, abstract, ts in contexts])


def _expected_contexts(contexts) -> list[tuple[int, str, list[str]]]:
    # DCMTK keeps at most 64 characters of a UID (DUL_PRESENTATIONCONTEXT), and so do we
    return [(cid, abstract[:64], [t[:64] for t in ts]) for cid, abstract, ts in contexts]


def _pynetdicom_rq(calling: str, called: str, max_pdu: int, contexts) -> A_ASSOCIATE_RQ:
    """The same request built from scratch by pynetdicom (A-ASSOCIATE primitive -> A_ASSOCIATE_RQ)."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = APP_CONTEXT
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    for cid, abstract, ts in contexts:
        cx = PynetContext()
        cx.context_id = cid
        cx.abstract_syntax = abstract
        cx.transfer_syntax = list(ts)
        primitive.presentation_context_definition_list.append(cx)
    ml = MaximumLengthNotification()
    ml.maximum_length_received = max_pdu
    ic = ImplementationClassUIDNotification()
    ic.implementation_class_uid = codec.IMPLEMENTATION_CLASS_UID
    iv = ImplementationVersionNameNotification()
    iv.implementation_version_name = codec.IMPLEMENTATION_VERSION_NAME
    primitive.user_information = [ml, ic, iv]
    return A_ASSOCIATE_RQ(primitive)


@pytest.mark.parametrize("case", list(RQ_CASES))
def test_associate_rq_decoded_by_pynetdicom(case):
    calling, called, max_pdu, contexts = RQ_CASES[case]
    raw = codec.encode_associate_rq(_params(calling, called, max_pdu, contexts))

    pdu = A_ASSOCIATE_RQ()
    pdu.decode(raw)
    assert raw[0] == pdu.pdu_type == 0x01
    assert struct.unpack_from(">I", raw, 2)[0] == pdu.pdu_length == len(raw) - 6
    assert pdu.protocol_version == 1
    # AE titles are cut to 16 characters (and space padded); pynetdicom strips the padding
    assert pdu.called_ae_title == called[:16]
    assert pdu.calling_ae_title == calling[:16]
    assert pdu.application_context_name == APP_CONTEXT
    got = [(cx.context_id, str(cx.abstract_syntax), [str(t) for t in cx.transfer_syntax])
           for cx in pdu.presentation_context]
    assert got == _expected_contexts(contexts)
    # the variable items in PS3.8 order: application context, presentation contexts, user information
    kinds = [type(item).__name__ for item in pdu.variable_items]
    assert kinds == ["ApplicationContextItem"] + ["PresentationContextItemRQ"] * len(contexts) \
        + ["UserInformationItem"]
    user = pdu.user_information
    assert [type(item) for item in user.user_data] == [MaximumLengthSubItem, ImplementationClassUIDSubItem,
                                                       ImplementationVersionNameSubItem]
    assert user.maximum_length == max_pdu
    assert user.implementation_class_uid == codec.IMPLEMENTATION_CLASS_UID
    assert user.implementation_version_name == codec.IMPLEMENTATION_VERSION_NAME

    # pynetdicom's encoding is canonical for these values: its re-encoding of what it decoded, and the same request
    # built by pynetdicom from scratch, are our bytes exactly (no UID padding, space-padded AE titles, 0 reserved)
    assert pdu.encode() == raw
    assert _pynetdicom_rq(calling[:16], called[:16], max_pdu, _expected_contexts(contexts)).encode() == raw


@pytest.mark.parametrize("calling,called", [("  SCU", "ANY-SCP"), ("DCMSEND", " PACS  A")])
def test_associate_rq_leading_spaces_in_ae_titles(calling, called):
    """Not canonical for pynetdicom: it strips leading spaces of an AE title when decoding (PS3.8 Table 9-11: leading
    and trailing spaces are not significant) and re-encodes the title left-justified, while we (like DCMTK) send the
    title as given.  So only the fields are compared, and the bytes differ in the two AE title fields alone."""
    contexts = [(1, CT, [LEE, LEI])]
    raw = codec.encode_associate_rq(_params(calling, called, 16384, contexts))
    assert raw[10:26] == called.encode().ljust(16) and raw[26:42] == calling.encode().ljust(16)
    pdu = A_ASSOCIATE_RQ()
    pdu.decode(raw)
    assert (pdu.calling_ae_title, pdu.called_ae_title) == (calling.strip(), called.strip())
    assert [(cx.context_id, cx.abstract_syntax, cx.transfer_syntax) for cx in pdu.presentation_context] == contexts
    again = pdu.encode()
    assert again != raw
    assert again[:10] == raw[:10] and again[42:] == raw[42:]


# ---------------------------------------------------------------------------------------------------------------
# A-ASSOCIATE-AC: pynetdicom -> ours


def _ac_primitive_pdu(results, max_pdu: int, impl_uid: str, impl_version: str | None,
                      extra_user=()) -> A_ASSOCIATE_AC:
    """An A-ASSOCIATE-AC as pynetdicom's acceptor builds it: A-ASSOCIATE primitive + PresentationContext results
    (pynetdicom puts the first proposed transfer syntax into rejected contexts too)."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = APP_CONTEXT
    primitive.called_ae_title = "ANY-SCP"
    primitive.calling_ae_title = "DCMSEND"
    primitive.result = 0
    for cid, result, ts in results:
        cx = PynetContext()
        cx.context_id = cid
        cx.result = result
        cx.transfer_syntax = [ts]
        primitive.presentation_context_definition_results_list.append(cx)
    user = list(extra_user)
    ml = MaximumLengthNotification()
    ml.maximum_length_received = max_pdu
    ic = ImplementationClassUIDNotification()
    ic.implementation_class_uid = impl_uid
    user += [ml, ic]
    if impl_version is not None:
        iv = ImplementationVersionNameNotification()
        iv.implementation_version_name = impl_version
        user.append(iv)
    primitive.user_information = user
    return A_ASSOCIATE_AC(primitive)


def _ac_items_pdu(results, max_pdu: int, impl_uid: str, impl_version: str | None) -> A_ASSOCIATE_AC:
    """An A-ASSOCIATE-AC built from pynetdicom's PDU items directly; a ``None`` transfer syntax gives a presentation
    context item without a transfer syntax sub-item (as some acceptors send for rejected contexts)."""
    pdu = A_ASSOCIATE_AC()
    pdu.reserved_aet = "ANY-SCP"
    pdu.reserved_aec = "DCMSEND"
    app = ApplicationContextItem()
    app.application_context_name = APP_CONTEXT
    pdu.variable_items.append(app)
    for cid, result, ts in results:
        item = PresentationContextItemAC()
        item.presentation_context_id = cid
        item.result_reason = result
        if ts is not None:
            sub = TransferSyntaxSubItem()
            sub.transfer_syntax_name = ts
            item.transfer_syntax_sub_item = [sub]
        pdu.variable_items.append(item)
    user = UserInformationItem()
    ml = MaximumLengthSubItem()
    ml.maximum_length_received = max_pdu
    ic = ImplementationClassUIDSubItem()
    ic.implementation_class_uid = impl_uid
    user.user_data = [ml, ic]
    if impl_version is not None:
        iv = ImplementationVersionNameSubItem()
        iv.implementation_version_name = impl_version
        user.user_data.append(iv)
    pdu.variable_items.append(user)
    return pdu


def _async_window():
    item = AsynchronousOperationsWindowNegotiation()
    item.maximum_number_operations_invoked = 1
    item.maximum_number_operations_performed = 1
    return item


def _role(uid: str):
    item = SCP_SCU_RoleSelectionNegotiation()
    item.sop_class_uid = uid
    item.scu_role = True
    item.scp_role = False
    return item


_FIVE = [(1, CT, [LEE, LEI]), (3, MR, [LEI]), (5, US_MF, [JPEG_BASELINE, LEE]), (7, SC, [LEE]), (9, UID64, [LEI])]
_MANY = _many_contexts()

# (builder, proposed contexts, AC results (id, result, ts), their max PDU, their impl UID, version, extra user items,
#  expected per proposed id: (result, accepted ts) -- result None: not in the AC)
AC_CASES = {
    "each-result": ("primitive", _FIVE, [(1, 0, LEE), (3, 1, LEI), (5, 2, JPEG_BASELINE), (7, 3, LEE), (9, 4, LEI)],
                    16384, PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION, (),
                    {1: (0, LEE), 3: (1, ""), 5: (2, ""), 7: (3, ""), 9: (4, "")}),
    "accepted-not-first-ts": ("primitive", _FIVE, [(1, 0, LEI), (3, 0, LEI), (5, 0, LEE), (7, 0, LEE), (9, 0, LEI)],
                              32768, "1.2.3.4", "V", (),
                              {1: (0, LEI), 3: (0, LEI), 5: (0, LEE), 7: (0, LEE), 9: (0, LEI)}),
    "max-pdu-0-no-version-name": ("primitive", _FIVE[:2], [(1, 0, LEE), (3, 3, LEI)], 0, "1.2.840.113619.6.1",
                                  None, (), {1: (0, LEE), 3: (3, "")}),
    "max-pdu-max-16-char-version": ("primitive", _FIVE[:1], [(1, 0, LEE)], 0xFFFFFFFF, UID63, "ABCDEFGHIJKLMNOP", (),
                                    {1: (0, LEE)}),
    "64-char-uids": ("primitive", [(1, UID64, [UID63, UID64])], [(1, 0, UID64)], 4096, UID64, "X_1", (),
                     {1: (0, UID64)}),
    "other-user-items-skipped": ("primitive", _FIVE[:2], [(1, 0, LEE), (3, 0, LEI)], 65536, "1.2.3", "SCP",
                                 (_async_window(), _role(CT), _role(MR)), {1: (0, LEE), 3: (0, LEI)}),
    "unknown-and-missing-contexts": ("primitive", _FIVE[:3], [(5, 0, LEE), (201, 0, LEE), (1, 4, LEE)], 8192,
                                     "1.2.3", "SCP", (), {1: (4, ""), 3: (None, ""), 5: (0, LEE)}),
    "rejections-without-ts-item": ("items", _FIVE, [(1, 1, None), (3, 2, None), (5, 3, None), (7, 4, None),
                                                    (9, 0, LEI)],
                                   16384, "1.2.3.4.5", "NO_TS", (),
                                   {1: (1, ""), 3: (2, ""), 5: (3, ""), 7: (4, ""), 9: (0, LEI)}),
    "128-contexts": ("primitive", _MANY, [(cid, (cid // 2) % 5, ts[-1]) for cid, _a, ts in _MANY], 131072,
                     "1.2.3", "SCP", (),
                     {cid: ((cid // 2) % 5, ts[-1] if (cid // 2) % 5 == 0 else "") for cid, _a, ts in _MANY}),
}


@pytest.mark.parametrize("case", list(AC_CASES))
def test_associate_ac_from_pynetdicom_parsed_by_us(case):
    builder, proposed, results, max_pdu, impl_uid, impl_version, extra, expected = AC_CASES[case]
    if builder == "primitive":
        pdu = _ac_primitive_pdu(results, max_pdu, impl_uid, impl_version, extra)
    else:
        pdu = _ac_items_pdu(results, max_pdu, impl_uid, impl_version)
    raw = pdu.encode()
    assert raw[0] == 0x02 and struct.unpack_from(">I", raw, 2)[0] == len(raw) - 6

    params = _params("DCMSEND", "ANY-SCP", 16384, proposed)
    codec.parse_associate_ac(raw[6:], params)

    got = {cx.id: (cx.result, cx.transfer_syntax) for cx in params.contexts}
    assert got == expected
    assert [cx.accepted for cx in params.contexts] == [expected[cid][0] == 0 for cid, _a, _t in proposed]
    assert params.their_max_pdu == max_pdu
    assert params.their_impl_uid == impl_uid
    assert params.their_impl_version == (impl_version or "")
    # the request side is untouched
    assert [(cx.id, cx.abstract_syntax, cx.proposed) for cx in params.contexts] == [tuple(c) for c in proposed]

    # and pynetdicom itself reads the same results back from these bytes
    again = A_ASSOCIATE_AC()
    again.decode(raw)
    assert {cx.context_id: cx.result for cx in again.presentation_context} == {r[0]: r[1] for r in results}


def test_associate_ac_short_body_is_rejected():
    raw = _ac_primitive_pdu([(1, 0, LEE)], 16384, "1.2.3", "X").encode()
    with pytest.raises(codec.PduError):
        codec.parse_associate_ac(raw[6:6 + 67], _params("A", "B", 16384, [(1, CT, [LEE])]))
    with pytest.raises(codec.PduError):  # an item cut short
        codec.parse_associate_ac(raw[6:-3], _params("A", "B", 16384, [(1, CT, [LEE])]))


# ---------------------------------------------------------------------------------------------------------------
# A-ASSOCIATE-RJ: pynetdicom -> our reject text

# DCMTK 3.6.7 ASC_printRejectParameters wording, keyed by pynetdicom's reading of the same fields
_RESULT_TEXT = {"Rejected (Permanent)": "Rejected Permanent", "Rejected (Transient)": "Rejected Transient"}
_SOURCE_TEXT = {"DUL service-user": "Service User",
                "DUL service-provider (ACSE related)": "Service Provider (ACSE Related)",
                "DUL service-provider (presentation related)": "Service Provider (Presentation Related)"}
_REASON_TEXT = {"No reason given": "No Reason",
                "Application context name not supported": "App Context Name Not Supported",
                "Calling AE title not recognised": "Calling AE Title Not Recognized",
                "Called AE title not recognised": "Called AE Title Not Recognized",
                "Protocol version not supported": "Protocol Version Not Supported",
                "Temporary congestion": "Temporary Congestion",
                "Local limit exceeded": "Local Limit Exceeded"}


def _pynetdicom_text(getter, table, default):
    """DCMTK's text for what pynetdicom reads; DCMTK's default where pynetdicom calls the value invalid/reserved."""
    try:
        return table.get(getter(), default)
    except ValueError:
        return default


def _rj_expectation(result: int, source: int, reason: int):
    """(expected text, expected error lines) of DCMTK 3.6.7 for these raw fields.  The reason is looked up with the
    RAW source (ASC_getRejectParameters: ``diagnostic | (resultSource & 0xff) << 8``), whatever the source check
    said; an unknown combination is "No Reason" with an error line."""
    rj = A_ASSOCIATE_RJ()
    rj.result, rj.source, rj.reason_diagnostic = result, source, reason
    errors = []
    if result not in (1, 2):
        errors.append(f"Received invalid A-ASSOCIATE-RJ reject result 0x{result:04x}, using default.")
    if source not in (1, 2, 3):
        errors.append(f"Received invalid A-ASSOCIATE-RJ reject source 0x{source:04x}, using default.")
    reason_text = _pynetdicom_text(lambda: rj.reason_str, _REASON_TEXT, None)
    if reason_text is None:
        errors.append(f"Received invalid A-ASSOCIATE-RJ reject reason 0x{reason | (source << 8):04x}, using default.")
        reason_text = "No Reason"
    text = (f"Result: {_pynetdicom_text(lambda: rj.result_str, _RESULT_TEXT, 'Rejected Permanent')}, "
            f"Source: {_pynetdicom_text(lambda: rj.source_str, _SOURCE_TEXT, 'Service User')}\n"
            f"Reason: {reason_text}")
    return text, errors


# An invalid source: DCMTK 3.6.7 (ASC_getRejectParameters) builds the reason code (reason | source << 8) from the RAW
# source, so (source 0/4, reason 2/3/7) is an invalid code too: a second error line and "No Reason" (checked against
# /usr/bin/dcmsend 3.6.7 with a local acceptor sending these A-ASSOCIATE-RJs).  Ours once defaulted the source first.


def _rj_cases():
    cases = []
    for result in (1, 2):
        for source in (1, 2, 3):
            for reason in range(0, 11):
                cases.append(pytest.param(result, source, reason, id=f"{result}-{source}-{reason}"))
    # invalid result / source values (DCMTK falls back to "Rejected Permanent" / "Service User")
    for result, source, reason in [(0, 1, 1), (3, 2, 2), (255, 3, 1), (0, 1, 3)]:
        cases.append(pytest.param(result, source, reason, id=f"{result}-{source}-{reason}"))
    for result, source, reason in [(1, 0, 1), (2, 4, 1), (1, 0, 0), (1, 255, 9)]:
        # DCMTK's second error line ("... reject reason 0x....") follows the source line
        cases.append(pytest.param(result, source, reason, id=f"{result}-{source}-{reason}-log"))
    for result, source, reason in [(1, 0, 2), (1, 0, 3), (2, 4, 7), (1, 4, 3)]:
        # a code that would be a service-user reason with the defaulted source: DCMTK prints "No Reason"
        cases.append(pytest.param(result, source, reason, id=f"{result}-{source}-{reason}-text"))
    return cases


@pytest.fixture
def net_errors():
    """The lines dcmtk.dcmnet logs at ERROR and above during the test (a private appender, levels restored)."""
    stream = io.StringIO()
    appender = log.Appender(stream=stream, layout=lambda level, logger, line: line + "\n", threshold=log.ERROR)
    net = log.get_logger("dcmtk.dcmnet")
    old_level, old_additive = net.level, net.additive
    net.level, net.additive = log.ERROR, False
    net.appenders.append(appender)
    try:
        yield lambda: stream.getvalue().splitlines()
    finally:
        net.appenders.remove(appender)
        net.level, net.additive = old_level, old_additive


@pytest.mark.parametrize("result,source,reason", _rj_cases())
def test_associate_rj_from_pynetdicom_reject_text(result, source, reason, net_errors):
    rj = A_ASSOCIATE_RJ()
    rj.result, rj.source, rj.reason_diagnostic = result, source, reason
    raw = rj.encode()
    assert raw == struct.pack(">BBIBBBB", 3, 0, 4, 0, result, source, reason)
    text, errors = _rj_expectation(result, source, reason)
    assert (network.Association._reject_parameters(raw[6:]), net_errors()) == (text, errors)


def test_associate_rj_from_primitive():
    """The reject as pynetdicom's acceptor makes it (A-ASSOCIATE primitive with result, source, diagnostic)."""
    primitive = A_ASSOCIATE()
    primitive.result, primitive.result_source, primitive.diagnostic = 0x01, 0x01, 0x07
    raw = A_ASSOCIATE_RJ(primitive).encode()
    assert network.Association._reject_parameters(raw[6:]) == (
        "Result: Rejected Permanent, Source: Service User\nReason: Called AE Title Not Recognized")
    primitive.result, primitive.result_source, primitive.diagnostic = 0x02, 0x03, 0x02
    raw = A_ASSOCIATE_RJ(primitive).encode()
    assert network.Association._reject_parameters(raw[6:]) == (
        "Result: Rejected Transient, Source: Service Provider (Presentation Related)\nReason: Local Limit Exceeded")


# ---------------------------------------------------------------------------------------------------------------
# The real Association code on a loopback connection to ourselves


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def _recv_pdu(sock: socket.socket) -> bytes:
    head = _recv_exact(sock, 6)
    return head + _recv_exact(sock, struct.unpack_from(">I", head, 2)[0])


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Both ends of one TCP connection on 127.0.0.1 (not socket.socketpair: an AF_UNIX socket refuses the
    TCP_QUICKACK option that Association._recv_exact sets after each read, which it takes as a closed connection)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        ours = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
    return ours, peer


@pytest.fixture
def wired():
    """``make(contexts)``: an Association in Sta6 whose transport is one end of a loopback TCP connection made here;
    returns (assoc, the other end)."""
    made = []

    def make(contexts=(), accepted_ts: str | None = None):
        ours, peer = _tcp_pair()
        peer.settimeout(10)
        assoc = network.Association(Options(peer="127.0.0.1", port=104, acse_timeout=5), list(contexts))
        if accepted_ts is not None:
            for cx in assoc.params.contexts:
                cx.result, cx.transfer_syntax = 0, accepted_ts
        assoc.sock = ours
        assoc.state = network.STA_OPEN
        assoc._io_timeout = 10
        made.append((assoc, peer))
        return assoc, peer

    yield make
    for assoc, peer in made:
        assoc._close_transport()
        peer.close()


# ---------------------------------------------------------------------------------------------------------------
# A-RELEASE-RQ / A-RELEASE-RP / A-ABORT


def test_release_rq_equals_pynetdicom_and_release_rp_from_pynetdicom_ends_it(wired):
    assoc, peer = wired()
    peer.sendall(A_RELEASE_RP().encode())  # the answer is already waiting
    assert assoc.release() is None
    assert assoc.state == 0 and assoc.sock is None
    raw = _recv_pdu(peer)
    assert raw == A_RELEASE_RQ().encode() == bytes.fromhex("05000000000400000000")
    pdu = A_RELEASE_RQ()
    pdu.decode(raw)
    assert pdu.pdu_type == raw[0] and pdu.pdu_length == 4


def test_release_collision_rp_equals_pynetdicom(wired):
    """AR-8: the peer's A-RELEASE-RQ crosses ours; we answer it with an A-RELEASE-RP and finish on theirs."""
    assoc, peer = wired()
    peer.sendall(A_RELEASE_RQ().encode() + A_RELEASE_RP().encode())
    assert assoc.release() is None
    assert _recv_pdu(peer) == A_RELEASE_RQ().encode()
    assert _recv_pdu(peer) == A_RELEASE_RP().encode() == bytes.fromhex("06000000000400000000")


def _pynetdicom_abort(source: int, reason: int) -> A_ABORT_RQ:
    """A-ABORT as pynetdicom makes it: from A-ABORT (service user: reason 0) or A-P-ABORT (provider) primitives,
    other source values set on the PDU directly."""
    if source == 0 and reason == 0:
        primitive = A_ABORT()
        primitive.abort_source = 0
        return A_ABORT_RQ(primitive)
    if source == 2:
        primitive = A_P_ABORT()
        primitive.provider_reason = reason
        return A_ABORT_RQ(primitive)
    pdu = A_ABORT_RQ()
    pdu.source, pdu.reason_diagnostic = source, reason
    return pdu


@pytest.mark.parametrize("source,reason", [(0, 0), (2, 0), (2, 1), (2, 2), (2, 4), (2, 5), (2, 6), (1, 0), (0, 3)])
def test_abort_pdu_equals_pynetdicom(source, reason, wired):
    assoc, peer = wired()
    assert assoc._send_abort(source=source, reason=reason) is None
    raw = _recv_pdu(peer)
    assert raw == _pynetdicom_abort(source, reason).encode()
    pdu = A_ABORT_RQ()
    pdu.decode(raw)
    assert (pdu.source, pdu.reason_diagnostic) == (source, reason)


def test_abort_and_abort_now_send_pynetdicoms_user_abort(wired):
    assoc, peer = wired()
    peer.shutdown(socket.SHUT_WR)  # the peer closes at once: abort() does not wait for the ACSE timeout
    assert assoc.abort() is None
    assert _recv_pdu(peer) == _pynetdicom_abort(0, 0).encode() == bytes.fromhex("07000000000400000000")

    assoc, peer = wired()
    assoc.abort_now(grace=5)
    assert assoc.sock is None
    assert _recv_pdu(peer) == _pynetdicom_abort(0, 0).encode()


def test_unexpected_pdu_gets_pynetdicoms_provider_abort(wired):
    """AA-8: an A-ASSOCIATE-AC (from pynetdicom) while the association is open is answered by an A-ABORT with source
    2 (service provider), reason 2 (unexpected PDU): pynetdicom's A-P-ABORT encoding."""
    assoc, peer = wired([PresentationContext(1, CT, [LEE])], accepted_ts=LEE)
    peer.sendall(_ac_primitive_pdu([(1, 0, LEE)], 16384, "1.2.3", "X").encode())
    cond = assoc.receive_command(5)
    assert isinstance(cond, network.Condition) and cond.code == codec.DIMSE_RECEIVEFAILED.code
    raw = _recv_pdu(peer)
    assert raw == _pynetdicom_abort(2, 2).encode()
    pdu = A_ABORT_RQ()
    pdu.decode(raw)
    assert pdu.reason_str == "Unexpected PDU" and pdu.source_str == "DUL service-provider"


def test_abort_from_pynetdicom_received(wired):
    assoc, peer = wired([PresentationContext(1, CT, [LEE])], accepted_ts=LEE)
    peer.sendall(_pynetdicom_abort(2, 1).encode())
    assert assoc.receive_command(5) == codec.DUL_PEERABORTEDASSOCIATION
    assert assoc.state == network.STA_IDLE


# ---------------------------------------------------------------------------------------------------------------
# P-DATA-TF


def _send_store_pdus(assoc, peer, context_id: int, message_id: int, dataset: bytes) -> list[bytes]:
    """Our send_store's PDUs for one C-STORE-RQ, as they arrive at the peer (send_store runs in a thread: it writes
    in batches larger than what the socket buffers may hold)."""
    outcome = []
    sender = threading.Thread(target=lambda: outcome.append(
        assoc.send_store(context_id, message_id, CT, "1.2.3.4.5", io.BytesIO(dataset), len(dataset))))
    sender.start()
    pdus = []
    data_bytes = 0
    try:
        # up to the last data set fragment (or as many data set bytes as were sent, should that flag be missing)
        while not pdus or (pdus[-1][11] != 0x02 and data_bytes < len(dataset)):
            pdus.append(_recv_pdu(peer))
            if not pdus[-1][11] & 0x01:
                data_bytes += len(pdus[-1]) - 12
    finally:
        sender.join(30)
    assert outcome == [None]
    return pdus


# (context id, fragment_max, data set size)
SEND_CASES = [(1, 16, 40), (127, 4096, 4096), (255, 16372, 5 * 16372 + 10), (3, 16372, 600_000), (5, 1000, 999),
              (7, 2, 2)]


@pytest.mark.parametrize("context_id,fragment,size", SEND_CASES)
def test_p_data_written_by_us_decoded_by_pynetdicom(context_id, fragment, size, wired):
    """Each P-DATA-TF PDU of our C-STORE (PDU header + PDV header + fragment) decoded by pynetdicom: one PDV per PDU,
    the context ID, the message control header (0x03 command, 0x00 data, 0x02 last data), the fragment; and
    pynetdicom's own encoding of that PDV is the same byte string."""
    assoc, peer = wired([PresentationContext(context_id, CT, [LEE, LEI])], accepted_ts=LEE)
    assoc.fragment_max = fragment
    dataset = pattern(size, seed=context_id)
    pdus = _send_store_pdus(assoc, peer, context_id, 17, dataset)

    padded = dataset + b"\0" * (size % 2)  # an odd data set (end of a deflated stream) is NUL padded, as in DCMTK
    chunks = [padded[i:i + fragment] for i in range(0, len(padded), fragment)]
    expected = [(0x03, codec.encode_cstore_rq(17, CT, "1.2.3.4.5"))] \
        + [(0x00, c) for c in chunks[:-1]] + [(0x02, chunks[-1])]
    got = []
    for raw in pdus:
        pdu = P_DATA_TF()
        pdu.decode(raw)
        assert raw[0] == pdu.pdu_type == 0x04 and pdu.pdu_length == len(raw) - 6
        [item] = pdu.presentation_data_value_items
        assert item.presentation_context_id == context_id
        mch = item.presentation_data_value[0]
        assert item.message_control_header_byte == f"{mch:08b}"
        got.append((mch, item.presentation_data_value[1:]))
        primitive = P_DATA()
        primitive.presentation_data_value_list = [[context_id, item.presentation_data_value]]  # (lists, not tuples)
        assert P_DATA_TF(primitive).encode() == raw == pdu.encode()
    assert got == expected


def test_p_data_with_several_pdvs_from_pynetdicom_split_by_us():
    pdvs = [(1, 0x01, pattern(200, 1)), (1, 0x03, pattern(38, 2)), (1, 0x00, pattern(4000, 3)),
            (3, 0x02, pattern(2, 4)), (255, 0x02, b""), (7, 0xFF, pattern(11, 5))]
    primitive = P_DATA()
    primitive.presentation_data_value_list = [[cid, bytes([mch]) + data] for cid, mch, data in pdvs]
    raw = P_DATA_TF(primitive).encode()
    assert raw[0] == 0x04 and struct.unpack_from(">I", raw, 2)[0] == len(raw) - 6
    assert network._split_pdvs(raw[6:]) == pdvs


def test_p_data_pdv_lengths_that_do_not_add_up():
    primitive = P_DATA()
    primitive.presentation_data_value_list = [[1, b"\x03" + pattern(20)], [1, b"\x02" + pattern(30)]]
    body = P_DATA_TF(primitive).encode()[6:]
    cond = network._split_pdvs(body[:-1])
    assert isinstance(cond, network.Condition) and "PDV lengths don't add up correctly: 2 PDVs" in cond.text


# ---------------------------------------------------------------------------------------------------------------
# C-STORE-RQ: ours -> pynetdicom

# (message id, SOP class, SOP instance, priority)
STORE_CASES = [
    (1, CT, "1.2.3.4", 0),  # odd and even UIDs
    (0xFFFF, MR, UID64, 2),
    (42, UID63, "1.2.826.0.1.3680043.8.498.12345", 1),
    (7, SC, UID63, 0),
]


def _pynetdicom_decode_command(command: bytes, context_id: int = 1) -> DIMSEMessage:
    """pynetdicom's DIMSE layer reading one command PDV (message control header 0x03)."""
    primitive = P_DATA()
    primitive.presentation_data_value_list = [[context_id, b"\x03" + command]]
    msg = DIMSEMessage()
    msg.decode_msg(primitive)  # False: a data set is announced and still to come
    return msg


@pytest.mark.parametrize("message_id,sop_class,sop_instance,priority", STORE_CASES)
def test_cstore_rq_decoded_by_pynetdicom(message_id, sop_class, sop_instance, priority):
    command = codec.encode_cstore_rq(message_id, sop_class, sop_instance, priority)
    msg = _pynetdicom_decode_command(command)
    assert isinstance(msg, C_STORE_RQ)
    cs = msg.command_set
    assert [elem.keyword for elem in cs] == ["CommandGroupLength", "AffectedSOPClassUID", "CommandField", "MessageID",
                                            "Priority", "CommandDataSetType", "AffectedSOPInstanceUID"]
    assert cs.CommandGroupLength == len(command) - 12
    assert (cs.CommandField, cs.MessageID, cs.Priority) == (0x0001, message_id, priority)
    assert (cs.AffectedSOPClassUID, cs.AffectedSOPInstanceUID) == (sop_class, sop_instance)
    assert cs.CommandDataSetType != 0x0101  # a data set follows
    # and through to pynetdicom's C-STORE primitive
    store = msg.message_to_primitive()
    assert isinstance(store, C_STORE)
    assert (store.MessageID, store.AffectedSOPClassUID, store.AffectedSOPInstanceUID, store.Priority) == (
        message_id, sop_class, sop_instance, priority)


def _pynetdicom_cstore_rq(message_id, sop_class, sop_instance, priority) -> bytes:
    primitive = C_STORE()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = sop_class
    primitive.AffectedSOPInstanceUID = sop_instance
    primitive.Priority = priority
    primitive.DataSet = io.BytesIO(b"\x08\x00\x16\x00")
    msg = C_STORE_RQ()
    msg.primitive_to_message(primitive)
    return dsutils.encode(msg.command_set, True, True)


# Our C-STORE-RQ command set is pynetdicom's byte for byte: the same tags, order, values, UI padding with NUL, group
# length, and CommandDataSetType 0x0001 as DCMTK 3.6.7 writes it (DIMSE_DATASET_PRESENT; the command set captured from
# /usr/bin/dcmsend by a local acceptor is pynetdicom's byte for byte, see DCMTK_CSTORE_RQ).  (Ours once wrote 0x0000,
# which peers take too: any value but 0x0101 means "a data set follows".)
@pytest.mark.parametrize("message_id,sop_class,sop_instance,priority", STORE_CASES)
def test_cstore_rq_bytes_equal_pynetdicom(message_id, sop_class, sop_instance, priority):
    assert codec.encode_cstore_rq(message_id, sop_class, sop_instance, priority) == \
        _pynetdicom_cstore_rq(message_id, sop_class, sop_instance, priority)


# The C-STORE-RQ command set /usr/bin/dcmsend 3.6.7 sent (message ID 1, CT Image Storage, instance 1.2.3.4), captured
# by a local acceptor: a fixed vector that shows pynetdicom is a faithful oracle for DCMTK here.
DCMTK_CSTORE_RQ = bytes.fromhex(
    "00000000040000005a000000000002001a000000312e322e3834302e31303030382e352e312e342e312e312e32000000000102000000"
    "01000000100102000000010000000007020000000000000000080200000001000000001008000000312e322e332e3400")


def test_pynetdicom_cstore_rq_is_dcmtks():
    assert _pynetdicom_cstore_rq(1, CT, "1.2.3.4", 0) == DCMTK_CSTORE_RQ


def test_cstore_rq_bytes_equal_dcmtk_capture():
    assert codec.encode_cstore_rq(1, CT, "1.2.3.4") == DCMTK_CSTORE_RQ


@pytest.mark.parametrize("context_id,fragment,size", SEND_CASES)
def test_send_store_decoded_by_pynetdicoms_dimse_layer(context_id, fragment, size, wired):
    """A whole C-STORE-RQ as send_store writes it, read by pynetdicom's DIMSE layer: P_DATA_TF decode -> P-DATA
    primitive -> DIMSEMessage.decode_msg, PDU by PDU until the message is complete."""
    assoc, peer = wired([PresentationContext(context_id, CT, [LEE, LEI])], accepted_ts=LEE)
    assoc.fragment_max = fragment
    dataset = pattern(size, seed=9)
    pdus = _send_store_pdus(assoc, peer, context_id, 0xFFFF, dataset)

    msg = DIMSEMessage()
    complete = [False] * len(pdus)
    for i, raw in enumerate(pdus):
        pdu = P_DATA_TF()
        pdu.decode(raw)
        complete[i] = msg.decode_msg(pdu.to_primitive())
    assert complete == [False] * (len(pdus) - 1) + [True]  # complete with the last PDU, not before
    assert len(pdus) == 1 + -(-size // fragment)  # the command PDU, then the data set in fragments of `fragment`
    assert isinstance(msg, C_STORE_RQ) and msg.context_id == context_id
    cs = msg.command_set
    assert (cs.MessageID, cs.AffectedSOPClassUID, cs.AffectedSOPInstanceUID, cs.Priority) == (
        0xFFFF, CT, "1.2.3.4.5", 0)
    assert msg.data_set.getvalue() == dataset + b"\0" * (size % 2)


# ---------------------------------------------------------------------------------------------------------------
# C-STORE-RSP: pynetdicom / pydicom -> ours


def _pynetdicom_cstore_rsp(message_id: int, status: int, sop_class: str | None, sop_instance: str | None,
                           error_comment: str | None = None, offending: list[int] | None = None) -> C_STORE_RSP:
    primitive = C_STORE()
    primitive.MessageIDBeingRespondedTo = message_id
    primitive.Status = status
    primitive.AffectedSOPClassUID = sop_class
    primitive.AffectedSOPInstanceUID = sop_instance
    primitive.ErrorComment = error_comment
    primitive.OffendingElement = offending
    msg = C_STORE_RSP()
    msg.primitive_to_message(primitive)
    return msg


def _pydicom_command(**elements) -> Dataset:
    """A command set written with pydicom directly (for elements pynetdicom's C-STORE-RSP does not carry)."""
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.CommandGroupLength = len(dsutils.encode(ds, True, True))
    return ds


RSP_CASES = {
    "success": lambda: _pynetdicom_cstore_rsp(1, 0x0000, CT, "1.2.3.4").command_set,
    "warning-with-detail": lambda: _pynetdicom_cstore_rsp(
        0xFFFF, 0xB000, MR, UID64, "Coerced", [0x00100010, 0x00100020]).command_set,
    "failure-odd-comment": lambda: _pynetdicom_cstore_rsp(2, 0xA700, UID63, UID63, "Out of resources!").command_set,
    "refused-no-instance": lambda: _pynetdicom_cstore_rsp(3, 0x0122, CT, None, "SOP Class not supported").command_set,
    "failure-error-id-pydicom": lambda: _pydicom_command(
        AffectedSOPClassUID=CT, CommandField=0x8001, MessageIDBeingRespondedTo=9, CommandDataSetType=0x0101,
        Status=0xC001, AffectedSOPInstanceUID="1.2.3.4.5", OffendingElement=[0x7FE00010], ErrorComment="bad pixels",
        ErrorID=0x1234),
    "no-class-no-instance": lambda: _pynetdicom_cstore_rsp(4, 0x0000, None, None).command_set,
}


def _element_bytes(ds: Dataset, tag) -> bytes:
    """The value bytes pydicom writes for one element (Implicit VR Little Endian, without the 8-byte header)."""
    one = Dataset()
    one.add(ds[tag])
    return dsutils.encode(one, True, True)[8:]


def _check_command(cmd: codec.Command, cs: Dataset, encoded: bytes) -> None:
    assert list(cmd.elements) == [int(elem.tag) for elem in cs]
    for elem in cs:
        assert cmd.elements[int(elem.tag)] == _element_bytes(cs, elem.tag), elem.keyword
    assert struct.unpack("<I", cmd.elements[0x00000000])[0] == cs.CommandGroupLength == len(encoded) - 12
    assert cmd.us(0x00000100) == 0x8001
    assert cmd.us(0x00000120) == cs.MessageIDBeingRespondedTo
    assert cmd.us(0x00000800) == 0x0101
    assert cmd.us(0x00000900) == cs.Status
    for tag, keyword in [(0x00000002, "AffectedSOPClassUID"), (0x00001000, "AffectedSOPInstanceUID"),
                         (0x00000902, "ErrorComment")]:
        assert cmd.text(tag) == (str(cs[keyword].value) if keyword in cs else None)
    if "OffendingElement" in cs:
        raw = cmd.elements[0x00000901]
        values = cs.OffendingElement if cs["OffendingElement"].VM > 1 else [cs.OffendingElement]
        assert [g << 16 | e for g, e in struct.iter_unpack("<HH", raw)] == [int(t) for t in values]
    if "ErrorID" in cs:
        assert cmd.us(0x00000903) == cs.ErrorID


@pytest.mark.parametrize("case", list(RSP_CASES))
def test_cstore_rsp_from_pynetdicom_parsed_by_us(case):
    cs = RSP_CASES[case]()
    encoded = dsutils.encode(cs, True, True)
    _check_command(codec.parse_command(encoded), cs, encoded)


@pytest.mark.parametrize("case", list(RSP_CASES))
@pytest.mark.parametrize("max_pdu", [0, 40, 16384])
def test_cstore_rsp_received_over_p_data_from_pynetdicom(case, max_pdu, wired):
    """pynetdicom's whole C-STORE-RSP (DIMSEMessage.encode_msg: command fragments of max_pdu - 6 bytes, one P-DATA-TF
    each) read by our receive_command."""
    cs = RSP_CASES[case]()
    msg = C_STORE_RSP()
    msg.command_set = cs
    assoc, peer = wired([PresentationContext(5, CT, [LEE])], accepted_ts=LEE)
    pdus = [P_DATA_TF(primitive).encode() for primitive in msg.encode_msg(5, max_pdu)]
    assert len(pdus) >= (2 if max_pdu == 40 else 1)
    peer.sendall(b"".join(pdus))
    got = assoc.receive_command(5)
    assert not isinstance(got, network.Condition), got
    pid, cmd = got
    assert pid == 5
    _check_command(cmd, cs, dsutils.encode(cs, True, True))
