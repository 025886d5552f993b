"""Derive the compact data dictionary table the package ships from DCMTK's own dictionary files.

DCMTK 3.6.7 (Debian's libdcmtk17) loads ``dicom.dic`` and ``private.dic`` by default (DCM_DICT_DEFAULT_PATH); the
clone needs, for every tag, the VR DCMTK reads an implicit VR element with and the name it prints in messages.

Usage: python tools/derive_dictionary.py [DIC ...] > src/dcmsend/data/dictionary.tsv
(default: /usr/share/libdcmtk17/dicom.dic /usr/share/libdcmtk17/private.dic), then
       python tools/derive_dictionary.py --index src/dcmsend/data/dictionary.tsv src/dcmsend/data/dictionary.idx
for the index of the public tags' VRs that implicit VR reading uses (dcmsend.dictionary.index_bytes; a test checks
that the shipped index is the one made from the shipped table).

Output, one entry a line, tab-separated (hex upper case), in three blocks, each in the order of the input files
(DCMTK's hash dictionary keeps the last of equal keys; the repeating entries are searched in order):
  ``ggggeeee VR name``                                    an exact public tag
  ``*glo ghi gr elo ehi er creator VR name``               a range (gr/er: e even, o odd, u unrestricted; creator
                                                          '-' for none)
  ``=ggggeeee creator VR name``                           an exact private tag (its creator's block: 00ee)
"""

import os
import re
import sys

DEFAULT = ["/usr/share/libdcmtk17/dicom.dic", "/usr/share/libdcmtk17/private.dic"]
_PART = re.compile(r"^([0-9A-Fa-f]{2,4})(?:-(?:([ouOUeE])-)?([0-9A-Fa-f]{2,4}))?$")


def part(text):
    m = _PART.match(text.strip())
    if not m:
        raise ValueError(text)
    lo = m.group(1).upper()
    hi = (m.group(3) or m.group(1)).upper()
    if m.group(3) is None:
        restrict = "u"
    else:
        restrict = (m.group(2) or "e").lower()  # DCMTK's default for a range: even values only
    return lo, hi, restrict


def parse_key(key):
    """(group part, creator or None, element part) of '(gggg,eeee)' or '(gggg,"creator",ee)'."""
    inner = key.strip()[1:-1]
    if '"' in inner:
        first = inner.index('"')
        last = inner.rindex('"')
        group = inner[:first].rstrip(",")
        creator = inner[first + 1:last]
        elem = inner[last + 1:].lstrip(",")
        return part(group), creator, part(elem)
    group, elem = inner.split(",")
    return part(group), None, part(elem)


def write_index(table: str, index: str) -> None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
    from dcmsend.dictionary import index_bytes

    with open(table, encoding="latin-1") as fh:
        data = index_bytes(fh.read())
    with open(index, "wb") as fh:
        fh.write(data)


def main():
    if sys.argv[1:2] == ["--index"] and len(sys.argv) == 4:
        write_index(sys.argv[2], sys.argv[3])
        return
    files = sys.argv[1:] or DEFAULT
    public: dict = {}  # (a later file's entry replaces an earlier one, as DCMTK's dictionary does)
    ranges: list = []
    private: dict = {}
    for path in files:
        with open(path, encoding="latin-1") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                fields = [f for f in line.split("\t") if f != ""]
                key, vr, name = fields[0], fields[1], fields[2]
                (glo, ghi, gr), creator, (elo, ehi, er) = parse_key(key)
                if glo == ghi and elo == ehi:
                    if creator is None:
                        public[f"{glo}{int(elo, 16):04X}"] = f"{glo}{int(elo, 16):04X}\t{vr}\t{name}"
                    else:
                        private[(f"{glo}{int(elo, 16):04X}", creator)] = \
                            f"={glo}{int(elo, 16):04X}\t{creator}\t{vr}\t{name}"
                else:
                    ranges.append(f"*{glo}\t{ghi}\t{gr}\t{int(elo, 16):04X}\t{int(ehi, 16):04X}\t{er}\t"
                                  f"{creator if creator is not None else '-'}\t{vr}\t{name}")
    print("# DCMTK 3.6.7 data dictionary (derived by tools/derive_dictionary.py from " +
          " ".join(f.rsplit("/", 1)[-1] for f in files) + ")")
    # the public and the private entries sorted by tag (and creator: dictionary.py looks them up by bisection); the
    # ranges in the files' order (the first that fits is taken)
    for line in sorted(public.values()) + ranges + sorted(private.values()):
        print(line)


if __name__ == "__main__":
    main()
