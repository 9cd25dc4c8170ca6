"""CSV cells that spreadsheets show as text, never run as formulas (CSV injection).

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken by
Excel, LibreOffice and Google Sheets as the start of a formula (``=HYPERLINK(...)``,
``@SUM(...)``, DDE). Every CSV we write (the batch ``manifest.csv``, the staff usage report) puts
its cells through :func:`safe_row`: such text gets a leading apostrophe, which spreadsheets hide
and which stops the formula. Numbers are written as they are. Imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]
