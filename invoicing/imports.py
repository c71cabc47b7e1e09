"""Customers and invoices in from the books, set-based (docs/SPEC.md §12).

Rows (from a file or an API body) are validated one by one in Python, so every message names the line,
the column, the value and the rule; the valid ones are loaded into a temporary table (``COPY`` on
PostgreSQL), checked against each other there (an invoice number twice, a customer with two names; each
customer's own fields once per customer), and written with one ``INSERT … ON CONFLICT DO UPDATE … WHERE
… IS DISTINCT FROM`` per table and chunk, so a row that would change nothing is not written and is
counted unchanged. All of it is one transaction.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import connection, transaction

from invoicing.currency import COLUMN_DIGITS, amount_problem, column_places, is_known_currency
from invoicing.links import payment_url_problem
from invoicing.models import (
    FIRST_DATE,
    LAST_DATE,
    REFERENCE_LENGTH,
    InvoiceStatus,
    default_language,
    language_choices,
)

COLUMNS = (
    "customer_reference",
    "customer_name",
    "customer_email",
    "number",
    "issue_date",
    "due_date",
    "currency",
    "total",
    "amount_paid",
    "status",
)
# A file may leave these out: what they set is then left as it is (a new customer gets the default
# language, a new invoice no pay link). An empty cell is the default language, or no pay link.
OPTIONAL_COLUMNS = ("customer_language", "payment_url")
SHOWN_ERRORS = 50
CHUNK_ROWS = 20_000  # rows checked and copied at a time: what the process holds
# Rows per upsert statement: fewer statements join the staged rows to the customers fewer times; the
# server holds the chunk, not this process.
WRITE_CHUNK_ROWS = 100_000
# Distinct dates whose checks are remembered: a few MiB at most, the same for any file size.
CACHED_VALUES = 16_384
ROW_PROBLEM = "__row__"  # a row the reader could not split into the header's columns, and why
NUL_RULE = "holds a NUL character"

TEXT_LIMITS = {
    "customer_reference": REFERENCE_LENGTH,
    "customer_name": 200,
    "customer_email": 254,
    "number": 50,
}
DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")
AMOUNT_SHAPE = re.compile(r"\d+(\.\d+)?")
STATUSES = tuple(InvoiceStatus.values)
CUSTOMER_COLUMNS = ("customer_reference", "customer_name", "customer_email")

STAGE = "import_invoice_row"
STAGE_CUSTOMERS = "import_customer_row"
STAGE_REFUSED = "import_refused_customer"
STAGE_COLUMNS = ("line", *COLUMNS, *OPTIONAL_COLUMNS)


@dataclass(frozen=True)
class RowError:
    """What is wrong with one value: ``line`` is the file's line (or the index in an API body)."""

    line: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.value!r} {self.message}" if self.column else f"{where}: {self.message}"


class ImportRefused(Exception):
    """Rows were invalid and nothing was written: the first ``SHOWN_ERRORS`` errors and their count."""

    def __init__(self, errors: list[RowError], count: int) -> None:
        self.errors, self.count = errors, count
        super().__init__(f"{count} errors; nothing was written")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class ImportResult:
    invoices: Counts = field(default_factory=Counts)
    customers: Counts = field(default_factory=Counts)
    rejected: int = 0


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, done: int) -> None: ...


class RejectSink(Protocol):
    """Where ``--skip-invalid`` puts a rejected row: its line, its values and what was wrong."""

    def __call__(self, line: int, values: Mapping[str, object], errors: Sequence[RowError]) -> None: ...


class _NoProgress:
    def start(self, total: int) -> None:
        """Nobody watches."""

    def advance(self, done: int) -> None:
        """Nobody watches."""


class _DryRun(Exception):
    """Rolls a dry run's transaction back once its counts are known."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result


# --- One row ---------------------------------------------------------------------------------------------


def text_of(value: object) -> str:
    """A cell as text: spreadsheets give numbers for references typed as digits (``1001``, not ``1001.0``)."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


Problem = tuple[str, str, str]  # column, the value as text, the rule it breaks


