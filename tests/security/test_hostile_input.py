"""Input that cannot break a page (issue 15, item 3) — part of the attack corpus.

Before: a lone surrogate ("\\ud800") in a form field, a product certification or an
evaluation criterion was accepted and stored, and the dossier's default, formulaire and
produit tabs then answered 500 for every vérificateur; JSON nested 5,000 levels, `1e999`,
`NaN`, a lone surrogate in a message and `?q=%00` in the queue search answered 500.

Now (backoffice/safetext.py, api/validation.py, webforms.py): the API's JSON is capped in
size and depth before parsing, numbers are finite, strings are NFC and free of lone
surrogates and control characters, each refusal a JSON error with a stable code naming the
field; the back-office's forms and query strings follow the same rules, with French
messages; and rows stored before all this render with U+FFFD instead of failing.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import render_template_string
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from backoffice import safetext
from backoffice.admin.base import AdminForm
from backoffice.api.webhooks import sign
from backoffice.db import db
from backoffice.models import Message, Product, ProductEvaluation, StepForm
from backoffice.queues.candidatures import Filters
from backoffice.reviewer.dossier import TABS
from backoffice.reviewer.forms import EnvoiConventionForm, MessageForm
from tests.helpers import csrf_token
from tests.reviewer.conftest import desk  # noqa: F401 - the workspace fixture

PRODUCT = {"name": "Careoptim", "version": "v1", "type": "socle", "responsable": "Jeanne Martin"}
CHARACTERS = ("invalid_characters", "Certains champs contiennent des caractères non autorisés.")
NUMBER = ("invalid_number", "Certains champs contiennent un nombre non accepté.")
FIELDS = ("validation_error", "Certains champs sont invalides.")
SURROGATE = safetext.SURROGATE_MESSAGE
CONTROL = safetext.CONTROL_MESSAGE
NUL = safetext.NUL_MESSAGE
ONE_LINE = safetext.SINGLE_LINE_MESSAGE


def send(desk, method: str, path: str, body: str | bytes, **headers: str):  # noqa: F811
    """A raw JSON body, as a hostile client writes it (json.dumps could not)."""
    return desk.client.open(f"/api/v1{path}", method=method, data=body, headers={
        "Authorization": f"Bearer {desk.api.token}", "Content-Type": "application/json",
        **headers})


def products() -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Product))


def assert_refused(response: Any, status: int, error: tuple[str, str],
                   fields: dict[str, str] | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    expected: dict[str, Any] = {"code": error[0], "message": error[1]}
    if fields is not None:
        expected["details"] = {"fields": fields}
    assert response.json == expected


# --- the API's JSON ---------------------------------------------------------------------------

DEEP = 5000


def product_with(**fields: str) -> str:
    """A product's JSON with raw JSON text for some fields (a lone surrogate escape, NaN…)."""
    return "{" + ", ".join([*(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in PRODUCT.items()
                              if k not in fields),
                            *(f"{json.dumps(k)}: {v}" for k, v in fields.items())]) + "}"


