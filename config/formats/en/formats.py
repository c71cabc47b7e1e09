"""The desk's one date and one datetime format (the locale's own would mix "Feb. 10, 2026" with ISO
dates on one page). Times are shown in TIME_ZONE, the zone of OVERDUE_INVOICE_TIMEZONE, with its
abbreviation."""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = DATE_FORMAT
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
MONTH_DAY_FORMAT = "F j"
YEAR_MONTH_FORMAT = "F Y"
