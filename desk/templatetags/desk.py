from decimal import Decimal

from django import template

from common import display
from reminders.monitoring import failed_deliveries_note
from scheduler.models import JobExecutionLog

register = template.Library()


@register.filter
def grouped(number: Decimal | int) -> str:
    """``518452.84`` as ``518,452.84``, ``1151`` as ``1,151`` (``common.display.grouped``)."""
    return display.grouped(number)


@register.filter
def failed_deliveries(run: JobExecutionLog) -> str:
    """What a run annotated with ``failed_deliveries`` says beside its status: ``all 1,500 deliveries
    failed``."""
    return failed_deliveries_note(failed=run.failed_deliveries, created=run.notifications_created)  # type: ignore[attr-defined]
