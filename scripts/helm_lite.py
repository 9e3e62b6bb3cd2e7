"""Render the Helm chart in k8s/helm/postdock without helm (which this machine cannot install).

It understands the subset of Go templates the chart uses, and nothing more: actions with `-` trim
markers; `.Values...`, `.Release.Name`, `.Release.Namespace`, `.Chart.*`, `$`, `$var`, `.` in a range;
pipelines; `if`/`else if`/`else`/`end`, `range $i := ...`, `define`/`include`, and the functions
quote, squote, toYaml, nindent, indent, default, int, until, add, add1, printf, eq, ne, not, and,
or, b64enc, join, list, trunc, trimSuffix, required, ternary. Anything else is an error, not a silent guess.

    python scripts/helm_lite.py [--set key=value ...] > k8s/manifests/postdock.yaml
"""

import argparse
import base64
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "k8s" / "helm" / "postdock"
_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


class TemplateError(Exception):
    pass


def _fail(message: str) -> Any:
    raise TemplateError(message)


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip("\n") if value else ""


def _indent(width: int, text: str) -> str:
    return "\n".join(" " * width + line if line else line for line in str(text).split("\n"))


FUNCS: dict[str, Callable[..., Any]] = {
    "quote": lambda v: '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"',
    "squote": lambda v: "'" + str(v) + "'",
    "toYaml": _to_yaml,
    "nindent": lambda w, t: "\n" + _indent(int(w), t),
    "indent": lambda w, t: _indent(int(w), t),
    "default": lambda d, v=None: v if v not in (None, "", [], {}, False) else d,
    "int": int,
    "until": lambda n: list(range(int(n))),
    "add": lambda *n: sum(int(x) for x in n),
    "add1": lambda n: int(n) + 1,
    "printf": lambda f, *a: re.sub(r"%[sdv]", "{}", f).format(*a),
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "not": lambda v: not v,
    "and": lambda *v: all(v),
    "or": lambda *v: next((x for x in v if x), v[-1]),
    "b64enc": lambda v: base64.b64encode(str(v).encode()).decode(),
    "join": lambda sep, items: sep.join(str(i) for i in items),
    "list": lambda *v: list(v),
    "trunc": lambda n, s: str(s)[: int(n)],
    "required": lambda message, v: v if v not in (None, "") else _fail(message),
    "ternary": lambda yes, no, condition: yes if condition else no,
    "trimSuffix": lambda suffix, s: str(s)[: -len(suffix)] if suffix and str(s).endswith(suffix) else str(s),
}


def _tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text.replace("(", " ( ").replace(")", " ) ").replace("|", " | "), posix=False)
    lexer.whitespace_split = True
    return list(lexer)


class _Scope:
    def __init__(self, root: dict[str, Any], dot: Any, variables: dict[str, Any]) -> None:
        self.root, self.dot, self.variables = root, dot, variables

    def child(self, dot: Any, **variables: Any) -> "_Scope":
        return _Scope(self.root, dot, {**self.variables, **variables})


def _path(base: Any, parts: list[str]) -> Any:
    for part in parts:
        if not part:
            continue
        base = base.get(part) if isinstance(base, dict) else None
    return base


