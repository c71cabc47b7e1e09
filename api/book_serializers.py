"""Shapes of the books API (docs/SPEC.md §12) for responses and the OpenAPI schema. Request bodies are
checked by ``invoicing.imports``' rules, not here, so a file and the API give the same messages."""

from __future__ import annotations

from rest_framework import serializers

from invoicing.models import Customer, HoldReason, Invoice, InvoiceStatus, Payment
from reminders.models import Notification

RESULTS = ["created", "updated", "unchanged"]
PAYMENT_RESULTS = ["created", "unchanged"]
AMOUNT = "A decimal string with a dot and at most the currency's minor units: 1234.50, JPY 1000."


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["reference", "name", "email", "reminders_paused", "language"]
        read_only_fields = fields


class CustomerPutSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)
    reminders_paused = serializers.BooleanField(required=False, default=False)
    language = serializers.CharField(
        required=False,
        help_text="The language of its reminders, one of LANGUAGES (en, de); LANGUAGE_CODE when left out.",
    )


class CustomerWrittenSerializer(CustomerSerializer):
    result = serializers.ChoiceField(choices=RESULTS, help_text="What the request did.")

    class Meta(CustomerSerializer.Meta):
        fields = ["result", *CustomerSerializer.Meta.fields]
        read_only_fields = fields


class ReminderSerializer(serializers.ModelSerializer):
    """A reminder with the delivery of the message that carries it (empty until a sender takes it)."""

    delivery_state = serializers.CharField(source="state", help_text="pending until a message carries it.")
    attempts = serializers.IntegerField(source="delivery.attempts", allow_null=True)
    sent_at = serializers.DateTimeField(source="delivery.sent_at", allow_null=True)
    last_error = serializers.CharField(source="delivery.last_error", allow_null=True)

    class Meta:
        model = Notification
        fields = [
            "threshold_days",
            "level",
            "days_overdue",
            "recipient",
            "message",
            "created_at",
            "delivery_state",
            "attempts",
            "sent_at",
            "cancel_reason",
            "last_error",
        ]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["reference", "amount", "paid_at", "recorded_at"]
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.reference", help_text="The customer's reference.")
    balance_due = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    reminders = ReminderSerializer(source="notifications", many=True, read_only=True)
    payments = PaymentSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "number",
            "customer",
            "issue_date",
            "due_date",
            "currency",
            "total",
            "amount_paid",
            "balance_due",
            "status",
            "reminders_held_until",
            "hold_reason",
            "hold_note",
            "payment_url",
            "payments",
            "reminders",
        ]
        read_only_fields = fields


class InvoiceFieldsSerializer(serializers.Serializer):
    issue_date = serializers.DateField(help_text="YYYY-MM-DD, 1900-01-01..9999-12-31.")
    due_date = serializers.DateField(help_text="Not before issue_date.")
    currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217, e.g. EUR.")
    total = serializers.CharField(help_text=f"0 or more. {AMOUNT}")
    amount_paid = serializers.CharField(
        required=False, default="0", help_text=f"0 or more, not above total. {AMOUNT}"
    )
    status = serializers.ChoiceField(choices=InvoiceStatus.choices)
    payment_url = serializers.CharField(
        required=False,
        default="",
        help_text="The pay link shown in its reminders: https://, or http:// on a loopback host; "
        "empty for none.",
    )


class InvoicePutSerializer(InvoiceFieldsSerializer):
    customer = serializers.CharField(help_text="The reference of an existing customer.")
    reminders_held_until = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="No reminder through this date (docs/SPEC.md §13); null ends a hold. Left out with "
        "hold_reason and hold_note: the hold stays as it is.",
    )
    hold_reason = serializers.ChoiceField(
        choices=HoldReason.choices, required=False, help_text="Required with reminders_held_until."
    )
    hold_note = serializers.CharField(required=False, allow_blank=True)


class InlineCustomerSerializer(serializers.Serializer):
    reference = serializers.CharField()
    name = serializers.CharField()
    email = serializers.EmailField()


class BulkInvoiceSerializer(InvoiceFieldsSerializer):
    number = serializers.CharField(max_length=50)
    customer = serializers.JSONField(
        help_text="An existing customer's reference, or the customer inline: "
        '{"reference": …, "name": …, "email": …} (created or updated with the invoice).'
    )


class BulkSerializer(serializers.Serializer):
    invoices = BulkInvoiceSerializer(many=True, help_text="1 to 1,000 invoices.")


class CountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class BulkWrittenSerializer(CountsSerializer):
    customers = CountsSerializer(help_text="The inline customers.")


class InvoiceWrittenSerializer(InvoiceSerializer):
    result = serializers.ChoiceField(choices=RESULTS, help_text="What the request did.")

    class Meta(InvoiceSerializer.Meta):
        fields = ["result", *InvoiceSerializer.Meta.fields]
        read_only_fields = fields


class PaymentPostSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="The payment's id in the books or the bank: its key.")
    amount = serializers.CharField(help_text=f"Above 0, not above the balance due. {AMOUNT}")
    paid_at = serializers.DateTimeField(help_text="ISO 8601; without an offset, in TIME_ZONE.")


class PaymentRecordedSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=PAYMENT_RESULTS, help_text="unchanged: this reference was recorded before."
    )
    payment = PaymentSerializer(help_text="The payment as first recorded.")
    invoice = InvoiceSerializer()


class FieldErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(required=False, help_text="Bulk only: the invoice's position, from 0.")
    field = serializers.CharField()
    value = serializers.JSONField()
    message = serializers.CharField(help_text="The rule the value breaks.")


class ValidationErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True)  # type: ignore[assignment]  # a field named errors
