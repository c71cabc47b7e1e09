from django.urls import path, re_path

from api import views

app_name = "scheduler-api"

urlpatterns = [
    path("status", views.SchedulerStatusView.as_view(), name="status"),
    path("health", views.HealthView.as_view(), name="health"),
    path("executions", views.ExecutionListView.as_view(), name="execution-list"),
    re_path(r"^executions/(?P<pk>[^/]+)$", views.ExecutionDetailView.as_view(), name="execution-detail"),
    path("run", views.RunNowView.as_view(), name="run"),
]
