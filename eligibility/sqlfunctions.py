"""PostgreSQL functions the import SQL uses, given to SQLite so the same SQL runs on the
embedded demo database (Django already supplies REGEXP and LPAD there)."""

import functools
import re

from django.db.backends.signals import connection_created


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str, flags: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE if "i" in flags else 0)


def _regexp_replace(value, pattern, replacement, flags=""):
    if value is None:
        return None
    count = 0 if "g" in (flags or "") else 1
    return _compiled(pattern, flags or "").sub(replacement, value, count=count)


def _split_part(value, delimiter, index):
    if value is None:
        return None
    parts = value.split(delimiter)
    return parts[index - 1] if 0 < index <= len(parts) else ""


def _translate(value, source, target):
    if value is None:
        return None
    # PostgreSQL's translate(): characters of `source` beyond `target` are removed.
    table = {
        ord(ch): (target[i] if i < len(target) else None) for i, ch in enumerate(source)
    }
    return value.translate(table)


def _strpos(value, part):
    if value is None:
        return None
    return value.find(part) + 1


def _add_functions(sender, connection, **kwargs):
    if connection.vendor != "sqlite":
        return
    create = functools.partial(
        connection.connection.create_function, deterministic=True
    )
    create("regexp_replace", 3, _regexp_replace)
    create("regexp_replace", 4, _regexp_replace)
    create("split_part", 3, _split_part)
    create("translate", 3, _translate)
    create("strpos", 2, _strpos)


def register_sqlite_functions() -> None:
    connection_created.connect(
        _add_functions, dispatch_uid="eligibility_sqlite_functions"
    )
