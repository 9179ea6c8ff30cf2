"""What VTiger holds, in bulk, for checking ERPNext against it: live and deleted ids, and each order's money.

Plain Python, SELECT only. Each function reads a whole module in one or two queries (no per-record round trip),
so the reconciliation report answers in seconds at 50,000 orders; the comparison with ERPNext (another database,
maybe another server) is made in Python over these results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vtigercrm_sync import models as m

CENT = Decimal("0.01")


@dataclass(frozen=True)
class OrderMoney:
	"""An order as VTiger's UI shows it: its total rounded half up to the cent, currency and number of lines."""

	total: Decimal
	currency: str
	lines: int


def record_states(session: Session, module: str) -> dict[int, bool]:
	"""crmid -> deleted (True when in the Recycle Bin) for every record of ``module`` VTiger still has; a purged
	record is absent."""
	e = m.CrmEntity.__table__
	rows = session.execute(select(e.c.crmid, e.c.deleted).where(e.c.setype == module))
	return {crmid: bool(deleted) for crmid, deleted in rows}


def order_money(session: Session, crmids: Iterable[int] | None = None) -> dict[int, OrderMoney]:
	"""The live orders' totals, currencies and line counts (all of them, or those of ``crmids``)."""
	so, e, c = m.SalesOrder.__table__, m.CrmEntity.__table__, m.CurrencyInfo.__table__
	lines = m.InventoryProductRel.__table__
	counted = (
		select(lines.c.id.label("id"), func.count().label("lines")).group_by(lines.c.id).subquery("counted")
	)
	query = (
		select(so.c.salesorderid, so.c.total, c.c.currency_code, counted.c.lines)
		.join(e, e.c.crmid == so.c.salesorderid)
		.outerjoin(c, c.c.id == so.c.currency_id)
		.outerjoin(counted, counted.c.id == so.c.salesorderid)
		.where(e.c.deleted == 0)
	)
	wanted = None if crmids is None else sorted(set(crmids))
	if wanted is not None and not wanted:
		return {}
	money = {}
	for start in range(0, len(wanted) if wanted else 1, 5000):
		page = query if wanted is None else query.where(so.c.salesorderid.in_(wanted[start : start + 5000]))
		for crmid, total, currency, count in session.execute(page):
			money[crmid] = OrderMoney(
				Decimal(total or 0).quantize(CENT, rounding=ROUND_HALF_UP), currency or "", count or 0
			)
	return money
