from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def grouped(amount: Decimal) -> str:
    """``518452.84`` as ``518,452.84``: thousands grouped, the currency's minor units kept."""
    return f"{amount:,}"
