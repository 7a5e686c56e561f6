#!/usr/bin/env python3
"""Static check of a Step Functions definition (JSONPath query language): every JSONPath a state
reads from its input must be set on every path into that state, or the execution fails with
States.Runtime, which no Catch catches.

Usage: asl_paths.py DEFINITION [--inputs local/lint/saga-inputs.json]
Exit status: 0 no findings, 1 findings (one per line), 2 a construct or contract it cannot check.

The model: a forward "must" dataflow analysis over Next, Default, Choices[].Next and Catch[].Next,
run once per kind of start input (saga-inputs.json), so a Choice on the input routes each kind
only where it can go. At each state's entry it keeps the paths definitely present (the meet over
the edges into it), the paths possibly present (to decide an IsPresent on the input) and known
literal values (to decide a comparison on the input). A task's result is of unknown shape: under
its ResultPath everything counts as present (but not as known, so no Choice is decided on it).
Anything it does not model (Map, Parallel, JSONata, variables, array paths, ...) is refused.
"""

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path as FsPath

LINT_DIR = FsPath(__file__).resolve().parent
ROOT = LINT_DIR.parent.parent


class Unsupported(Exception):
    """A construct the checker does not model: refused rather than guessed."""


class ContractError(Exception):
    """saga-inputs.json is malformed or disagrees with the Rust type it describes."""


# ---------------------------------------------------------------------------------- JSONPath

CONTEXT_ROOTS = ("Execution", "State", "StateMachine", "Task")
_NAME = re.compile(r"[^.\[\]'\"*()?@,\s$][^.\[\]'\"*()?@,\s]*")


def parse_path(text, where):
    """A JSONPath of names only ($, .name, ['name']) as a tuple of names; refuses the rest."""
    if not isinstance(text, str) or not text.startswith("$") or text.startswith("$$"):
        raise Unsupported(f"{where}: {text!r} is not a JSONPath into the state input")
    segs, i = [], 1
    while i < len(text):
        if text[i] == "." and (m := _NAME.match(text, i + 1)):
            segs.append(m.group())
            i = m.end()
        elif text[i] == "[" and (m := re.compile(r"\[(['\"])(.*?)\1\]").match(text, i)):
            segs.append(m.group(2))
            i = m.end()
        else:
            # [0], [*], .., filters, slices, $var: what is present there is not modelled.
            raise Unsupported(
                f"{where}: JSONPath syntax in {text!r} (only $, .name and ['name'] are modelled)"
            )
    return tuple(segs)


def check_context(text, where):
    """$$.Execution.Id and friends are always there; any other context root is refused."""
    parts = text[2:].lstrip(".").split(".")
    if text != "$$" and (not text.startswith("$$.") or parts[0] not in CONTEXT_ROOTS):
        raise Unsupported(f"{where}: context object path {text!r} (Map and others not modelled)")


def show(path):
    return "$" + "".join(f".{s}" if _NAME.fullmatch(s) else f"['{s}']" for s in path)


def prefixes(path):
    return {path[:i] for i in range(len(path) + 1)}


# ------------------------------------------------------------------------------- intrinsics

# Name -> shape of its result: "leaf" (scalar or array, children not modelled) or "any".
INTRINSICS = {
    "States.Format": "leaf", "States.JsonToString": "leaf", "States.StringToJson": "any",
    "States.Array": "leaf", "States.ArrayPartition": "leaf", "States.ArrayContains": "leaf",
    "States.ArrayRange": "leaf", "States.ArrayGetItem": "any", "States.ArrayLength": "leaf",
    "States.ArrayUnique": "leaf", "States.Base64Encode": "leaf", "States.Base64Decode": "leaf",
    "States.Hash": "leaf", "States.JsonMerge": "any", "States.MathRandom": "leaf",
    "States.MathAdd": "leaf", "States.StringSplit": "leaf", "States.UUID": "leaf",
}