class Renderer:
    def __init__(self, chart: Path, values: dict[str, Any], release: str = "postdock", namespace: str = "default"):
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        self.root = {
            "Values": values,
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
            "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta.get("appVersion", "")},
        }
        self.defines: dict[str, list[Any]] = {}
        for helper in sorted((chart / "templates").glob("_*.tpl")):
            self._parse(helper.read_text())  # collects defines

    # parsing: text -> nodes ("text", s) | ("expr", tokens) | ("if", [(cond, body)...], else) | ...
    def _parse(self, text: str) -> list[Any]:
        pieces: list[Any] = []
        pos = 0
        for match in _ACTION.finditer(text):
            chunk = text[pos : match.start()]
            if match.group(1):
                chunk = chunk.rstrip(" \t\n")
            pieces.append(("text", chunk))
            pieces.append(("action", match.group(2), bool(match.group(3))))
            pos = match.end()
        pieces.append(("text", text[pos:]))
        # apply right-trim markers to the following text
        for i, piece in enumerate(pieces):
            if piece[0] == "action" and piece[2] and i + 1 < len(pieces):
                pieces[i + 1] = ("text", pieces[i + 1][1].lstrip(" \t\n"))
        nodes, rest = self._block(pieces, 0, ())
        if rest != len(pieces):
            raise TemplateError("unbalanced end")
        return nodes

    def _block(self, pieces: list[Any], i: int, stops: tuple[str, ...]) -> tuple[list[Any], int]:
        nodes: list[Any] = []
        while i < len(pieces):
            kind, body = pieces[i][0], pieces[i][1]
            if kind == "text":
                nodes.append(("text", body))
                i += 1
                continue
            if body.startswith("/*"):
                i += 1
                continue
            word = body.split(None, 1)[0] if body else ""
            if word in stops:
                return nodes, i
            rest = body[len(word) :].strip()
            if word == "if":
                branches, otherwise = [], []
                cond = rest
                while True:
                    inner, i = self._block(pieces, i + 1, ("else", "end"))
                    branches.append((cond, inner))
                    tail = pieces[i][1]
                    if tail.startswith("else if "):
                        cond = tail[len("else if ") :]
                        continue
                    if tail == "else":
                        otherwise, i = self._block(pieces, i + 1, ("end",))
                    break
                nodes.append(("if", branches, otherwise))
            elif word == "range":
                inner, i = self._block(pieces, i + 1, ("end",))
                nodes.append(("range", rest, inner))
            elif word == "define":
                inner, i = self._block(pieces, i + 1, ("end",))
                self.defines[rest.strip('"')] = inner
            else:
                nodes.append(("expr", body))
            i += 1
        if stops:
            raise TemplateError(f"missing {{{{ end }}}} (wanted one of {stops})")
        return nodes, i

    def _run(self, nodes: list[Any], scope: _Scope) -> str:
        out: list[str] = []
        for node in nodes:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "expr":
                if re.match(r"^\$\w+\s*:=", node[1]):
                    name, expr = node[1].split(":=", 1)
                    scope.variables[name.strip()] = self._eval(expr.strip(), scope)
                else:
                    value = self._eval(node[1], scope)
                    out.append("" if value is None else str(value))
            elif node[0] == "if":
                for cond, body in node[1]:
                    if self._eval(cond, scope) not in (None, False, "", 0, [], {}):
                        out.append(self._run(body, scope))
                        break
                else:
                    out.append(self._run(node[2], scope))
            elif node[0] == "range":
                header = node[1]
                names: list[str] = []
                if ":=" in header:
                    left, header = header.split(":=", 1)
                    names = [n.strip() for n in left.split(",")]
                items = self._eval(header.strip(), scope) or []
                for index, item in enumerate(items):
                    bound = dict(zip(names, [index, item], strict=False)) if len(names) == 2 else {}
                    if len(names) == 1:
                        bound = {names[0]: item}
                    out.append(self._run(node[2], scope.child(item, **bound)))
        return "".join(out)

    def _eval(self, expr: str, scope: _Scope) -> Any:
        tokens = _tokens(expr)
        value, pos = self._pipeline(tokens, 0, scope)
        if pos != len(tokens):
            raise TemplateError(f"cannot parse {expr!r}")
        return value

    def _pipeline(self, tokens: list[str], pos: int, scope: _Scope) -> tuple[Any, int]:
        value, pos = self._command(tokens, pos, scope, None)
        while pos < len(tokens) and tokens[pos] == "|":
            value, pos = self._command(tokens, pos + 1, scope, value)
        return value, pos

    def _command(self, tokens: list[str], pos: int, scope: _Scope, piped: Any) -> tuple[Any, int]:
        args: list[Any] = []
        head = tokens[pos]
        pos += 1
        while pos < len(tokens) and tokens[pos] not in ("|", ")"):
            arg, pos = self._operand(tokens, pos, scope)
            args.append(arg)
        if piped is not None or head in FUNCS or head == "include":
            if piped is not None:
                args.append(piped)
            if head == "include":
                name, context = args
                return self._run(self.defines[name], scope.child(context)), pos
            if head not in FUNCS:
                raise TemplateError(f"unknown function {head!r}")
            return FUNCS[head](*args), pos
        value, _ = self._operand([head], 0, scope)
        if args:
            raise TemplateError(f"{head!r} is not a function")
        return value, pos

    def _operand(self, tokens: list[str], pos: int, scope: _Scope) -> tuple[Any, int]:
        token = tokens[pos]
        if token == "(":
            value, pos = self._pipeline(tokens, pos + 1, scope)
            if tokens[pos] != ")":
                raise TemplateError("missing )")
            return value, pos + 1
        if token.startswith('"'):
            return token[1:-1].replace('\\"', '"'), pos + 1
        if re.fullmatch(r"-?\d+", token):
            return int(token), pos + 1
        if token in ("true", "false"):
            return token == "true", pos + 1
        if token == ".":
            return scope.dot, pos + 1
        if token.startswith("$"):
            name, _, rest = token.partition(".")
            base = scope.root if name == "$" else scope.variables[name]
            return _path(base, rest.split(".")) if rest else base, pos + 1
        if token.startswith("."):
            base = scope.root if token.split(".")[1] in ("Values", "Release", "Chart") else scope.dot
            return _path(base, token.split(".")), pos + 1
        if token in FUNCS:
            return FUNCS[token](), pos + 1
        raise TemplateError(f"unknown operand {token!r}")

    def render(self, template: Path) -> str:
        return self._run(self._parse(template.read_text()), _Scope(self.root, self.root, {}))


def _set(values: dict[str, Any], assignment: str) -> None:
    key, _, raw = assignment.partition("=")
    *parents, last = key.split(".")
    for part in parents:
        values = values.setdefault(part, {})
    values[last] = yaml.safe_load(raw)


def render_chart(sets: list[str] | None = None, chart: Path = CHART, release: str = "postdock") -> list[dict[str, Any]]:
    """Every object the chart renders with the given --set overrides, parsed."""
    values = yaml.safe_load((chart / "values.yaml").read_text())
    for assignment in sets or []:
        _set(values, assignment)
    renderer = Renderer(chart, values, release)
    docs: list[dict[str, Any]] = []
    for template in sorted((chart / "templates").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(renderer.render(template)) if d]
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE")
    args = parser.parse_args()
    shown = " ".join(f"--set {s}" for s in args.sets)
    header = f"# Generated from k8s/helm/postdock by: python scripts/helm_lite.py {shown}\n"
    sys.stdout.write(header + yaml.safe_dump_all(render_chart(args.sets), sort_keys=False))


if __name__ == "__main__":
    main()
