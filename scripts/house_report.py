"""Figures about the shape of the code base (issue 11): cycles, largest modules, in-function project imports,
typed and documented shares. Reads the source with ``ast``; imports nothing of the project.

Usage: python scripts/house_report.py [--json] [--top N]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("embedstore", "indexers")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def iter_modules() -> list[Path]:
    out = []
    for pkg in PACKAGES:
        out += sorted((ROOT / pkg).rglob("*.py"))
    return out


def _resolve(mod: str, node: ast.ImportFrom, is_pkg: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _targets(mod: str, node: ast.Import | ast.ImportFrom, is_pkg: bool, mods: dict) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = _resolve(mod, node, is_pkg)
    out = []
    for a in node.names:
        full = f"{base}.{a.name}"
        out.append(full if full in mods else base)
    return out


def _visit_imports(
    node,
    *,
    mod: str,
    rel: str,
    is_pkg: bool,
    mods: dict,
    graph: dict,
    in_function: list,
    depth_fn: int = 0,
    in_tc: bool = False,
) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            for t in _targets(mod, child, is_pkg, mods):
                if t.split(".")[0] in PACKAGES:
                    while t and t not in mods:  # the closest module that exists
                        t = t.rpartition(".")[0]
                    if t and t != mod and not in_tc:
                        graph[mod].add(t)
                    if depth_fn > 0:
                        in_function.append(f"{rel}:{child.lineno}")
        fn = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        tc = isinstance(child, ast.If) and _is_type_checking(child)
        _visit_imports(
            child,
            mod=mod,
            rel=rel,
            is_pkg=is_pkg,
            mods=mods,
            graph=graph,
            in_function=in_function,
            depth_fn=depth_fn + (1 if fn else 0),
            in_tc=in_tc or tc,
        )


def _count_functions(node, public_scope: bool, acc: dict) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            _count_functions(child, public_scope and not child.name.startswith("_"), acc)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            args = child.args
            params = [
                a for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in ("self", "cls")
            ]
            params += [a for a in (args.vararg, args.kwarg) if a is not None]
            acc["params"] += len(params)
            acc["typed"] += sum(a.annotation is not None for a in params)
            if public_scope and not child.name.startswith("_"):
                acc["public"] += 1
                acc["documented"] += ast.get_docstring(child) is not None


def analyse() -> dict:
    mods = {module_name(p): p for p in iter_modules()}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    in_function: list[str] = []
    acc = {"params": 0, "typed": 0, "public": 0, "documented": 0}
    sizes = []
    for mod, path in mods.items():
        src = path.read_text()
        tree = ast.parse(src)
        rel = str(path.relative_to(ROOT))
        sizes.append((len(src.splitlines()), rel))
        _visit_imports(
            tree,
            mod=mod,
            rel=rel,
            is_pkg=path.name == "__init__.py",
            mods=mods,
            graph=graph,
            in_function=in_function,
        )
        _count_functions(tree, True, acc)
    sizes.sort(reverse=True)
    return {
        "modules": len(mods),
        "cycles": _cycles(graph),
        "largest_modules": sizes,
        "in_function_project_imports": len(in_function),
        "in_function_sites": in_function,
        "typed_params_share": round(acc["typed"] / max(acc["params"], 1), 3),
        "params": acc["params"],
        "documented_public_share": round(acc["documented"] / max(acc["public"], 1), 3),
        "public_functions": acc["public"],
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), ignoring a package's own __init__
    importing its submodules (a re-export is not a cycle unless the submodule imports the package back)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
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

    for v in graph:
        if v not in index:
            strong(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--top", type=int, default=8)
    a = ap.parse_args()
    r = analyse()
    if a.json:
        print(json.dumps(r, indent=2))
        return
    print(f"modules: {r['modules']}")
    print(f"import cycles: {len(r['cycles'])}")
    for c in r["cycles"]:
        print("  - " + " <-> ".join(c))
    print("largest modules (lines): " + ", ".join(f"{p} {n}" for n, p in r["largest_modules"][: a.top]))
    print(f"modules over 400 lines: {sum(n > 400 for n, _ in r['largest_modules'])}")
    print(f"in-function imports of project modules: {r['in_function_project_imports']}")
    print(f"typed parameters: {r['typed_params_share']:.0%} of {r['params']}")
    print(f"documented public functions: {r['documented_public_share']:.0%} of {r['public_functions']}")


if __name__ == "__main__":
    main()
