"""The opam file format as opam-file-format reads it: values, precedence, lexing, errors."""

from __future__ import annotations

import pytest

from mirrorkit.plugins.opam.opamfile import read_opam, read_sources
from mirrorkit.plugins.opam.syntax import (
    EnvBinding,
    Field,
    Group,
    Ident,
    List,
    Logop,
    OpamSyntaxError,
    Option,
    Pfxop,
    PrefixRelop,
    Relop,
    Section,
    parse_file,
    top_sections,
)


def value(text: str) -> object:
    (item,) = parse_file(f"x: {text}")
    assert isinstance(item, Field)
    return item.value


def test_atoms_lists_groups_and_options() -> None:
    assert value('"a"') == "a"
    assert value("true") is True and value("false") is False
    assert value("-12") == -12 and value("1_000") == 1000
    assert value("ocaml:version") == Ident("ocaml:version")
    assert value("pkg+dev") == Ident("pkg+dev")
    assert value('[ "a" b ]') == List(("a", Ident("b")))
    assert value('("a" | "b")') == Group((Logop("|", "a", "b"),))
    assert value('"a" {>= "1"}') == Option("a", (PrefixRelop(">=", "1"),))
    assert value("os = \"linux\"") == Relop("=", Ident("os"), "linux")
    assert value('[FOO += "x"]') == List((EnvBinding(Ident("FOO"), "+=", "x"),))


def test_precedence_is_opams() -> None:
    # & binds tighter than |, ! tighter than &, options tighter than all of them
    assert value("a | b & c") == Logop("|", Ident("a"), Logop("&", Ident("b"), Ident("c")))
    assert value("!a & b") == Logop("&", Pfxop("!", Ident("a")), Ident("b"))
    assert value("a & b {x}") == Logop("&", Ident("a"), Option(Ident("b"), (Ident("x"),)))
    assert value("a & b & c") == Logop("&", Logop("&", Ident("a"), Ident("b")), Ident("c"))
    assert value("?a & b") == Logop("&", Pfxop("?", Ident("a")), Ident("b"))


SOURCES = frozenset(["url", "extra-source"])


def test_strings_and_comments() -> None:
    text = '''opam-version: "2.0" # a comment with "quotes" and url {
(* a (* nested *) comment: url { src: "x" } *)
a: "tab\\t, \\"quote\\", \\065\\x42, line \\
    joined"
b: """triple "quoted" # not a comment (* nor this *)"""
c: "# not a comment"
'''
    items = parse_file(text, lines=True)
    assert [(i.name, i.value, i.line) for i in items if isinstance(i, Field)] == [
        ("opam-version", "2.0", 1),
        ("a", 'tab\t, "quote", AB, line joined', 3),
        ("b", 'triple "quoted" # not a comment (* nor this *)', 5),
        ("c", "# not a comment", 6),
    ]
    # a block comment sends the file through the exact lexer; the commented section is none
    assert top_sections(text, SOURCES) is None
    assert read_sources(text) == []
    assert top_sections(text.replace("(*", "# (*"), SOURCES) == []


@pytest.mark.parametrize(("text", "message"), [
    ('a: "unterminated', "line 1: unterminated string"),
    ("a: 1\nb: $", "line 2: '$' is not a valid token"),
    ("a: 1\n(* open", "line 2: unterminated comment"),
    ('a: "\\q"', "line 1: illegal escape sequence"),
    ("a: [ 1\nb: 2", "line 2: expected a value, got ':'"),
    ("url {\n  src: \"x\"\n", "line 3: a section is not closed"),
    ("a: 1 ]", "line 1: expected a field or section name, got ']'"),
    ("a 1", "line 1: expected ':' or '{' after 'a', got '1'"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(OpamSyntaxError, match="^" + message.replace("[", r"\[")
                       .replace("(", r"\(").replace("$", r"\$")):
        parse_file(text)


@pytest.mark.parametrize("text", [
    'url { src: "a" checksum: "md5=d41d8cd98f00b204e9800998ecf8427e" }',
    'x: 1\nurl {\n src: "a"\n}\nextra-source "p" { src: "b" }\ny: [1]',
    'x: [ url { "inside a list" } ]',                   # not a section: a list item
    'x: url { "an option" }',                              # the value of x
    'x: a & url { "an operand" }',
    'x: [ url { "in a list" } ]\nurl { src: "the section" }',
    'description: "url { src: in a string }"\nurl { src: "real" }',
    'build: [ ["make"] {os = "linux"} ]\nurl { mirrors: [ "m1" "m2" ] src: "s" }',
    '# url { src: "a comment" }\n(* url { } *)\nurl { src: "s" }',
    'extra-source "a.patch" { src: "a" }\nextra-source "b.patch" { src: "b" }',
])
def test_top_sections_reads_the_sections_parse_file_reads(text: str) -> None:
    whole = [i for i in parse_file(text) if isinstance(i, Section) and i.kind in SOURCES]
    fast = top_sections(text, SOURCES)
    if fast is None:  # a block comment: the exact path, which must agree too
        assert [s.name for s in whole] == [s.name for s in read_sources_sections(text)]
        return
    assert [(s.kind, s.name, [(f.name, f.value) for f in s.items if isinstance(f, Field)])
            for s in fast] == \
        [(s.kind, s.name, [(f.name, f.value) for f in s.items if isinstance(f, Field)])
         for s in whole]


def read_sources_sections(text: str) -> list[Section]:
    return [i for i in parse_file(text) if isinstance(i, Section) and i.kind in SOURCES]


def test_sources_from_the_fast_path_and_the_full_parse_agree() -> None:
    text = '''opam-version: "2.0"
depends: [ "ocaml" {>= "4.08"} ]
url {
  src: "https://example.org/a-1.0.tbz"
  checksum: [
    "sha256=2aa5da8f976e6e4817dd66983ec75aafc22da730fb3198e3b0876e78bef683b3"
    "md5=e175add442fa93358f9d399691599cdb"
  ]
  mirrors: "https://mirror.example.org/a-1.0.tbz"
}
extra-source "fix.patch" {
  src: "https://example.org/fix.patch"
  checksum: "e175add442fa93358f9d399691599cdb"
}
'''
    fast = read_sources(text)
    assert fast == read_opam(text).sources
    assert [(s.label, s.src, [c.algorithm for c in s.checksums], s.mirrors) for s in fast] == [
        ("url", "https://example.org/a-1.0.tbz", ["sha256", "md5"],
         ("https://mirror.example.org/a-1.0.tbz",)),
        ("extra-source 'fix.patch'", "https://example.org/fix.patch", ["md5"], ()),
    ]
    # an opam 1.2 url file beside the opam file counts as its url section
    (legacy,) = read_sources('opam-version: "1.2"\n', 'archive: "https://x/y.tgz"\n'
                             'checksum: "e175add442fa93358f9d399691599cdb"\n')
    assert legacy.src == "https://x/y.tgz" and legacy.checksums[0].algorithm == "md5"
