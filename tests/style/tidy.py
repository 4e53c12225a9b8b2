#!/usr/bin/env python3
"""tidy.py -- the style ratchet: rules from STYLE.md that a machine can check.

As TigerBeetle's src/tidy.zig, this fails the build instead of asking a
reviewer to remember. It reports, as path:line, each:

  (a) function longer than FUNCTION_LINES_MAX lines in services/ and
      projections/ .c files, counted from the line of the body's opening
      brace to the line of its closing brace;
  (b) ll_err_set( whose code argument is LL_OK in services/ and projections/:
      a runtime failure is made with ll_fail and a kind, so callers can
      branch on it (services/common/ll_types.h);
  (c) comment (C, Python, shell, CMake; a Python docstring counts) in
      services/, projections/ or tests/ that cites the contract by section
      number: sections get renumbered, the files under docs/
      (docs/rejections.md, docs/events.md, ...) keep their names.

Usage:
  tidy.py [--root DIR] [PATH ...]  check DIR (default: the repository), only
                                   under PATHs (files or folders, relative
                                   to DIR) if given
  tidy.py --self-test              check that tests/style/fixtures gives
                                   exactly the offenders it was built with

The C reader is a lexer, not a parser: it blanks comments, string and
character literals and preprocessor lines, then matches braces. That is
enough for code kept in clang-format's shape."""

import argparse
import io
import os
import re
import sys
import tokenize

FUNCTION_LINES_MAX = 100

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(HERE, "fixtures")

CODE_ROOTS = ("services", "projections")
COMMENT_ROOTS = ("services", "projections", "tests")
# The fixtures hold offenders on purpose; the self-test checks them.
EXCLUDED = (os.path.join("tests", "style", "fixtures"),)

C_SUFFIXES = (".c", ".h")
HASH_COMMENT_SUFFIXES = (".sh", ".cmake")
# The contract named with a section number after it, in the forms comments
# have used: "section 4", "(section 5)", "§ 3", "3.2". The two words may sit
# on two lines of one block comment.
CONTRACT_CITATION = re.compile(
    r"\bcontract(?:'s)?(?:\s|\(|\*|//|#)*(?:section|§)|\bcontract\s+\d+\.\d+",
    re.IGNORECASE,
)
ERR_SET_CALL = re.compile(r"\bll_err_set\s*\(")
IDENTIFIER_BEFORE_PAREN = re.compile(r"([A-Za-z_]\w*)\s*$")


class Offence:
    def __init__(self, path, line, what):
        self.path, self.line, self.what = path, line, what

    def key(self):
        return (self.path, self.line, self.what)

    def __str__(self):
        return "%s:%d: %s" % (self.path, self.line, self.what)


def lex_c(text):
    """Return (code, comments): code is text with every comment, string and
    character literal blanked to spaces (newlines kept, so offsets and line
    numbers hold); comments is a list of (offset, comment text)."""
    out = list(text)
    comments = []
    i, n = 0, len(text)

    def blank(start, end):
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            comments.append((i, text[i:end]))
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            comments.append((i, text[i:end]))
            blank(i, end)
            i = end
        elif c == '"' or c == "'":
            k = i + 1
            while k < n and text[k] != c and text[k] != "\n":
                k += 2 if text[k] == "\\" else 1
            end = min(k + 1, n)
            blank(i + 1, end - 1)  # keep the quotes: "" is still an operand
            i = end
        else:
            i += 1
    return "".join(out), comments


def blank_preprocessor(code):
    """Blank preprocessor lines (with their continuations): a macro body's
    braces are not a function's."""
    lines = code.split("\n")
    continued = False
    for k, line in enumerate(lines):
        if continued or line.lstrip().startswith("#"):
            continued = line.rstrip().endswith("\\")
            lines[k] = " " * len(line)
    return "\n".join(lines)


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def function_name(header):
    """(name, offset in header) of the function a top-level header declares
    when it ends in ')' and opens a body; None when the braces belong to an
    initializer or a type."""
    if not header.rstrip().endswith(")") or "=" in strip_parens(header):
        return None  # struct s {, int table[] = {
    depth = 0
    for k, c in enumerate(header):
        if c == "(":
            if depth == 0:
                match = IDENTIFIER_BEFORE_PAREN.search(header[:k])
                return (match.group(1), match.start(1)) if match else None
            depth += 1
        elif c == ")":
            depth -= 1
    return None


def strip_parens(text):
    """text without what lies inside parentheses."""
    out, depth = [], 0
    for c in text:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0:
            out.append(c)
    return "".join(out)


def find_functions(code):
    """Yield (name, name_line, open_line, close_line) for each function
    body."""
    depth = 0
    header_start = 0
    open_offset, named = None, None
    for k, c in enumerate(code):
        if c == "{":
            if depth == 0:
                named = function_name(code[header_start:k])
                open_offset = k
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if named is not None:
                    name, name_offset = named
                    yield (
                        name,
                        line_of(code, header_start + name_offset),
                        line_of(code, open_offset),
                        line_of(code, k),
                    )
                named = None
                header_start = k + 1
        elif c == ";" and depth == 0:
            header_start = k + 1


def check_function_lengths(path, code):
    for name, name_line, open_line, close_line in find_functions(code):
        lines = close_line - open_line + 1
        if lines > FUNCTION_LINES_MAX:
            yield Offence(
                path,
                name_line,
                "function %s is %d lines (limit %d)"
                % (name, lines, FUNCTION_LINES_MAX),
            )


