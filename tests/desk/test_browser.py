"""A staff user answers "did last night's run happen, and which invoices failed?" in a real browser."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.models import JobExecutionLog, RunStatus
from tests.scheduler.conftest import create_check_schedule, save_heartbeat
from tests.scheduler.factories import JobExecutionLogFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MISSING = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        bool(MISSING), reason=f"no browser: {', '.join(MISSING)} missing (install with .ci/install-browser)"
    ),
]

PASSWORD = "a-long-browser-test-password"
ERRORS = [
    {
        "invoice_id": 501,
        "number": "INV-000501",
        "error": "DataError: value too long for type character varying",
    },
    {"invoice_id": 502, "number": "INV-000502", "error": "IntegrityError: customer email is empty"},
]


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    flags += ["--window-size=1400,1000"]
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        for flag in [*flags, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        driver.implicitly_wait(5)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def run_history(transactional_db) -> dict[str, JobExecutionLog]:
    def started(day: int) -> datetime:
        return datetime(2026, 2, day, 0, 0, 4, tzinfo=UTC)

    return {
        "ok_1": JobExecutionLogFactory(started_at=started(1), triggered_by="schedule"),
        "errors_2": JobExecutionLogFactory(
            started_at=started(2), status=RunStatus.COMPLETED_WITH_ERRORS, error_count=1, errors=ERRORS[:1]
        ),
        "ok_3": JobExecutionLogFactory(started_at=started(3), triggered_by="schedule"),
        "failed_4": JobExecutionLogFactory(started_at=started(4), status=RunStatus.FAILED, traceback="Boom"),
        "errors_5": JobExecutionLogFactory(
            started_at=started(5), status=RunStatus.COMPLETED_WITH_ERRORS, error_count=2, errors=ERRORS
        ),
    }


def log_in(browser, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys("finance")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.find_element(By.ID, "user-tools")


def test_staff_finds_the_failed_invoices_of_a_run_in_the_browser(
    browser, live_server, run_history, django_user_model
):
    from selenium.webdriver.common.by import By

    django_user_model.objects.create_user(
        username="finance", password=PASSWORD, is_staff=True, is_superuser=True
    )
    log_in(browser, live_server.url)

    browser.find_element(By.LINK_TEXT, "Runs").click()
    assert "Scheduler:" in browser.find_element(By.ID, "scheduler-status").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 5

    status_filter = browser.find_element(By.CSS_SELECTOR, "details[data-filter-title='status']")
    status_filter.find_element(By.LINK_TEXT, "Completed with errors").click()
    ids = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody .field-id")]
    assert ids == [str(run_history["errors_5"].pk), str(run_history["errors_2"].pk)]

    browser.find_element(By.LINK_TEXT, str(run_history["errors_5"].pk)).click()
    rows = browser.find_elements(By.CSS_SELECTOR, "table.run-errors tbody tr")
    cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert cells == [[str(error["invoice_id"]), error["number"], error["error"]] for error in ERRORS]


DOCS = Path(__file__).resolve().parents[2] / "docs"


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """Where a test saves a picture: the docs' own copy only when asked (REFRESH_SCREENSHOTS=1), so that
    a test run leaves the tracked tree as it found it."""
    return DOCS / name if os.environ.get("REFRESH_SCREENSHOTS") == "1" else tmp_path / name


@pytest.fixture
def desk_data(transactional_db) -> date:
    """The demo's spread of invoices; a run three days ago and one today, then a dry run that looks a
    month ahead; reminders created over the last weeks, most of them delivered an hour later; a cluster
    alive and the schedule in place."""
    from django.utils import timezone

    from invoicing.services import demo_data_create
    from reminders.models import Message, MessageState, Notification
    from scheduler.services import overdue_check_run

    today = timezone.localdate()
    demo_data_create(customers=120, invoices=1500, seed=7, as_of=today)
    overdue_check_run(triggered_by=JobExecutionLog.Trigger.SCHEDULE, as_of=today - timedelta(days=3))
    overdue_check_run(triggered_by=JobExecutionLog.Trigger.COMMAND, as_of=today)
    overdue_check_run(
        triggered_by=JobExecutionLog.Trigger.COMMAND, as_of=today + timedelta(days=30), dry_run=True
    )
    now = timezone.now()
    for n, notification in enumerate(Notification.objects.select_related("invoice").order_by("id")):
        notification.created_at = now - timedelta(days=(n * 7) % 26, hours=2)
        if n % 5:
            notification.delivery = Message.objects.create(
                customer_id=notification.invoice.customer_id,
                recipient=notification.recipient,
                state=MessageState.SENT,
                sent_at=notification.created_at + timedelta(hours=1),
            )
        notification.save(update_fields=["created_at", "delivery"])
    save_heartbeat()
    create_check_schedule(next_run=now + timedelta(hours=6))
    return today


def screen_browser(width: int, height: int) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    flags += [f"--window-size={width},{height}", "--hide-scrollbars"]
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        for flag in [*flags, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        driver.implicitly_wait(5)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def laptop_browser() -> Iterator[object]:
    """The screen a clerk's laptop has: 1366 x 768."""
    yield from screen_browser(1366, 768)


