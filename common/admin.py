from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Records that only the application writes (reminders, run logs, tokens): viewable, never edited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PlainCheckboxAdmin(admin.ModelAdmin):
    """A list with actions, its row checkboxes written as the HTML Django's checkbox widget renders, but
    without a template render per row: a third of a 100-row page's time."""

    def action_checkbox(self, obj: Any) -> SafeString:
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(gettext("Select this object for an action - {}"), str(obj)),
        )


SEARCH_IDS_READ_ONCE = 1000


def search_words(term: str) -> list[str]:
    """The words of a search as Django's admin splits them: on spaces, a quoted phrase one word."""
    words = []
    for word in smart_split(term):
        if word.startswith(('"', "'")) and word[0] == word[-1]:
            word = unescape_string_literal(word)
        words.append(word)
    return words


class IndexedSearchAdmin(admin.ModelAdmin):
    """A search by ``matching(words)``: a query of the ids it finds, built so that each part reads an
    index, instead of Django's ``OR`` of ``icontains`` across joined tables, which reads every row.
    ``search_fields`` only shows the search box: keep it naming what ``matching`` searches."""

    def matching(self, words: list[str]) -> QuerySet[Any, Any]:
        """The ``id`` rows of what the words find."""
        raise NotImplementedError(f"{type(self).__name__} names search_fields but not matching(words)")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        words = search_words(search_term)
        if not words:
            return queryset, False
        found = self.matching(words)
        # A list page filters, counts and totals what it found in several queries: read the ids once
        # when they are few, rather than search again in each.
        few = [row["id"] for row in found[: SEARCH_IDS_READ_ONCE + 1]]
        return queryset.filter(pk__in=few if len(few) <= SEARCH_IDS_READ_ONCE else found), False
