"""A clerk imports the books' file in the admin in a real browser (1366 x 768): upload, read the preview,
confirm; and the list page keeps its own buttons beside Import and Export."""

from __future__ import annotations

from pathlib import Path

import pytest

from invoicing.imports import COLUMNS
from invoicing.models import Invoice, InvoiceStatus
from tests.desk import test_browser as browsers
from tests.desk.test_browser import PASSWORD, log_in, screenshot_path
from tests.invoicing.factories import CustomerFactory, InvoiceFactory

pytestmark = browsers.pytestmark

ROWS = [
    "C-1,Acme Industries,ap@acme.example,INV-1,2026-01-02,2026-02-01,EUR,100.00,100.00,paid",
    "C-1,Acme Industries,ap@acme.example,INV-2,2026-01-02,2026-02-01,EUR,50.00,0.00,sent",
    "C-2,Globex Trading,ap@globex.example,INV-3,2026-01-05,2026-02-04,EUR,75.00,0.00,sent",
]


@pytest.fixture
def laptop_browser():
    """The screen a clerk's laptop has: 1366 x 768."""
    yield from browsers.screen_browser(1366, 768)


@pytest.mark.django_db(transaction=True)
def test_a_clerk_previews_and_confirms_an_import(laptop_browser, live_server, django_user_model, tmp_path):
    from selenium.webdriver.common.by import By

    customer = CustomerFactory(reference="C-1", name="Acme Industries", email="ap@acme.example")
    for number, total in (("INV-1", "100.00"), ("INV-2", "50.00")):
        InvoiceFactory(
            number=number, customer=customer, total=total, issue_date="2026-01-02", due_date="2026-02-01"
        )
    django_user_model.objects.create_user(
        username="finance", password=PASSWORD, is_staff=True, is_superuser=True
    )
    upload = Path(tmp_path) / "invoices.csv"
    upload.write_text("\n".join([",".join(COLUMNS), *ROWS]) + "\n")

    browser = laptop_browser
    log_in(browser, live_server.url)
    browser.get(f"{live_server.url}/admin/invoicing/invoice/")
    tools = [link.text for link in browser.find_elements(By.CSS_SELECTOR, ".object-tools a")]
    assert {"IMPORT", "EXPORT", "OVERDUE INVOICES AS CSV", "AGING AS CSV"} <= {text.upper() for text in tools}
    assert browser.save_screenshot(str(screenshot_path("invoice-list-import-export.png", tmp_path)))

    bad = Path(tmp_path) / "bad.csv"
    bad.write_text("\n".join([",".join(COLUMNS), *ROWS[:2], ROWS[2].replace("EUR", "EURO")]) + "\n")
    choose(browser, bad)
    errors = browser.find_element(By.ID, "invoice-import-errors").text
    assert "line 4, currency: 'EURO' is not an ISO 4217 currency code" in errors
    assert not browser.find_elements(By.CSS_SELECTOR, "form[action$='process_import/']")
    assert browser.save_screenshot(str(screenshot_path("invoice-import-errors.png", tmp_path)))

    choose(browser, upload)
    rows = browser.find_elements(
        By.CSS_SELECTOR,
        "#invoice-import-preview tr.new, #invoice-import-preview tr.update, #invoice-import-preview tr.skip",
    )
    changes = [row.find_element(By.CSS_SELECTOR, "td.import-type").text for row in rows]
    assert changes == ["update", "unchanged", "new"]
    assert "sent → paid" in browser.find_element(By.ID, "invoice-import-preview").text
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366
    assert browser.save_screenshot(str(screenshot_path("invoice-import-preview.png", tmp_path)))
    assert not Invoice.objects.filter(number="INV-3").exists()

    browser.find_element(By.CSS_SELECTOR, "form[action$='process_import/'] input[type=submit]").click()
    browser.find_element(By.ID, "changelist")
    assert Invoice.objects.get(number="INV-1").status == InvoiceStatus.PAID
    assert Invoice.objects.filter(number="INV-3").exists()


def choose(browser, path: Path) -> None:
    """Open Import from the invoice list and upload ``path`` as CSV."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(browser.current_url.split("/admin/")[0] + "/admin/invoicing/invoice/")
    browser.find_element(By.CSS_SELECTOR, ".object-tools a.import_link").click()
    browser.find_element(By.NAME, "import_file").send_keys(str(path))
    Select(browser.find_element(By.NAME, "format")).select_by_visible_text("csv")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
