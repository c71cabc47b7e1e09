from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"
    verbose_name = "Reminders"

    def ready(self) -> None:
        from anymail.signals import tracking

        from reminders import checks  # noqa: F401  (registers the system checks)
        from reminders.tracking import on_tracking_event

        # A provider's bounces, complaints and deliveries, from its webhook (SPEC §14).
        tracking.connect(on_tracking_event, dispatch_uid="reminders.tracking")
