"""A cron expression in words, for people reading a job table or a console. Pure.

Covers the shapes people write (every N minutes, hourly, daily, weekly, monthly and
intervals); anything else is spelled out field by field, never guessed.
"""

from __future__ import annotations

from scheduler.rules import intervals

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
        "Sunday")
MONTHS = ("", "January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def describe(expression: str) -> str:
    text = " ".join(expression.split())
    if intervals.is_interval(text):
        every = intervals.parse(text)
        return (f"every {_minutes(every.minutes)}, at minute {every.offset} of each interval")
    parts = text.split(" ")
    if len(parts) != 5:
        return text
    minute, hour, dom, month, dow = parts
    at = _clock(hour, minute)
    if dom == "*" and month == "*" and dow == "*":
        if hour == "*":
            if minute == "*":
                return "every minute"
            if minute.startswith("*/") and minute[2:].isdigit():
                return f"every {_minutes(int(minute[2:]))}"
            if minute.isdigit():
                return f"every hour at minute {int(minute)}"
        if hour.startswith("*/") and hour[2:].isdigit() and minute.isdigit():
            n = int(hour[2:])
            return f"every {n} hours at minute {int(minute)}" if n > 1 else \
                f"every hour at minute {int(minute)}"
        if at:
            return f"every day at {at}"
    if at and dom == "*" and month == "*" and _days(dow):
        return f"every {_days(dow)} at {at}"
    if at and dom.isdigit() and month == "*" and dow == "*":
        return f"on day {int(dom)} of every month at {at}"
    if at and dom.isdigit() and month.isdigit() and dow == "*" and 1 <= int(month) <= 12:
        return f"every year on {MONTHS[int(month)]} {int(dom)} at {at}"
    return f"minute {minute}, hour {hour}, day {dom}, month {month}, weekday {dow}"


def _minutes(n: int) -> str:
    if n == 1:
        return "minute"
    if n % 1440 == 0:
        return f"{n // 1440} days" if n > 1440 else "day"
    if n % 60 == 0:
        return f"{n // 60} hours" if n > 60 else "hour"
    return f"{n} minutes"


def _clock(hour: str, minute: str) -> str | None:
    if hour.isdigit() and minute.isdigit():
        return f"{int(hour):02d}:{int(minute):02d}"
    return None


def _days(dow: str) -> str | None:
    names = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0}
    items = []
    for item in dow.split(","):
        low = item.lower()
        if "-" in low:
            a, _, b = low.partition("-")
            ia, ib = names.get(a, int(a) if a.isdigit() else -1), \
                names.get(b, int(b) if b.isdigit() else -1)
            if not (0 <= ia <= 7 and 0 <= ib <= 7):
                return None
            items.append(f"{DAYS[ia]} to {DAYS[ib]}")
        elif low in names or (low.isdigit() and int(low) <= 7):
            items.append(DAYS[names[low] if low in names else int(low)])
        else:
            return None
    return ", ".join(items)