def parse_intrinsic(text, where, paths=True):
    """Returns (function name, JSONPaths it reads), descending into nested calls. paths=False:
    the paths read something other than the state input (a task result), so are not parsed."""
    reads, pos = [], 0

    def skip_ws():
        nonlocal pos
        while pos < len(text) and text[pos] == " ":
            pos += 1

    def call():
        nonlocal pos
        m = re.compile(r"States\.[A-Za-z0-9]+").match(text, pos)
        if not m or m.group() not in INTRINSICS:
            raise Unsupported(f"{where}: intrinsic function in {text!r}")
        name, pos = m.group(), m.end()
        if text[pos:pos + 1] != "(":
            raise Unsupported(f"{where}: cannot parse {text!r}")
        pos += 1
        skip_ws()
        if text[pos:pos + 1] == ")":
            pos += 1
            return name
        while True:
            arg()
            skip_ws()
            c = text[pos:pos + 1]
            pos += 1
            if c == ")":
                return name
            if c != ",":
                raise Unsupported(f"{where}: cannot parse {text!r}")
            skip_ws()

    def arg():
        nonlocal pos
        c = text[pos:pos + 1]
        if c == "'":  # a string literal: a "$.x" inside it is text, not a path
            pos += 1
            while pos < len(text) and text[pos] != "'":
                pos += 2 if text[pos] == "\\" else 1
            if pos >= len(text):
                raise Unsupported(f"{where}: unterminated string in {text!r}")
            pos += 1
        elif c == "$":
            m = re.compile(r"\$[^,)]*").match(text, pos)
            tok, pos = m.group().rstrip(), m.end()
            if tok.startswith("$$"):
                check_context(tok, where)
            elif paths:
                reads.append(parse_path(tok, where))
        elif text.startswith("States.", pos):
            call()
        elif m := re.compile(r"-?\d+(\.\d+)?|null|true|false").match(text, pos):
            pos = m.end()
        else:
            raise Unsupported(f"{where}: cannot parse argument of {text!r}")

    name = call()
    if text[pos:].strip():
        raise Unsupported(f"{where}: trailing text in {text!r}")
    return name, reads


def value_reads(text, where, paths=True):
    """What a "key.$" value reads: (kind, paths), kind path|context|<intrinsic name>."""
    if not isinstance(text, str):
        raise Unsupported(f"{where}: a .$ key needs a string value, not {text!r}")
    if text.startswith("$$"):
        check_context(text, where)
        return "context", []
    if text.startswith("$"):
        return "path", [parse_path(text, where)] if paths else []
    if text.startswith("States."):
        return parse_intrinsic(text, where, paths)
    raise Unsupported(f"{where}: {text!r} is neither a JSONPath nor an intrinsic function")


# ------------------------------------------------------------------------------- the facts


@dataclass(frozen=True)
class Paths:
    """A set of paths in a JSON value. known: set for certain (prefix-closed). assumed: counted
    as present but not certain (meet with an opaque side). opaque: roots of unknown shape,
    everything under them counted as present."""

    known: frozenset = frozenset({()})
    assumed: frozenset = frozenset()
    opaque: frozenset = frozenset()

    def has(self, p):
        return p in self.known or p in self.assumed or any(q in self.opaque for q in prefixes(p))

    def under_opaque(self, p):
        return any(q in self.opaque for q in prefixes(p))

    def meet(self, o):
        known = self.known & o.known
        assumed = {p for p in self.known | self.assumed if o.has(p)}
        assumed |= {p for p in o.known | o.assumed if self.has(p)}
        opaque = {r for r in self.opaque if o.under_opaque(r)}
        opaque |= {r for r in o.opaque if self.under_opaque(r)}
        return Paths(frozenset(known), frozenset(assumed - known), frozenset(opaque))

    def join(self, o):
        return Paths(self.known | o.known, self.assumed | o.assumed, self.opaque | o.opaque)

    def sub(self, p):
        n = len(p)
        cut = lambda s: frozenset(q[n:] for q in s if q[:n] == p)  # noqa: E731
        opaque = cut(self.opaque) | ({()} if self.under_opaque(p) else set())
        return Paths(cut(self.known) | {()}, cut(self.assumed), frozenset(opaque))

    def put(self, p, t):
        n = len(p)
        keep = lambda s: {q for q in s if q[:n] != p}  # noqa: E731
        add = lambda s: {p + q for q in s}  # noqa: E731
        return Paths(
            frozenset(keep(self.known) | add(t.known) | prefixes(p)),
            frozenset(keep(self.assumed) | add(t.assumed)),
            frozenset(keep(self.opaque) | add(t.opaque)),
        )

    def add(self, p):
        return Paths(self.known | prefixes(p), self.assumed, self.opaque)


