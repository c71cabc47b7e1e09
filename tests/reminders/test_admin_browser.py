"""The reminders admin in a real browser: staff reword a reminder (a syntax error is shown with its line,
the preview shows the unsaved wording for a customer's open invoices, saving keeps it), and pause
sending before going live."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from invoicing.models import SHIPPED_LANGUAGE
from reminders.models import ReminderTemplate
from reminders.selectors import sending_paused
from tests.desk.test_browser import MISSING, PASSWORD, log_in, screen_browser
from tests.invoicing.factories import CustomerFactory, InvoiceFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        bool(MISSING), reason=f"no browser: {', '.join(MISSING)} missing (install with .ci/install-browser)"
    ),
]

BROKEN = (
    "Dear {{ customer.name }},\n\n"
    "{% if days_overdue > 30 %}this is urgent.\n{% endfi %}\n"
    "Please pay {{ balance }} for invoice {{ invoice.number }}.\n"
)
FIXED = BROKEN.replace("{% endfi %}", "{% endif %}")


@pytest.fixture
def laptop_browser() -> Iterator[object]:
    yield from screen_browser(1366, 768)


@pytest.fixture
def firm_template(transactional_db) -> ReminderTemplate:
    """The shipped level 2 template in the shipped language (a transactional test cannot count on the
    data migration's rows being there, nor on their being gone: the German one may be there too)."""
    template, _ = ReminderTemplate.objects.update_or_create(
        level=2,
        language=SHIPPED_LANGUAGE,
        defaults={
            "name": "Firm reminder",
            "subject": "Second reminder: invoice {{ invoice.number }} is {{ days_overdue }} days overdue",
            "text_body": "Dear {{ customer.name }},\n\nplease pay {{ balance }}.\n",
            "html_body": "<p>Dear {{ customer.name }},</p>\n<p>Please pay <b>{{ balance }}</b>.</p>",
        },
    )
    return template


@pytest.fixture
def customer(transactional_db):
    from django.utils import timezone

    today = timezone.localdate()
    acme = CustomerFactory(name="Acme & Sons", email="ap@acme.example")
    InvoiceFactory(customer=acme, number="INV-A1", due_date=today - timedelta(days=40), total=Decimal("250"))
    InvoiceFactory(customer=acme, number="INV-A2", due_date=today - timedelta(days=12), total=Decimal("80"))
    return acme


def screenshot(browser, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    browser.save_screenshot(str(path))
    print(f"\nscreenshot: {path}")


def replace_text(browser, field_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    area = browser.find_element(By.ID, field_id)
    area.clear()
    area.send_keys(text)


def choose_customer(browser, name: str) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, ".field-preview_customer .select2-selection").click()
    browser.find_element(By.CSS_SELECTOR, ".select2-search__field").send_keys(name.split()[0])
    option = f"//li[contains(@class, 'select2-results__option') and starts-with(., '{name} <')]"
    browser.find_element(By.XPATH, option).click()


def test_staff_fix_a_syntax_error_preview_for_a_customer_and_save(
    laptop_browser, live_server, firm_template, customer, django_user_model, tmp_path
):
    from selenium.webdriver.common.by import By

    browser = laptop_browser
    django_user_model.objects.create_user(
        username="finance", password=PASSWORD, is_staff=True, is_superuser=True
    )
    log_in(browser, live_server.url)
    browser.find_element(By.LINK_TEXT, "Reminder templates").click()
    browser.find_element(By.LINK_TEXT, "Firm reminder").click()

    replace_text(browser, "id_text_body", BROKEN)
    browser.find_element(By.NAME, "_save").click()
    error = browser.find_element(By.CSS_SELECTOR, ".field-text_body .errorlist").text
    assert error.startswith("Text body: Line 4: ")
    assert "endfi" in error
    screenshot(browser, tmp_path, "1-syntax-error")

    replace_text(browser, "id_text_body", FIXED)
    choose_customer(browser, customer.name)
    browser.find_element(By.ID, "preview-button").click()
    browser.switch_to.frame("template-preview")
    subjects = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".preview-subject")]
    assert subjects == [
        "Subject Second reminder: invoice INV-A1 is 40 days overdue",
        "Subject Second reminder: invoice INV-A2 is 12 days overdue",
    ]
    texts = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".preview-text")]
    assert texts[0].startswith("Dear Acme & Sons,")
    assert "Please pay €250.00 for invoice INV-A1." in texts[0]
    frame = browser.find_element(By.CSS_SELECTOR, "iframe.preview-html")
    assert frame.get_attribute("sandbox") == ""
    browser.switch_to.default_content()
    browser.execute_script(
        "arguments[0].scrollIntoView()", browser.find_element(By.XPATH, "//h2[.='Preview']")
    )
    screenshot(browser, tmp_path, "2-preview")
    firm_template.refresh_from_db()
    assert firm_template.text_body != FIXED

    browser.find_element(By.NAME, "_save").click()
    assert "was changed successfully" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    firm_template.refresh_from_db()
    assert firm_template.text_body == FIXED
    screenshot(browser, tmp_path, "3-saved")


def test_staff_pause_sending_and_see_who_paused_it_and_when(
    laptop_browser, live_server, transactional_db, django_user_model, tmp_path
):
    from selenium.webdriver.common.by import By

    browser = laptop_browser
    django_user_model.objects.create_user(
        username="finance", password=PASSWORD, is_staff=True, is_superuser=True
    )
    log_in(browser, live_server.url)
    browser.find_element(By.LINK_TEXT, "Outbox switch").click()
    assert browser.find_element(By.ID, "sending-state").text.startswith("Sending is on")

    browser.find_element(By.NAME, "reason").send_keys("going live: checking the first run")
    browser.find_element(By.CSS_SELECTOR, "button[value=pause]").click()
    state = state_after_submit(browser, "Sending is paused")
    assert state.startswith("Sending is paused\nPaused by finance since ")
    assert "Reason: going live: checking the first run" in state
    assert sending_paused() is not None
    screenshot(browser, tmp_path, "4-sending-paused")

    browser.find_element(By.CSS_SELECTOR, "button[value=resume]").click()
    assert state_after_submit(browser, "Sending is on").startswith("Sending is on")
    assert sending_paused() is None


def state_after_submit(browser, expected: str, timeout: float = 10) -> str:
    """The switch's state once the page the form posted to has loaded (the click returns before it has)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def loaded(driver):
        text = driver.find_element(By.ID, "sending-state").text
        return text if text.startswith(expected) else False

    try:
        return WebDriverWait(browser, timeout).until(loaded)
    except Exception:
        return browser.find_element(By.ID, "sending-state").text
