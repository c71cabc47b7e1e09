"""The API's per-user throttle (``API_THROTTLE_RATE``): DRF's, its request history in the ``throttle``
cache, which every web process and thread shares (config/settings.py, CACHES)."""

from __future__ import annotations

from django.core.cache import BaseCache, caches
from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    @property
    def cache(self) -> BaseCache:  # type: ignore[override]  # DRF's: the default cache, fixed at import
        return caches["throttle"]