OPAQUE = Paths(opaque=frozenset({()}))


@dataclass(frozen=True)
class Facts:
    """What is known about one JSON value: must = definitely present, may = possibly present,
    values = known scalar values (path -> (type, value))."""

    must: Paths = Paths()
    may: Paths = Paths()
    values: frozenset = frozenset()

    def meet(self, o):
        return Facts(self.must.meet(o.must), self.may.join(o.may), self.values & o.values)

    def sub(self, p):
        n = len(p)
        vals = frozenset((q[n:], v) for q, v in self.values if q[:n] == p)
        return Facts(self.must.sub(p), self.may.sub(p), vals)

    def put(self, p, t):
        n = len(p)
        vals = {(q, v) for q, v in self.values if q[:n] != p and q != p[: len(q)]}
        vals |= {(p + q, v) for q, v in t.values}
        return Facts(self.must.put(p, t.must), self.may.put(p, t.may), frozenset(vals))

    def present(self, paths):
        f = self
        for p in paths:
            f = Facts(f.must.add(p), f.may.add(p), f.values)
        return f

    def value(self, p):
        return next((v for q, v in self.values if q == p), None)


ANY = Facts(OPAQUE, OPAQUE)
LEAF = Facts()
ERROR = Facts(  # what a Catch puts at its ResultPath
    Paths(frozenset({(), ("Error",), ("Cause",)})), Paths(frozenset({(), ("Error",), ("Cause",)}))
)


def literal(v):
    """The facts of a literal JSON value (a Pass state's Result, a template's constant)."""
    paths, vals = {()}, set()

    def walk(x, at):
        if isinstance(x, dict):
            for k, y in x.items():
                paths.add(at + (k,))
                walk(y, at + (k,))
        elif not isinstance(x, list):
            vals.add((at, (type(x).__name__, x)))

    walk(v, ())
    p = Paths(frozenset(paths))
    return Facts(p, p, frozenset(vals))


def from_fields(fields, values, where):
    """The facts of a start input given by its contract: these paths and nothing else."""
    paths = set()
    for f in fields:
        paths |= prefixes(parse_path(f, where))
    p = Paths(frozenset(paths))
    vals = set()
    for f, v in values.items():
        q = parse_path(f, where)
        if q not in paths or isinstance(v, (dict, list)):
            raise ContractError(f"{where}: value for {f} must be a scalar of a listed field")
        vals.add((q, (type(v).__name__, v)))
    return Facts(p, p, frozenset(vals))


# ------------------------------------------------------------------------------ the states

STATES = {}  # the definition being checked (set by analyse_all)
COMMON = {"Type", "Comment", "InputPath", "OutputPath"}
FLOW = {"Next", "End"}
STATE_KEYS = {
    "Task": COMMON | FLOW | {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry",
                             "Catch", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds",
                             "HeartbeatSecondsPath"},
    "Pass": COMMON | FLOW | {"Result", "ResultPath", "Parameters"},
    "Choice": COMMON | {"Choices", "Default"},
    "Wait": COMMON | FLOW | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
    "Succeed": COMMON,
    "Fail": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
}
TOP_KEYS = {"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"}
CATCH_KEYS = {"ErrorEquals", "Next", "ResultPath", "Comment"}
RETRY_KEYS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
              "JitterStrategy", "Comment"}
