"""Bank Card and Bank Account from payment custom fields.

The card number arrives as a sensitive field and leaves as its last four digits, a masked form and a brand; the
full number survives only when the connection opts into an encrypted field (``options.store_full_number``). A card
security code is refused when the mapping is loaded and so never reaches this module. A card that cannot be read is
left out with a warning (which never quotes it), so the rest of the policy still syncs.
"""

from __future__ import annotations

import re
from datetime import date

from dateutil import parser as date_parser

from vtigercrm_sync.config.transforms import is_empty
from vtigercrm_sync.syncer.plan import Message
from vtigercrm_sync.syncer.processor.base import Draft, EntityProcessor, SkipEntity
from vtigercrm_sync.syncer.services.query import Bundle

CARD_NUMBER = "card_number"
BRANDS = (
	("American Express", re.compile(r"^3[47]")),
	("Diners Club", re.compile(r"^3(0[0-5]|[68])")),
	("Discover", re.compile(r"^6(011|5|4[4-9])")),
	("JCB", re.compile(r"^35(2[89]|[3-8])")),
	("Mastercard", re.compile(r"^(5[1-5]|2(2[2-9]|[3-6]\d|7[01]|720))")),
	("Visa", re.compile(r"^4")),
)
SUBTYPES = {
	"debit": "Debit",
	"debito": "Debit",
	"débito": "Debit",
	"credit": "Credit",
	"credito": "Credit",
	"crédito": "Credit",
}


def card_brand(number: str) -> str:
	return next((brand for brand, pattern in BRANDS if pattern.match(number)), "Other")


def passes_luhn(number: str) -> bool:
	total = 0
	for position, char in enumerate(reversed(number)):
		digit = int(char)
		if position % 2:
			digit = digit * 2 - 9 if digit > 4 else digit * 2
		total += digit
	return total % 10 == 0


def mask_card(number: str) -> str:
	return "•••• " * 3 + number[-4:] if len(number) >= 12 else "•" * (len(number) - 4) + number[-4:]


def parse_expiry(value: object) -> tuple[int, int]:
	"""Month and four-digit year from ``MM/YY``, ``MM/YYYY``, ``MMYY``, ``YYYY-MM`` or a date."""
	if isinstance(value, date):
		return value.month, value.year
	text = str(value).strip()
	patterns = (
		(r"^(\d{1,2})\s*[/\-. ]\s*(\d{2}|\d{4})$", False),
		(r"^(\d{4})\s*[/\-.]\s*(\d{1,2})$", True),
		(r"^(\d{2})(\d{2})$", False),
	)
	for pattern, year_first in patterns:
		match = re.match(pattern, text)
		if match:
			first, second = (int(g) for g in match.groups())
			month, year = (second, first) if year_first else (first, second)
			break
	else:
		try:
			parsed = date_parser.parse(text)
		except (ValueError, OverflowError):
			raise ValueError(Message("card expiry is not a month and year"))
		month, year = parsed.month, parsed.year
	year = year + 2000 if year < 100 else year
	if not 1 <= month <= 12:
		raise ValueError(Message("card expiry month is not between 1 and 12"))
	return month, year


class BankCardProcessor(EntityProcessor):
	consumed_fields = frozenset({CARD_NUMBER, "expiry"})

	def adjust(self, draft: Draft, bundle: Bundle) -> None:
		raw = draft.secrets.pop(CARD_NUMBER, None)
		number = re.sub(r"\D", "", raw or "")
		if not number:
			raise SkipEntity()
		if not 12 <= len(number) <= 19 or not passes_luhn(number):
			raise SkipEntity(
				Message("card left out: the card number is not a valid card number"), CARD_NUMBER
			)
		values = draft.values
		values.update(card_last4=number[-4:], masked_number=mask_card(number), brand=card_brand(number))
		expiry = values.pop("expiry", None)
		if not is_empty(expiry):
			try:
				values["expiry_month"], values["expiry_year"] = parse_expiry(expiry)
			except ValueError as exc:
				raise SkipEntity(Message("card left out: {reason}", reason=exc.args[0]), "expiry")
		subtype = values.get("card_type")
		if not is_empty(subtype):
			values["card_type"] = SUBTYPES.get(str(subtype).strip().lower(), "Other")
		if self.spec.options.get("store_full_number"):
			draft.secrets[CARD_NUMBER] = number


class BankAccountProcessor(EntityProcessor):
	def adjust(self, draft: Draft, bundle: Bundle) -> None:
		values = draft.values
		if is_empty(values.get("bank")):
			raise SkipEntity(Message("bank account left out: VTiger has no bank name"), "bank")
		if is_empty(values.get("account_name")):
			values["account_name"] = values["bank"]
		values.setdefault("party_type", "Customer")
