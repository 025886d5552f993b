"""Presentation-context planning and association rounds (DcmStorageSCU::addPresentationContexts).

One call plans one association round: starting at ``state.current`` it walks the transfer list, re-uses a
context of this round for an entry of the same SOP class with a compatible transfer syntax, and otherwise
adds a new context (IDs 1, 3, 5, ... 255, so at most 128 per round) whose proposed transfer syntaxes depend
on the entry's transfer syntax, the decompression mode (-dn / +dls / +dly) and -nip.
"""

from __future__ import annotations

from dcmsend import uids
from dcmsend.collect import STATUS_NO_ACCEPTABLE_CONTEXT, Instance
from dcmsend.exitcodes import Condition
from dcmsend.log import DEBUG, NET

# OFCondition module numbers (ofcond.h).
_OFM_DCMDATA = 1
_OFM_DCMNET = 6

# dcmdata EC_UnsupportedEncoding: planning stopped on an entry without a possible proposal (halt mode).
UNSUPPORTED_ENCODING = Condition(_OFM_DCMDATA, 15, "Unsupported compression or encryption")
# dcmnet NET_EC_NoPresentationContextsDefined: nothing (more) to propose; the normal end of the rounds.
NO_PRESENTATION_CONTEXTS_DEFINED = Condition(_OFM_DCMNET, 1005, "No Presentation Contexts defined")
# dcmnet NET_EC_NoSOPInstancesToSend: the transfer list is empty.
NO_SOP_INSTANCES_TO_SEND = Condition(_OFM_DCMNET, 1007, "No SOP instances to send")

# Decompression modes (Options.decompress).
DECOMPRESS_NEVER = "never"  # -dn
DECOMPRESS_LOSSLESS = "lossless"  # +dls (default)
DECOMPRESS_LOSSY = "lossy"  # +dly

# DCMTK's ESC_unsupported case: a stream-compressed (deflate) syntax without zlib support.  We always have
# zlib, so this stays True; it is a switch only so that the (unreachable) row can be tested.
STREAM_COMPRESSION_SUPPORTED = True

_MAX_CONTEXT_ID = 255

_ALSO_UNCOMPRESSED = ("also propose the three uncompressed transfer syntaxes, "
                      "because we can decompress the SOP instance (if required)")
_DEFAULT_TS_NOTE = ("  (including the Default Transfer Syntax, which might result in a violation "
                    "of the DICOM standard if it is not proposed in another presentation context)")


class PresentationContext:
    """(Plain classes rather than dataclasses: importing ``dataclasses`` costs milliseconds at start-up.)"""

    __slots__ = ("id", "abstract_syntax", "transfer_syntaxes")

    def __init__(self, id: int, abstract_syntax: str, transfer_syntaxes: list[str]):
        self.id = id  # 1, 3, 5, ... 255
        self.abstract_syntax = abstract_syntax
        self.transfer_syntaxes = transfer_syntaxes

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.id, self.abstract_syntax, self.transfer_syntaxes) == (other.id, other.abstract_syntax,
                                                                          other.transfer_syntaxes)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PresentationContext(id={self.id!r}, abstract_syntax={self.abstract_syntax!r}, " \
               f"transfer_syntaxes={self.transfer_syntaxes!r})"


class TransferState:
    """The transfer list plus DcmStorageSCU's cursor and counters, shared by planning, sending and the report."""

    __slots__ = ("entries", "current", "context_counter", "association_counter", "contexts")

    def __init__(self, entries: list[Instance], current: int = 0, context_counter: int = 0,
                 association_counter: int = 0, contexts: list[PresentationContext] | None = None):
        self.entries = entries
        self.current = current  # CurrentTransferEntry (index into entries)
        self.context_counter = context_counter  # PresentationContextCounter (total new contexts over all rounds)
        self.association_counter = association_counter  # AssociationCounter (negotiation attempts)
        self.contexts = [] if contexts is None else contexts  # the current round's proposal


def can_decompress(ts_uid: str) -> bool:
    """Whether an instance in ``ts_uid`` can be converted to an uncompressed syntax by us: the stream-compressed
    (deflate) syntaxes and every syntax our pixel-data decoders handle (``convert.can_decode``, from which
    ``convert.decodable_syntaxes``, the list ``--list-decoders`` shows, is made).  Beyond DCMTK 3.6.7 this
    includes JPEG 2000, so such instances get the uncompressed fallback syntaxes too."""
    ts = uids.transfer_syntax(ts_uid)
    if ts is None:
        return False
    if ts.deflated:
        return True
    from dcmsend.decompress import can_decode

    return can_decode(ts.uid)


