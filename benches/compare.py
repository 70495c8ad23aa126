#!/usr/bin/env python3
"""Compares two `--print` outputs as JSON.

    compare.py RBAKE_JSON BUILDX_JSON

Both are normalised as json.dumps(sort_keys=True). One more normalisation, printed when it
was needed: the member lists of the groups that bake makes for matrix targets (a group
named after the matrix label, listing `LABEL-...` instances) are sorted, because buildx
0.13 orders matrix instances by iterating a Go map, which changes from run to run.
Prints `same`, `same after sorting matrix groups`, or the first difference; exits 1 on a
difference.
"""

import json
import sys


def first_diff(a, b, path="$"):
    if type(a) is not type(b):
        return "%s: rbake %s, buildx %s" % (path, json.dumps(a)[:120], json.dumps(b)[:120])
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in b:
                return "%s.%s: only in rbake" % (path, k)
            if k not in a:
                return "%s.%s: only in buildx" % (path, k)
            d = first_diff(a[k], b[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_diff(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        if len(a) != len(b):
            return "%s: rbake has %d items, buildx %d" % (path, len(a), len(b))
        return None
    if a != b:
        return "%s: rbake %s, buildx %s" % (path, json.dumps(a)[:120], json.dumps(b)[:120])
    return None


def sort_matrix_groups(doc):
    for name, g in doc.get("group", {}).items():
        members = g.get("targets", [])
        if members and all(m.startswith(name + "-") for m in members):
            g["targets"] = sorted(members)
    return doc


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        a = json.load(f)
    with open(argv[2], encoding="utf-8") as f:
        b = json.load(f)
    if json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True):
        print("same")
        return 0
    a, b = sort_matrix_groups(a), sort_matrix_groups(b)
    if json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True):
        print("same after sorting matrix groups")
        return 0
    print("differ: " + (first_diff(a, b) or "?"))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
