from django.contrib.admin.apps import AdminConfig


class FinanceDeskAdminConfig(AdminConfig):
    """Django's admin with the finance desk as its site: the dashboard on the index page (SPEC §11)."""

    default_site = "desk.admin_site.FinanceDeskSite"