@pytest.mark.parametrize(("body", "status", "error", "fields"), [
    # nesting, measured before parsing
    pytest.param("[" * DEEP + "]" * DEEP, 422, ("json_too_deep",
                 "Le JSON est imbriqué sur plus de 32 niveaux."), None, id="array_5000_deep"),
    pytest.param('{"a":' * DEEP + "1" + "}" * DEEP, 422, ("json_too_deep",
                 "Le JSON est imbriqué sur plus de 32 niveaux."), None, id="object_5000_deep"),
    pytest.param(product_with(qualification='{"q":' * 40 + "1" + "}" * 40), 422,
                 ("json_too_deep", "Le JSON est imbriqué sur plus de 32 niveaux."), None,
                 id="deep_inside_a_field"),
    pytest.param("[" * DEEP, 422, ("json_too_deep",
                 "Le JSON est imbriqué sur plus de 32 niveaux."), None, id="unclosed_5000_deep"),
    # numbers
    pytest.param(product_with(qualification='{"q1": 1e999}'), 422, NUMBER,
                 {"qualification.q1": "Nombre hors limites (infini)."}, id="1e999"),
    pytest.param(product_with(qualification='{"q1": -1e999}'), 422, NUMBER,
                 {"qualification.q1": "Nombre hors limites (infini)."}, id="minus_1e999"),
    pytest.param(product_with(qualification='{"q1": NaN}'), 422, NUMBER,
                 {"qualification.q1": "NaN n'est pas un nombre accepté."}, id="nan"),
    pytest.param(product_with(qualification='{"q": [1, Infinity]}'), 422, NUMBER,
                 {"qualification.q[1]": "Infinity n'est pas un nombre accepté."}, id="infinity"),
    pytest.param(product_with(qualification='{"q1": ' + "9" * 5000 + "}"), 422, NUMBER,
                 {"qualification.q1": "Nombre entier de plus de 18 chiffres."},
                 id="integer_5000_digits"),
    # strings: lone surrogates and control characters, with the path of the field
    pytest.param(product_with(name='"Care\\ud800optim"'), 422, CHARACTERS, {"name": SURROGATE},
                 id="surrogate_in_name"),
    pytest.param(product_with(certifications='["ISO 27001", "HDS \\udfff"]'), 422, CHARACTERS,
                 {"certifications[1]": SURROGATE}, id="surrogate_in_a_certification"),
    pytest.param(product_with(qualification='{"\\ud800": "oui"}'), 422, CHARACTERS,
                 {"qualification.\\ud800": "Nom de champ invalide : " + SURROGATE},
                 id="surrogate_in_a_key"),
    pytest.param(product_with(description='"a\\u0000b"'), 422, CHARACTERS,
                 {"description": NUL}, id="nul_in_description"),
    pytest.param(product_with(description='"a\\u001b[31mb"'), 422, CHARACTERS,
                 {"description": CONTROL}, id="escape_in_description"),
    pytest.param(product_with(description='"a\\u0085b"'), 422, CHARACTERS,
                 {"description": CONTROL}, id="c1_control_in_description"),
    # single-line fields: no line break, tab or bidi override (texts may have them)
    pytest.param(product_with(name='"Care\\noptim"'), 422, FIELDS, {"name": ONE_LINE},
                 id="line_break_in_name"),
    pytest.param(product_with(name='"Care\\u202eoptim"'), 422, FIELDS, {"name": ONE_LINE},
                 id="bidi_override_in_name"),
    pytest.param(product_with(certifications='["ISO\\t27001"]'), 422, FIELDS,
                 {"certifications[0]": ONE_LINE}, id="tab_in_a_certification"),
    # the body itself
    pytest.param(b'{"name": "Caf\xe9"}', 400, ("malformed_json",
                 "Le corps de la requête n'est pas encodé en UTF-8."), None, id="latin1_body"),
    pytest.param('"\\ud800"', 422, CHARACTERS, {"(corps)": SURROGATE}, id="surrogate_as_body"),
    pytest.param("{" + " " * (1024 * 1024) + "}", 413, ("json_too_large",
                 "Le corps JSON dépasse 1 Mo."), None, id="over_1_mb"),
])
@pytest.mark.parametrize("idempotency", [False, True], ids=["plain", "idempotency_key"])
def test_hostile_json_is_refused_with_its_code_never_a_500(
        desk, body: str, status: int, error: tuple[str, str],  # noqa: F811
        fields: dict[str, str] | None, idempotency: bool) -> None:
    """With an Idempotency-Key the body is also read for the request's fingerprint before
    the view runs: that read must not fail either."""
    before = products()
    headers = {"Idempotency-Key": "cle-1"} if idempotency else {}
    response = send(desk, "POST", "/products", body, **headers)
    assert_refused(response, status, error, fields)
    assert products() == before


