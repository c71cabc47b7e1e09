from datetime import date, timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from scheduler.models import JobExecutionLog, RunStatus


class JobExecutionLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobExecutionLog

    status = RunStatus.COMPLETED
    triggered_by = JobExecutionLog.Trigger.COMMAND
    as_of = date(2026, 2, 1)
    batch_size = 100
    reminder_days = "1"
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyAttribute(lambda log: log.started_at + timedelta(seconds=2))
    host = "test-host"
    pid = 4242


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
