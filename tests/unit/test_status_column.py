"""The job table's Status column shows every status whole, in every language ("◆ Pendiente de
aprobación" was cut to "◆ Pendiente de aprobaci…")."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from jobtui.engine.domain.states import Status
from jobtui.widgets.job_table import COLUMNS
from jobtui.widgets.status_style import status_text


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_status_fits_the_status_column(lang: str) -> None:
    (column,) = [column for column in COLUMNS if column.key == "status"]
    shown = [status_text(status, lang).plain for status in Status]
    assert [text for text in shown if cell_len(text) > column.width] == []
