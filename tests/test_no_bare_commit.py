"""No `.commit()` outside the unit of work (issue 16): a request commits once in
backoffice/unitofwork.py, a job once in jobs/__init__.py (or in steps, through
`jobs.checkpoint(why)`), a GET only what it records on purpose (`db.commit_record`). The
exceptions are the sign-in steps and the CLI commands, each justified by a comment beside
the call. This scan of backoffice/ and jobs/ fails on any other call to a method named
`commit` (`db.commit()`, `session.commit()`, `connection.commit()`…), on a second one
in a function allowed one, and on an allowed one without its comment."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("backoffice", "jobs")

# (file, function) -> (number of commits, why they are allowed)
ALLOWED: dict[tuple[str, str], tuple[int, str]] = {
    ("backoffice/unitofwork.py", "finish"): (1, "the request's unit of work"),
    ("jobs/__init__.py", "_unit_of_work"): (1, "the job's unit of work"),
    ("jobs/__init__.py", "checkpoint"): (1, "a job's unit of work committed in steps, "
                                            "each step saying why"),
    ("backoffice/db.py", "commit_record"): (2, "what a GET records on purpose: its reads "
                                               "end, the record is committed apart"),
    ("backoffice/db.py", "_end_read_only_transaction"): (
        1, "a GET that wrote nothing ends with COMMIT rather than ROLLBACK (psycopg keeps "
           "its prepared statements)"),
    # the sign-in steps: a failed attempt is recorded although the page refuses, and what
    # must land before the session rotates or the throttle forgets
    ("backoffice/auth/views.py", "_complete_login"): (1, "auth: before the session rotates"),
    ("backoffice/auth/views.py", "login"): (2, "auth: a failed attempt, a password rehash"),
    ("backoffice/auth/views.py", "second_factor"): (1, "auth: a failed attempt"),
    ("backoffice/auth/views.py", "enrol"): (1, "auth: the key shown is the key stored"),
    ("backoffice/auth/views.py", "_enrolment_code_step"): (
        2, "auth: the code spent before the throttle gives back, a failed attempt"),
    ("backoffice/auth/views.py", "account"): (1, "auth: recovery codes shown once"),
    ("backoffice/auth/views.py", "logout"): (1, "auth: sessions end before the cookie"),
    # the CLI commands: no request around them, each is its own unit of work
    ("backoffice/cli.py", "_load_reference"): (1, "CLI: init-db"),
    ("backoffice/cli.py", "seed_demo"): (1, "CLI: seed-demo"),
    ("backoffice/cli.py", "create_user"): (1, "CLI: create-user"),
    ("backoffice/cli.py", "create_api_token"): (1, "CLI: create-api-token"),
    ("backoffice/cli.py", "import_referentiel"): (1, "CLI: import-referentiel"),
    ("backoffice/cli.py", "recompter_files"): (1, "CLI: recompter-files"),
    ("backoffice/statistics/__init__.py", "init_app.command"): (1, "CLI: statistiques"),
    ("backoffice/audit_checkpoints.py", "set_aside_after_restore"): (
        1, "CLI: verify-audit --after-restore"),
}


def commits(source: str) -> list[tuple[str, int]]:
    """(enclosing function's dotted name, line) of every call to a method `commit`."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, names: tuple[str, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, (*names, child.name))
                continue
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) \
                    and child.func.attr == "commit":
                found.append((".".join(names) or "<module>", child.lineno))
            visit(child, names)

    visit(ast.parse(source), ())
    return found


def justified(lines: list[str], lineno: int) -> bool:
    """A comment on the call's line or in the comment block just above it."""
    if "#" in lines[lineno - 1]:
        return True
    above = lineno - 2
    return above >= 0 and lines[above].lstrip().startswith("#")


def scan() -> tuple[Counter[tuple[str, str]], list[str]]:
    counts: Counter[tuple[str, str]] = Counter()
    silent = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            for function, lineno in commits(source):
                counts[(relative, function)] += 1
                if not justified(lines, lineno):
                    silent.append(f"{relative}:{lineno} ({function})")
    return counts, silent


def test_no_commit_outside_the_unit_of_work_and_its_documented_exceptions() -> None:
    counts, silent = scan()
    unexpected = {f"{path} {function}: {n}" for (path, function), n in counts.items()
                  if n > ALLOWED.get((path, function), (0, ""))[0]}
    assert not unexpected, (
        "commit outside the unit of work: a view or a transition flushes, the request's "
        "unit of work commits (backoffice/unitofwork.py); a job commits in steps through "
        "jobs.checkpoint(why); a GET records through db.commit_record", sorted(unexpected))
    assert not silent, ("an allowed commit says why beside it", silent)


def test_the_allow_list_is_not_stale() -> None:
    counts, _ = scan()
    stale = {key: n for key, (n, _) in ALLOWED.items() if counts.get(key, 0) != n}
    assert not stale, ("ALLOWED names commits that are gone: lower or remove them", stale)


@pytest.mark.parametrize("source, expected", [
    ("def f():\n    db.commit()\n", [("f", 2)]),
    ("class A:\n    def g(self):\n        self.session.commit()\n", [("A.g", 3)]),
    ("def f():\n    def inner():\n        conn.commit()\n", [("f.inner", 3)]),
    ("x = engine.connect().commit()\n", [("<module>", 1)]),
    ("def f():\n    db.flush()\n    after_commit(g)\n", []),
])
def test_the_scan_finds_every_kind_of_commit(source, expected) -> None:
    assert commits(source) == expected
