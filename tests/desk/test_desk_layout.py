"""The desk read on a clerk's laptop (1366 x 768) with large figures: amounts of eight digits and more,
counts of four to seven digits. Each page is measured in Chromium (nothing clipped, nothing past the
screen's right edge, every chart label inside its chart) and its figures compared with the database.

Screenshots are written to ``$DESK_SCREENSHOTS`` when set (to look at them), else to a temporary
directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from invoicing.models import Customer, Invoice
from scheduler.models import JobExecutionLog, RunStatus
from tests.desk.test_browser import MISSING, PASSWORD, log_in, screen_browser
from tests.scheduler.conftest import create_check_schedule, save_heartbeat
from tests.scheduler.factories import JobExecutionLogFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        bool(MISSING), reason=f"no browser: {', '.join(MISSING)} missing (install with .ci/install-browser)"
    ),
]

WIDTH, HEIGHT = 1366, 768
BIG_AMOUNT = Decimal("42932722.24")
LONG_NAME = "Internationale Handelsgesellschaft für Maschinenbau und Anlagentechnik GmbH & Co. KG"
LONG_EMAIL = "accounts.receivable.department@internationale-handelsgesellschaft-maschinenbau.example"
RUN_COUNTS = {"invoices_processed": 1_234_567, "notifications_created": 1_500, "error_count": 12_345}

CLIPPED_JS = (Path(__file__).parent / "clipped.js").read_text()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("DESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def laptop() -> Iterator[object]:
    yield from screen_browser(WIDTH, HEIGHT)


@pytest.fixture
def big_desk(transactional_db) -> dict[str, object]:
    """The demo's spread of invoices, some of them of tens of millions (paused customers' among them),
    the newest of a customer with a long name and a long email address;
    two runs; a run that claims a million invoices whose 1,500 reminders, all made yesterday, mostly
    failed to be delivered (1,000 of them); a cluster alive and the schedule in place."""
    from django.utils import timezone

    from invoicing.services import demo_data_create
    from reminders.models import Message, MessageState, Notification
    from scheduler.services import overdue_check_run

    today = timezone.localdate()
    demo_data_create(customers=120, invoices=1500, seed=7, as_of=today)
    overdue = Invoice.objects.filter(status=Invoice.Status.SENT, due_date__lt=today - timedelta(days=40))
    big = list(overdue.filter(customer__reminders_paused=False).order_by("id")[:6])
    big += list(overdue.filter(customer__reminders_paused=True).order_by("id")[:2])
    Invoice.objects.filter(pk__in=[invoice.pk for invoice in big]).update(
        total=BIG_AMOUNT, amount_paid=Decimal(0)
    )
    newest = Invoice.objects.select_related("customer").order_by("-id").first()
    Customer.objects.filter(pk=newest.customer_id).update(name=LONG_NAME, email=LONG_EMAIL)
    overdue_check_run(triggered_by=JobExecutionLog.Trigger.SCHEDULE, as_of=today - timedelta(days=3))
    overdue_check_run(triggered_by=JobExecutionLog.Trigger.COMMAND, as_of=today)
    failed_run = JobExecutionLogFactory(
        status=RunStatus.COMPLETED, as_of=today, started_at=timezone.now() - timedelta(hours=1), **RUN_COUNTS
    )
    yesterday = timezone.now() - timedelta(days=1)
    invoices = list(Invoice.objects.select_related("customer").order_by("id")[:1500])
    messages = Message.objects.bulk_create(
        Message(
            customer=invoice.customer,
            recipient=invoice.customer.email,
            state=MessageState.FAILED if n % 3 else MessageState.SENT,
            sent_at=None if n % 3 else yesterday + timedelta(minutes=5),
            attempts=5,
        )
        for n, invoice in enumerate(invoices)
    )
    Notification.objects.bulk_create(
        Notification(
            invoice=invoice,
            threshold_days=2,
            level=2,
            days_overdue=max((today - invoice.due_date).days, 2),
            recipient=invoice.customer.email,
            message="Reminder",
            run_id=failed_run.pk,
            created_at=yesterday,
            delivery=message,
        )
        for invoice, message in zip(invoices, messages, strict=True)
    )
    save_heartbeat()
    create_check_schedule(next_run=timezone.now() + timedelta(hours=6))
    return {"today": today, "big": big[0], "failed_run": failed_run}


def look(browser, url: str, screenshots: Path, name: str) -> list[str]:
    """Open ``url``, save the whole page's screenshot as ``name``.png, and return what is clipped."""
    browser.set_window_size(WIDTH, HEIGHT)
    browser.get(url)
    found = browser.execute_script(CLIPPED_JS)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    chrome = browser.execute_script("return window.outerHeight - window.innerHeight")
    browser.set_window_size(WIDTH, max(HEIGHT, height + chrome))
    browser.save_screenshot(str(screenshots / f"{name}.png"))
    browser.set_window_size(WIDTH, HEIGHT)
    browser.save_screenshot(str(screenshots / f"{name}-fold.png"))
    return found


