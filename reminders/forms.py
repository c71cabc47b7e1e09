"""The reminder template form of the admin (SPEC §10): a template that would not render is refused on save,
each error naming its field and line, and the same form carries what the preview needs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect

from invoicing.models import Customer, Invoice, language_choices
from reminders.models import ReminderTemplate
from reminders.rendering import template_errors


class ReminderTemplateForm(forms.ModelForm):
    preview_customer = forms.ModelChoiceField(
        queryset=Customer.objects.all(),
        required=False,
        label="Customer",
        help_text="Preview the template against this customer's open invoices (a sample invoice when empty).",
    )

    class Meta:
        model = ReminderTemplate
        fields = ["level", "language", "name", "subject", "text_body", "html_body"]
        labels = {"html_body": "HTML body"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The admin's own customer search, as on the invoice page: a list of every customer would not fit.
        field = self.fields["preview_customer"]
        field.widget = AutocompleteSelect(Invoice._meta.get_field("customer"), admin.site)
        field.widget.choices = field.choices  # type: ignore[attr-defined]  # a ModelChoiceField's
        for body in {"text_body", "html_body"} & set(self.fields):
            # A body is kept as written, its last line break too (a form field strips it by default).
            self.fields[body].strip = False  # type: ignore[attr-defined]

    def clean_subject(self) -> str:
        subject: str = self.cleaned_data["subject"]
        if "\n" in subject or "\r" in subject:
            raise forms.ValidationError("Subject: a subject is one line; remove the line break.")
        return self._renders("subject", html=False)

    def clean_text_body(self) -> str:
        return self._renders("text_body", html=False)

    def clean_html_body(self) -> str:
        return self._renders("html_body", html=True)

    def _renders(self, name: str, *, html: bool) -> str:
        # Browsers send a text area's lines ending in CR LF; the templates keep one kind of line break.
        source: str = self.cleaned_data[name].replace("\r\n", "\n")
        label = self.fields[name].label
        if errors := template_errors(source, html=html):
            raise forms.ValidationError([f"{label}: {error}" for error in errors])
        return source


class ReminderTemplatePreviewForm(ReminderTemplateForm):
    """The form as entered, checked as on save except that its level and language may be another
    template's: a preview of a new template for an existing level saves nothing. Level and language are
    the form's own fields, so the model's one-template-per-level-and-language constraint is not asked."""

    level = forms.IntegerField(min_value=1)
    language = forms.ChoiceField(choices=language_choices)

    class Meta(ReminderTemplateForm.Meta):
        fields = ["name", "subject", "text_body", "html_body"]
