"""Keep SSNs, card numbers and passwords out of every message a run produces.

Known secrets of the record are replaced wherever they appear (also with separators stripped), and anything shaped
like an SSN or a card number is masked as a second line of defence, e.g. a value echoed back by a validation error.
Nine digits after ``#`` or ``/`` are a VTiger id (``Accounts #123456789``, ``prod/123456789``), not an SSN.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SSN_SHAPE = re.compile(r"(?<![\d#/])\d{3}[- ]?\d{2}[- ]?\d{4}(?!\d)")
CARD_SHAPE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
MASK = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
	for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
		text = text.replace(secret, MASK)
		digits = re.sub(r"\D", "", secret)
		if len(digits) >= 4:
			text = re.sub(r"[\s-]?".join(re.escape(d) for d in digits), MASK, text)
	text = CARD_SHAPE.sub(MASK, text)
	return SSN_SHAPE.sub(MASK, text)
