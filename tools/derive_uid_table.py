"""Derive the DCMTK 3.6.7 UID table from the 3.6.2 and 3.7.0 reference tables.

A UID is kept when its dotted string occurs in the installed 3.6.7 libdcmdata
(``strings`` output given as argument); the name is the 3.7.0 one when the
library contains it (as a whole string or a merged suffix), else the 3.6.2 one.
Usage: python tools/derive_uid_table.py STRINGS.txt REF_DIR > src/dcmsend/data/uids.tsv
"""

import sys


def load(path):
    rows = {}
    order = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            while len(f) < 4:
                f.append("")
            rows[f[0]] = f
            order.append(f[0])
    return rows, order


def main():
    strings = open(sys.argv[1], encoding="latin-1").read().split("\n")
    exact = set(strings)
    blob = "\n".join(strings)
    old, old_order = load(sys.argv[2] + "/dcmtk-3.6.2_uid_table.tsv")
    new, new_order = load(sys.argv[2] + "/dcmtk-3.7.0_uid_table.tsv")
    print("# uid\tname\tstorage(P/N/-)\tmodality (derived for DCMTK 3.6.7)")
    seen = set()
    for uid in new_order + old_order:
        if uid in seen or uid not in exact:
            continue
        seen.add(uid)
        row = new.get(uid) or old[uid]
        name = row[1]
        if name not in blob and uid in old and old[uid][1] in blob:
            name = old[uid][1]
        print("\t".join([uid, name, row[2], row[3]]))


main()
