"""No template decides whether to show an action by comparing a raw status (issue 16): an
`{% if %}` that guards a form or a button asks a predicate (`can(...)`, or a flag the
view computed from workflow/), so that the button is shown exactly when the action would
succeed. A status compared for display only (a badge, a sentence) is not an action and
is not reported here."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import Environment, nodes

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
ACTION_MARKUP = ("<form", "<button", 'type="submit"')


def _is_status(node: nodes.Node) -> bool:
    name = node.attr if isinstance(node, nodes.Getattr) else \
        node.name if isinstance(node, nodes.Name) else None
    return name is not None and (name == "status" or name.endswith("_status"))


def _is_literal(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Const):
        return isinstance(node.value, str)
    return isinstance(node, (nodes.Tuple, nodes.List)) and \
        all(isinstance(item, nodes.Const) for item in node.items)


def _compares_status(test: nodes.Node) -> bool:
    """A raw status compared with a literal (==, !=, in, not in) anywhere in the test."""
    compares = [test] if isinstance(test, nodes.Compare) else []
    for compare in [*compares, *test.find_all(nodes.Compare)]:
        operands = [compare.expr, *(op.expr for op in compare.ops)]
        if any(_is_status(o) for o in operands) and any(_is_literal(o) for o in operands):
            return True
    return False


class Scanner:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = Environment(autoescape=True, extensions=["jinja2.ext.do"])  # parsed only
        self._actions: dict[str, bool] = {}

    def parse(self, name: str) -> nodes.Template:
        return self.env.parse((self.root / name).read_text(encoding="utf-8"))

    def holds_action(self, body: list[nodes.Node]) -> bool:
        """Markup of a form or a button in these nodes, or in a template they include."""
        for node in body:
            for data in node.find_all(nodes.TemplateData):
                if any(mark in data.data for mark in ACTION_MARKUP):
                    return True
            if isinstance(node, nodes.TemplateData) and \
                    any(mark in node.data for mark in ACTION_MARKUP):
                return True
            for include in ([node] if isinstance(node, nodes.Include) else []) + \
                    list(node.find_all(nodes.Include)):
                if isinstance(include.template, nodes.Const) and \
                        self.template_holds_action(include.template.value):
                    return True
        return False

    def template_holds_action(self, name: str) -> bool:
        if name not in self._actions:
            self._actions[name] = False  # an include cycle stops here
            self._actions[name] = (self.root / name).is_file() and \
                self.holds_action(self.parse(name).body)
        return self._actions[name]

    def offences(self, name: str) -> list[str]:
        found = []
        for branch in self.parse(name).find_all(nodes.If):
            guarded = [*branch.body, *branch.else_]
            for elif_ in branch.elif_:
                guarded += elif_.body
            if _compares_status(branch.test) and self.holds_action(guarded):
                found.append(f"{name}:{branch.lineno}")
        return found


def test_no_template_compares_a_raw_status_to_show_an_action() -> None:
    scanner = Scanner(TEMPLATES)
    names = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
    assert len(names) > 40  # the scan reads the real templates
    offences = [o for name in names for o in scanner.offences(name)]
    assert not offences, ("a raw status decides whether an action is shown: use can(...) "
                          "or a flag computed from workflow/", offences)


@pytest.mark.parametrize("source, offending", [
    ('{% if current.status == "echec_emission" %}<form method="post"></form>{% endif %}',
     True),
    ('{% if step.status in ("a_envoyer", "expiree") %}<button>Envoyer</button>{% endif %}',
     True),
    ('{% if kind == "x" and f.scan_status != "sain" %}{% else %}<button>X</button>{% endif %}',
     True),
    ('{% if c.status == "valide" %}<p>En vigueur.</p>{% endif %}', False),  # display only
    ('{% if can("convention.envoyer", c) %}<form></form>{% endif %}', False),
    ('{% if c.status == x %}<form></form>{% endif %}', False),  # no literal: not a code
    ('{% if c.status == "a" %}{% include "_action.html" %}{% endif %}', True),
])
def test_the_scan_tells_an_action_from_a_display(tmp_path, source, offending) -> None:
    (tmp_path / "page.html").write_text(source)
    (tmp_path / "_action.html").write_text('<form method="post"><button>Go</button></form>')
    assert bool(Scanner(tmp_path).offences("page.html")) is offending
