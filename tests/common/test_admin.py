"""The admin's shared pieces (common/admin.py)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.invoicing.factories import CustomerFactory, InvoiceFactory


@pytest.mark.parametrize("name", ["Plain Ltd", 'Müller & <Söhne> "GmbH"'])
def test_plain_checkbox_is_the_html_of_djangos_checkbox_widget(db, name):
    invoice = InvoiceFactory(number=name[:50])
    customer = CustomerFactory(name=name)
    for obj in (invoice, customer):
        model_admin = admin.site._registry[type(obj)]
        assert model_admin.action_checkbox(obj) == admin.ModelAdmin.action_checkbox(model_admin, obj)


def test_invoice_list_rows_carry_the_checkbox_the_actions_read(admin_client):
    invoice = InvoiceFactory()
    page = admin_client.get(reverse("admin:invoicing_invoice_changelist")).content.decode()
    assert 'id="action-toggle"' in page
    assert f'name="_selected_action" value="{invoice.pk}" class="action-select"' in page
