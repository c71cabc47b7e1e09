from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    verbose_name = "Overdue check scheduler"

    def ready(self) -> None:
        from reminders import outbox
        from scheduler import checks  # noqa: F401  (registers the system checks)
        from scheduler.models import JobExecutionLog, RunStatus

        # A run's reminders wait until it has finished, so they go out together (SPEC §10 "Statements").
        outbox.unfinished_runs = lambda: JobExecutionLog.objects.filter(status=RunStatus.RUNNING).values("pk")