_CMP = ["StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals",
        "StringGreaterThanEquals", "NumericEquals", "NumericLessThan", "NumericGreaterThan",
        "NumericLessThanEquals", "NumericGreaterThanEquals", "BooleanEquals", "TimestampEquals",
        "TimestampLessThan", "TimestampGreaterThan", "TimestampLessThanEquals",
        "TimestampGreaterThanEquals"]
COMPARATORS = set(_CMP) | {c + "Path" for c in _CMP} | {
    "StringMatches", "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"}


@dataclass
class Read:
    field: str
    path: tuple
    facts: Facts


@dataclass
class Finding:
    state: str
    path: str
    fields: list
    kind: str
    trail: str

    def __str__(self):
        return (f"{self.state}: {self.path} ({', '.join(self.fields)}) is not set on this path "
                f"of the {self.kind!r} start input: {self.trail}")


def template_reads(tpl, facts, where, reads):
    if isinstance(tpl, dict):
        for k, v in tpl.items():
            if k.endswith(".$"):
                for p in value_reads(v, f"{where}.{k}")[1]:
                    reads.append(Read(f"{where}.{k}", p, facts))
            else:
                template_reads(v, facts, f"{where}.{k}", reads)
    elif isinstance(tpl, list):
        for i, v in enumerate(tpl):
            template_reads(v, facts, f"{where}[{i}]", reads)


def template_shape(tpl, facts, where):
    """The facts of a Parameters/ResultSelector output; facts=None for a task result (unknown)."""
    if not isinstance(tpl, dict):
        return literal(tpl)
    out = LEAF
    for k, v in tpl.items():
        if k.endswith(".$"):
            kind, paths = value_reads(v, f"{where}.{k}", paths=facts is not None)
            if kind == "path" and facts is not None:
                child = facts.sub(paths[0])
            elif kind in ("context", "path") or INTRINSICS.get(kind) == "any":
                child = ANY  # the context object, a task result, or JSON of unknown shape
            else:
                child = LEAF
            out = out.put((k[:-2],), child)
        else:
            out = out.put((k,), template_shape(v, facts, f"{where}.{k}"))
    return out


def reference(state, key, where, default="$"):
    """A ResultPath/InputPath/OutputPath: None for null, else a path tuple."""
    v = state.get(key, default)
    return None if v is None else parse_path(v, f"{where}.{key}")


def narrow(facts, state, key, name, reads):
    """InputPath/OutputPath: the value at the path (null: {})."""
    p = reference(state, key, name)
    if p is None:
        return LEAF
    if p:
        reads.append(Read(key, p, facts))
    return facts.sub(p)


def with_result(raw, path, result):
    if path is None:
        return raw
    return raw.put(path, result) if path else result


# -------------------------------------------------------------------------- Choice rules