def test_desk_pages_show_every_label_and_column_at_1366_by_768(
    laptop, live_server, big_desk, screenshots, django_user_model
):
    from reminders.models import Notification

    django_user_model.objects.create_user(
        username="finance", password=PASSWORD, is_staff=True, is_superuser=True
    )
    log_in(laptop, live_server.url)
    invoice = big_desk["big"]
    run = big_desk["failed_run"]
    reminder = Notification.objects.filter(run_id=run.pk).order_by("id").first()
    pages = {
        "dashboard": "/admin/",
        "overdue-invoices": "/admin/invoicing/invoice/?overdue=yes",
        "reminders": "/admin/reminders/notification/",
        "reminder": f"/admin/reminders/notification/{reminder.pk}/change/",
        "runs": "/admin/scheduler/jobexecutionlog/",
        "run": f"/admin/scheduler/jobexecutionlog/{run.pk}/change/",
        "invoice": f"/admin/invoicing/invoice/{invoice.pk}/change/",
        "customer": f"/admin/invoicing/customer/{invoice.customer_id}/change/",
        "long-named-customer": f"/admin/invoicing/customer/{Customer.objects.get(name=LONG_NAME).pk}/change/",
    }
    clipped = {name: look(laptop, live_server.url + url, screenshots, name) for name, url in pages.items()}
    assert {name: found for name, found in clipped.items() if found} == {}

    from selenium.webdriver.common.by import By

    failed = Notification.objects.filter(run_id=run.pk, delivery__state="failed").count()
    laptop.get(live_server.url + pages["runs"])
    assert laptop.find_element(By.CSS_SELECTOR, ".deliveries-failed").text == (
        f"{failed:,} of {run.notifications_created:,} deliveries failed"
    )
    invoice.refresh_from_db()
    laptop.get(live_server.url + pages["invoice"])
    balance = laptop.find_element(By.ID, "summary-balance").text
    assert balance == f"{invoice.currency} {invoice.balance_due:,}"
    days = (big_desk["today"] - invoice.due_date).days
    assert laptop.find_element(By.ID, "summary-days-overdue").text == f"{days:,}"


def cells(browser, table_id: str, field: str) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr[data-currency]")
    return {
        row.get_attribute("data-currency"): row.find_element(By.CSS_SELECTOR, f"[data-field='{field}']").text
        for row in rows
    }


def test_dashboard_and_invoice_list_show_the_same_overdue_figure_as_the_database(
    laptop, live_server, big_desk, django_user_model
):
    django_user_model.objects.create_user(
        username="finance", password=PASSWORD, is_staff=True, is_superuser=True
    )
    log_in(laptop, live_server.url)
    today = big_desk["today"]
    overdue: dict[str, Decimal] = {}
    paused: dict[str, Decimal] = {}
    rows = Invoice.objects.filter(status="sent", balance_due__gt=0, due_date__lt=today).values_list(
        "currency", "balance_due", "customer__reminders_paused"
    )
    for currency, balance, is_paused in rows:
        overdue[currency] = overdue.get(currency, Decimal(0)) + balance
        paused[currency] = paused.get(currency, Decimal(0)) + (balance if is_paused else 0)
    overdue_text = {currency: f"{amount:,.2f}" for currency, amount in overdue.items()}
    paused_text = {currency: f"{amount:,.2f}" for currency, amount in paused.items()}
    assert any(amount >= BIG_AMOUNT for amount in paused.values())
    assert any(amount >= 2 * BIG_AMOUNT for amount in overdue.values())

    assert cells(laptop, "aging-table", "overdue") == overdue_text
    assert cells(laptop, "aging-table", "overdue-paused") == paused_text

    laptop.get(live_server.url + "/admin/invoicing/invoice/?overdue=yes")
    assert cells(laptop, "overdue-totals", "overdue") == overdue_text
    assert cells(laptop, "overdue-totals", "overdue-paused") == paused_text


@pytest.mark.parametrize("top", [1_151, 1_234_567])
def test_the_activity_chart_labels_a_count_of_up_to_seven_digits_in_full(
    laptop, live_server, transactional_db, django_user_model, monkeypatch, top
):
    from django.utils import timezone
    from selenium.webdriver.common.by import By

    from desk import dashboard
    from reminders.selectors import DayActivity

    today = timezone.localdate()
    days = [DayActivity(today - timedelta(days=29 - n), top - n, top // 2) for n in range(30)]
    monkeypatch.setattr(dashboard, "reminders_per_day", lambda **_: days)
    django_user_model.objects.create_user(
        username="finance", password=PASSWORD, is_staff=True, is_superuser=True
    )
    log_in(laptop, live_server.url)

    assert laptop.find_element(By.ID, "activity-top").text == f"{top:,}"
    assert laptop.execute_script(CLIPPED_JS) == []


def test_the_measure_finds_a_clipped_column_and_a_label_outside_its_chart(laptop):
    page = (
        '<div id="content"><div style="width: 100px; overflow-x: auto"><table><tr><td>'
        + "x" * 80
        + "</td></tr></table></div>"
        + '<svg width="50" height="20" viewBox="0 0 50 20"><text x="-20" y="15">1,151</text></svg></div>'
    )
    laptop.get("data:text/html;charset=utf-8," + page)

    found = laptop.execute_script(CLIPPED_JS)

    assert any(finding.startswith("clipped") for finding in found)
    assert any(finding.startswith("label outside its chart") for finding in found)
