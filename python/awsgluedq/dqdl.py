"""A parser for the DQDL subset epoxy evaluates.

``Rules = [ RowCount > 0, IsComplete "id", ColumnValues "age" between 1 and 120 ]``

Rules: ``RowCount``, ``ColumnCount``, ``ColumnExists``, ``IsComplete``, ``IsUnique``,
``IsPrimaryKey``, ``Completeness``, ``Uniqueness``, ``ColumnValues``. Conditions: ``>``, ``>=``,
``<``, ``<=``, ``=``, ``!=``, ``between a and b`` (exclusive), ``in [...]``, ``not in``,
``not between``, ``matches "regex"``; ``with threshold <cond>`` after ``ColumnValues``.

>>> [r.rule_type for r in parse('Rules = [ RowCount > 0, IsComplete "id" ]')]
['RowCount', 'IsComplete']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class DQDLSyntaxError(ValueError):
    """The ruleset is not valid DQDL; the message gives the position."""


class UnknownRuleTypeError(ValueError):
    """A rule type epoxy does not evaluate (never silently passed)."""


@dataclass(frozen=True)
class Condition:
    """``op`` is one of the comparison operators, ``between``, ``in`` or ``matches``."""

    op: str
    values: tuple[Any, ...]
    negated: bool = False


@dataclass(frozen=True)
class Rule:
    rule_type: str
    text: str
    column: str | None = None
    condition: Condition | None = None
    threshold: Condition | None = None


# rule type → (takes a column, takes a condition)
RULE_SHAPES: dict[str, tuple[bool, bool]] = {
    "RowCount": (False, True),
    "ColumnCount": (False, True),
    "ColumnExists": (True, False),
    "IsComplete": (True, False),
    "IsUnique": (True, False),
    "IsPrimaryKey": (True, False),
    "Completeness": (True, True),
    "Uniqueness": (True, True),
    "ColumnValues": (True, True),
}

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<op>>=|<=|!=|=|>|<)
    | (?P<punct>[\[\],()])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


@dataclass
class _Token:
    kind: str
    value: Any
    pos: int


@dataclass
class _Cursor:
    text: str
    tokens: list[_Token] = field(default_factory=list)
    i: int = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, what: str) -> _Token:
        tok = self.peek()
        if tok is None:
            raise DQDLSyntaxError(f"expected {what} at position {len(self.text)} (end of ruleset)")
        self.i += 1
        return tok

    def expect(self, kind: str, value: Any = None, what: str = "") -> _Token:
        tok = self.next(what or (repr(value) if value is not None else kind))
        if tok.kind != kind or (value is not None and tok.value != value):
            raise DQDLSyntaxError(
                f"expected {what or (repr(value) if value is not None else kind)} at position "
                f"{tok.pos}, found {_show(tok)}"
            )
        return tok

    def accept(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return True
        return False


def _show(tok: _Token) -> str:
    return repr(tok.value) if tok.kind != "string" else f'"{tok.value}"'


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return tokens
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise DQDLSyntaxError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup
        raw = m.group(kind)
        start = m.start(kind)
        if kind == "string":
            value: Any = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif kind == "number":
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        else:
            value = raw
        tokens.append(_Token(kind, value, start))
        pos = m.end()


def parse(ruleset: str) -> list[Rule]:
    """The rules of a ``Rules = [ ... ]`` ruleset."""
    cur = _Cursor(ruleset, _tokenize(ruleset))
    cur.expect("word", "Rules", "'Rules'")
    cur.expect("op", "=", "'='")
    cur.expect("punct", "[", "'['")
    rules: list[Rule] = []
    if not cur.accept("punct", "]"):
        while True:
            rules.append(_rule(cur))
            if cur.accept("punct", "]"):
                break
            cur.expect("punct", ",", "',' or ']'")
    extra = cur.peek()
    if extra is not None:
        raise DQDLSyntaxError(f"unexpected {_show(extra)} at position {extra.pos} after the rules")
    return rules


def _rule(cur: _Cursor) -> Rule:
    head = cur.next("a rule")
    if head.kind == "punct" and head.value == "(":
        raise UnknownRuleTypeError(
            f"composite rules ('(...) and (...)') at position {head.pos} are not supported by "
            "epoxy's awsgluedq"
        )
    if head.kind != "word":
        raise DQDLSyntaxError(f"expected a rule type at position {head.pos}, found {_show(head)}")
    if head.value not in RULE_SHAPES:
        raise UnknownRuleTypeError(
            f"Unknown or unsupported DQDL rule type '{head.value}' at position {head.pos}; "
            f"epoxy evaluates {', '.join(RULE_SHAPES)}"
        )
    takes_column, takes_condition = RULE_SHAPES[head.value]
    column = cur.expect("string", what="a quoted column name").value if takes_column else None
    condition = _condition(cur) if takes_condition else None
    threshold = None
    if cur.accept("word", "with"):
        cur.expect("word", "threshold", "'threshold'")
        threshold = _condition(cur)
    end = cur.peek()
    stop = end.pos if end is not None else len(cur.text)
    return Rule(head.value, cur.text[head.pos : stop].strip(), column, condition, threshold)


def _literal(cur: _Cursor) -> Any:
    tok = cur.next("a value")
    if tok.kind not in ("string", "number"):
        raise DQDLSyntaxError(
            f"expected a number or string at position {tok.pos}, found {_show(tok)}"
        )
    return tok.value


def _condition(cur: _Cursor) -> Condition:
    tok = cur.next("a condition")
    negated = False
    if tok.kind == "word" and tok.value == "not":
        negated = True
        tok = cur.next("'in' or 'between'")
    if tok.kind == "op" and not negated:
        return Condition(tok.value, (_literal(cur),))
    if tok.kind == "word" and tok.value == "between":
        low = _literal(cur)
        cur.expect("word", "and", "'and'")
        return Condition("between", (low, _literal(cur)), negated)
    if tok.kind == "word" and tok.value == "in":
        cur.expect("punct", "[", "'['")
        values = [_literal(cur)]
        while cur.accept("punct", ","):
            values.append(_literal(cur))
        cur.expect("punct", "]", "']'")
        return Condition("in", tuple(values), negated)
    if tok.kind == "word" and tok.value == "matches" and not negated:
        return Condition("matches", (_literal(cur),))
    raise DQDLSyntaxError(f"expected a condition at position {tok.pos}, found {_show(tok)}")