def evaluate(rule, facts, where, reads):
    """Three-valued: (possible outcomes, paths present when true, paths present when false).
    And/Or evaluate left to right and stop early, as Step Functions does."""
    unknown = set(rule) - {"Next", "Comment", "And", "Or", "Not", "Variable"} - COMPARATORS
    if unknown:
        raise Unsupported(f"{where}: Choice rule key(s) {sorted(unknown)}")
    if "And" in rule or "Or" in rule:
        is_and = "And" in rule
        stop_on = False if is_and else True  # And stops at a false child, Or at a true one
        carried, exits, reached = [], [], True
        for i, child in enumerate(rule["And" if is_and else "Or"]):
            op = "And" if is_and else "Or"
            possible, t, f = evaluate(child, facts.present(carried), f"{where}.{op}[{i}]", reads)
            go, leave = (t, f) if is_and else (f, t)
            if stop_on in possible:
                exits.append(set(carried) | set(leave))
            if (not stop_on) not in possible:
                reached = False
                break
            carried = carried + list(go)
        outcomes = ({not stop_on} if reached else set()) | ({stop_on} if exits else set())
        common = set.intersection(*[closure(e) for e in exits]) if exits else set()
        return (outcomes, carried, common) if is_and else (outcomes, common, carried)
    if "Not" in rule:
        possible, t, f = evaluate(rule["Not"], facts, f"{where}.Not", reads)
        return {not o for o in possible}, f, t
    ops = [k for k in rule if k in COMPARATORS]
    if "Variable" not in rule or len(ops) != 1:
        raise Unsupported(f"{where}: a Choice rule needs Variable and exactly one comparator")
    op, var, operand = ops[0], rule["Variable"], rule[ops[0]]
    if var.startswith("$$"):
        check_context(var, where)
        return {True, False}, [], []
    v = parse_path(var, f"{where}.Variable")
    if op == "IsPresent":
        if v in facts.must.known:
            present = {True}
        elif not facts.may.has(v):
            present = {False}
        else:
            present = {True, False}
        outcomes = present if operand else {not p for p in present}
        return (outcomes, [v], []) if operand else (outcomes, [], [v])
    reads.append(Read(f"{where}.Variable", v, facts))
    learned = [v]
    if op.endswith("Path"):
        if operand.startswith("$$"):
            check_context(operand, where)
        else:
            p = parse_path(operand, f"{where}.{op}")
            reads.append(Read(f"{where}.{op}", p, facts))
            learned.append(p)
        return {True, False}, learned, learned
    return decide(op, operand, facts.value(v)), learned, learned


def closure(paths):
    out = set()
    for p in paths:
        out |= prefixes(p)
    return out


def decide(op, operand, known):
    """A comparison against a known literal value, else both outcomes."""
    if known is None:
        return {True, False}
    kind, value = known
    checks = {
        "StringEquals": lambda: kind == "str" and value == operand,
        "BooleanEquals": lambda: kind == "bool" and value == operand,
        "NumericEquals": lambda: kind in ("int", "float") and value == operand,
        "IsNull": lambda: (kind == "NoneType") == operand,
        "IsString": lambda: (kind == "str") == operand,
        "IsBoolean": lambda: (kind == "bool") == operand,
        "IsNumeric": lambda: (kind in ("int", "float")) == operand,
    }
    return {checks[op]()} if op in checks else {True, False}


# ---------------------------------------------------------------------------- transfer


