#!/usr/bin/env python3
"""Import cycles among sharpeyes' modules, from the `crate::` paths of the source.

    scripts/check-cycles.py [--max-top N] [--max-files N] [--verbose]

Reads every `src/**/*.rs`, drops `#[cfg(test)]` items (test modules may import anything), and
collects each file's references to `crate::a::b::…` (in `use` declarations, including nested
`use crate::{a, b::c}` groups, and in inline paths). Two graphs are built:

- top-level modules (`fleet`, `alerts`, `vision`, …): an edge a -> b when a file under `a`
  names `crate::b`;
- files: an edge when a file names an item of another file's module (the longest module
  path that is a file).

Strongly connected components of more than one node are cycles. The script prints them and
exits 1 when the number of top-level modules in cycles exceeds `--max-top` or the number of
files in cycles exceeds `--max-files` (a ratchet: CI runs it with today's figures, so the knot
can only shrink; lower the numbers as cycles are broken). Default limits: 0 and 0.
"""

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def drop_cfg_test(text: str) -> str:
    """Removes `#[cfg(test)]` items: the attribute and the following item up to its closing
    brace (or semicolon)."""
    out = []
    i = 0
    pat = re.compile(r"#\[cfg\(test\)\]")
    while True:
        m = pat.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i:m.start()])
        j = m.end()
        depth = 0
        while j < len(text):
            c = text[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            elif c == ";" and depth == 0:
                j += 1
                break
            j += 1
        i = j
    return "".join(out)


def module_of(path: Path) -> tuple:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def expand_use(body: str) -> list:
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e'] (self and aliases handled)."""
    body = body.strip()
    m = re.match(r"^(.*?)\{(.*)\}$", body, flags=re.S)
    if not m:
        return [re.split(r"\s+as\s+", body)[0].strip()]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for c in inner:
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        cur += c
    parts.append(cur)
    out = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        if p == "self":
            out.append(prefix.rstrip(":"))
        else:
            out.extend(expand_use(prefix + p))
    return out


def references(text: str) -> set:
    refs = set()
    for m in re.finditer(r"\buse\s+crate::(.*?);", text, flags=re.S):
        for p in expand_use(m.group(1)):
            refs.add(tuple(x for x in p.split("::") if x))
    for m in re.finditer(r"\bcrate::((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)", text):
        refs.add(tuple(m.group(1).split("::")))
    return refs


def sccs(graph: dict) -> list:
    """Tarjan's algorithm; components of more than one node."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-top", type=int, default=0)
    ap.add_argument("--max-files", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    files = {}
    for path in sorted(SRC.rglob("*.rs")):
        if path.name == "main.rs":
            continue
        text = drop_cfg_test(strip_comments(path.read_text()))
        files[module_of(path)] = (path, references(text))
    modules = set(files)

    top = {}
    file_graph = {}
    for mod, (path, refs) in files.items():
        if not mod:
            continue
        src_top = mod[0]
        name = str(path.relative_to(ROOT))
        for r in refs:
            if not r or r[0] == src_top:
                pass
            elif (r[0],) in modules or any(m[:1] == (r[0],) for m in modules):
                top.setdefault(src_top, set()).add(r[0])
            # The file the path names: its longest prefix that is a module with a file.
            target = None
            for k in range(len(r), 0, -1):
                if r[:k] in modules:
                    target = r[:k]
                    break
            if target and target != mod and target != ():
                tname = str(files[target][0].relative_to(ROOT))
                file_graph.setdefault(name, set()).add(tname)

    top_cycles = sccs(top)
    file_cycles = sccs(file_graph)
    n_top = sum(len(c) for c in top_cycles)
    n_files = sum(len(c) for c in file_cycles)
    print(f"top-level modules: {len(top)} with imports; in cycles: {n_top}")
    for c in top_cycles:
        print("  cycle: " + " <-> ".join(c))
    print(f"files in cycles: {n_files} ({len(file_cycles)} cycles)")
    for c in file_cycles:
        print(f"  cycle of {len(c)}: " + (", ".join(c) if args.verbose or len(c) <= 6 else ", ".join(c[:6]) + ", …"))
    if args.verbose:
        for a in sorted(top):
            print(f"  {a} -> {', '.join(sorted(top[a]))}")
    if n_top > args.max_top or n_files > args.max_files:
        print(
            f"check-cycles: {n_top} modules / {n_files} files in cycles, limits "
            f"{args.max_top} / {args.max_files}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
