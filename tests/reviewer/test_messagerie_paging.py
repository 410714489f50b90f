"""The messagerie tab pages its thread (issue 19, item 4): the newest messages first,
« Messages précédents » by key (no OFFSET), the unread mark and the composer at the top,
and the same number of SQL queries whatever the length of the thread."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import insert, select

from backoffice.db import db, utcnow
from backoffice.models import Message
from backoffice.reviewer.dossier import MESSAGES_PAGE
from tests.reviewer.test_queue import count_queries


def _messages(candidature, n: int, kinds=("industriel", "ans", "systeme")) -> list[int]:
    """n messages in bulk, oldest first; returns their ids (oldest first)."""
    start = utcnow() - timedelta(days=30)
    db.execute(insert(Message), [
        {"candidature_id": candidature.id, "author_kind": kinds[i % len(kinds)],
         "kind": "message", "subject": "", "body": f"Message numéro {i}",
         "created_at": start + timedelta(minutes=i), "reponse_attendue": False}
        for i in range(n)])
    db.commit()
    return list(db.scalars(select(Message.id).where(Message.candidature_id == candidature.id)
                           .order_by(Message.id)))


def _shown(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="message-(\d+)"', html)]


def _older_link(html: str) -> str | None:
    found = re.search(r'id="messages-precedents" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_newest_page_first_then_older_pages_by_key(desk) -> None:
    candidature = desk.candidature()
    ids = _messages(candidature, 70)
    base = f"/instruction/candidatures/{candidature.reference}?onglet=messagerie"
    html = desk.client.get(base).get_data(as_text=True)
    newest = list(reversed(ids))
    assert _shown(html) == newest[:MESSAGES_PAGE]
    # the composer comes before the thread: within the first screen
    assert html.index('id="form-message"') < html.index(f'id="message-{newest[0]}"')
    link = _older_link(html)
    assert link and f"avant={newest[MESSAGES_PAGE - 1]}" in link

    html = desk.client.get(link).get_data(as_text=True)
    assert _shown(html) == newest[MESSAGES_PAGE:2 * MESSAGES_PAGE]
    assert 'id="form-message"' not in html and "Revenir aux derniers messages" in html
    html = desk.client.get(_older_link(html)).get_data(as_text=True)
    assert _shown(html) == newest[2 * MESSAGES_PAGE:]  # the 10 oldest: the last page
    assert _older_link(html) is None
    assert desk.client.get(f"{base}&avant=abc").status_code == 400


def test_unread_messages_are_marked_once(desk) -> None:
    candidature = desk.candidature()
    base = f"/instruction/candidatures/{candidature.reference}?onglet=messagerie"
    desk.client.get(base)  # the automatic messages so far are read
    ids = _messages(candidature, 4, kinds=("industriel", "ans"))[-4:]
    html = desk.client.get(base).get_data(as_text=True)
    assert "2 nouveaux messages de l&#39;industriel" in html \
        or "2 nouveaux messages de l'industriel" in html
    marked = [int(i) for i in re.findall(
        r'id="message-(\d+)">\s*<p[^>]*>\s*<span[^>]*>[^<]*</span>\s*<span[^>]*bo-unread', html)]
    assert sorted(marked) == [ids[0], ids[2]]  # the vendor's, not the ANS's
    html = desk.client.get(base).get_data(as_text=True)  # read now
    assert "bo-unread" not in html and 'id="non-lus"' not in html


def test_the_tab_runs_the_same_queries_at_10_and_200_messages(desk) -> None:
    small = desk.candidature()
    large = desk.candidature()
    _messages(small, 10)
    _messages(large, 200)
    counts = {}
    for name, candidature in (("small", small), ("large", large)):
        path = f"/instruction/candidatures/{candidature.reference}?onglet=messagerie"
        desk.client.get(path)  # once, so that both are read (the upsert then updates)
        with count_queries() as statements:
            html = desk.client.get(path).get_data(as_text=True)
        counts[name] = statements
        assert len(_shown(html)) == (MESSAGES_PAGE if name == "large" else 10 + 2)
    assert len(counts["large"]) == len(counts["small"]), "\n".join(counts["large"])
    # older pages too, and never an OFFSET
    html = desk.client.get(f"/instruction/candidatures/{large.reference}?onglet=messagerie")
    with count_queries() as older:
        desk.client.get(_older_link(html.get_data(as_text=True)))
    assert len(older) <= len(counts["large"])
    assert not any(re.search(r"OFFSET [1-9]", s, re.I) for s in [*counts["large"], *older])


# --- the vendor's API: GET /api/v1/candidatures/{ref}/messages -------------------------


def _api_page(desk, reference: str, **args: object) -> dict:
    query = "&".join(f"{k}={v}" for k, v in args.items())
    response = desk.api.get(f"/candidatures/{reference}/messages" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.json
    return response.json


def test_the_api_pages_the_thread_newest_page_first(desk) -> None:
    candidature = desk.candidature()
    ids = _messages(candidature, 120)
    db.execute(insert(Message), [{"candidature_id": candidature.id, "author_kind": "ans",
                                  "kind": "note_interne", "subject": "", "body": "interne",
                                  "created_at": utcnow(), "reponse_attendue": False}])
    db.commit()
    first = _api_page(desk, candidature.reference)
    # the newest 50, in the thread's order (oldest first) as before paging; no note
    assert [m["id"] for m in first["items"]] == ids[-50:]
    assert set(first["items"][0]) >= {"id", "body", "event", "created_at", "attachments"}
    second = _api_page(desk, candidature.reference, after=first["next"])
    assert [m["id"] for m in second["items"]] == ids[-100:-50]
    last = _api_page(desk, candidature.reference, after=second["next"], limit=200)
    assert [m["id"] for m in last["items"]] == ids[:-100] and last["next"] is None
    small = _api_page(desk, candidature.reference, limit=7)
    assert [m["id"] for m in small["items"]] == ids[-7:]
    for bad, code in (({"limit": "x"}, "invalid_limit"), ({"after": "%%%"}, "invalid_cursor")):
        query = "&".join(f"{k}={v}" for k, v in bad.items())
        response = desk.api.get(f"/candidatures/{candidature.reference}/messages?{query}")
        assert response.status_code == 422 and response.json["code"] == code


def test_the_api_runs_the_same_queries_at_10_and_200_messages(desk) -> None:
    small, large = desk.candidature(), desk.candidature()
    _messages(small, 10)
    _messages(large, 200)
    counts = []
    _api_page(desk, small.reference)  # the token's first use of the test is recorded once
    for candidature in (small, large):
        with count_queries() as statements:
            _api_page(desk, candidature.reference)
        counts.append(len(statements))
    assert counts[0] == counts[1]