def transfer(name, state, raw, reads):
    """The edges out of a state: [(target, label, facts)]; appends what it reads to reads."""
    t = state.get("Type")
    if t not in STATE_KEYS:
        raise Unsupported(f"{name}: state Type {t!r} (Map, Parallel are not modelled)")
    extra = set(state) - STATE_KEYS[t]
    if extra:
        raise Unsupported(f"{name}: {t} state key(s) {sorted(extra)}")
    if t == "Fail":
        for key in ("ErrorPath", "CausePath"):
            if key in state:
                for p in value_reads(state[key], f"{name}.{key}")[1]:
                    reads.append(Read(key, p, raw))
        return []
    eff = narrow(raw, state, "InputPath", name, reads)
    for key in ("TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath"):
        if key in state:
            reads.append(Read(key, parse_path(state[key], f"{name}.{key}"), eff))
    edges = []

    def leave(target, label, out):
        if target not in STATES:
            raise Unsupported(f"{name}: {label} names no state {target!r}")
        edges.append((target, label, out))

    def finish(out):
        out = narrow(out, state, "OutputPath", name, reads)
        if "Next" in state:
            leave(state["Next"], "Next", out)

    if t == "Choice":
        carried, reached = [], True
        for i, rule in enumerate(state.get("Choices", [])):
            where = f"Choices[{i}]"
            possible, when_true, when_false = evaluate(rule, eff.present(carried), where, reads)
            if True in possible:
                out = eff.present(carried + list(when_true))
                leave(rule.get("Next"), where, narrow(out, state, "OutputPath", name, reads))
            if False not in possible:
                reached = False
                break
            carried = carried + list(when_false)
        if reached and "Default" in state:
            out = eff.present(carried)
            leave(state["Default"], "Default", narrow(out, state, "OutputPath", name, reads))
        return edges
    if t in ("Wait", "Succeed"):
        finish(eff)
        return edges
    if t == "Pass":
        if "Result" in state and "Parameters" in state:
            raise Unsupported(f"{name}: a Pass state with both Result and Parameters")
        if "Result" in state:
            result = literal(state["Result"])
        elif "Parameters" in state:
            template_reads(state["Parameters"], eff, "Parameters", reads)
            result = template_shape(state["Parameters"], eff, f"{name}.Parameters")
        else:
            result = eff
        finish(with_result(raw, reference(state, "ResultPath", name), result))
        return edges
    # Task
    if "Parameters" in state:
        template_reads(state["Parameters"], eff, "Parameters", reads)
    if "ResultSelector" in state:  # reads the task's result, not the input: only its shape
        result = template_shape(state["ResultSelector"], None, f"{name}.ResultSelector")
    else:
        result = ANY
    for i, r in enumerate(state.get("Retry", [])):
        if set(r) - RETRY_KEYS:
            raise Unsupported(f"{name}: Retry[{i}] key(s) {sorted(set(r) - RETRY_KEYS)}")
    for i, c in enumerate(state.get("Catch", [])):
        if set(c) - CATCH_KEYS:
            raise Unsupported(f"{name}: Catch[{i}] key(s) {sorted(set(c) - CATCH_KEYS)}")
        # The error object joins the raw input; OutputPath does not apply to a catcher.
        out = with_result(raw, reference(c, "ResultPath", f"{name}.Catch[{i}]"), ERROR)
        leave(c.get("Next"), f"Catch[{i}]", out)
    finish(with_result(raw, reference(state, "ResultPath", name), result))
    return edges


# ----------------------------------------------------------------------------- analysis


@dataclass
class KindRun:
    kind: str
    start_facts: Facts
    entry: dict = field(default_factory=dict)  # state -> Facts at entry
    edges: dict = field(default_factory=dict)  # (src, dst, label) -> Facts along the edge


def analyse(definition, kind, start_facts):
    run = KindRun(kind, start_facts)
    start = definition["StartAt"]
    run.entry[start] = start_facts
    work, rounds = [start], 0
    while work:
        rounds += 1
        if rounds > 100_000:
            raise Unsupported("the analysis does not converge")
        name = work.pop()
        out = transfer(name, STATES[name], run.entry[name], [])
        produced = {(name, dst, label): f for dst, label, f in out}
        stale = [e for e in run.edges if e[0] == name and e not in produced]
        for e in stale:
            del run.edges[e]
        run.edges.update(produced)
        for dst in {d for _, d, _ in produced} | {d for _, d, _ in stale}:
            new = start_facts if dst == start else None
            for (_, d, _), f in run.edges.items():
                if d == dst:
                    new = f if new is None else new.meet(f)
            if new is None:
                run.entry.pop(dst, None)
            elif run.entry.get(dst) != new:
                run.entry[dst] = new
                work.append(dst)
    return run


def trail(run, start, state, path):
    """A path of edges into `state` along which `path` is missing: back from the state while
    the entry lacks it, to the start input or to the state that removed it."""
    lacks = lambda f: not f.must.has(path)  # noqa: E731
    queue, seen = [(state, [])], {state}
    while queue:
        node, after = queue.pop(0)
        if node == start and lacks(run.start_facts):  # the start input lacks it
            return fmt([start] + after, None)
        for (src, dst, label), f in sorted(run.edges.items(), key=edge_order):
            if dst != node or not lacks(f) or src in seen:
                continue
            hop = [(label, dst)] + after
            s = STATES[src]
            if lacks(run.entry[src]) and "InputPath" not in s and "OutputPath" not in s:
                seen.add(src)
                queue.append((src, hop))
            else:  # src had it (or narrows its input/output): src is where it went missing
                return fmt(forward(run, start, src) + hop, src)
    return "(no trail found)"


