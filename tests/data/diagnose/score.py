#!/usr/bin/env python3
"""Confusion table of `sharpeyes diagnose` against labels.json (reference for the Rust harness).

    python3 tests/data/diagnose/score.py tests/data/diagnose [path/to/sharpeyes]

Each image is diagnosed in its own invocation (frozen/scene_change compare consecutive images).
Prints the per-image verdicts with the measures that decide occlusion, blur, brightness and colour
cast, then per fault true positives / false positives / false negatives, then every mismatch with
all measures. Standard library only.
"""
import json, subprocess, sys
from pathlib import Path
d = Path(sys.argv[1]); binp = sys.argv[2] if len(sys.argv) > 2 else "target/debug/sharpeyes"
labels = json.loads((d / "labels.json").read_text())["images"]
FAULTS = ["too_dark","too_bright","frozen","blur","occlusion","color_cast","snow_noise","stripes","scene_change"]
tab = {f: [0,0,0] for f in FAULTS}; wrong = []; rows = []
for it in labels:
    p = subprocess.run([binp, "diagnose", "--json", str(d / it["file"])], capture_output=True, text=True)
    v = json.loads(p.stdout)[0]
    got, exp = set(v["faults"]), set(it["expect"])
    for f in FAULTS:
        if f in got and f in exp: tab[f][0] += 1
        elif f in got: tab[f][1] += 1
        elif f in exp: tab[f][2] += 1
    m = v["measures"]
    rows.append((it["file"], sorted(exp), sorted(got), m))
    if got != exp: wrong.append((it["file"], sorted(exp), sorted(got), m))
print("%-28s %-16s %-24s %6s %8s %6s %5s %5s" % ("image","expect","got","luma","lapvar","occ","K","D"))
for f, e, g, m in rows:
    print("%-28s %-16s %-24s %6.1f %8.1f %6.3f %5.2f %5.1f%s" % (f, ",".join(e) or "-", ",".join(g) or "-", m["mean_luma"], m["laplacian_var"], m["occluded_fraction"], m["cast_factor"], m["chroma_offset"], "" if set(e)==set(g) else "   <-- differs"))
print("\n%-14s %4s %4s %4s" % ("fault","TP","FP","FN"))
for f in FAULTS: print("%-14s %4d %4d %4d" % (f, *tab[f]))
print("\nmismatches:", len(wrong), "of", len(labels))
for f, e, g, m in wrong: print(" ", f, "expect", e, "got", g, json.dumps(m))
