import factory

from reminders.models import Message, MessageState, Notification
from tests.invoicing.factories import InvoiceFactory
from tests.scheduler.factories import JobExecutionLogFactory


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    invoice = factory.SubFactory(InvoiceFactory)
    threshold_days = 1
    level = 1
    days_overdue = factory.LazyAttribute(lambda n: n.threshold_days)
    recipient = factory.LazyAttribute(lambda n: n.invoice.customer.email)
    message = "Reminder"
    run_id = factory.LazyFunction(lambda: JobExecutionLogFactory().pk)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    customer = factory.SubFactory("tests.invoicing.factories.CustomerFactory")
    recipient = factory.LazyAttribute(lambda m: m.customer.email)
    state = MessageState.PENDING


def delivered(notification: Notification, **fields: object) -> Notification:
    """``notification`` carried by a message of one with ``fields`` (state, sent_at, …)."""
    message = MessageFactory(customer=notification.invoice.customer, **fields)
    Notification.objects.filter(pk=notification.pk).update(delivery=message)
    notification.refresh_from_db()
    return notification
