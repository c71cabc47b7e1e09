import factory

from reminders.models import Notification
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
