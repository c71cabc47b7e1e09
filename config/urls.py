from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/scheduler/", include("api.urls")),
    path("api/v1/receivables/", include("api.receivables")),
    path("api/v1/", include("api.books")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # A provider's tracking webhook (bounces, complaints, deliveries): /anymail/<esp>/tracking/,
    # protected by ANYMAIL_WEBHOOK_SECRET (docs/delivery.md "Bounces and complaints").
    path("anymail/", include("anymail.urls")),
]