def edge_order(item):
    (src, dst, label), _ = item
    return (src, label not in ("Next", "Default"), label, dst)  # the main flow first


def forward(run, start, target):
    """The shortest chain of feasible edges from the start to target, as [start, (label, s)...]."""
    prev, queue = {start: None}, [start]
    while queue:
        node = queue.pop(0)
        if node == target:
            break
        for (src, dst, label) in sorted(run.edges, key=lambda e: edge_order((e, None))):
            if src == node and dst not in prev:
                prev[dst] = (src, label)
                queue.append(dst)
    hops, node = [], target
    while prev[node] is not None:
        src, label = prev[node]
        hops.insert(0, (label, node))
        node = src
    return [start] + hops


def fmt(chain, removed_at):
    text = chain[0]
    for label, s in chain[1:]:
        text += f" -> {s}" if label == "Next" else f" -({label})-> {s}"
    if removed_at:
        text += f" (it is dropped or replaced at {removed_at})"
    return text


def check(definition, kinds):
    """Findings for a definition, given {kind: Facts of its start input}."""
    return analyse_all(definition, kinds)[0]


def analyse_all(definition, kinds):
    """(findings, states no start input reaches)."""
    STATES.clear()
    extra = set(definition) - TOP_KEYS
    if extra:
        raise Unsupported(f"top-level key(s) {sorted(extra)}")
    if definition.get("QueryLanguage", "JSONPath") != "JSONPath":
        raise Unsupported(f"QueryLanguage {definition['QueryLanguage']!r}")
    STATES.update(definition["States"])
    for name, s in STATES.items():
        if s.get("QueryLanguage", "JSONPath") != "JSONPath":
            raise Unsupported(f"{name}: QueryLanguage {s['QueryLanguage']!r}")
    start = definition["StartAt"]
    found, reached = {}, set()
    for kind, facts in kinds.items():
        run = analyse(definition, kind, facts)
        reached |= set(run.entry)
        for name in sorted(run.entry):
            reads = []
            transfer(name, STATES[name], run.entry[name], reads)
            for r in reads:
                if not r.facts.must.has(r.path):
                    key = (name, show(r.path), kind)
                    if key in found:
                        if r.field not in found[key].fields:
                            found[key].fields.append(r.field)
                        continue
                    found[key] = Finding(name, show(r.path), [r.field], kind,
                                         trail(run, start, name, r.path))
    return list(found.values()), sorted(set(STATES) - reached)


# ------------------------------------------------------------------------------ contract


def load_contract(path, root=ROOT):
    """{kind: Facts} from saga-inputs.json, cross-checked against the Rust struct it names."""
    try:
        doc = json.loads(FsPath(path).read_text())
    except (OSError, ValueError) as e:
        raise ContractError(f"{path}: {e}") from e
    kinds = {}
    for kind, spec in doc.get("kinds", {}).items():
        kinds[kind] = from_fields(spec["fields"], spec.get("values", {}), f"{path}: {kind}")
    if not kinds:
        raise ContractError(f"{path}: no kinds")
    if "rust" in doc:
        required, optional = rust_fields(root / doc["rust"]["dir"], doc["rust"]["struct"])
        for kind, spec in doc["kinds"].items():
            listed = closure(parse_path(f, kind) for f in spec["fields"]) - {()}
            for p in sorted(required - listed):
                raise ContractError(f"{path}: {kind} lacks {show(p)}, which "
                                    f"{doc['rust']['struct']} always serializes")
            for p in sorted(listed - required - optional):
                raise ContractError(f"{path}: {kind} lists {show(p)}, which "
                                    f"{doc['rust']['struct']} has no field for")
    return kinds


