"""The detail pane's dates line up after their labels: in every language each label leaves a space before
its date (a longer one ran into it: "Max fecha inicio2026-12-07 03:55")."""

from __future__ import annotations

import pytest

from jobtui.i18n import MESSAGES
from jobtui.widgets.detail import DATE_LABEL_WIDTH

DATE_KEYS = [key for key in MESSAGES["en"] if key.startswith("detail.") and key.endswith("_at")]


@pytest.mark.parametrize("lang", sorted(MESSAGES))
def test_every_date_label_leaves_a_space_before_its_date(lang: str) -> None:
    assert len(DATE_KEYS) >= 6
    too_long = [MESSAGES[lang][key] for key in DATE_KEYS if len(MESSAGES[lang][key]) >= DATE_LABEL_WIDTH]
    assert too_long == []