def row_problems(line: int, values: Mapping[str, object]) -> tuple[tuple[Any, ...] | None, list[RowError]]:
    """The row as the staging table holds it, or the errors that keep it out."""
    if ROW_PROBLEM in values:
        return None, [RowError(line, "", "", str(values[ROW_PROBLEM]))]
    get = values.get
    reference, name, email = (text_of(get(column)) for column in CUSTOMER_COLUMNS)
    number = text_of(get("number"))
    # The customer's own rules are checked once per customer, after staging (``_Stage.conflicts``).
    problems = [*_uncopyable(CUSTOMER_COLUMNS, (reference, name, email)), *_text_problems("number", number)]
    issue_date = _date("issue_date", get("issue_date"), problems)
    due_date = _date("due_date", get("due_date"), problems)
    if issue_date and due_date and due_date < issue_date:
        rule = f"is before issue_date {issue_date}: an invoice is due on or after its issue"
        problems.append(("due_date", str(due_date), rule))
    currency = _currency(text_of(get("currency")).strip(), problems)
    total = _amount("total", get("total"), currency, problems)
    amount_paid = _amount("amount_paid", get("amount_paid"), currency, problems)
    if total is not None and amount_paid is not None and amount_paid > total:
        problems.append(
            ("amount_paid", str(amount_paid), f"is above total {total}: more cannot be paid than is owed")
        )
    status = text_of(get("status")).strip()
    if status not in STATUSES:
        problems.append(("status", status, f"is not a status: one of {', '.join(STATUSES)}"))
    language = _language(text_of(get("customer_language")).strip(), problems)
    payment_url = text_of(get("payment_url")).strip()
    if problem := payment_url_problem(payment_url):
        problems.append(("payment_url", payment_url, problem))
    if problems:
        # A refused row is never staged, so the customer check after staging would not see it: its
        # customer's problems are named here, with the row's own.
        customer = [
            problem for problem in _customer_problems(reference, name, email) if problem not in problems
        ]
        return None, [RowError(line, *problem) for problem in (*customer, *problems)]
    return (
        line,
        reference,
        name,
        email,
        number,
        issue_date,
        due_date,
        currency,
        total,
        amount_paid,
        status,
        language,
        payment_url,
    ), []


class _EmailValidator(EmailValidator):
    """Django's email rule with its patterns compiled here: Django's are lazy objects, and going through
    the proxy on every row was a third of a row's checks."""

    user_regex = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)
    domain_regex = re.compile(EmailValidator.domain_regex.pattern, EmailValidator.domain_regex.flags)
    literal_regex = re.compile(EmailValidator.literal_regex.pattern, EmailValidator.literal_regex.flags)


validate_email = _EmailValidator()


def _uncopyable(columns: Sequence[str], texts: Sequence[str]) -> list[Problem]:
    return [(column, text, NUL_RULE) for column, text in zip(columns, texts, strict=True) if "\x00" in text]


def _customer_problems(reference: str, name: str, email: str) -> tuple[Problem, ...]:
    problems = [
        *_text_problems("customer_reference", reference),
        *_text_problems("customer_name", name),
        *_text_problems("customer_email", email),
    ]
    if email.strip():
        try:
            validate_email(email)
        except ValidationError:
            problems.append(("customer_email", email, "is not an email address"))
    return tuple(problems)


def _text_problems(column: str, text: str) -> tuple[Problem, ...]:
    if not text.strip():
        return ((column, text, "is required"),)
    if len(text) > TEXT_LIMITS[column]:
        return ((column, text[:80] + "…", f"is {len(text)} characters long: at most {TEXT_LIMITS[column]}"),)
    if "\x00" in text:
        return ((column, text, NUL_RULE),)
    return ()


def _date(column: str, value: object, problems: list[Problem]) -> date | None:
    if type(value) is str:
        parsed, rule = _date_of_text(value.strip())
    elif isinstance(value, datetime) and value.time() == datetime.min.time():
        parsed, rule = _date_in_range(value.date())
    elif isinstance(value, date) and not isinstance(value, datetime):
        parsed, rule = _date_in_range(value)
    elif isinstance(value, int | float):
        parsed, rule = (
            None,
            "is a number, not a date: write it as text YYYY-MM-DD or format the cell as a date",
        )
    else:
        parsed, rule = _date_of_text(text_of(value).strip())
    if rule:
        problems.append((column, text_of(value), rule))
    return parsed