@pytest.mark.parametrize(("text", "deep"), [
    pytest.param("[" * 32 + "]" * 32, False, id="32_levels"),
    pytest.param("[" * 33 + "]" * 33, True, id="33_levels"),
    pytest.param('{"a": [{"b": [1, {"c": []}]}], "d": {}}', False, id="ordinary"),
    pytest.param("[" * 20 + '{"x": "' + "[" * 40 + '"}' + "]" * 20, False,
                 id="brackets_in_a_string"),
    pytest.param("[" * 20 + '{"x": "\\\\", "y": "\\"' + "[" * 40 + '"}' + "]" * 20, False,
                 id="escaped_backslash_then_escaped_quote"),
    pytest.param("[" * 20 + '{"x": "\\\\"' + ", \"y\": " + "[" * 20 + "1" + "]" * 20 + "}"
                 + "]" * 20, True, id="escaped_backslash_ends_the_string"),
    pytest.param("[" * 16 + "{" * 17 + "}" * 17 + "]" * 16, True, id="mixed_33_levels"),
])
def test_the_depth_is_measured_on_the_raw_text(text: str, deep: bool) -> None:
    from backoffice.api.validation import too_deep

    assert too_deep(text.encode()) is deep


@pytest.mark.parametrize("text", [
    pytest.param("[" * 40 + '"' + "a" * 1_000_000, id="unterminated_string"),
    pytest.param('"ab\\"c' * 150_000, id="escaped_quotes"),
    pytest.param('"' * 1_000_000 + "[" * 40, id="quotes"),
    pytest.param("\\" * 1_000_000 + "{" * 40, id="backslashes"),
])
def test_the_depth_check_has_no_slow_input(text: str) -> None:
    """No regex: nothing to backtrack on (a first version's string pattern took seconds on
    an unterminated string of 22 characters... and doubled with each one more)."""
    import time

    from backoffice.api.validation import too_deep

    started = time.perf_counter()
    too_deep(text.encode()[:1024 * 1024])
    assert time.perf_counter() - started < 2


def test_brackets_inside_strings_are_not_nesting(desk) -> None:  # noqa: F811
    name = "[{" * 90
    response = send(desk, "POST", "/products", product_with(name=json.dumps(name)))
    assert response.status_code == 201, response.json
    assert response.json["name"] == name


def test_texts_keep_their_line_breaks_and_every_string_is_nfc(desk) -> None:  # noqa: F811
    decomposed = "Te\u0301le\u0301surveillance"  # é as e + combining acute
    response = desk.api.post("/products", {
        **PRODUCT, "name": decomposed, "description": "Ligne 1\r\n\tLigne 2",
        "certifications": [decomposed], "qualification": {decomposed: decomposed}})
    assert response.status_code == 201, response.json
    composed = "Télésurveillance"
    product = db.get(Product, response.json["id"])
    assert (product.name, product.certifications, product.qualification) == (
        composed, [composed], {composed: composed})
    assert product.description == "Ligne 1\r\n\tLigne 2"


@pytest.mark.parametrize(("body", "error", "fields"), [
    pytest.param('{"produit": {"nom": "a\\ud800"}}', CHARACTERS, {"produit.nom": SURROGATE},
                 id="surrogate"),
    pytest.param('{"contact": {"nom": "x", "telephone": "01\\u0000"}}', CHARACTERS,
                 {"contact.telephone": NUL}, id="nul"),
    pytest.param('{"composants": [{"nom": "ok"}, {"nom": "\\u0007"}]}', CHARACTERS,
                 {"composants[1].nom": CONTROL}, id="bell_in_a_list"),
    pytest.param('{"profils": [NaN]}', NUMBER,
                 {"profils[0]": "NaN n'est pas un nombre accepté."}, id="nan"),
])
def test_a_form_step_with_hostile_text_is_refused_and_not_stored(
        desk, body: str, error: tuple[str, str], fields: dict[str, str]) -> None:  # noqa: F811
    candidature = desk.candidature(submit=False)
    response = send(desk, "PUT", f"/candidatures/{candidature.reference}/forms/recevabilite",
                    body)
    assert_refused(response, 422, error, fields)
    db.expire_all()
    assert db.scalars(select(StepForm).where(StepForm.candidature_id == candidature.id)).all() \
        == []


