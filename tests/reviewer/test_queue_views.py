"""Views of the queue (À traiter, Suivis, Traités, Tous), the search across open and ended
dossiers, sortable headers, saved views shared with a team, the bounded count, bulk
assignment of the whole filtered result and « dossier suivant » (issue 18, items 2–3)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import and_, delete, select, update

from backoffice.db import db, utcnow
from backoffice.models import (
    Candidature,
    CandidatureStep,
    Certificat,
    DossierFollow,
    DossierHolding,
    SavedView,
)
from backoffice.queues import candidatures as queue
from backoffice.workflow import forms
from backoffice.workflow.definitions import DEMARCHES, STEP_STATUS_LABELS
from tests.factories import ProductFactory
from tests.helpers import GetEndpointChecks, PostEndpointChecks, csrf_token, login_as
from tests.reviewer.test_query_budgets import BUDGET, VIEWERS, _dossier

V = ("verificateur",)


def _references(html: str) -> list[str]:
    return re.findall(r'<tr data-reference="([A-Z]{9})"', html)


def _refs(desk, query: str) -> list[str]:
    response = desk.client.get(f"/instruction/file?{query}")
    assert response.status_code == 200, response.headers.get("Location")
    return _references(response.get_data(as_text=True))


def _reject(desk, candidature) -> Candidature:
    row = db.get(Candidature, candidature.id)
    forms.prendre(row, "recevabilite", actor=desk.me)
    forms.rejeter(row, "recevabilite", actor=desk.me, motif="Dossier incomplet.")
    db.commit()
    return row


class TestSaveView(PostEndpointChecks):
    path, allowed_roles, form = "/instruction/vues", V, {"nom": "x"}


class TestDeleteView(PostEndpointChecks):
    path, allowed_roles = "/instruction/vues/1/supprimer", V


class TestBulkAssignAllPage(GetEndpointChecks):
    path, allowed_roles = "/instruction/file/attribuer-tout", V


class TestBulkAssignAll(PostEndpointChecks):
    path, allowed_roles, form = "/instruction/file/attribuer-tout", V, {"confier_a": "1"}


def test_each_demarche_keeps_its_step_order_in_the_process_order() -> None:
    for demarche in DEMARCHES.values():
        for steps in (demarche.steps, demarche.transitional_steps or ()):
            positions = [queue.STEP_ORDER.index(s) for s in steps]
            assert positions == sorted(positions), demarche.code


def test_steps_and_statuses_offered_are_those_of_the_demarches_in_view(desk) -> None:
    login_as(desk.client, desk.segur)
    html = desk.client.get("/instruction/file").get_data(as_text=True)
    steps = re.findall(r'<option value="(\w+)"', html.split('id="etape"')[1].split("</select>")[0])
    assert steps == ["depot", "eligibilite", "convention", "preuves", "referencement"]
    statuses = re.findall(r'<option value="(\w+)"',
                          html.split('id="statut"')[1].split("</select>")[0])
    # the Ségur steps' statuses only: no collège, no preuves pour avis, nothing « à venir »
    assert "soumise" in statuses and "emis" in statuses
    assert not {"inscrite", "favorable", "deposees", "a_venir"} & set(statuses)
    assert len(statuses) < len(STEP_STATUS_LABELS) - 10
    # a step chosen: that step's statuses
    html = desk.client.get("/instruction/file?etape=convention").get_data(as_text=True)
    statuses = re.findall(r'<option value="(\w+)"',
                          html.split('id="statut"')[1].split("</select>")[0])
    assert statuses == ["a_envoyer", "envoyee", "signee", "expiree", "refusee", "validee"]


def test_a_rejected_dossier_is_found_by_its_reference_and_in_the_traites_view(desk) -> None:
    product = ProductFactory(organisation=desk.organisation, name="Oxymètre Zéphyr")
    rejected = _reject(desk, desk.candidature("dmn_pecan", product=product))
    open_one = desk.candidature("dmn_pecan")
    # the exact reference opens it, whatever the view, in any case
    for query in (f"q={rejected.reference}", f"q={rejected.reference.lower()}%20",
                  f"vue=traites&q={rejected.reference}"):
        response = desk.client.get(f"/instruction/file?{query}")
        assert response.status_code == 302, query
        assert response.headers["Location"].endswith(
            f"/instruction/candidatures/{rejected.reference}")
    assert _refs(desk, "") == [open_one.reference]  # À traiter: the open ones
    assert _refs(desk, "vue=traites") == [rejected.reference]
    assert _refs(desk, "vue=traites&statut=rejetee") == [rejected.reference]
    assert _refs(desk, "vue=tous&statut=rejetee") == [rejected.reference]
    assert set(_refs(desk, "vue=tous")) == {rejected.reference, open_one.reference}
    assert _refs(desk, "vue=tous&q=z%C3%A9phyr") == [rejected.reference]  # product name
    assert _refs(desk, "q=z%C3%A9phyr") == []  # À traiter holds no ended dossier
    html = desk.client.get("/instruction/file?vue=traites").get_data(as_text=True)
    assert "Rejetée" in html and "1 candidature — Traités" in html
    # another parcours' vérificatrice: neither redirected nor shown
    login_as(desk.client, desk.segur)
    assert _refs(desk, f"q={rejected.reference}") == []
    assert _refs(desk, f"vue=tous&q={rejected.reference}") == []


def test_certificate_and_referencement_numbers_open_the_dossier_and_siret_lists(desk) -> None:
    one = desk.candidature("dmn_pecan")
    other = desk.candidature("dmn_pect")
    db.add(Certificat(candidature_id=one.id, kind="referencement", number="ANS-DMN-2026-000042-K",
                      numero_referencement="REF-2026-00042", product_label="p",
                      organisation_name="o", referentiel_label="r"))
    desk.organisation.siret = "12345678901234"
    db.commit()
    for term in ("ANS-DMN-2026-000042-K", "ans-dmn-2026-000042-k", "REF-2026-00042"):
        response = desk.client.get(f"/instruction/file?vue=tous&q={term}")
        assert response.status_code == 302, term
        assert response.headers["Location"].endswith(f"/candidatures/{one.reference}")
    assert set(_refs(desk, "vue=tous&q=123%20456%20789%2001234")) == {
        one.reference, other.reference}
    assert _refs(desk, "vue=tous&q=99999999999999") == []


def test_suivis_are_the_dossiers_i_hold_or_decided(desk) -> None:
    held = desk.candidature("dmn_pecan")
    desk.driver().take(held, "recevabilite")
    decided = _reject(desk, desk.candidature("dmn_pect"))
    colleagues = desk.candidature("dmn_pecan")
    desk.driver(desk.colleague).take(colleagues, "recevabilite")
    desk.candidature("dmn_nom_de_marque")  # nobody's
    db.commit()
    assert set(_refs(desk, "vue=suivis")) == {held.reference, decided.reference}
    # counted once each, though I both held and decided the rejected one's step
    html = desk.client.get("/instruction/file?vue=suivis").get_data(as_text=True)
    assert "2 candidatures — Suivis" in html
    assert queue.count(desk.me, queue.Filters(view="suivis", demarche="dmn_pect"),
                       now=utcnow(), limit=1001) == 1
    login_as(desk.client, desk.colleague)
    assert _refs(desk, "vue=suivis") == [colleagues.reference]


def _follows() -> set[tuple[int, int]]:
    return {(f.user_id, f.candidature_id) for f in db.scalars(select(DossierFollow))}


def _derived() -> set[tuple[int, int]]:
    """The follows as the rule states them, read from the steps."""
    steps = db.scalars(select(CandidatureStep)).all()
    return ({(s.assignee_id, s.candidature_id) for s in steps if s.assignee_id} |
            {(s.decided_by_id, s.candidature_id) for s in steps if s.decided_by_id})


def test_a_dossier_handed_on_or_released_stays_followed_and_the_recount_heals(desk) -> None:
    from backoffice.models.follow import refollow
    from backoffice.workflow import assignment

    held, passed, released = (desk.candidature("dmn_pecan") for _ in range(3))
    for candidature in (held, passed, released):
        desk.driver().take(candidature, "recevabilite")
    decided = _reject(desk, desk.candidature("dmn_pect"))
    assignment.confier(db.get(Candidature, passed.id), actor=desk.me, to=desk.colleague)
    assignment.liberer(db.get(Candidature, released.id), actor=desk.me)
    db.commit()
    me, colleague = desk.me.id, desk.colleague.id
    # I held all four: handed to a colleague (theirs now too) or released, they stay mine
    assert _follows() == {(me, held.id), (me, passed.id), (me, released.id),
                          (me, decided.id), (colleague, passed.id)}
    assert _derived() < _follows()  # the steps alone no longer show the two handed on
    assert set(_refs(desk, "vue=suivis")) == {held.reference, passed.reference,
                                              released.reference, decided.reference}
    login_as(desk.client, desk.colleague)
    assert _refs(desk, "vue=suivis") == [passed.reference]
    # rows lost behind the application's back (a restore, psql): the recount adds back
    # what the steps show, and keeps what they cannot tell
    db.execute(delete(DossierFollow).where(DossierFollow.candidature_id.in_(
        [held.id, passed.id])))
    db.commit()
    # copies written wrong behind its back: healed from the dossiers (and the new rows
    # carry them too)
    db.execute(update(DossierFollow).values(search_text="stale", demarche_code="sons_sas"))
    db.execute(update(DossierHolding).values(search_text="stale"))
    db.commit()
    refollow(db)
    db.commit()
    assert _follows() == {(me, held.id), (me, released.id), (me, decided.id),
                          (colleague, passed.id)}
    for model in (DossierFollow, DossierHolding):
        copies = db.execute(select(model.search_text, model.demarche_code, Candidature)
                            .join(Candidature, Candidature.id == model.candidature_id)).all()
        assert copies and all((text_, demarche) == (c.search_text, c.demarche_code)
                              for text_, demarche, c in copies)


def test_a_search_reads_its_page_and_its_count_in_one_statement(desk, monkeypatch) -> None:
    from tests.reviewer.test_queue import count_queries

    product = ProductFactory(organisation=desk.organisation, name="Oxymètre Zéphyr")
    found = [desk.candidature("dmn_pecan", product=product) for _ in range(4)]
    desk.candidature("dmn_pecan")  # another product: not found
    for view in ("", "vue=tous&"):
        with count_queries() as statements:
            html = desk.client.get(f"/instruction/file?{view}q=z%C3%A9phyr").get_data(
                as_text=True)
        # the matches read once: the page is their first rows, the count how many
        searching = [s for s in statements if "search_text" in s and "pg_stats" not in s]
        assert len(searching) == 1, searching
        assert "4 candidatures" in html
        filters = queue.Filters.from_args({"q": "zéphyr", "vue": view[4:-1] or None})
        expected, _ = queue.page(desk.me, filters, now=utcnow())
        assert _references(html) == [r.reference for r in expected]
        assert set(_references(html)) == {c.reference for c in found}
    # past the count's limit: « plus de », and the page still shows every match
    monkeypatch.setattr(queue, "COUNT_LIMIT", 2)
    html = desk.client.get("/instruction/file?q=z%C3%A9phyr").get_data(as_text=True)
    assert "Plus de 2 candidatures" in html
    assert len(_references(html)) == 4


def _fillers(like: Candidature, words: str, n: int) -> None:
    """n candidatures copied from `like` (no step: never on a page) whose search text
    holds `words`: rows that shape the statistics a search reads."""
    from sqlalchemy import insert

    table = Candidature.__table__
    source = dict(db.execute(select(table).where(table.c.id == like.id)).mappings().one())
    source.pop("id")
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    rows = []
    for i in range(n):
        reference = "FILLER" + "".join(letters[(i // 26**k) % 26] for k in range(3))
        rows.append({**source, "reference": reference,
                     "search_text": f"{reference.lower()} {words}"})
    db.execute(insert(table), rows)


@contextmanager
def _statistics_taken() -> Iterator[bool]:
    """ANALYZE the candidatures (PostgreSQL: yields True) and have the search read its
    sample of them again, then forget it (another test's data is not this one's)."""
    from sqlalchemy import text

    from backoffice.queues import search

    postgresql = db.get_bind().dialect.name == "postgresql"
    if postgresql:
        db.execute(text("ANALYZE candidature"))
    search.forget_samples()
    try:
        yield postgresql
    finally:
        search.forget_samples()


def test_a_rare_term_asks_the_index_for_its_rarest_trigrams_and_finds_the_same_rows(
        desk) -> None:
    """At 1M candidatures `LIKE '%cardiotrack%'` made the trigram index intersect nine
    posting lists, some in a sixth of the rows: a rare term now asks it for its three
    rarest trigrams (PostgreSQL's statistics of the column say which), and every
    candidate is checked against the whole term: the same rows, the decoy left out."""
    from backoffice.queues import search
    from tests.reviewer.test_queue import count_queries

    product = ProductFactory(organisation=desk.organisation, name="Cardiotrack")
    found = [desk.candidature("dmn_pecan", product=product) for _ in range(3)]
    # the three rarest trigrams of « cardiotrack » without the term itself
    decoy = ProductFactory(organisation=desk.organisation, name="Rdiotrz")
    desk.candidature("dmn_pecan", product=decoy)
    # frequent: car, ard, tra, rac, ack, dio; rare: rdi, iot, otr (the found and the decoy)
    _fillers(found[0], "cardtrackdio soin sas", 200)
    db.commit()
    with _statistics_taken() as postgresql:
        parts, frequent = search.how_to_search(db.connection(), "cardiotrack")
        assert (parts, frequent) == ((("rdi", "iotr") if postgresql else ()), False)
        # a term in 2 % of the sample or more keeps its pattern: the sort's index walks
        assert search.how_to_search(db.connection(), "cardtrackdio") == ((), postgresql)
        for view in ("", "vue=tous&"):
            with count_queries() as statements:
                html = desk.client.get(f"/instruction/file?{view}q=Cardiotrack").get_data(
                    as_text=True)
            searching = " ".join(s for s in statements if "search_text" in s).replace(
                "%%", "%")  # psycopg's placeholders double the %
            for part in parts:
                assert f"search_text LIKE '%{part}%'" in searching
            # the whole term checked on each candidate, not asked of the index
            whole = "coalesce(candidature.search_text, '')" if parts else "search_text"
            assert f"{whole} LIKE '%cardiotrack%'" in searching
            assert "3 candidatures" in html
            assert set(_references(html)) == {c.reference for c in found}


def test_suivis_and_my_dossiers_search_the_users_own_rows(desk) -> None:
    """« Suivis » searched for a term that is not frequent looks it up among the user's
    follows (their copy of the search text, a trigram index by user on PostgreSQL: at 1M
    the term's 3,463 matches among every dossier each probed a follow), « Mes dossiers »
    checks it along the user's holdings: the same rows as the dossiers' own texts say,
    the decoy and the colleague's dossier left out, the counts right."""
    from backoffice.queues import search
    from tests.reviewer.test_queue import count_queries

    product = ProductFactory(organisation=desk.organisation, name="Cardiotrack")
    found = [desk.candidature("dmn_pecan", product=product) for _ in range(3)]
    decoy = desk.candidature("dmn_pecan", product=ProductFactory(
        organisation=desk.organisation, name="Rdiotrz"))
    for candidature in (*found[:2], decoy):
        desk.driver().take(candidature, "recevabilite")  # followed and held
    desk.driver(desk.colleague).take(found[2], "recevabilite")  # the colleague's only
    _fillers(found[0], "cardtrackdio soin sas", 200)
    db.commit()
    with _statistics_taken():
        parts, _ = search.how_to_search(db.connection(), "cardiotrack")
        for query, table in (("vue=suivis&", "dossier_follow"),
                             ("attribution=moi&", "dossier_holding")):
            with count_queries() as statements:
                html = desk.client.get(f"/instruction/file?{query}q=Cardiotrack").get_data(
                    as_text=True)
            searching = " ".join(s for s in statements if "search_text" in s).replace(
                "%%", "%")
            assert f"{table}.search_text" in searching
            if table == "dossier_holding":  # the holdings alone, the page's rows joined
                assert "FROM dossier_holding WHERE" in " ".join(searching.split())
            if table == "dossier_follow":
                for part in parts:  # the user's follows asked for the rarest parts
                    assert f"dossier_follow.search_text LIKE '%{part}%'" in searching
            assert "2 candidatures" in html
            assert set(_references(html)) == {c.reference for c in found[:2]}


def test_suivis_counts_a_frequent_term_along_the_users_follows(desk) -> None:
    """« Suivis » searched for a frequent term: at 1M one statement walked the sort's
    index probing a follow per row for the page and the count (75 ms); the page now walks
    the index and the count reads the user's follows alone (their copies of the démarche
    and search text), or with another filter checks each matching follow's dossier (a
    LATERAL probe that no planner turns into a join of every match): the same rows and
    count, and a product renamed is found by its new name."""
    from backoffice.queues import search
    from tests.reviewer.test_queue import count_queries

    product = ProductFactory(organisation=desk.organisation, name="Carelink")
    mine = [desk.candidature("dmn_pecan", product=product) for _ in range(3)]
    for candidature in mine:
        desk.driver().take(candidature, "recevabilite")  # followed from now on
    desk.candidature("dmn_pecan", product=product)  # not followed: not counted
    _fillers(mine[0], "carelink soin sas", 200)  # the term in most search texts
    db.commit()
    with _statistics_taken() as postgresql:
        assert search.how_to_search(db.connection(), "carelink") == ((), postgresql)
        with count_queries() as statements:
            html = desk.client.get("/instruction/file?vue=suivis&q=carelink").get_data(
                as_text=True)
        counting = [s for s in statements if "count(*)" in s and "dossier_follow" in s]
        assert len(counting) == 1, statements
        # PostgreSQL (a frequent term): the follows alone, no candidature read
        assert ("FROM candidature" not in counting[0]) == postgresql, counting[0]
        assert "3 candidatures" in html
        assert set(_references(html)) == {c.reference for c in mine}
        filters = queue.Filters.from_args({"vue": "suivis", "q": "carelink"})
        assert queue.count(desk.me, filters, now=utcnow(), limit=2) == 2  # the LIMIT holds
        with count_queries() as statements:  # another filter: each match's dossier read
            html = desk.client.get(
                "/instruction/file?vue=suivis&q=carelink&etape=recevabilite").get_data(
                    as_text=True)
        counting = [s for s in statements if "count(*)" in s and "dossier_follow" in s]
        assert len(counting) == 1 and ("LATERAL" in counting[0]) == postgresql, statements
        assert "3 candidatures" in html
        product.name = "Cardiolink"  # renamed (admin): the follows' copies say so
        db.commit()
        copies = db.execute(select(DossierFollow.search_text, DossierHolding.search_text)
                            .join(DossierHolding, and_(
                                DossierHolding.user_id == DossierFollow.user_id,
                                DossierHolding.candidature_id == DossierFollow.candidature_id))
                            .where(DossierFollow.user_id == desk.me.id)).all()
        assert len(copies) == 3 and all(
            follow == holding and "cardiolink" in follow for follow, holding in copies)
        for term, found in (("cardiolink", 3), ("carelink", 0)):
            filters = queue.Filters.from_args({"vue": "suivis", "q": term})
            assert queue.count(desk.me, filters, now=utcnow(), limit=10) == found


def test_the_rarest_trigrams_of_a_term_in_a_sample_and_the_parts_that_hold_them() -> None:
    from backoffice.queues.search import MIN_SAMPLE, WEIGHED, pieces, rarest_grams

    texts = "\n".join(["abcdefghi cardtrackdio sas"] * 150 + ["bcdefghij rdiotrz sa"]
                      + ["cdefghijk cardiotrack sa"])
    assert rarest_grams("cardiotrack", texts, 152) == ("iot", "otr", "rdi")
    assert rarest_grams("cardtrackdio", texts, 152) == ()  # frequent: walked
    assert rarest_grams("track", texts, 152) == ()  # three trigrams: asked whole
    assert rarest_grams("cardiotrack", texts, MIN_SAMPLE - 1) == ()  # too few texts
    # only trigrams of ASCII letters and digits (pg_trgm's word characters may differ)
    assert rarest_grams("médisuivi", texts, 152) == ("dis", "isu", "ivi")
    # trigrams next to each other are one part, in the term's order
    assert pieces("cardiotrack", ("iot", "otr", "rdi")) == ("rdi", "iotr")
    assert pieces("médisuivi", ("dis", "isu", "ivi")) == ("disu", "ivi")
    assert pieces("abcabc", ("abc",)) == ("abc",)
    assert pieces("cardiotrack", ()) == ()
    # a long term: its first WEIGHED trigrams weighed, not thousands
    long_term = "".join(str(n) for n in range(3000))
    firsts = list(dict.fromkeys(long_term[i:i + 3] for i in range(len(long_term) - 2)))
    chosen = rarest_grams(long_term, texts, 152)
    assert len(chosen) == 3 and set(chosen) <= set(firsts[:WEIGHED])


@pytest.mark.parametrize("sort", ["attente", "echeance", "activite"])
def test_my_dossiers_walk_my_holdings_in_the_order_of_the_dossiers_keys(desk, sort) -> None:
    """« Mes dossiers » reads the user's holdings (models/follow.py), which carry copies
    of the dossiers' sort keys: after moves, its pages (cursor by cursor) come in the
    order the candidatures' own keys give."""
    from datetime import timedelta

    from backoffice.models import DossierHolding

    mine = [desk.candidature("dmn_pecan") for _ in range(4)]
    for candidature in mine:
        desk.driver().take(candidature, "recevabilite")
    desk.driver(desk.colleague).take(desk.candidature("dmn_pecan"), "recevabilite")
    db.commit()
    # moves after the holdings were written: each key of two dossiers changes
    now = utcnow()
    for i, candidature in enumerate(mine[:2]):
        row = db.get(Candidature, candidature.id)
        row.last_activity_at = now + timedelta(minutes=10 - i)
        row.queue_since = now - timedelta(days=30 + i)
    db.commit()
    filters = queue.Filters(assignee="moi", sort=sort)
    walked, cursor = [], None
    while True:
        rows, cursor = queue.page(desk.me, filters, after=cursor, limit=1, now=utcnow())
        walked += [r.reference for r in rows]
        if cursor is None:
            break
    column = getattr(Candidature, queue.HOLDING_SORTS[sort])
    expected = db.scalars(
        select(Candidature.reference).where(Candidature.id.in_([c.id for c in mine]))
        .order_by(*((column.desc(), Candidature.id.desc()) if filters.descending
                    else (column.asc(), Candidature.id.asc())))).all()
    assert walked == expected
    held = db.scalars(select(DossierHolding).where(DossierHolding.user_id == desk.me.id))
    for holding in held:
        row = db.get(Candidature, holding.candidature_id)
        assert [getattr(holding, k) for k in ("queue_since", "queue_due_at", "last_activity_at")
                ] == [row.queue_since, row.queue_due_at, row.last_activity_at]
    assert queue.count(desk.me, filters, now=utcnow(), limit=1001) == 4
    # counted from the holdings alone, or joined to the candidatures for other filters
    for more, expected_count in (({"step": "recevabilite"}, 4), ({"step": "convention"}, 0),
                                 ({"status": "en_instruction"}, 4), ({"status": "soumise"}, 0),
                                 ({"view": "traites"}, 0)):
        narrowed = queue.Filters(assignee="moi", sort="activite", **more)
        assert queue.count(desk.me, narrowed, now=utcnow(), limit=1001) == expected_count, more


def test_sortable_headers_reverse_the_order(desk) -> None:
    first, second, third = (desk.candidature("dmn_pecan") for _ in range(3))
    assert _refs(desk, "") == [first.reference, second.reference, third.reference]
    html = desk.client.get("/instruction/file").get_data(as_text=True)
    header = re.search(r'aria-sort="ascending"><a class="fr-link bo-sort" href="([^"]+)"', html)
    assert header is not None  # « Soumise le » sorts the default view, oldest first
    reverse = header.group(1).replace("&amp;", "&")
    assert "ordre=desc" in reverse
    page = desk.client.get(reverse).get_data(as_text=True)
    assert _references(page) == [third.reference, second.reference, first.reference]
    assert 'aria-sort="descending"' in page
    # the reset link drops filters, sort and columns
    assert 'id="reinitialiser" href="/instruction/file"' in page
    # the skip link leads to the results
    assert 'href="#table-file"' in page and 'id="table-file" tabindex="-1"' in page


def test_columns_can_be_chosen(desk) -> None:
    desk.candidature("dmn_pecan")
    html = desk.client.get("/instruction/file?colonnes=attribuee&colonnes=activite"
                           ).get_data(as_text=True)
    head = html.split("<thead>")[1].split("</thead>")[0]
    assert "Attribuée à" in head and "Dernière activité" in head
    assert "Non lus" not in head and "Soumise le" not in head
    # the pages and headers keep them
    assert "colonnes=attribuee%2Cactivite" in html or "colonnes=attribuee,activite" in html


def _save(desk, name: str, team: str = "", **args: str):
    data = {"csrf_token": csrf_token(desk.client, "/instruction/file"), "nom": name,
            "equipe": team, **args}
    return desk.client.post("/instruction/vues", data=data)


def test_a_view_shared_with_a_team_is_seen_by_teammates_only(desk) -> None:
    team = desk.me.teams[0]
    response = _save(desk, "Mes PECAN en retard", str(team.id), demarche="dmn_pecan",
                     en_retard="1", tri="echeance", colonnes="delai,attribuee")
    assert response.status_code == 302
    assert _save(desk, "Ma vue privée", vue="traites").status_code == 302
    views = {v.name: v for v in db.scalars(select(SavedView)) if v.owner_id == desk.me.id}
    assert views["Mes PECAN en retard"].args == {
        "demarche": "dmn_pecan", "en_retard": "1", "tri": "echeance",
        "colonnes": "delai,attribuee"}
    assert views["Mes PECAN en retard"].team_id == team.id
    private = views["Ma vue privée"]
    assert private.team_id is None and private.args == {"vue": "traites"}

    login_as(desk.client, desk.colleague)
    html = desk.client.get("/instruction/file").get_data(as_text=True)
    assert "Mes PECAN en retard" in html and "Ma vue privée" not in html
    link = re.search(r'href="([^"]+)">Mes PECAN en retard<', html).group(1).replace("&amp;", "&")
    applied = desk.client.get(link).get_data(as_text=True)
    assert 'value="dmn_pecan" selected' in applied
    assert 'id="en_retard" name="en_retard" value="1" checked' in applied
    # a teammate uses it but does not delete it
    token = csrf_token(desk.client, "/instruction/file")
    shared = views["Mes PECAN en retard"]
    shared_id = shared.id
    assert desk.client.post(f"/instruction/vues/{shared.id}/supprimer",
                            data={"csrf_token": token}).status_code == 404

    login_as(desk.client, desk.segur)  # another team
    html = desk.client.get("/instruction/file").get_data(as_text=True)
    assert "Mes PECAN en retard" not in html and "Ma vue privée" not in html
    # nor may one share with a team one is not in
    assert _save(desk, "Intrus", str(team.id)).status_code == 404

    login_as(desk.client, desk.me)
    token = csrf_token(desk.client, "/instruction/file")
    assert desk.client.post(f"/instruction/vues/{shared.id}/supprimer",
                            data={"csrf_token": token}).status_code == 302
    assert db.scalar(select(SavedView.id).where(SavedView.id == shared_id)) is None


def test_a_view_needs_a_name(desk) -> None:
    response = _save(desk, "")
    assert response.status_code == 302
    html = desk.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Donnez un nom à la vue." in html
    assert db.scalar(select(SavedView.id)) is None


def test_bulk_assignment_of_the_filtered_result_confirms_and_is_capped(desk, monkeypatch) -> None:
    pecan = [desk.candidature("dmn_pecan") for _ in range(3)]
    other = desk.candidature("dmn_pect")
    page = desk.client.get("/instruction/file/attribuer-tout?demarche=dmn_pecan")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "3 dossiers" in html
    token = csrf_token(desk.client, "/instruction/file/attribuer-tout?demarche=dmn_pecan")
    response = desk.client.post("/instruction/file/attribuer-tout", data={
        "csrf_token": token, "demarche": "dmn_pecan", "confier_a": str(desk.colleague.id)})
    assert response.status_code == 302
    db.expire_all()
    assert {db.get(Candidature, c.id).queue_assignee_id for c in pecan} == {desk.colleague.id}
    assert db.get(Candidature, other.id).queue_assignee_id is None

    # past the cap: refused, nothing assigned
    import backoffice.reviewer.saved_views as saved_views

    monkeypatch.setattr(saved_views, "BULK_MAX", 1)
    extra = desk.candidature("dmn_pect")
    html = desk.client.get("/instruction/file/attribuer-tout?attribution=personne"
                           ).get_data(as_text=True)
    assert "Plus de 1 dossiers" in html and 'id="attribuer-tout"' not in html
    response = desk.client.post("/instruction/file/attribuer-tout", data={
        "csrf_token": token, "attribution": "personne", "confier_a": str(desk.me.id)})
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Candidature, other.id).queue_assignee_id is None
    assert db.get(Candidature, extra.id).queue_assignee_id is None
    # another parcours' démarche: 404
    assert desk.client.get("/instruction/file/attribuer-tout?demarche=sons_sas"
                           ).status_code == 404


def test_dossier_suivant_walks_the_view_i_came_from(desk) -> None:
    first, second, third = (desk.candidature("dmn_pecan") for _ in range(3))
    pect = desk.candidature("dmn_pect")
    desk.client.get("/instruction/file?demarche=dmn_pecan")
    dossier = desk.client.get(f"/instruction/candidatures/{first.reference}")
    assert 'id="dossier-suivant"' in dossier.get_data(as_text=True)
    response = desk.client.get(f"/instruction/file/suivant/{first.reference}")
    assert response.headers["Location"].endswith(f"/candidatures/{second.reference}")
    # decided, it left the view: the one after its place in the sort, then from the top
    _reject(desk, second)
    response = desk.client.get(f"/instruction/file/suivant/{second.reference}")
    assert response.headers["Location"].endswith(f"/candidatures/{third.reference}")
    response = desk.client.get(f"/instruction/file/suivant/{third.reference}")
    assert response.headers["Location"].endswith(f"/candidatures/{first.reference}")
    # alone in its view: back to the view
    desk.client.get("/instruction/file?demarche=dmn_pect")
    response = desk.client.get(f"/instruction/file/suivant/{pect.reference}")
    assert response.headers["Location"].endswith("/instruction/file?demarche=dmn_pect")
    # another parcours' dossier does not exist
    sas = desk.candidature("sons_sas", until="depot")
    assert desk.client.get(f"/instruction/file/suivant/{sas.reference}").status_code == 404


@pytest.mark.parametrize("view", list(queue.VIEWS))
def test_every_view_and_sort_answers(desk, view) -> None:
    desk.candidature("dmn_pecan")
    _reject(desk, desk.candidature("dmn_pect"))
    for sort in queue.VIEW_SORTS[view]:
        for order in ("asc", "desc"):
            response = desk.client.get(
                f"/instruction/file?vue={view}&tri={sort}&ordre={order}&q=care")
            assert response.status_code == 200, (view, sort, order)


QUEUE_PAGES = ("/instruction/file?vue=suivis", "/instruction/file?vue=traites",
               "/instruction/file?vue=tous", "/instruction/file?vue=tous&q=care",
               "/instruction/file?vue=traites&tri=activite&ordre=asc",
               "/instruction/file?q=12345678901234", "/instruction/file?q=ANS-DMN-2026-1",
               "/instruction/file?colonnes=activite,cloture",
               "/instruction/file/attribuer-tout")


@pytest.mark.parametrize("viewer", VIEWERS)
def test_the_views_keep_the_page_budget(desk, query_recorder, viewer) -> None:
    """Every view, search and the bulk confirmation within 8 queries, whoever looks, with
    saved views of one's own and of one's team listed."""
    candidature = _dossier(desk, viewer)
    _reject(desk, desk.candidature("dmn_pect"))
    team = desk.me.teams[0]
    for n in range(3):
        db.add(SavedView(owner_id=desk.colleague.id, team_id=team.id, name=f"Équipe {n}",
                         args={"vue": "tous"}))
        db.add(SavedView(owner_id=desk.me.id, name=f"Perso {n}", args={}))
    db.commit()
    for path in (*QUEUE_PAGES, f"/instruction/file/suivant/{candidature.reference}"):
        desk.client.get(path)
        with query_recorder:
            assert desk.client.get(path).status_code in (200, 302), path
        assert query_recorder.count <= BUDGET, (viewer, path, query_recorder.queries)


@pytest.mark.parametrize(("view", "order"), [("traites", None), ("traites", "asc"),
                                             ("tous", None)])
def test_the_views_page_by_key_in_their_order(desk, view, order) -> None:
    from datetime import timedelta

    ended = [_reject(desk, desk.candidature("dmn_pecan")) for _ in range(5)]
    now = utcnow()
    for i, candidature in enumerate(ended):
        row = db.get(Candidature, candidature.id)
        row.closed_at = now - timedelta(days=10 - i)
        row.last_activity_at = now - timedelta(days=10 - i)
    db.commit()
    expected = [c.reference for c in ended]
    if order != "asc":  # latest closed (or active) first
        expected.reverse()
    filters = queue.Filters(view=view, sort=queue.VIEW_SORTS[view][0], order=order)
    seen, cursor = [], None
    for _ in range(4):
        rows, cursor = queue.page(desk.me, filters, after=cursor, limit=2, now=now)
        seen += [r.reference for r in rows]
        if cursor is None:
            break
    assert seen == expected


def test_the_queue_statements_are_built_once_per_shape(desk) -> None:
    """A page and its count compile their statements once per shape (values aside):
    the same requests with other values build nothing (docs/benchmarks.md)."""
    desk.candidature("dmn_pecan")

    def built() -> int:
        return queue._matches.cache_info().misses + queue._statement.cache_info().misses

    before = None
    for term in ("abc", "xyz"):
        for view in ("", "vue=suivis&", "vue=tous&"):
            assert desk.client.get(f"/instruction/file?{view}q={term}").status_code == 200
            assert desk.client.get(f"/instruction/file?{view}attribution=moi"
                                   f"&statut={term}").status_code == 200
        if before is None:
            before = built()
    assert built() == before
