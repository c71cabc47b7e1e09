"""GET /api/v1/receivables/aging (SPEC §11): the shape, the figures, the §7 rules for tokens and 400s."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invoicing.models import InvoiceStatus
from invoicing.services import payment_record
from tests.api.conftest import bearer, expire_cached
from tests.api.factories import ApiTokenFactory
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.scheduler.factories import UserFactory

pytestmark = pytest.mark.django_db

AGING_URL = "/api/v1/receivables/aging"
AS_OF = date(2026, 3, 31)
BUCKETS = ["current", "1-30", "31-60", "61-90", "90+"]


def days_ago(days: int) -> date:
    return AS_OF - timedelta(days=days)


def sql_aging(as_of: date) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """The buckets as one plain SQL statement, written apart from the selector."""
    query = """
        SELECT currency,
               CASE WHEN %(as_of)s - due_date <= 0 THEN 'current'
                    WHEN %(as_of)s - due_date <= 30 THEN '1-30'
                    WHEN %(as_of)s - due_date <= 60 THEN '31-60'
                    WHEN %(as_of)s - due_date <= 90 THEN '61-90'
                    ELSE '90+' END AS bucket,
               sum(total - amount_paid), count(*)
        FROM invoicing_invoice
        WHERE status = 'sent' AND total > amount_paid
        GROUP BY 1, 2
    """
    with connection.cursor() as cursor:
        cursor.execute(query, {"as_of": as_of})
        return {(currency, bucket): (amount, count) for currency, bucket, amount, count in cursor.fetchall()}


@pytest.fixture
def receivables():
    paused = CustomerFactory(reminders_paused=True)
    InvoiceFactory(due_date=AS_OF + timedelta(days=10), total=Decimal("100.00"))
    InvoiceFactory(due_date=AS_OF, total=Decimal("10.50"))
    InvoiceFactory(due_date=days_ago(1), total=Decimal("20.00"), amount_paid=Decimal("5.00"))
    InvoiceFactory(due_date=days_ago(45), total=Decimal("300.00"), customer=paused)
    InvoiceFactory(due_date=days_ago(120), total=Decimal("7.25"))
    InvoiceFactory(due_date=days_ago(5), currency="JPY", total=Decimal("123456.00"))
    InvoiceFactory(due_date=days_ago(5), currency="CHF", total=Decimal("9.99"), status=InvoiceStatus.PAID)


def test_aging_has_the_exact_shape_of_the_spec(client, finance_headers, receivables):
    body = client.get(AGING_URL, {"as_of": "2026-03-31"}, headers=finance_headers).json()
    assert timezone.now() - datetime.fromisoformat(body.pop("computed_at")) < timedelta(minutes=1)
    assert body == {
        "as_of": "2026-03-31",
        "currencies": [
            {
                "currency": "EUR",
                "total": "432.75",
                "count": 5,
                "buckets": {
                    "current": {"amount": "110.50", "count": 2},
                    "1-30": {"amount": "15.00", "count": 1},
                    "31-60": {"amount": "300.00", "count": 1},
                    "61-90": {"amount": "0.00", "count": 0},
                    "90+": {"amount": "7.25", "count": 1},
                },
            },
            {
                "currency": "JPY",
                "total": "123456",
                "count": 1,
                "buckets": {
                    "current": {"amount": "0", "count": 0},
                    "1-30": {"amount": "123456", "count": 1},
                    "31-60": {"amount": "0", "count": 0},
                    "61-90": {"amount": "0", "count": 0},
                    "90+": {"amount": "0", "count": 0},
                },
            },
        ],
    }


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the independent statement uses PostgreSQL's date arithmetic"
)
@pytest.mark.parametrize("as_of", [AS_OF, AS_OF + timedelta(days=31), AS_OF - timedelta(days=200)])
def test_aging_equals_an_independent_sql_computation(client, finance_headers, receivables, as_of):
    for days in range(0, 200, 7):
        InvoiceFactory(due_date=days_ago(days), total=Decimal(days) + Decimal("0.33"), currency="GBP")
    body = client.get(AGING_URL, {"as_of": as_of.isoformat()}, headers=finance_headers).json()
    expected = sql_aging(as_of)
    got = {
        (row["currency"], key): (Decimal(share["amount"]), share["count"])
        for row in body["currencies"]
        for key, share in row["buckets"].items()
        if share["count"]
    }
    assert got == expected


def test_as_of_defaults_to_today_in_the_configured_zone(client, finance_headers, settings):
    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14: often a day ahead of UTC
    body = client.get(AGING_URL, headers=finance_headers).json()
    assert body["as_of"] == timezone.localdate().isoformat()


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2026-02-30", "20260301", "2026-W09-1", "1899-12-31", "\u0662\u0660\u0662\u0666-03-01"],
)
def test_a_bad_as_of_is_a_400_naming_it(client, finance_headers, value):
    response = client.get(AGING_URL, {"as_of": value}, headers=finance_headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"as_of={value!r} is invalid: expected a date YYYY-MM-DD")


def test_a_repeated_as_of_is_a_400_naming_it(client, finance_headers):
    response = client.get(f"{AGING_URL}?as_of=2026-03-01&as_of=2026-03-02", headers=finance_headers)
    assert response.status_code == 400
    assert response.json()["detail"] == "as_of is given 2 times ('2026-03-01', '2026-03-02'): give it once."


def test_an_unknown_parameter_is_a_400_naming_it(client, finance_headers):
    response = client.get(AGING_URL, {"asof": "2026-03-01"}, headers=finance_headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("asof='2026-03-01' is invalid: not a parameter")


def test_no_token_is_a_401(client):
    response = client.get(AGING_URL)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_of_a_user_who_is_not_staff_is_a_403(client):
    token = ApiTokenFactory(user=UserFactory(is_staff=False), key="test-api-key-not-staff-0000000000")
    assert client.get(AGING_URL, headers=bearer("test-api-key-not-staff-0000000000")).status_code == 403
    assert token.user.is_active


def test_the_aging_endpoint_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/receivables/aging"]["get"]
    assert [parameter["name"] for parameter in operation["parameters"]] == ["as_of"]
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    buckets = schema["components"]["schemas"]["Buckets"]
    assert sorted(buckets["properties"]) == sorted(BUCKETS)


def test_staff_without_view_invoice_get_a_403_naming_it_as_the_admins_aging_csv_does(client, staff_headers):
    response = client.get(AGING_URL, headers=staff_headers)
    assert response.status_code == 403
    assert "invoicing.view_invoice" in response.json()["detail"]


def aging_eur_total(client, headers) -> tuple[str, str]:
    body = client.get(AGING_URL, {"as_of": AS_OF.isoformat()}, headers=headers).json()
    eur = next(row for row in body["currencies"] if row["currency"] == "EUR")
    return eur["total"], body["computed_at"]


def test_the_aging_asked_again_is_served_without_reading_the_invoices(
    client, finance_headers, receivables, settings
):
    settings.API_AGING_CACHE_SECONDS = 30
    first = client.get(AGING_URL, {"as_of": AS_OF.isoformat()}, headers=finance_headers).json()
    with CaptureQueriesContext(connection) as captured:
        again = client.get(AGING_URL, {"as_of": AS_OF.isoformat()}, headers=finance_headers).json()
    assert again == first
    assert not [query for query in captured if "invoicing_invoice" in query["sql"]]


def test_another_as_of_is_read_apart(client, finance_headers, receivables):
    client.get(AGING_URL, {"as_of": AS_OF.isoformat()}, headers=finance_headers)
    later = AS_OF + timedelta(days=31)
    body = client.get(AGING_URL, {"as_of": later.isoformat()}, headers=finance_headers).json()
    assert body["as_of"] == later.isoformat()
    eur = next(row for row in body["currencies"] if row["currency"] == "EUR")
    assert eur["buckets"]["1-30"]["count"] == 1  # due 10 days after AS_OF: 21 days overdue


def test_a_payment_shows_once_the_cached_aging_has_expired(client, finance_headers, receivables, settings):
    settings.API_AGING_CACHE_SECONDS = 30
    total, computed_at = aging_eur_total(client, finance_headers)
    invoice = InvoiceFactory(due_date=days_ago(3), total=Decimal("50.00"))
    assert aging_eur_total(client, finance_headers) == (total, computed_at)  # within the cache's time
    expire_cached("receivables-aging")
    grown, recomputed_at = aging_eur_total(client, finance_headers)
    assert Decimal(grown) == Decimal(total) + 50
    assert recomputed_at > computed_at
    payment_record(invoice=invoice, reference="P-1", amount=Decimal("20.00"), paid_at=timezone.now())
    expire_cached("receivables-aging")
    assert Decimal(aging_eur_total(client, finance_headers)[0]) == Decimal(total) + 30


def test_with_no_cache_time_every_request_reads_the_invoices(client, finance_headers, receivables, settings):
    settings.API_AGING_CACHE_SECONDS = 0
    total, _ = aging_eur_total(client, finance_headers)
    InvoiceFactory(due_date=days_ago(3), total=Decimal("50.00"))
    assert Decimal(aging_eur_total(client, finance_headers)[0]) == Decimal(total) + 50