def test_an_evaluation_with_hostile_criteria_or_numbers_is_refused(desk) -> None:  # noqa: F811
    product_id = desk.candidature().product_id
    path = f"/products/{product_id}/evaluations/securite-2021"
    for body, error, fields in [
        ('{"total": 36, "answered": 34, "criteria": {"c1": "\\ud800"}}', CHARACTERS,
         {"criteria.c1": SURROGATE}),
        ('{"total": 1e999, "answered": 1}', NUMBER, {"total": "Nombre hors limites (infini)."}),
        ('{"total": 36, "answered": NaN}', NUMBER,
         {"answered": "NaN n'est pas un nombre accepté."}),
    ]:
        assert_refused(send(desk, "PUT", path, body), 422, error, fields)
    assert db.scalar(select(func.count()).select_from(ProductEvaluation)) == 0


@pytest.mark.parametrize(("body", "error", "fields"), [
    pytest.param('{"body": "Bonjour \\ud83d"}', CHARACTERS, {"body": SURROGATE},
                 id="json_surrogate"),
    pytest.param('{"body": "Bonjour", "subject": "Objet\\u0000"}', CHARACTERS,
                 {"subject": NUL}, id="json_nul_in_subject"),
    pytest.param('{"body": "Bonjour", "subject": "Objet\\nX-Injected: 1"}', FIELDS,
                 {"subject": ONE_LINE}, id="json_line_break_in_subject"),
])
def test_a_vendor_message_with_hostile_text_is_refused(
        desk, body: str, error: tuple[str, str], fields: dict[str, str]) -> None:  # noqa: F811
    reference = desk.candidature().reference
    before = db.scalar(select(func.count()).select_from(Message))
    assert_refused(send(desk, "POST", f"/candidatures/{reference}/messages", body), 422,
                   error, fields)
    assert db.scalar(select(func.count()).select_from(Message)) == before


