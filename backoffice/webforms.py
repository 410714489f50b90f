"""The base of the back-office's WTForms: every text field gets the rules of safetext.py.

`SafeForm.Meta.bind_field` adds one filter to each string field of any form built on it
(the vérificateur's forms, the administration's): the text is NFC-normalised, and a lone
surrogate or a control character (tab and line breaks allowed in a text area only) becomes
a French error next to the field instead of a stored value. Passwords are left as typed:
normalising them would change what an existing hash was computed from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, TextAreaField

from backoffice import safetext


def text_filter(*, multiline: bool) -> Callable[[Any], Any]:
    def clean(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        reason = safetext.problem(value, multiline=multiline)
        if reason is not None:
            raise ValueError(reason)  # WTForms shows it as the field's error
        return safetext.normalise(value)

    return clean


MULTILINE = text_filter(multiline=True)
SINGLE_LINE = text_filter(multiline=False)


class SafeForm(FlaskForm):
    class Meta:
        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
            field_class = unbound_field.field_class
            if issubclass(field_class, StringField) and not issubclass(field_class,
                                                                       PasswordField):
                check = MULTILINE if issubclass(field_class, TextAreaField) else SINGLE_LINE
                options["filters"] = (*unbound_field.kwargs.get("filters", ()),
                                      *options.get("filters", ()), check)
            return unbound_field.bind(form=form, **options)
