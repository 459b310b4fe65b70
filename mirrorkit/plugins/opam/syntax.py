"""The opam file format (``opam``, ``repo``, ``url`` files): a lexer and parser.

It follows opam-file-format (the library opam itself reads these files with): the same
tokens (strings with OCaml escapes, triple-quoted strings, nested ``(* *)`` comments,
idents like ``ocaml:version`` or ``a+b``), the same items (``field: value``,
``section "name" { items }``) and the same value grammar and precedence (``{ }``
options bind tighter than ``!``, which binds tighter than ``&``, which binds tighter than
``|``; comparisons take atoms on both sides). A file opam would refuse is refused here
with its line, so a broken upstream file is reported, never half-read.

Speed matters: a whole opam-repository (18,800 files, 2.1 million tokens) is read when its
index changes. Tokens are found by one regular expression in one C-level pass
(``findall``) and kept as their raw text; whatever that pass cannot vouch for (a block
comment, a character that is no token, an unterminated string) sends the file through a
second, exact lexer that knows every case and reports lines. :func:`top_sections` finds
the sections of a file without building the values of its other fields: a whole mirror
needs only ``url`` and ``extra-source``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

__all__ = [
    "EnvBinding",
    "Field",
    "Group",
    "Ident",
    "List",
    "Logop",
    "OpamSyntaxError",
    "Option",
    "Pfxop",
    "PrefixRelop",
    "Relop",
    "Section",
    "Value",
    "parse_file",
    "top_sections",
]


class OpamSyntaxError(ValueError):
    """The text is not in the opam file format; the message starts with ``line N:``."""


@dataclass(frozen=True, slots=True)
class Ident:
    name: str


@dataclass(frozen=True, slots=True)
class List:
    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Group:
    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Option:
    value: Value
    options: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Logop:
    op: str  # "&" or "|"
    left: Value
    right: Value


@dataclass(frozen=True, slots=True)
class Relop:
    op: str  # = != < <= > >= ~
    left: Value
    right: Value


@dataclass(frozen=True, slots=True)
class PrefixRelop:
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class Pfxop:
    op: str  # "!" or "?"
    value: Value


@dataclass(frozen=True, slots=True)
class EnvBinding:
    name: Value
    op: str
    value: Value


#: a string is ``str``, a bool ``bool``, an integer ``int``; the rest are the classes above
Value = Union[str, bool, int, Ident, List, Group, Option, Logop, Relop, PrefixRelop, Pfxop,  # noqa: UP007
              EnvBinding]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: Value
    line: int


@dataclass(frozen=True, slots=True)
class Section:
    kind: str
    name: str | None
    items: tuple[Field | Section, ...]
    line: int


# ------------------------------------------------------------------------------- lexer
# an ident holds a letter: digits, "_" or "-" before its first one (so the first part is
# possessive: nothing to give back), then any of them; or "_" alone
_ID = r"(?:[0-9_-]*+[A-Za-z][A-Za-z0-9_-]*+|_)"
# strings as unrolled loops (a run of plain characters is one step, not one per character);
# longest operators first, as ocamllex takes the longest match
_TOKENS = (r'"""[^"\\]*+(?:(?:\\.|"(?!""))[^"\\]*+)*+"""|"[^"\\]*+(?:\\.[^"\\]*+)*+"'
           r"|[{}\[\]()&|]|ID(?:\+ID)*+(?::ID)?|-?[0-9_]++"
           r"|=\+=|=\+|=:|\+=|:=|!=|<=|>=|[=<>~!?:]").replace("ID", _ID)
_SPACE = r"[ \t\r\n]*+(?:\#[^\n]*+[ \t\r\n]*+)*+"  # possessive: blanks are never a token
#: one token after its blanks and line comments; anything else swallows the rest of the
#: text as one last token, which then fails :data:`_ONE_TOKEN` (block comments included:
#: ``(*`` is not an operator)
_FAST = re.compile(f"{_SPACE}({_TOKENS}|.+)", re.DOTALL)
_ONE_TOKEN = re.compile(_TOKENS, re.DOTALL)
_EXACT = re.compile(f"({_SPACE})(?:(\\(\\*)|({_TOKENS}))", re.DOTALL)
_INT = re.compile(r"-?[0-9_]+")
_RELOPS = frozenset(("=", "!=", "<", "<=", ">", ">=", "~"))
_ENVOPS = frozenset(("+=", "=+", "=+=", ":=", "=:"))
_OPENERS = frozenset("[({")
_CLOSERS = frozenset("])}")
_BRACKETS = _OPENERS | _CLOSERS
_PAIRS = {"[": "]", "(": ")", "{": "}"}
_ESCAPE = re.compile(r"\\(?:\r?\n[ \t]*|[\\\"'nrtb ]|[0-9]{3}|x[0-9a-fA-F]{2}|(.?))", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b"}
_IDENT_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _fast_tokens(text: str) -> list[str] | None:
    """Every token's raw text, or None when the exact lexer must look at the file."""
    toks: list[str] = _FAST.findall(text)
    if toks and not _ONE_TOKEN.fullmatch(toks[-1]):
        return None
    return toks


def _skip_comment(text: str, pos: int) -> int:
    """The offset after the ``(* ... *)`` comment opening at ``pos`` (comments nest)."""
    depth = 0
    i = pos
    while True:
        opening = text.find("(*", i)
        closing = text.find("*)", i)
        if closing < 0:
            raise OpamSyntaxError(f"line {_line(text, pos)}: unterminated comment")
        if 0 <= opening < closing:
            depth += 1
            i = opening + 2
        else:
            depth -= 1
            i = closing + 2
            if depth == 0:
                return i


def _exact_tokens(text: str) -> tuple[list[str], list[int]]:
    """Tokens and their offsets, every case handled; an error names the line."""
    toks: list[str] = []
    offsets: list[int] = []
    pos, end = 0, len(text)
    while pos < end:
        m = _EXACT.match(text, pos)
        if m is None:
            pos += len(re.match(_SPACE, text[pos:]).group())  # type: ignore[union-attr]
            if pos >= end:
                break
            if text.startswith('"', pos):
                raise OpamSyntaxError(f"line {_line(text, pos)}: unterminated string")
            raise OpamSyntaxError(f"line {_line(text, pos)}: {text[pos]!r} is not a valid "
                                  "token")
        if m.group(2):  # a block comment
            pos = _skip_comment(text, m.start(2))
            continue
        toks.append(m.group(3))
        offsets.append(m.start(3))
        pos = m.end()
    return toks, offsets


def _unescape(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        s = m.group(0)
        c = s[1:]
        if m.group(1) is not None:
            raise OpamSyntaxError(f"illegal escape sequence {s!r}")
        if c[0] in "\r\n":
            return ""
        if len(c) == 1:
            return _SIMPLE_ESCAPES.get(c, c)
        if c[0] == "x":
            return chr(int(c[1:], 16))
        code = int(c)
        if code > 255:
            raise OpamSyntaxError(f"illegal escape sequence {s!r}")
        return chr(code)

    return _ESCAPE.sub(one, body)


def _string(tok: str) -> str:
    inner = tok[3:-3] if tok.startswith('"""') else tok[1:-1]
    return _unescape(inner) if "\\" in inner else inner


def _ends_value(tok: str) -> bool:
    return tok[0] == '"' or tok[0] in _IDENT_START or tok in _CLOSERS


# ------------------------------------------------------------------------------ parser
class _Error(Exception):
    def __init__(self, index: int, message: str) -> None:
        self.index = index
        self.message = message


class _Parser:
    """Items and values over raw tokens; errors carry the token's index."""

    __slots__ = ("end", "i", "toks")

    def __init__(self, toks: list[str], start: int = 0, end: int | None = None) -> None:
        self.toks = toks
        self.i = start
        self.end = len(toks) if end is None else end

    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.toks[j] if j < self.end else ""

    def string(self, index: int) -> str:
        try:
            return _string(self.toks[index])
        except OpamSyntaxError as exc:
            raise _Error(index, str(exc)) from None

    def describe(self, tok: str) -> str:
        if not tok:
            return "the end of the file"
        return "a string" if tok[0] == '"' else repr(tok)

    def items(self, closing: bool) -> tuple[Field | Section, ...]:
        out: list[Field | Section] = []
        while True:
            tok = self.peek()
            if not tok:
                if closing:
                    raise _Error(self.i, "a section is not closed ('}' expected)")
                return tuple(out)
            if closing and tok == "}":
                return tuple(out)
            if tok[0] not in _IDENT_START or _INT.fullmatch(tok) or tok in ("true", "false"):
                raise _Error(self.i, f"expected a field or section name, got "
                                     f"{self.describe(tok)}")
            line = self.i
            nxt = self.peek(1)
            if nxt == ":":
                self.i += 2
                out.append(Field(tok, self.value(0), line))
                continue
            label: str | None = None
            if nxt and nxt[0] == '"':
                label = self.string(self.i + 1)
                self.i += 1
                nxt = self.peek(1)
            if nxt == "{":
                self.i += 2
                body = self.items(closing=True)
                self.i += 1  # the closing brace
                out.append(Section(tok, label, body, line))
                continue
            raise _Error(self.i + 1, f"expected ':' or '{{' after {tok!r}, got "
                                     f"{self.describe(nxt)}")

    def values(self, closer: str) -> tuple[Value, ...]:
        out: list[Value] = []
        while True:
            tok = self.peek()
            if tok == closer:
                self.i += 1
                return tuple(out)
            if not tok:
                raise _Error(self.i, f"{closer!r} expected before the end of the file")
            out.append(self.value(0))

    # binding powers: | 1, & 2, prefix ! ? 3, { } options above them all
    def value(self, min_power: int) -> Value:
        left = self.prefix()
        while True:
            op = self.peek()
            if op == "{":
                self.i += 1
                left = Option(left, self.values("}"))
            elif op == "&" and min_power < 2:
                self.i += 1
                left = Logop("&", left, self.value(2))
            elif op == "|" and min_power < 1:
                self.i += 1
                left = Logop("|", left, self.value(1))
            else:
                return left

    def prefix(self) -> Value:
        tok = self.peek()
        if tok == "(":
            self.i += 1
            return Group(self.values(")"))
        if tok == "[":
            self.i += 1
            return List(self.values("]"))
        if tok == "!" or tok == "?":
            self.i += 1
            return Pfxop(tok, self.value(3))
        if tok in _RELOPS:
            self.i += 1
            return PrefixRelop(tok, self.atom())
        left = self.atom()
        nxt = self.peek()
        if nxt in _RELOPS:
            self.i += 1
            return Relop(nxt, left, self.atom())
        if nxt in _ENVOPS:  # "=" lexes as a comparison, as in opam
            self.i += 1
            return EnvBinding(left, nxt, self.atom())
        return left

    def atom(self) -> Value:
        tok = self.peek()
        if tok:
            first = tok[0]
            if first == '"':
                self.i += 1
                return self.string(self.i - 1)
            if first in _IDENT_START:
                self.i += 1
                if tok == "true" or tok == "false":
                    return tok == "true"
                if _INT.fullmatch(tok):
                    return int(tok.replace("_", ""))
                return Ident(tok)
        raise _Error(self.i, f"expected a value, got {self.describe(tok)}")


def _with_lines(items: tuple[Field | Section, ...], text: str,
                offsets: list[int] | None) -> tuple[Field | Section, ...]:
    """Token indexes made line numbers (from the exact lexer's offsets when there are)."""
    if offsets is None:
        offsets = _exact_tokens(text)[1]
    out: list[Field | Section] = []
    for item in items:
        line = _line(text, offsets[item.line]) if item.line < len(offsets) else 0
        if isinstance(item, Field):
            out.append(Field(item.name, item.value, line))
        else:
            out.append(Section(item.kind, item.name, _with_lines(item.items, text, offsets),
                               line))
    return tuple(out)


def _raise_with_line(text: str, exc: _Error | OpamSyntaxError) -> OpamSyntaxError:
    toks, offsets = _exact_tokens(text)  # raises itself on a lexical error
    try:  # the exact tokens are the fast ones: parse again for the error's position
        _Parser(toks).items(closing=False)
    except _Error as again:
        where = _line(text, offsets[again.index]) if again.index < len(offsets) else \
            _line(text, len(text))
        return OpamSyntaxError(f"line {where}: {again.message}")
    except OpamSyntaxError as again:
        return again
    return OpamSyntaxError(str(exc))


def parse_file(text: str, *, lines: bool = False) -> tuple[Field | Section, ...]:
    """The items of an opam-format file; :class:`OpamSyntaxError` names the line.

    ``lines``: give items their line numbers (costs a second pass); otherwise ``line``
    holds the item's token index.
    """
    toks = _fast_tokens(text)
    offsets: list[int] | None = None
    if toks is None:
        toks, offsets = _exact_tokens(text)
    try:
        items = _Parser(toks).items(closing=False)
    except (_Error, OpamSyntaxError) as exc:
        raise _raise_with_line(text, exc) from None
    return _with_lines(items, text, offsets) if lines else items


def _depth(toks: list[str]) -> int:
    return (toks.count("[") + toks.count("(") + toks.count("{")
            - toks.count("]") - toks.count(")") - toks.count("}"))


def top_sections(text: str, kinds: frozenset[str]) -> list[Section] | None:
    """The file's top-level sections of ``kinds``, without parsing its other fields.

    The whole file is lexed (a lexical error, or brackets that do not add up, give None:
    then parse it whole with :func:`parse_file`, which reports where). A section is a
    ``kind ["name"] {`` at bracket depth 0 that does not continue a value (its first token
    follows one that ends a value, or opens the file), as the grammar reads it; its body is
    parsed in full. The searches and counts are the list's own (C) methods (the depth before
    a section is the depth after it, the file's brackets adding up; what follows the
    ``url`` section is short): a Python loop over every token was most of the time of
    reading a whole repository.
    """
    toks = _fast_tokens(text)
    if toks is None or _depth(toks) != 0:
        return None
    n = len(toks)
    found: list[tuple[int, Section]] = []
    for kind in kinds:
        k = -1
        while True:
            try:
                k = toks.index(kind, k + 1)
            except ValueError:
                break
            j = k + 1
            if j < n and toks[j][0] == '"':
                j += 1
            if j >= n or toks[j] != "{" or (k > 0 and not _ends_value(toks[k - 1])):
                continue
            depth, end = 0, -1
            for m in range(j, n):
                t = toks[m]
                if t in _OPENERS:
                    depth += 1
                elif t in _CLOSERS:
                    depth -= 1
                    if depth == 0:
                        end = m
                        break
            if end < 0 or toks[end] != "}":
                return None
            if _depth(toks[end + 1:]) != 0:  # the file adds up: so depth 0 before it too
                continue
            try:
                body = _Parser(toks, j + 1, end).items(closing=False)
                name = _string(toks[k + 1]) if j == k + 2 else None
            except (_Error, OpamSyntaxError):
                return None
            found.append((k, Section(kind, name, body, k)))
    return [section for _, section in sorted(found, key=lambda f: f[0])]
