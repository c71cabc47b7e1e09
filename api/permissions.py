from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class HasModelPermissions(IsActiveStaff):
    """Active staff holding the Django model permissions the view names per method in
    ``model_permissions`` (``view_*`` to read, ``add_*``/``change_*`` to write): the admin's rule, so the
    API and the admin agree on who sees and changes what. HEAD and OPTIONS need what GET needs."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        needed = required_permissions(view.model_permissions, request.method or "GET")
        missing = [name for name in needed if not request.user.has_perm(name)]
        if missing:
            self.message = f"This needs the permission(s) {', '.join(missing)}, which the token's user lacks."
            return False
        return True


def required_permissions(per_method: Mapping[str, Sequence[str]], method: str) -> Sequence[str]:
    read = per_method.get("GET", ())
    return per_method.get(method, read if method in ("HEAD", "OPTIONS") else ())
