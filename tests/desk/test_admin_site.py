import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_desk_names_reminders_and_runs_as_the_product_does(superuser_client):
    html = superuser_client.get(reverse("admin:index")).content.decode()
    reminders = reverse("admin:reminders_notification_changelist")
    runs = reverse("admin:scheduler_jobexecutionlog_changelist")
    assert f'<a href="{reminders}">Reminders</a>' in html
    assert f'<a href="{runs}">Runs</a>' in html
    assert "Notifications" not in html
    assert "Job execution" not in html
