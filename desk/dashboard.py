"""The admin index as the finance desk's dashboard (SPEC §11): what it shows and its charts' geometry.

The charts are SVG drawn by the template from the rectangles computed here: no JavaScript, nothing
fetched from elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from common.display import count_of, grouped
from common.display import day as display_day
from invoicing.models import Customer
from invoicing.selectors import BUCKET_KEYS, CurrencyAging, receivables_aging
from reminders.monitoring import failed_deliveries_of_run
from reminders.selectors import DayActivity, reminders_per_day
from scheduler.dispatch import queued_overdue_checks
from scheduler.models import JobExecutionLog
from scheduler.status import SchedulerStatus, scheduler_status

ACTIVITY_DAYS = 30
ACTIVITY_WIDTH = 1000
AGING_BAR_WIDTH = 150
LAST_RUNS = 8
# Customers with a bad address listed; the rest are the admin's "address bounced" filter away.
BAD_ADDRESSES = 20
# From "not yet due" to "more than 90 days overdue": the older, the redder.
BUCKET_COLOURS = ("#2da44e", "#bf8700", "#d1700f", "#cf4a22", "#a40e26")
CREATED_COLOUR = "#0969da"
# The activity chart's labels are 14 units high in its 1000-unit-wide view box (common/desk.css): a digit
# or a separator takes at most 9 units of it.
AXIS_CHAR_WIDTH = 9
AXIS_GAP = 6
MIN_AXIS_MARGIN = 36
# A tick's date is centred under its day: the last day's needs half a date's width on its right.
TICK_HALF_WIDTH = 48
DELIVERED_COLOUR = "#1a7f37"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str
    value: str

    @property
    def middle(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class AgingChart:
    """One currency's open balance as a bar split by age, each part as long as its share."""

    aging: CurrencyAging
    bars: list[Bar]
    width: int = AGING_BAR_WIDTH
    height: int = 18


@dataclass(frozen=True)
class ActivityChart:
    days: list[DayActivity]
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    top: int
    created_total: int
    delivered_total: int
    left: int
    width: int = ACTIVITY_WIDTH
    height: int = 170
    baseline: int = 140

    @property
    def top_label(self) -> str:
        return grouped(self.top)

    @property
    def label_x(self) -> int:
        return self.left - AXIS_GAP


@dataclass(frozen=True)
class BadAddresses:
    """Customers whose address bounced (SPEC §14), newest first: reminders to them are cancelled."""

    customers: list[Customer]
    total: int


@dataclass(frozen=True)
class Dashboard:
    """Each part is ``None`` for a user without the view permission on what it shows."""

    as_of: date
    aging: list[AgingChart] | None
    activity: ActivityChart | None
    last_runs: list[JobExecutionLog] | None
    status: SchedulerStatus | None
    queued_runs: list[datetime]
    bad_addresses: BadAddresses | None = None

    @property
    def bucket_legend(self) -> list[tuple[str, str]]:
        return list(zip(BUCKET_KEYS, BUCKET_COLOURS, strict=True))

    @property
    def on_hold(self) -> list[CurrencyAging]:
        """The currencies with invoices on hold today (docs/SPEC.md §13)."""
        return [row.aging for row in self.aging or [] if row.aging.held.count]


def finance_dashboard(*, today: date, user: Any) -> Dashboard:
    sees_runs = user.has_perm("scheduler.view_jobexecutionlog")
    return Dashboard(
        as_of=today,
        aging=_aging(today) if user.has_perm("invoicing.view_invoice") else None,
        activity=_activity(today) if user.has_perm("reminders.view_notification") else None,
        last_runs=_last_runs() if sees_runs else None,
        status=scheduler_status() if sees_runs else None,
        queued_runs=queued_overdue_checks() if sees_runs else [],
        bad_addresses=_bad_addresses() if user.has_perm("invoicing.view_customer") else None,
    )


def _bad_addresses() -> BadAddresses:
    suppressed = Customer.objects.email_suppressed()
    shown = list(suppressed.order_by("-email_suppressed_at", "id")[:BAD_ADDRESSES])
    total = len(shown) if len(shown) < BAD_ADDRESSES else suppressed.count()
    return BadAddresses(customers=shown, total=total)


def _last_runs() -> list[JobExecutionLog]:
    runs = JobExecutionLog.objects.annotate(failed_deliveries=failed_deliveries_of_run())
    return list(runs.order_by("-started_at", "-id")[:LAST_RUNS])


def _aging(today: date) -> list[AgingChart]:
    return [aging_chart(row) for row in receivables_aging(as_of=today)]


def _activity(today: date) -> ActivityChart:
    return activity_chart(
        reminders_per_day(first_day=today - timedelta(days=ACTIVITY_DAYS - 1), last_day=today)
    )


def short_amount(amount: Decimal) -> str:
    """``1.2M``, ``45.3k``, ``812``: what fits above a bar; the table beside it has the exact figure."""
    for limit, suffix in ((Decimal(10**9), "G"), (Decimal(10**6), "M"), (Decimal(10**3), "k")):
        if abs(amount) >= limit:
            return f"{amount / limit:.1f}{suffix}"
    return f"{amount:.0f}"


def aging_chart(aging: CurrencyAging, *, width: float = AGING_BAR_WIDTH) -> AgingChart:
    total = aging.total or Decimal(1)
    bars, x = [], 0.0
    for index, (key, share) in enumerate(aging.buckets.items()):
        length = float(share.amount / total) * width
        amount = f"{aging.currency} {grouped(share.amount)}"
        label = f"{key}: {amount}, {count_of(share.count, 'invoice')}"
        bars.append(Bar(x, 0, length, 18, BUCKET_COLOURS[index], label, short_amount(share.amount)))
        x += length
    return AgingChart(aging=aging, bars=bars)


def axis_margin(top: int) -> int:
    """The room left of the plot for the y-axis label of ``top`` (``1,234,567``): the label's width at
    the chart's font size, never less than room for three digits."""
    return max(MIN_AXIS_MARGIN, round(len(grouped(top)) * AXIS_CHAR_WIDTH) + AXIS_GAP + 2)


def activity_chart(days: list[DayActivity], *, plot_height: int = 115) -> ActivityChart:
    top = max([day.created for day in days] + [day.delivered for day in days] + [1])
    left = axis_margin(top)
    slot = (ACTIVITY_WIDTH - left - TICK_HALF_WIDTH) / max(len(days), 1)
    bars: list[Bar] = []
    ticks: list[tuple[float, str]] = []
    for index, day in enumerate(days):
        x = left + index * slot
        series = (
            (0.1, day.created, CREATED_COLOUR, "created"),
            (0.5, day.delivered, DELIVERED_COLOUR, "delivered"),
        )
        for offset, count, colour, what in series:
            height = count / top * plot_height
            label = f"{day.day}: {grouped(count)} {what}"
            bars.append(
                Bar(x + offset * slot, 140 - height, slot * 0.4, height, colour, label, grouped(count))
            )
        if (len(days) - 1 - index) % 7 == 0:  # a tick a week, ending on today
            ticks.append((x + slot / 2, display_day(day.day)))
    return ActivityChart(
        days=days,
        bars=bars,
        ticks=ticks,
        top=top,
        left=left,
        created_total=sum(day.created for day in days),
        delivered_total=sum(day.delivered for day in days),
    )