# The books repeat a date on many invoices: each is parsed once.
@functools.lru_cache(maxsize=CACHED_VALUES)
def _date_of_text(text: str) -> tuple[date | None, str]:
    if not DATE_SHAPE.fullmatch(text):
        return None, "is not a date written YYYY-MM-DD"
    try:
        return _date_in_range(date.fromisoformat(text))
    except ValueError:
        return None, "is not a real calendar date"


def _date_in_range(value: date) -> tuple[date | None, str]:
    if not FIRST_DATE <= value <= LAST_DATE:
        return None, f"is outside {FIRST_DATE}..{LAST_DATE}"
    return value, ""


@functools.lru_cache(maxsize=1024)
def _currency_rule(code: str) -> str:
    if len(code) == 3 and code.isascii() and code.isalpha() and code.isupper() and is_known_currency(code):
        return ""
    return "is not an ISO 4217 currency code (three capital letters, e.g. EUR)"


def _currency(code: str, problems: list[Problem]) -> str | None:
    if rule := _currency_rule(code):
        problems.append(("currency", code, rule))
        return None
    return code


def language_rule() -> str:
    return f"is not a language reminders are written in: one of {', '.join(dict(language_choices()))}"


def _language(code: str, problems: list[Problem]) -> str | None:
    """A customer's language from its cell; None when empty (another row of the customer may give it,
    and without one it is the default language)."""
    if not code:
        return None
    if code not in dict(language_choices()):
        problems.append(("customer_language", code, language_rule()))
    return code


def _amount(column: str, value: object, currency: str | None, problems: list[Problem]) -> Decimal | None:
    text = repr(value) if isinstance(value, float) else text_of(value).strip()
    if not AMOUNT_SHAPE.fullmatch(text):
        negative = text.startswith("-") and AMOUNT_SHAPE.fullmatch(text[1:])
        rule = (
            "is negative: amounts are 0 or more"
            if negative
            else "is not an amount: digits with a dot for decimals, e.g. 1234.50"
        )
        problems.append((column, text, rule))
        return None
    amount = Decimal(text)
    if not plainly_fits(text, currency) and (rule := amount_problem(amount, currency or "EUR")):
        problems.append((column, text, rule))
        return None
    return amount


def plainly_fits(text: str, currency: str | None) -> bool:
    """A shortcut taken on most rows: ``text`` (digits, maybe a dot and digits) has few enough digits
    before the dot and no more after it than ``currency`` allows (none when the currency is unknown).
    Only ever says yes where ``amount_problem`` finds nothing (a property test pins it); otherwise
    ``amount_problem`` decides."""
    whole, _, decimals = text.partition(".")
    allowed = column_places(currency) if currency else 0
    return len(whole) <= COLUMN_DIGITS and len(decimals) <= allowed


# --- Many rows -------------------------------------------------------------------------------------------


def invoices_upsert(*, rows: Iterable[Mapping[str, object]]) -> ImportResult:
    """Create or update the rows' customers (by reference) and invoices (by number), all or nothing.

    Each row has the file's columns. Raises ``ImportRefused`` with every error (``line`` is the row's
    index) when any row is invalid, having written nothing.
    """
    return invoices_import(rows=enumerate(rows))


def invoices_import(
    *,
    rows: Iterable[tuple[int, Mapping[str, object]]],
    dry_run: bool = False,
    reject: RejectSink | None = None,
    reading: Progress | None = None,
    writing: Progress | None = None,
) -> ImportResult:
    """Import ``(line, values)`` rows: customers by reference, invoices by number, in one transaction.

    Without ``reject``, any invalid row raises ``ImportRefused`` (the first errors and their count) and
    nothing is written. With it, invalid rows go to ``reject`` and the others are written. ``dry_run``
    counts what would change and writes nothing.
    """
    try:
        with transaction.atomic():
            result = _import(rows, reject, reading or _NoProgress(), writing or _NoProgress())
            if dry_run:
                raise _DryRun(result)
            return result
    except _DryRun as rolled_back:
        return rolled_back.result


