"""The invoice file of docs/SPEC.md §12, CSV (UTF-8) or XLSX: read as a stream of rows, written from the
database as a stream. One row per invoice with its customer's columns."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from invoicing.imports import COLUMNS, OPTIONAL_COLUMNS, ROW_PROBLEM, RowError, text_of
from invoicing.models import Invoice

XLSX_MAGIC = b"PK\x03\x04"
BOM = b"\xef\xbb\xbf"
# Far above any invoice row; a longer line is a wrong file (or a runaway quote), not data to load.
MAX_LINE_BYTES = 1024 * 1024
READ_BLOCK = 1024 * 1024

csv.field_size_limit(MAX_LINE_BYTES)


class FileRefused(Exception):
    """The file cannot be read as an invoice file at all; nothing was written."""


def is_xlsx(path: Path) -> bool:
    with path.open("rb") as head:
        return head.read(4) == XLSX_MAGIC


def count_rows(path: Path) -> int:
    """About how many rows follow the header, for a progress bar: a CSV's lines, an XLSX sheet's size."""
    if is_xlsx(path):
        with _workbook(path) as sheet:
            return max((sheet.max_row or 1) - 1, 0)
    lines = 0
    with path.open("rb") as stream:
        while block := stream.read(READ_BLOCK):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    """``(line, values by column)`` for each row after the header; raises ``FileRefused``."""
    if is_xlsx(path):
        yield from _xlsx_rows(path)
    else:
        yield from _csv_rows(path)


def check_header(header: Sequence[str]) -> list[str]:
    names = [name.strip() for name in header]
    if not any(names):
        raise FileRefused(f"line 1 is empty: expected the header {','.join(COLUMNS)}")
    if len(names) == 1 and (delimiter := next((d for d in ";\t|" if d in names[0]), None)):
        raise FileRefused(
            f"the header is separated by {delimiter!r}, not by commas: save the file as CSV with ',' "
            f"between columns (header {','.join(COLUMNS)})"
        )
    if missing := [name for name in COLUMNS if name not in names]:
        raise FileRefused(
            f"the header lacks the column(s) {', '.join(missing)}; it must have {','.join(COLUMNS)}"
        )
    if unknown := [name for name in names if name not in COLUMNS + OPTIONAL_COLUMNS]:
        raise FileRefused(
            f"the header has unknown column(s) {', '.join(map(repr, unknown))}; the columns are "
            f"{','.join(COLUMNS)} and optionally {','.join(OPTIONAL_COLUMNS)}"
        )
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise FileRefused(f"the header names {', '.join(twice)} more than once")
    return names


# --- CSV -------------------------------------------------------------------------------------------------


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    with path.open("rb") as stream:
        lines = _Lines(stream)
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise FileRefused(f"the file is empty: expected the header {','.join(COLUMNS)} and rows")
            names = check_header(header)
            first = lines.number + 1
            for fields in reader:
                if any(fields):  # a blank line, or a spreadsheet's empty row of commas, is no row
                    yield first, _fields(names, fields)
                first = lines.number + 1
        except csv.Error as exc:
            raise FileRefused(f"line {lines.number} is not valid CSV: {exc}") from exc


def _fields(names: list[str], fields: list[str]) -> dict[str, object]:
    if len(fields) != len(names):
        # Seen by the import as a row with an error, so it is counted and reported with the others.
        return {ROW_PROBLEM: f"has {len(fields)} fields where the header has {len(names)}"}
    return dict(zip(names, fields))  # noqa: B905 - the lengths were compared just above


class _Lines:
    """A binary file's lines decoded as UTF-8 one by one, so a bad byte is reported with its line."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream, self.number = stream, 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise FileRefused(
                f"line {self.number} is longer than {MAX_LINE_BYTES:,} bytes: not an invoice row (is a quote "
                "left open, or is this another kind of file?)"
            )
        if self.number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileRefused(
                f"line {self.number} is not UTF-8 (byte {exc.start + 1} is "
                f"{raw[exc.start : exc.start + 1]!r}): save the file as CSV UTF-8"
            ) from exc


# --- XLSX ------------------------------------------------------------------------------------------------


@contextmanager
def _workbook(path: Path) -> Iterator[Any]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise FileRefused(f"the file looks like XLSX but cannot be opened: {exc}") from exc
    try:
        yield book.worksheets[0]
    finally:
        book.close()


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    with _workbook(path) as sheet:
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise FileRefused(f"the sheet is empty: expected the header {','.join(COLUMNS)} and rows")
        width = len(header)
        while width and header[width - 1] in (None, ""):
            width -= 1
        names = check_header([text_of(cell) for cell in header[:width]])
        for line, cells in enumerate(rows, start=2):
            values = list(cells[:width]) + [None] * (width - len(cells))
            if all(value in (None, "") for value in values):
                continue
            yield line, dict(zip(names, values, strict=True))


# --- Export ----------------------------------------------------------------------------------------------

# What an export writes: every column, the optional ones too, so that export then import is unchanged.
FILE_COLUMNS = (*COLUMNS, *OPTIONAL_COLUMNS)
# The file's columns as the ORM reads them: customer_name is customer__name.
EXPORT_FIELDS = tuple(column.replace("customer_", "customer__", 1) for column in FILE_COLUMNS)


def export_rows() -> Iterator[tuple[str, ...]]:
    """Every invoice as a row of the file, by id, read in chunks."""
    rows = Invoice.objects.order_by("id").values_list(*EXPORT_FIELDS).iterator(chunk_size=5_000)
    for row in rows:
        yield tuple(text_of(value) for value in row)


def write_file(path: Path, rows: Iterable[Sequence[str]], *, xlsx: bool) -> int:
    """Write the header and ``rows``; returns how many rows."""
    return _write_xlsx(path, rows) if xlsx else _write_csv(path, rows)


def _write_csv(path: Path, rows: Iterable[Sequence[str]]) -> int:
    written = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(FILE_COLUMNS)
        for row in rows:
            writer.writerow(row)
            written += 1
    return written


def _write_xlsx(path: Path, rows: Iterable[Sequence[str]]) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("invoices")
    sheet.append(FILE_COLUMNS)
    written = 0
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # text as text: a name starting with "=" is not a formula
            cells.append(cell)
        sheet.append(cells)
        written += 1
    book.save(path)
    return written


def rejects_writer(stream: IO[str], columns: Sequence[str] = FILE_COLUMNS) -> Any:
    """A ``RejectSink`` writing each rejected row to ``stream`` as CSV: its line, its values, its errors."""
    writer = csv.writer(stream)
    writer.writerow(["line", *columns, "error"])

    def reject(line: int, values: Mapping[str, object], errors: Sequence[RowError]) -> None:
        message = "; ".join(f"{error.column or 'row'}: {error.value!r} {error.message}" for error in errors)
        writer.writerow([line, *(text_of(values.get(column)) for column in columns), message])

    return reject