def test_a_clerk_reads_the_aging_and_finds_a_reminder_by_customer_name(
    laptop_browser, live_server, desk_data, django_user_model, tmp_path
):
    from selenium.webdriver.common.by import By

    from invoicing.selectors import receivables_aging
    from reminders.models import Notification

    browser = laptop_browser
    django_user_model.objects.create_user(
        username="finance", password=PASSWORD, is_staff=True, is_superuser=True
    )
    log_in(browser, live_server.url)

    table = browser.find_element(By.ID, "aging-table")
    expected = receivables_aging(as_of=desk_data)
    assert len(expected) == 5
    for row in expected:
        line = table.find_element(By.CSS_SELECTOR, f"tr[data-currency='{row.currency}']")
        assert line.find_element(By.CSS_SELECTOR, "[data-field='total']").text == f"{row.total:,}"
        assert line.find_element(By.CSS_SELECTOR, "[data-field='count']").text == str(row.count)
        assert (
            line.find_element(By.CSS_SELECTOR, "[data-field='overdue']").text
            == f"{row.overdue.overdue.amount:,}"
        )
        paused = line.find_element(By.CSS_SELECTOR, "[data-field='overdue-paused']").text
        assert paused == f"{row.overdue.paused.amount:,}"
        for key, share in row.buckets.items():
            assert line.find_element(By.CSS_SELECTOR, f"[data-bucket='{key}']").text == f"{share.amount:,}"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#aging-table td.chart svg rect")) == 25
    assert "dry run" in browser.find_element(By.ID, "last-dry-run").text
    assert "dry run" not in browser.find_element(By.ID, "last-run").text
    # Nothing may wrap or spill sideways on this screen.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366
    # The README's picture: the whole dashboard at this width, down to the end of its last chart.
    bottom, chrome = browser.execute_script(
        "return [document.getElementById('finance-desk').getBoundingClientRect().bottom + window.scrollY,"
        " window.outerHeight - window.innerHeight]"
    )
    browser.set_window_size(1366, int(bottom + chrome) + 16)
    assert browser.save_screenshot(str(screenshot_path("dashboard.png", tmp_path)))
    browser.set_window_size(1366, 768)

    wanted = Notification.objects.select_related("invoice__customer").order_by("id").first()
    name = wanted.invoice.customer.name
    browser.find_element(By.LINK_TEXT, "Reminders").click()
    search = browser.find_element(By.ID, "searchbar")
    search.send_keys(name)
    search.submit()
    customers = {
        cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#result_list td.field-customer")
    }
    assert customers == {name}
    invoices = {
        cell.text
        for cell in browser.find_elements(
            By.CSS_SELECTOR, "#result_list th.field-invoice, #result_list td.field-invoice"
        )
    }
    assert wanted.invoice.number in invoices