def rust_fields(src_dir, struct):
    """(always serialized, maybe serialized) JSON paths of a serde struct, following the brace
    structs of src_dir it contains. A deliberately small parser: it refuses what it can't read."""
    structs = {}
    for f in sorted(src_dir.rglob("*.rs")):
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"(\s*)pub struct (\w+)\s*([{(;])", line)
            if not m:
                continue
            attrs, j = [], i - 1
            while j >= 0 and lines[j].strip().startswith(("#[", "//")):
                if lines[j].strip().startswith("#["):
                    attrs.append(lines[j].strip())
                j -= 1
            body = []
            if m.group(3) == "{":
                for line2 in lines[i + 1:]:
                    if line2.rstrip() == m.group(1) + "}":
                        break
                    body.append(line2.strip())
            structs.setdefault(m.group(2), []).append((f, " ".join(attrs), m.group(3), body))
    required, optional = set(), set()

    def walk(name, at, optional_here, depth):
        defs = structs.get(name, [])
        if len(defs) > 1:
            raise ContractError(f"struct {name} is defined more than once under {src_dir}")
        as_string = r"serde\([^)]*\b(try_from|into|transparent)\b"
        if not defs or defs[0][2] != "{" or re.search(as_string, defs[0][1]):
            return  # a leaf: a scalar, a newtype, an enum or something serialized as a string
        f, attrs, _, body = defs[0]
        if depth > 8 or re.search(r"untagged|tag\s*=|flatten", attrs):
            raise ContractError(f"{f}: struct {name}: serde shape not modelled")
        camel = 'rename_all = "camelCase"' in attrs
        if re.search(r"rename_all", attrs) and not camel:
            raise ContractError(f"{f}: struct {name}: rename_all other than camelCase")
        pending = ""
        for line in body:
            if line.startswith("#[") or line.startswith("//"):
                pending += line if line.startswith("#[") else ""
                continue
            fm = re.match(r"(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:\s*(.+?),?$", line)
            if not fm:
                raise ContractError(f"{f}: struct {name}: cannot read field line {line!r}")
            rust, ty, attrs_f, pending = fm.group(1), fm.group(2), pending, ""
            if re.search(r"\bskip\b|flatten", attrs_f):
                if "flatten" in attrs_f:
                    raise ContractError(f"{f}: {name}.{rust}: serde flatten not modelled")
                continue
            rm = re.search(r'rename\s*=\s*"([^"]+)"', attrs_f)
            key = rm.group(1) if rm else (re.sub(r"_(\w)", lambda x: x.group(1).upper(), rust)
                                          if camel else rust)
            p = at + (key,)
            maybe = optional_here or "skip_serializing_if" in attrs_f
            (optional if maybe else required).add(p)
            om = re.fullmatch(r"Option<(.+)>", ty)
            inner = om.group(1) if om else ty
            if re.fullmatch(r"[A-Z]\w*", inner):
                walk(inner, p, maybe or bool(om), depth + 1)

    if struct not in structs:
        raise ContractError(f"no struct {struct} under {src_dir}")
    walk(struct, (), False, 0)
    return closure(required) - {()}, closure(optional) - closure(required)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("definition")
    ap.add_argument("--inputs", default=str(LINT_DIR / "saga-inputs.json"))
    args = ap.parse_args(argv)
    try:
        definition = json.loads(FsPath(args.definition).read_text())
        kinds = load_contract(args.inputs)
        findings, skipped = analyse_all(definition, kinds)
    except (Unsupported, ContractError) as e:
        print(f"{args.definition}: cannot check: {e}")
        return 2
    for name in skipped:
        print(f"note: {name} is reachable from no start input; not checked", file=sys.stderr)
    for f in findings:
        print(f)
    if not findings:
        print(f"{args.definition}: every JSONPath read is set on every path into its state "
              f"({len(definition['States'])} states, start inputs: {', '.join(kinds)})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
