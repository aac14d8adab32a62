"""Form widgets the pages share."""
from __future__ import annotations

from markupsafe import Markup, escape
from wtforms.widgets import Select


class QuickSelect(Select):
    """WTForms' <select>, its options written in one f-string each.

    The time page offers every active project and task in two forms; WTForms builds each
    <option> through `html_params` and `Markup.format`, about 0.1 ms an option, which
    with 200 projects was half of the page's time (`python -m bench pages`). The
    attributes are the same: value, the choice's own (data-project), selected."""

    @classmethod
    def render_option(cls, choice, **kwargs):
        value = str(choice.value) if isinstance(choice.value, bool) else choice.value
        extra = "".join(f' {escape(name)}="{escape(attr)}"' for name, attr in {**(choice.render_kw or {}),
                                                                                **kwargs}.items())
        selected = " selected" if choice.selected else ""
        label = escape(choice.label or choice.value)
        return Markup(f'<option value="{escape(value)}"{extra}{selected}>{label}</option>')
