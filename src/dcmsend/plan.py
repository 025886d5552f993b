"""Presentation-context planning and association rounds (DcmStorageSCU::addPresentationContexts).

(Interface fixed; the body is being written.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dcmsend.collect import Instance


@dataclass
class PresentationContext:
    id: int  # 1, 3, 5, ... 255
    abstract_syntax: str
    transfer_syntaxes: list[str]


@dataclass
class TransferState:
    """The transfer list plus DcmStorageSCU's cursor and counters, shared by planning, sending and the report."""

    entries: list[Instance]
    current: int = 0  # CurrentTransferEntry (index into entries)
    context_counter: int = 0  # PresentationContextCounter (total new contexts over all rounds)
    association_counter: int = 0  # AssociationCounter (negotiation attempts)
    contexts: list[PresentationContext] = field(default_factory=list)  # the current round's proposal


def add_presentation_contexts(state: TransferState, options) -> object:
    """Plan the next round into ``state.contexts``; return None (good) or an ``exitcodes.Condition``:
    ``NO_PRESENTATION_CONTEXTS_DEFINED`` (normal end) or ``UNSUPPORTED_ENCODING`` (halt mode)."""
    raise NotImplementedError