def test_a_multipart_vendor_message_follows_the_same_rules(desk) -> None:  # noqa: F811
    reference = desk.candidature().reference
    path = f"/candidatures/{reference}/messages"
    response = desk.api.post(path, data={"body": "a\x1bb"}, content_type="multipart/form-data")
    assert_refused(response, 422, FIELDS, {"body": CONTROL})
    response = desk.api.post(path, data={"body": "Ligne 1\r\nLigne 2\tfin"},
                             content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    assert response.json["body"] == "Ligne 1\r\nLigne 2\tfin"


def test_multipart_fields_of_uploads_are_checked_before_any_lookup(desk) -> None:  # noqa: F811
    """`type` went into a query: a NUL there was a PostgreSQL error (500)."""
    reference = desk.candidature(submit=False).reference
    response = desk.api.upload(f"/candidatures/{reference}/pieces",
                               type="documentation_fonctionnelle\x00")
    assert_refused(response, 422, CHARACTERS, {"type": NUL})


def test_path_and_query_string_characters_are_refused_by_the_api(desk) -> None:  # noqa: F811
    assert_refused(desk.api.get("/candidatures/ABC%00DEF"), 404,
                   ("not_found", "Ressource introuvable."))
    assert_refused(desk.api.get("/candidatures?after=%00"), 422, CHARACTERS, {"after": NUL})


def test_the_signed_webhook_body_cannot_fail_the_parser(app, desk) -> None:  # noqa: F811
    body = ("[" * DEEP + "]" * DEEP).encode()
    app.config["YOUSIGN_WEBHOOK_SECRET"] = "secret-de-test"
    try:
        response = desk.client.post("/api/v1/webhooks/yousign", data=body, headers={
            "Content-Type": "application/json",
            "X-Yousign-Signature-256": sign("secret-de-test", body)})
    finally:
        app.config["YOUSIGN_WEBHOOK_SECRET"] = None
    assert_refused(response, 400, ("invalid_json",
                                   "Le corps de l'événement n'est pas un JSON valide."))


# --- stored before the rules: the pages still render ---------------------------------------


def test_a_dossier_holding_stored_lone_surrogates_renders_every_tab(desk) -> None:  # noqa: F811
    """Rows written before the checks (JSON columns keep the surrogate escaped, on both
    databases): every tab of the dossier, and the API's reading of it, answer 200."""
    candidature = desk.candidature()
    product = candidature.product
    product.certifications = ["ISO 27001", "HDS \ud800"]
    product.qualification = {"q1\udc00": "oui\ud800"}
    db.add(ProductEvaluation(product_id=product.id, questionnaire="securite-2021", answered=3,
                             total=36, criteria={"\ud800": "\udfff"}))
    form = db.scalar(select(StepForm).where(StepForm.candidature_id == candidature.id))
    form.data = {**form.data, "produit": {"nom": "Care\ud800optim"}}
    db.commit()
    db.expire_all()
    assert db.get(Product, product.id).certifications[1] == "HDS \ud800"  # really stored
    base = f"/instruction/candidatures/{candidature.reference}"
    for path in [base, *(f"{base}?onglet={tab}" for tab, _ in TABS)]:
        response = desk.client.get(path)
        assert response.status_code == 200, path
    assert "HDS \ufffd" in desk.client.get(f"{base}?onglet=produit").get_data(as_text=True)
    assert "Care\ufffdoptim" in desk.client.get(base).get_data(as_text=True)
    assert desk.api.get(f"/products/{product.id}").status_code == 200
    assert desk.api.get(f"/candidatures/{candidature.reference}").status_code == 200
    assert desk.client.get("/instruction/file.csv").status_code == 200


def test_finalize_replaces_surrogates_and_keeps_markup_safe(app) -> None:
    with app.test_request_context():
        page = render_template_string("{{ a }}|{{ b }}|{{ c }}|{{ d }}", a="x\ud800y",
                                      b=Markup("<b>\udfff</b>"), c="<i>", d=3)
    assert page == "x\ufffdy|<b>\ufffd</b>|&lt;i&gt;|3"


# --- the back-office: query strings, paths and forms ----------------------------------------


@pytest.mark.parametrize("value", ["%00", "abc%00", "%1b%5b31m", "%7f", "%c2%85"])
def test_the_queue_search_refuses_control_characters_with_a_french_page(
        desk, value: str) -> None:  # noqa: F811
    for path in ("/instruction/file", "/instruction/file.csv", "/instruction/sections"):
        response = desk.client.get(f"{path}?q={value}")
        assert response.status_code == 400, path
        assert "Le champ « q » contient un caractère non autorisé." in response.get_data(
            as_text=True)
    assert desk.client.get("/instruction/file?q=Careoptim").status_code == 200


def test_other_pages_refuse_them_too(app, desk) -> None:  # noqa: F811
    assert desk.client.get("/instruction/candidatures/ABC%00DEF").status_code == 404
    from tests.test_attack_corpus import login_support

    support = login_support(app)
    response = support.get("/support/?reference=ABC&nom=rapport%00.pdf")
    assert response.status_code == 400
    assert "Le champ « nom » contient un caractère non autorisé." in response.get_data(
        as_text=True)


def test_a_request_no_route_matches_stays_a_404(desk) -> None:  # noqa: F811
    """The guard leaves unmatched URLs alone (nothing reads them; no form parsed for them),
    and the API's 404 stays JSON."""
    assert desk.client.get("/instruction/nulle-part?q=%00").status_code == 404
    response = desk.client.post("/api/v1/nulle-part%0A?x=%00", data={"a\x10": "\x00"})
    assert_refused(response, 404, ("not_found", "Ressource introuvable."))


def test_the_queue_filters_strip_what_the_guard_would_refuse(desk) -> None:  # noqa: F811
    """Called from elsewhere than a request (exports, benchmarks), the queue still never
    sends a NUL to the database."""
    from backoffice.db import utcnow
    from backoffice.queues import candidatures as queue

    filters = Filters.from_args(MultiDict({"q": "Care\x00opt\x1bim\u202e", "etape": "\x00"}))
    assert (filters.q, filters.step) == ("Careoptim", None)
    candidature = desk.candidature()
    rows, _ = queue.page(desk.me, filters, now=utcnow())
    assert candidature.reference in [r.reference for r in rows]


def test_a_verificateur_message_with_control_characters_is_refused_nothing_stored(
        desk) -> None:  # noqa: F811
    reference = desk.candidature().reference
    before = db.scalar(select(func.count()).select_from(Message))
    response = desk.client.post(f"/instruction/candidatures/{reference}/messages", data={
        "body": "Merci\x00", "kind": "message",
        "csrf_token": csrf_token(desk.client, "/instruction/")})
    assert response.status_code == 400
    assert "Le champ « body » contient un caractère non autorisé. Caractère NUL interdit." in \
        response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Message)) == before


