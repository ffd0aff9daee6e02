"""The ``version:`` key of project files (Rasa's training data format version)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from palaver.data.yaml_io import error_at, kind

logger = logging.getLogger(__name__)

LATEST_FORMAT_VERSION = "3.1"
VERSION_KEY = "version"

_VERSION_RE = re.compile(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$")


def _parse(version: str) -> tuple[int, ...] | None:
    match = _VERSION_RE.match(version.strip("\"'"))
    if match is None:
        return None
    return tuple(int(part) if part is not None else 0 for part in match.groups())


def is_readable(data: Mapping[str, Any], filename: str | None) -> bool:
    """Checks a file's ``version`` the way Rasa does.

    A missing or older version is read as the latest format; a newer one makes
    Rasa skip the file (with a warning), and so does this.

    An unquoted ``version: 3.1`` is a number, not a string; Rasa warns and
    drops such a data file, which silently loses training data. Palaver reads
    the file and warns once.

    Raises:
        ProjectDataError: if ``version`` is neither a string nor a number.
    """
    value = data.get(VERSION_KEY)
    if value is None:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        logger.warning(
            "%s: 'version' should be a quoted string like \"%s\", got the number %s; "
            "reading the file anyway",
            filename or "<string>",
            LATEST_FORMAT_VERSION,
            value,
        )
        value = str(value)
    if not isinstance(value, str):
        raise error_at(
            data,
            f"'version' must be a string like \"{LATEST_FORMAT_VERSION}\" (quoted), "
            f"got {kind(value)}",
            VERSION_KEY,
        )
    parsed = _parse(value)
    latest = _parse(LATEST_FORMAT_VERSION)
    if parsed is None or latest is None or parsed <= latest:
        return True
    logger.warning(
        "%s has format version %s, newer than the supported %s; the file is skipped",
        filename or "<string>",
        value,
        LATEST_FORMAT_VERSION,
    )
    return False
