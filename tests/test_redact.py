"""redact(): secrets and SSN/card shapes leave every message masked; ordinary figures survive."""

from __future__ import annotations

import pytest

from vtigercrm_sync.syncer.plan import Message, RecordIssue, RecordRef
from vtigercrm_sync.syncer.redact import MASK, redact


def test_known_secrets_are_masked_wherever_they_appear():
	text = "Validation failed for 123456789 (also 123-45-6789, 123 45 6789) and card 4111-1111-1111-1111"
	masked = redact(text, ["123-45-6789", "4111111111111111"])
	for secret in ("123456789", "123-45-6789", "123 45 6789", "4111-1111-1111-1111", "6789"):
		assert secret not in masked
	assert masked.count(MASK) == 4
	assert masked.startswith("Validation failed for ***")


def test_non_numeric_secrets_are_masked_literally():
	masked = redact("login as vtiger with p@ss:w/rd%40 failed", ["p@ss:w/rd%40", ""])
	assert masked == "login as vtiger with *** failed"


@pytest.mark.parametrize(
	"text",
	[
		"SSN 987-65-4321 rejected",
		"SSN 987654321 rejected",
		"card 5500 0000 0000 0004 declined",
		"card 5500000000000004 declined",
		"amex 3782-822463-10005",
	],
)
def test_ssn_and_card_shapes_are_masked_without_being_told(text):
	masked = redact(text)
	assert MASK in masked
	digits = "".join(ch for ch in masked if ch.isdigit())
	assert len(digits) == 0, masked


@pytest.mark.parametrize(
	"text",
	[
		"Sales Order SO1234 dated 2025-01-15 10:00:00",
		"record 4711 modified 15/01/2025, line 3 qty 12.500",
		"phone +1 305 555 0100",
		"total 1234567.89 USD",
		"watermark 2025-01-15 10:00:00#123",
	],
)
def test_dates_amounts_and_small_ids_are_kept(text):
	assert redact(text) == text


@pytest.mark.parametrize(
	"text",
	[
		"watermark 2025-01-15 10:00:00#123456789",
		"Customer with VTiger ID acceptance/123456789 was not synced",
		"acceptance/123456789:dependent-2 refused",
	],
)
def test_nine_digit_vtiger_ids_after_a_hash_or_slash_are_kept(text):
	assert redact(text) == text


def test_record_ids_in_engine_messages_survive_and_an_ssn_beside_them_does_not():
	issue = RecordIssue(
		RecordRef("Accounts", 123456789), "customer", "tax_id", Message("{value} refused", value="987654321")
	)
	assert redact(issue.message) == "Accounts #123456789, customer.tax_id: *** refused"


def test_longest_secret_first():
	# The short secret is a suffix of the long one: the long one must be masked whole.
	masked = redact("token abc123456789", ["6789", "abc123456789"])
	assert masked == "token ***"