def _proposal(entry: Instance, options) -> list[str] | None:
    """The transfer syntaxes for a new context for ``entry`` (logging as DCMTK does), or None: no proposal."""
    ts_uid = entry.transfer_syntax_uid
    ts = uids.transfer_syntax(ts_uid)
    if ts is None:
        NET.warn(f"transfer syntax is unknown, trying to propose only this one: {ts_uid}")
        return [ts_uid]
    if ts.deflated and not STREAM_COMPRESSION_SUPPORTED:
        NET.error("transfer syntax uses an unsupported stream compression, "
                  "so we cannot add a presentation context for this SOP instance")
        return None
    if not (ts.encapsulated or ts.deflated):
        return list(uids.U3)
    proposal = [ts_uid]
    mode = getattr(options, "decompress", DECOMPRESS_LOSSLESS)
    allow_illegal = not getattr(options, "no_illegal_proposal", False)
    if not ts.lossy:
        if mode == DECOMPRESS_NEVER:
            if allow_illegal:
                NET.warn("transfer syntax uses a lossless compression but we are not allowed to decompress it, "
                         "so we are not proposing any uncompressed transfer syntax\n" + _DEFAULT_TS_NOTE)
            else:
                NET.error("transfer syntax uses a lossless compression but we are not allowed to decompress it, "
                          "so we cannot add a presentation context for this SOP instance")
                return None
        elif can_decompress(ts_uid):
            NET.debug(_ALSO_UNCOMPRESSED)
            proposal.extend(uids.U3)
        elif allow_illegal:
            NET.warn("transfer syntax uses a lossless compression but we cannot decompress it, "
                     "so we are not proposing any uncompressed transfer syntax\n" + _DEFAULT_TS_NOTE)
        else:
            NET.error("transfer syntax uses a lossless compression but we cannot decompress it, "
                      "so we cannot add a presentation context for this SOP instance")
            return None
    elif mode == DECOMPRESS_LOSSY:
        if can_decompress(ts_uid):
            NET.debug(_ALSO_UNCOMPRESSED)
            proposal.extend(uids.U3)
        else:
            NET.warn("transfer syntax uses a lossy compression but we cannot decompress it, "
                     "so we are not proposing any uncompressed transfer syntax")
    else:
        NET.debug("transfer syntax uses a lossy compression but we are not allowed to decompress it, "
                  "so we are not proposing any uncompressed transfer syntax")
    return proposal


def _reuse(entries: list[Instance], first: int, index: int) -> int:
    """Search this round's earlier entries backwards for a context to re-use; return its ID or 0."""
    entry = entries[index]
    for j in range(index - 1, first - 1, -1):
        other = entries[j]
        if (other.sop_class_uid == entry.sop_class_uid
                and ((other.uncompressed and entry.uncompressed)
                     or other.transfer_syntax_uid == entry.transfer_syntax_uid)
                and other.context_id > 0):
            return other.context_id
    return 0


def add_presentation_contexts(state: TransferState, options) -> Condition | None:
    """Plan the next round into ``state.contexts``; return None (good) or an ``exitcodes.Condition``:
    ``NO_PRESENTATION_CONTEXTS_DEFINED`` (normal end) or ``UNSUPPORTED_ENCODING`` (halt mode)."""
    entries = state.entries
    state.contexts = []
    if not entries:
        return NO_SOP_INSTANCES_TO_SEND
    halt = not getattr(options, "no_halt", False)
    if state.context_counter == 0:
        state.current = 0
    first = state.current
    next_id = 1
    status: Condition | None = None
    debug = NET.enabled(DEBUG)
    index = first
    while index < len(entries) and status is None and next_id <= _MAX_CONTEXT_ID:
        entry = entries[index]
        if not entry.request_sent:
            if debug:
                NET.debug("preparing presentation context for SOP Class / Transfer Syntax: "
                          f"{uids.class_name_or_uid(entry.sop_class_uid)} / {uids.ts_name(entry.transfer_syntax_uid)}")
            entry.context_id = 0
            if index != first:
                reused = _reuse(entries, first, index)
                if reused:
                    NET.debug("same SOP Class UID and compatible Transfer Syntax UID as for another SOP instance, "
                              f"reusing the presentation context with ID {reused}")
                    entry.context_id = reused
            if entry.context_id == 0:
                proposal = _proposal(entry, options)
                if proposal is not None:
                    state.contexts.append(PresentationContext(next_id, entry.sop_class_uid, proposal))
                    NET.debug(f"added new presentation context with ID {next_id}")
                    entry.context_id = next_id
                    next_id += 2
                    state.context_counter += 1
                else:
                    entry.request_sent = True
                    entry.status = STATUS_NO_ACCEPTABLE_CONTEXT
                    if halt:
                        status = UNSUPPORTED_ENCODING
        index += 1
    if next_id == 1 and status is None:
        return NO_PRESENTATION_CONTEXTS_DEFINED
    return status


def mark_all_rejected(state: TransferState) -> None:
    """All proposed contexts were rejected (DcmStorageSCU::negotiateAssociation): mark this round's entries,
    from ``state.current`` up to the first one already processed or without a context, with 0xFFFF."""
    entries = state.entries
    while state.current < len(entries):
        entry = entries[state.current]
        if entry.request_sent or entry.context_id == 0:
            break
        entry.request_sent = True
        entry.status = STATUS_NO_ACCEPTABLE_CONTEXT
        state.current += 1
