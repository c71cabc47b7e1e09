from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsActiveStaff(BasePermission):
    """An authenticated, active staff user: read from the database on every request, so a user who
    loses staff status is refused at once, whatever tokens they hold."""

    message = "Only active staff users may use this API."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)
