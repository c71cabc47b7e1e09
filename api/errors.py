from __future__ import annotations

from rest_framework import status
from rest_framework.exceptions import APIException


class InvalidQueryParameter(APIException):
    """400 whose message names the parameter, the value given and what is allowed."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid query parameter."
    default_code = "invalid_parameter"