def call_arguments(code, open_paren):
    """The top-level arguments of the call whose '(' is at open_paren."""
    args, depth, start = [], 0, open_paren + 1
    for k in range(open_paren, len(code)):
        c = code[k]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(code[start:k])
                return args
        elif c == "," and depth == 1:
            args.append(code[start:k])
            start = k + 1
    return args


def check_err_set_ok(path, code):
    for match in ERR_SET_CALL.finditer(code):
        args = call_arguments(code, match.end() - 1)
        if len(args) >= 2 and args[1].strip() == "LL_OK":
            yield Offence(
                path,
                line_of(code, match.start()),
                "ll_err_set with LL_OK: a failure is ll_fail(err, <kind>, ...)",
            )


def check_citations(path, comments, source):
    """comments: (offset, text) pairs; source: the text offsets refer to."""
    for offset, text in comments:
        for match in CONTRACT_CITATION.finditer(text):
            yield Offence(
                path,
                line_of(source, offset + match.start()),
                "comment cites the contract by section: cite docs/<file>.md",
            )


def python_comments(text):
    """(offset, text) of each comment and docstring in Python source: a
    docstring is a string that stands as a statement of its own."""
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    statement_start = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    comments, previous = [], tokenize.NEWLINE
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            docstring = (
                tok.type == tokenize.STRING and previous in statement_start
            )
            if tok.type == tokenize.COMMENT or docstring:
                row, col = tok.start
                comments.append((starts[row - 1] + col, tok.string))
            if tok.type not in (tokenize.COMMENT, tokenize.NL):
                previous = tok.type
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return comments


def hash_comments(text):
    """(offset, text) of each '#' comment of a shell or CMake file."""
    comments, offset = [], 0
    for line in text.split("\n"):
        col = line.find("#")
        if col >= 0:
            comments.append((offset + col, line[col:]))
        offset += len(line) + 1
    return comments


def under(rel, roots):
    return any(rel == r or rel.startswith(r + os.sep) for r in roots)


def check_file(root, rel):
    path = os.path.join(root, rel)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    name = os.path.basename(rel)
    offences = []
    if name.endswith(C_SUFFIXES):
        code, comments = lex_c(text)
        if under(rel, CODE_ROOTS):
            if name.endswith(".c"):
                offences += check_function_lengths(
                    rel, blank_preprocessor(code)
                )
            offences += check_err_set_ok(rel, code)
        offences += check_citations(rel, comments, text)
    elif name.endswith(".py"):
        offences += check_citations(rel, python_comments(text), text)
    elif name.endswith(HASH_COMMENT_SUFFIXES) or name == "CMakeLists.txt":
        offences += check_citations(rel, hash_comments(text), text)
    return offences


def scanned_files(root, paths):
    """Relative paths of the files to check, sorted: those under the check
    roots, not excluded, and under one of paths when paths are given."""
    wanted = [os.path.normpath(p) for p in paths]
    files = []
    for top in COMMENT_ROOTS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for filename in filenames:
                rel = os.path.relpath(os.path.join(dirpath, filename), root)
                if under(rel, EXCLUDED):
                    continue
                if wanted and not under(rel, wanted):
                    continue
                files.append(rel)
    return sorted(files)


def check_tree(root, paths=()):
    offences = []
    for rel in scanned_files(root, paths):
        offences += check_file(root, rel)
    return offences


# What the fixtures hold on purpose, and nothing else: a 101-line function
# is reported and its 100-line neighbour is not; braces in strings, character
# literals and comments, a multi-line signature, a table initializer and a
# rejection's ll_err_set are read without false reports.
FIXTURE_EXPECTED = {
    (
        os.path.join("services", "fixture.c"),
        127,
        "function count_past_limit is 101 lines (limit 100)",
    ),
    (
        os.path.join("services", "fixture.c"),
        243,
        "ll_err_set with LL_OK: a failure is ll_fail(err, <kind>, ...)",
    ),
    (
        os.path.join("services", "fixture.c"),
        236,
        "comment cites the contract by section: cite docs/<file>.md",
    ),
}


# The two functions either side of the limit, by their exact lengths: an
# edit of the fixture that moved them off the boundary would make the
# self-test prove less.
FIXTURE_LENGTHS = {"count_at_limit": 100, "count_past_limit": 101}


def self_test():
    with open(os.path.join(FIXTURES, "services", "fixture.c")) as f:
        code = blank_preprocessor(lex_c(f.read())[0])
    lengths = {
        name: close_line - open_line + 1
        for name, _, open_line, close_line in find_functions(code)
        if name in FIXTURE_LENGTHS
    }
    if lengths != FIXTURE_LENGTHS:
        print(
            "self-test: fixture lengths %s, want %s"
            % (lengths, FIXTURE_LENGTHS)
        )
        return 1
    found = {o.key() for o in check_tree(FIXTURES)}
    missed = FIXTURE_EXPECTED - found
    extra = found - FIXTURE_EXPECTED
    for path, line, what in sorted(missed):
        print("self-test: not reported: %s:%d: %s" % (path, line, what))
    for path, line, what in sorted(extra):
        print("self-test: reported wrongly: %s:%d: %s" % (path, line, what))
    if missed or extra:
        return 1
    print("self-test: the %d planted offences, and only they, are reported"
          % len(FIXTURE_EXPECTED))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=REPO)
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    missing = [
        p for p in args.paths if not os.path.exists(os.path.join(args.root, p))
    ]
    if missing:
        # A mistyped path would otherwise check nothing and pass.
        print(
            "tidy: no such path under %s: %s" % (args.root, ", ".join(missing))
        )
        return 2
    offences = check_tree(args.root, args.paths)
    for offence in offences:
        print(offence)
    if offences:
        print("tidy: %d offence(s)" % len(offences))
        return 1
    print("tidy: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
