"""Run outcome rules: counts, final status, progress throttling and progress text. No Frappe, no database."""

from __future__ import annotations

import itertools

import pytest

from vtigercrm_sync.syncer.observer.base import (
	FAILED,
	PARTIAL,
	SUCCESS,
	TIMED_OUT,
	Counts,
	ProgressThrottle,
	final_status,
	group_reasons,
	progress_payload,
	reason_of,
)


def counts(**values: int) -> Counts:
	result = Counts()
	for action, n in values.items():
		result.add(action.capitalize(), n)
	return result


def test_counts_add_actions():
	result = Counts(records_read=9)
	for action in ("Created", "Created", "Updated", "Skipped", "Failed", "Deleted", "Disabled", "Filtered"):
		result.add(action)
	result.add("Warning")
	result.add("records_read", 5)
	assert result.as_dict() == {
		"records_read": 9,
		"created": 2,
		"updated": 1,
		"skipped": 1,
		"failed": 1,
		"deleted": 2,
		"filtered": 1,
		"unchanged": 0,
	}
	assert result.written == 5


@pytest.mark.parametrize(
	("values", "status"),
	[
		({}, SUCCESS),
		({"created": 3, "skipped": 2}, SUCCESS),
		({"filtered": 4}, SUCCESS),
		({"created": 3, "failed": 1}, PARTIAL),
		({"skipped": 3, "failed": 1}, PARTIAL),
		({"deleted": 1, "failed": 2}, PARTIAL),
		({"failed": 2}, FAILED),
		({"failed": 2, "filtered": 5}, FAILED),
		({"failed": 1, "unchanged": 5}, PARTIAL),  # records left unread as unchanged did not fail
	],
)
def test_final_status_from_counts(values, status):
	assert final_status(counts(**values)) == status


def test_an_error_or_a_timeout_decides_the_status():
	done = counts(created=10)
	assert final_status(done, error="VTiger unreachable") == FAILED
	assert final_status(done, timed_out=True) == TIMED_OUT
	assert final_status(counts(failed=1), error="boom", timed_out=True) == TIMED_OUT


def test_throttle_lets_through_first_last_and_one_per_interval():
	throttle = ProgressThrottle(interval=0.5, started=100.0)
	total = 1000
	emitted = [done for done in range(1, total + 1) if throttle.should_emit(100.0 + done * 0.01, done, total)]
	# 10 seconds of work at one event per half second, plus the first and the last.
	assert emitted[0] == 1
	assert emitted[-1] == total
	assert 20 <= len(emitted) <= 22
	# Half a second is 50 steps; only the final event may come sooner.
	gaps = [b - a for a, b in itertools.pairwise(emitted[:-1])]
	assert all(gap >= 50 for gap in gaps)


def test_throttle_always_emits_the_end_even_within_the_interval():
	throttle = ProgressThrottle(interval=60)
	assert throttle.should_emit(0.0, 1, 3)
	assert not throttle.should_emit(1.0, 2, 3)
	assert throttle.should_emit(1.1, 3, 3)


def test_eta():
	throttle = ProgressThrottle(started=100.0)
	assert throttle.eta_seconds(110.0, 25, 100) == pytest.approx(30.0)
	assert throttle.eta_seconds(100.0, 0, 100) is None
	assert throttle.eta_seconds(110.0, 100, 100) is None


def test_progress_payload_has_figures_only_and_labels_documents():
	payload = progress_payload(1234, 5000, counts(created=1000, updated=200, skipped=30, failed=4), eta=125.4)
	assert payload == {
		"done": 1234,
		"total": 5000,
		"percent": 24.7,
		"documents": {"created": 1000, "updated": 200, "unchanged": 30, "failed": 4},
		"eta": 125,
	}
	assert progress_payload(0, 0, Counts(), None)["percent"] == 100


def test_log_lines_group_by_reason_without_what_is_particular_to_each_record():
	messages = [
		"Email IDs row 1: Email ID (email_id): chloé.17@example.org refused by ERPNext (not an e-mail address)",
		"Email IDs row 2: Email ID (email_id): søren.21@example.dk refused by ERPNext (not an e-mail address)",
		"SalesOrder #5512, sales_order.items[1].item_code: line 1 refers to VTiger product/service #99, which does not exist",
		"SalesOrder 7, sales_order.items[2].item_code: line 2 refers to VTiger product/service 12, which does not exist",
		"sales_order (Sales Order): VTiger applies VAT (tax1) 4.50 to this order",
	]
	assert group_reasons(messages) == [
		("Email IDs row #: Email ID (email_id): <e-mail> refused by ERPNext (not an e-mail address)", 2),
		(
			"sales_order.items[#].item_code: line # refers to VTiger product/service #, which does not exist",
			2,
		),
		("sales_order (Sales Order): VTiger applies VAT (tax1) # to this order", 1),
	]
	assert reason_of("") == ""


def test_a_group_keeps_the_field_and_the_names_its_lines_are_about():
	"""Issue 21: the group says as much as any of its lines: digits inside field names stay, a quoted entity
	name stays, a quoted value and the record's id go."""
	assert reason_of("Contacts #12, address.address_line1: address_line1 is empty") == (
		"address.address_line1: address_line1 is empty"
	)
	needs = "needs 'address', which VTiger does not have (or has deleted) for this record"
	assert reason_of(f"Contacts #12, contact.address: {needs}") == f"contact.address: {needs}"
	assert reason_of("Accounts 4, customer.customer_name: value 'Acme 2' is too long by 1,234.5") == (
		"customer.customer_name: value '…' is too long by #"
	)