def test_a_verificateur_message_is_stored_nfc_with_its_line_breaks(desk) -> None:  # noqa: F811
    reference = desk.candidature().reference
    response = desk.client.post(f"/instruction/candidatures/{reference}/messages", data={
        "body": "De\u0301pôt incomplet :\r\n\t- pièce 1", "kind": "message",
        "csrf_token": csrf_token(desk.client, "/instruction/")})
    assert response.status_code in (200, 302)
    message = db.scalar(select(Message).order_by(Message.id.desc()).limit(1))
    assert message.body == "Dépôt incomplet :\r\n\t- pièce 1"


def test_a_single_line_field_refuses_a_line_break_next_to_the_field(desk) -> None:  # noqa: F811
    """What the guard lets through (line breaks are fine in a text area) the form's own
    filter refuses in a one-line field, with the French message under it."""
    with desk.client.application.test_request_context(method="POST", data={
            "signature_request_id": "sr-1\nX-Injected: 1"}):
        form = EnvoiConventionForm(meta={"csrf": False})
        assert not form.validate()
        assert form.signature_request_id.errors == [ONE_LINE]


@pytest.mark.parametrize(("value", "error"), [
    pytest.param("a\x00b", NUL, id="nul"), pytest.param("a\x1bb", CONTROL, id="escape"),
    pytest.param("a\ud800b", SURROGATE, id="surrogate")])
def test_every_back_office_form_filters_its_text_fields(app, value: str, error: str) -> None:
    """The shared filter, below the guard: the vérificateur's forms and the administration's
    (Flask-Admin builds its forms on AdminForm)."""
    from wtforms import StringField, TextAreaField

    class AdminExample(AdminForm):
        name = StringField()
        notes = TextAreaField()

    with app.test_request_context(method="POST"):
        message = MessageForm(MultiDict({"body": value, "kind": "message"}), meta={"csrf": False})
        assert not message.validate()
        assert message.body.errors == [error]
        admin = AdminExample(MultiDict({"name": value, "notes": value}), meta={"csrf": False})
        assert not admin.validate()
        assert (admin.name.errors, admin.notes.errors) == ([error], [error])
        ok = AdminExample(MultiDict({"name": "Cafe\u0301", "notes": "a\r\nb"}),
                          meta={"csrf": False})
        assert ok.validate() and (ok.name.data, ok.notes.data) == ("Café", "a\r\nb")


def test_a_password_is_never_normalised(app) -> None:
    from wtforms import PasswordField

    class Example(AdminForm):
        password = PasswordField()

    with app.test_request_context(method="POST"):
        form = Example(MultiDict({"password": "Cafe\u0301"}), meta={"csrf": False})
        assert form.validate() and form.password.data == "Cafe\u0301"


def test_the_json_provider_of_the_app_refuses_what_parse_json_refuses(app) -> None:
    """Any request.get_json() (silent or not) sees the same limits: a ValueError, never a
    RecursionError, never a NaN."""
    for body in ("[" * DEEP + "]" * DEEP, '{"a": NaN}', '{"a": 1e999}'):
        with app.test_request_context(method="POST", data=body,
                                      content_type="application/json"):
            from flask import request

            assert request.get_json(silent=True) is None
    assert app.json.loads('{"a": [1.5, "x"]}') == {"a": [1.5, "x"]}
    assert app.json.loads(io.BytesIO(b'{"a": 1}').getvalue()) == {"a": 1}