def _import(
    rows: Iterable[tuple[int, Mapping[str, object]]],
    reject: RejectSink | None,
    reading: Progress,
    writing: Progress,
) -> ImportResult:
    stage = _Stage.create()
    errors = _Errors()
    result = ImportResult()
    for chunk in _chunks(rows, CHUNK_ROWS):
        valid = []
        for line, values in chunk:
            row, problems = row_problems(line, values)
            if row is not None:
                valid.append(row)
                stage.given.update(column for column in OPTIONAL_COLUMNS if column in values)
            elif reject is not None:
                reject(line, values, problems)
                result.rejected += 1
            else:
                errors.add(problems)
        stage.load(valid)
        reading.advance(len(chunk))
    for line, values, problems in stage.conflicts():
        if reject is not None:
            reject(line, values, problems)
            result.rejected += 1
        else:
            errors.add(problems)
    if errors.count:
        raise ImportRefused(errors.shown, errors.count)
    stage.write(result, writing)
    return result


class _Errors:
    def __init__(self) -> None:
        self.shown: list[RowError] = []
        self.count = 0

    def add(self, errors: Sequence[RowError]) -> None:
        self.count += len(errors)
        self.shown.extend(errors[: SHOWN_ERRORS - len(self.shown)])


def _chunks(
    rows: Iterable[tuple[int, Mapping[str, object]]], size: int
) -> Iterator[list[tuple[int, Mapping[str, object]]]]:
    chunk: list[tuple[int, Mapping[str, object]]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- The staging tables and the upserts ------------------------------------------------------------------

CUSTOMER_FIELDS = (("name", "customer_name"), ("email", "customer_email"))
INVOICE_FIELDS = ("customer_id", "issue_date", "due_date", "currency", "total", "amount_paid", "status")
# Written by an update only when the rows gave their column (OPTIONAL_COLUMNS); a new row always gets one.
GIVEN_CUSTOMER_FIELDS = (("language", "customer_language"),)
GIVEN_INVOICE_FIELDS = ("payment_url",)


class _Stage:
    """The temporary tables of one import, dropped with its transaction."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self.distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
        self.given: set[str] = set()  # the optional columns the valid rows had

    @classmethod
    def create(cls) -> _Stage:
        stage = cls(connection.vendor == "postgresql")
        on_commit = "ON COMMIT DROP" if stage.postgres else ""
        text = "varchar" if stage.postgres else "text"
        _execute(f"DROP TABLE IF EXISTS {STAGE}")
        _execute(
            f"CREATE TEMPORARY TABLE {STAGE} (line integer NOT NULL, customer_reference {text}, "
            f"customer_name {text}, customer_email {text}, number {text}, issue_date date, due_date date, "
            f"currency {text}, total decimal(14, 2), amount_paid decimal(14, 2), status {text}, "
            f"customer_language {text}, payment_url {text}) {on_commit}"
        )
        return stage

    def load(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            if self.postgres:
                raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no COPY
                with raw.copy(f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(STAGE_COLUMNS))
                cursor.executemany(
                    f"INSERT INTO {STAGE} ({', '.join(STAGE_COLUMNS)}) VALUES ({marks})",
                    [
                        (*row[:5], str(row[5]), str(row[6]), row[7], str(row[8]), str(row[9]), *row[10:])
                        for row in rows
                    ],
                )

    def conflicts(self) -> Iterator[tuple[int, dict[str, object], list[RowError]]]:
        """Rows at odds with others of the same import, removed from the stage; each with its errors."""
        numbers = f"SELECT number FROM {STAGE} GROUP BY number HAVING count(*) > 1"
        found = self._rows(f"number IN ({numbers})")
        if found:
            _execute(f"DELETE FROM {STAGE} WHERE number IN ({numbers})")
        yield from _grouped(found, "number", "is on lines {lines}: one row per invoice")
        if self.postgres:
            _execute(f"ANALYZE {STAGE}")
        on_commit = "ON COMMIT DROP" if self.postgres else ""
        _execute(f"DROP TABLE IF EXISTS {STAGE_CUSTOMERS}")
        _execute(
            f"CREATE TEMPORARY TABLE {STAGE_CUSTOMERS} {on_commit} AS "
            "SELECT customer_reference AS reference, min(customer_name) AS name, "
            "min(customer_email) AS email, coalesce(min(customer_language), %s) AS language, "
            "count(DISTINCT customer_name) AS names, count(DISTINCT customer_email) AS emails, "
            "count(DISTINCT customer_language) AS languages, "
            f"row_number() OVER (ORDER BY customer_reference) AS n FROM {STAGE} GROUP BY customer_reference",
            [default_language()],
        )
        differ = "names > 1 OR emails > 1 OR languages > 1"
        twice = f"SELECT reference FROM {STAGE_CUSTOMERS} WHERE {differ}"
        found = self._rows(f"customer_reference IN ({twice})")
        if found:
            _execute(f"DELETE FROM {STAGE} WHERE customer_reference IN ({twice})")
            _execute(f"DELETE FROM {STAGE_CUSTOMERS} WHERE {differ}")
        for field_name in ("customer_name", "customer_email", "customer_language"):
            seen: dict[object, set[object]] = {}
            for row in found:
                if row[field_name] is not None:  # an empty language cell says nothing
                    seen.setdefault(row["customer_reference"], set()).add(row[field_name])
            differing = [row for row in found if len(seen.get(row["customer_reference"], ())) > 1]
            what = field_name.removeprefix("customer_")
            rule = f"has more than one {what} (lines {{lines}}): one per customer"
            yield from _grouped(differing, "customer_reference", rule)
        yield from self._invalid_customers()

    def _invalid_customers(self) -> Iterator[tuple[int, dict[str, object], list[RowError]]]:
        """The rows of customers whose name, email or reference is refused, each customer checked once
        (the books repeat it on every invoice); streamed, so a file of bad customers stays in the server."""
        refused: dict[str, tuple[Problem, ...]] = {}
        with connection.chunked_cursor() as cursor:
            cursor.execute(f"SELECT reference, name, email FROM {STAGE_CUSTOMERS}")
            while customers := cursor.fetchmany(CHUNK_ROWS):
                for reference, name, email in customers:
                    if problems := _customer_problems(reference, name, email):
                        refused[reference] = problems
        if not refused:
            return
        on_commit = "ON COMMIT DROP" if self.postgres else ""
        _execute(f"DROP TABLE IF EXISTS {STAGE_REFUSED}")
        _execute(f"CREATE TEMPORARY TABLE {STAGE_REFUSED} (reference text) {on_commit}")
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {STAGE_REFUSED} VALUES (%s)", [[ref] for ref in refused])
        condition = f"customer_reference IN (SELECT reference FROM {STAGE_REFUSED})"
        with connection.chunked_cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(STAGE_COLUMNS)} FROM {STAGE} WHERE {condition} ORDER BY line")
            while rows := cursor.fetchmany(CHUNK_ROWS):
                for row in rows:
                    line, *values = row
                    staged = dict(zip(STAGE_COLUMNS[1:], values, strict=True))
                    problems = refused[str(staged["customer_reference"])]
                    yield line, staged, [RowError(line, *problem) for problem in problems]
        _execute(f"DELETE FROM {STAGE} WHERE {condition}")
        _execute(f"DELETE FROM {STAGE_CUSTOMERS} WHERE reference IN (SELECT reference FROM {STAGE_REFUSED})")

    def _rows(self, condition: str) -> list[dict[str, object]]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(STAGE_COLUMNS)} FROM {STAGE} WHERE {condition} ORDER BY line")
            return [dict(zip(STAGE_COLUMNS, row, strict=True)) for row in cursor.fetchall()]

    def write(self, result: ImportResult, progress: Progress) -> None:
        _execute(f"CREATE INDEX {STAGE}_line ON {STAGE} (line)")
        _execute(f"CREATE INDEX {STAGE_CUSTOMERS}_n ON {STAGE_CUSTOMERS} (n)")
        customers = _scalar(f"SELECT count(*), min(n), max(n) FROM {STAGE_CUSTOMERS}", row=True)
        lines = _scalar(f"SELECT count(*), min(line), max(line) FROM {STAGE}", row=True)
        progress.start(customers[0] + lines[0])
        for table, key, sql, counts, (count, low, high) in (
            (STAGE_CUSTOMERS, "n", self._customers_sql(), result.customers, customers),
            (STAGE, "line", self._invoices_sql(), result.invoices, lines),
        ):
            if count:
                for first in range(low, high + 1, WRITE_CHUNK_ROWS):
                    done = self._upsert(counts, sql, (table, key), first, first + WRITE_CHUNK_ROWS - 1)
                    progress.advance(done)

    def _customers_sql(self) -> tuple[str, str]:
        given = [name for name, column in GIVEN_CUSTOMER_FIELDS if column in self.given]
        updated = [name for name, _ in CUSTOMER_FIELDS] + given
        changed = " OR ".join(f"c.{name} {self.distinct} excluded.{name}" for name in updated)
        upsert = (
            "INSERT INTO invoicing_customer AS c (reference, name, email, reminders_paused, language) "
            f"SELECT reference, name, email, false, language FROM {STAGE_CUSTOMERS} "
            "WHERE n BETWEEN %s AND %s "
            "ON CONFLICT (reference) WHERE NOT (reference = '') DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in updated)
            + f" WHERE {changed}"
        )
        new = (
            f"SELECT count(*) FROM {STAGE_CUSTOMERS} AS s WHERE n BETWEEN %s AND %s AND NOT EXISTS "
            "(SELECT 1 FROM invoicing_customer AS c WHERE c.reference = s.reference)"
        )
        return upsert, new

    def _invoices_sql(self) -> tuple[str, str]:
        updated = [*INVOICE_FIELDS, *(name for name in GIVEN_INVOICE_FIELDS if name in self.given)]
        changed = " OR ".join(f"i.{name} {self.distinct} excluded.{name}" for name in updated)
        upsert = (
            f"INSERT INTO invoicing_invoice AS i (number, {', '.join(INVOICE_FIELDS)}, payment_url) "
            "SELECT s.number, c.id, s.issue_date, s.due_date, s.currency, s.total, s.amount_paid, s.status, "
            f"s.payment_url FROM {STAGE} AS s JOIN invoicing_customer AS c "
            "ON c.reference = s.customer_reference AND NOT (c.reference = '') WHERE s.line BETWEEN %s AND %s "
            "ON CONFLICT (number) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in updated)
            + f" WHERE {changed}"
        )
        new = (
            f"SELECT count(*) FROM {STAGE} AS s WHERE line BETWEEN %s AND %s AND NOT EXISTS "
            "(SELECT 1 FROM invoicing_invoice AS i WHERE i.number = s.number)"
        )
        return upsert, new

    def _upsert(
        self, counts: Counts, sql: tuple[str, str], stage: tuple[str, str], first: int, last: int
    ) -> int:
        """One upsert statement for the chunk ``first..last``; returns how many rows it held."""
        upsert, new = sql
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute(
                    f"WITH written AS ({upsert} RETURNING (xmax = 0) AS created) "
                    "SELECT count(*), count(*) FILTER (WHERE created) FROM written",
                    [first, last],
                )
                changed, created = cursor.fetchone()
            else:
                # SQLite has no xmax to tell an insert from an update: count the new keys first.
                cursor.execute(new, [first, last])
                created = cursor.fetchone()[0]
                cursor.execute(upsert + " RETURNING 1", [first, last])
                changed = len(cursor.fetchall())
            cursor.execute(
                f"SELECT count(*) FROM {stage[0]} WHERE {stage[1]} BETWEEN %s AND %s", [first, last]
            )
            held = cursor.fetchone()[0]
        counts.created += created
        counts.updated += changed - created
        counts.unchanged += held - changed
        return held


def _grouped(
    rows: list[dict[str, object]], column: str, rule: str
) -> Iterator[tuple[int, dict[str, object], list[RowError]]]:
    """Each row with an error naming every line that shares its ``column`` (``{lines}`` in ``rule``)."""
    lines: dict[object, list[str]] = {}
    for row in rows:
        lines.setdefault(row[column], []).append(str(row["line"]))
    for row in rows:
        values = {name: value for name, value in row.items() if name != "line"}
        line = int(str(row["line"]))
        message = rule.format(lines=", ".join(lines[row[column]]))
        yield line, values, [RowError(line, column, text_of(row[column]), message)]


def _execute(sql: str, params: Sequence[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _scalar(sql: str, params: Sequence[Any] | None = None, *, row: bool = False) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    return found if row else found[0]
