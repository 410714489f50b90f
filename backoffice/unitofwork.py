"""One unit of work per request (Indico's `RH.process`): a request that may write (POST,
PUT, PATCH, DELETE) commits once, after its view returned a success (2xx, 3xx), and rolls
back otherwise — an error page, a refusal answered 4xx, any exception. Views and workflow
code flush, never commit. What hangs on the outcome is hooked on the session's events,
not called by hand: jobs are enqueued after the commit (`tasks.after_commit`), and the
bytes of an upload are kept only when the commit happens (`uploads.store`), deleted
otherwise at the end of the request.

A GET never commits: what it wrote is rolled back at the end of the request
(`db._remove_session`), except what it records on purpose in a short transaction of its
own (`db.commit_record`): last-seen markers, the audit rows of sensitive reads (a file
opened, an export downloaded).

Jobs have the same unit of work (`jobs.job`): one commit when the job returns, a rollback
when it raises; a job that must commit in steps (before slow outside work, a claim others
must see, a failure recorded before it raises) calls `jobs.checkpoint(why)`.

Documented exceptions that commit by themselves, each with its reason beside the call:
the sign-in steps (a failed attempt's counter must survive the refusal that follows) and
the CLI commands (no request around them). `tests/test_no_bare_commit.py` fails on any
other `.commit()` in backoffice/ and jobs/."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from backoffice.db import db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def finish(response: Response) -> Response:
    """The request's one commit, or its rollback."""
    if request.method in SAFE_METHODS:
        return response
    if response.status_code < 400:
        db.commit()  # the unit of work's commit: the only one a view's work gets
    else:
        db.rollback()
    return response


class BackofficeFlask(Flask):
    """Flask whose view dispatch ends with the unit of work: a failure of the commit
    itself (a constraint, a concurrent change) reaches the error handlers like any
    view error, and gets their French page or JSON answer."""

    def dispatch_request(self) -> Any:
        response = self.make_response(super().dispatch_request())
        return finish(response)
