"""``vtigercrm-sync preview``: show the ERPNext documents a VTiger database would become, without Frappe.

The password never comes from the command line (where ``ps`` and shell history would keep it): it is read from an
environment variable or asked for at a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy.engine import make_url

from vtigercrm_sync.config.config import load_handler_config, load_mapping, load_preset, read_json
from vtigercrm_sync.config.spec import PRESETS, STREAM_ORDER, MappingError
from vtigercrm_sync.database.engine import DEFAULT_PORT, ConnectionSettings, get_engine
from vtigercrm_sync.syncer.plan import BundleResult
from vtigercrm_sync.syncer.processor.base import PlanContext
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.services.query import ConnectionFailed, VTigerReader, Watermark, check_connection

PASSWORD_ENV = "VTIGER_PASSWORD"


def build_parser() -> argparse.ArgumentParser:
	parser = argparse.ArgumentParser(
		prog="vtigercrm-sync", description="Keep ERPNext in step with a VTiger CRM database."
	)
	commands = parser.add_subparsers(dest="command", required=True)
	preview = commands.add_parser("preview", help="show the documents a sync would create, writing nothing")
	source = preview.add_mutually_exclusive_group(required=True)
	source.add_argument(
		"--demo", action="store_true", help="use the small VTiger data set shipped with the package"
	)
	source.add_argument(
		"--url", help="SQLAlchemy URL without a password, e.g. mysql+pymysql://user@host:3306/vtiger"
	)
	source.add_argument("--host", help="VTiger database host")
	preview.add_argument("--port", type=int, default=DEFAULT_PORT)
	preview.add_argument("--user", help="database user (with --host)")
	preview.add_argument("--database", help="database name (with --host)")
	preview.add_argument(
		"--password-env",
		default=PASSWORD_ENV,
		help=f"environment variable holding the password (default {PASSWORD_ENV})",
	)
	preview.add_argument("--no-prompt", action="store_true", help="never prompt for a password")
	mapping = preview.add_mutually_exclusive_group()
	mapping.add_argument("--preset", choices=sorted(PRESETS), default="standard")
	mapping.add_argument("--mapping", help="path of a custom mapping JSON file")
	preview.add_argument(
		"--module", action="append", choices=STREAM_ORDER, help="only these streams (repeatable)"
	)
	preview.add_argument(
		"--since", help="watermark 'YYYY-MM-DD HH:MM:SS#crmid' to read after (default: everything)"
	)
	preview.add_argument("--limit", type=int, default=20, help="records per stream (default 20, 0 = all)")
	preview.add_argument("--batch-size", type=int, default=500)
	preview.add_argument("--format", choices=("table", "json"), default="table")
	return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
	out = out or sys.stdout
	args = build_parser().parse_args(argv)
	try:
		return run_preview(args, out)
	except (ConnectionFailed, MappingError, ValueError) as exc:
		print(f"error: {exc}", file=sys.stderr)
		return 2


def run_preview(args: argparse.Namespace, out: TextIO) -> int:
	mapping = (
		load_mapping(read_json(args.mapping), load_handler_config())
		if args.mapping
		else load_preset(args.preset)
	)
	if args.demo:
		from vtigercrm_sync.demo import demo_engine

		engine = demo_engine()
		server = "demo data set (SQLite)"
	else:
		settings = connection_settings(args)
		server = f"{check_connection(settings)} at {settings.describe()}"
		engine = get_engine(settings)
	reader = VTigerReader.from_engine(engine, mapping, batch_size=args.batch_size)
	planner = BundlePlanner(
		reader.mapping, PlanContext(hash_key=secrets.token_bytes(32)), load_handler_config()
	)
	modules = [
		m for m in STREAM_ORDER if m in reader.mapping.streams and (not args.module or m in args.module)
	]
	until = reader.signpost()
	since = Watermark.parse(args.since)
	results: list[BundleResult] = []
	deleted: list[str] = []
	for module in modules:
		taken = 0
		for batch in reader.iter_changes(module, since, until):
			bundles = batch.bundles if not args.limit else batch.bundles[: args.limit - taken]
			results.extend(planner.plan_all(bundles))
			deleted.extend(str(ref) for ref in batch.deleted)
			taken += len(bundles)
			if args.limit and taken >= args.limit:
				break
	if args.format == "json":
		json.dump(
			{
				"server": server,
				"preset": mapping.preset,
				"records": [as_json(r) for r in results],
				"deleted": deleted,
			},
			out,
			indent=2,
			ensure_ascii=False,
			default=_json_default,
		)
		out.write("\n")
	else:
		print_table(server, mapping.preset, results, deleted, out)
	return 0


def connection_settings(args: argparse.Namespace) -> ConnectionSettings:
	if args.url:
		url = make_url(args.url)
		if url.password:
			raise ValueError(
				f"do not put the password in --url; set {args.password_env} or answer the prompt"
			)
		settings = ConnectionSettings.from_url(url)
	else:
		if not (args.user and args.database):
			raise ValueError("--host needs --user and --database")
		settings = ConnectionSettings(host=args.host, port=args.port, user=args.user, database=args.database)
	password = os.environ.get(args.password_env)
	if password is None and not args.no_prompt and sys.stdin.isatty():
		password = getpass.getpass(f"Password for {settings.describe()}: ")
	return ConnectionSettings(**{**settings.__dict__, "password": password or ""})


def as_json(result: BundleResult) -> dict[str, Any]:
	return {
		"record": str(result.source),
		"filtered": result.filtered,
		"plans": [
			{
				"entity": p.entity,
				"doctype": p.doctype,
				"vtiger_id": p.vtiger_id,
				"match": p.match,
				"values": p.values,
				"children": p.children,
				"links": [
					{"kind": x.kind, "doctype": x.doctype, "vtiger_id": x.vtiger_id, "field": x.fieldname}
					for x in p.links
				],
				"encrypted_fields": sorted(p.secrets),
			}
			for p in result.plans
		],
		"issues": [{"severity": i.severity, "message": i.message} for i in result.issues],
	}


def print_table(
	server: str, preset: str, results: list[BundleResult], deleted: list[str], out: TextIO
) -> None:
	rows = [("RECORD", "ACTION", "DOCTYPE", "VTIGER ID", "SUMMARY")]
	for result in results:
		record = str(result.source)
		if result.filtered:
			rows.append((record, "filtered", "", "", result.filtered))
			continue
		if result.failed:
			rows.append((record, "FAIL", "", "", ""))
		else:
			for plan in result.plans:
				rows.append((record, "plan", plan.doctype, plan.vtiger_id, _summary(plan.values, plan.links)))
		for issue in result.issues:
			rows.append((record, issue.severity, "", "", issue.message))
	rows.extend((ref, "deleted", "", "", "deleted in VTiger") for ref in deleted)
	widths = [min(max(len(r[i]) for r in rows), 40) for i in range(4)]
	print(f"VTiger: {server}\nPreset: {preset}\n", file=out)
	for row in rows:
		cells = [row[i][: widths[i]].ljust(widths[i]) for i in range(4)]
		print("  ".join([*cells, row[4]]), file=out)
	plans = sum(len(r.plans) for r in results if not r.failed and not r.filtered)
	failed = sum(1 for r in results if r.failed)
	print(
		f"\n{len(results)} records: {plans} documents planned, {failed} records failed, {len(deleted)} deleted",
		file=out,
	)


def _summary(values: dict[str, Any], links: Sequence[Any]) -> str:
	shown = [f"{k}={_short(v)}" for k, v in values.items() if v not in (None, "", 0)][:4]
	shown += [f"{link.fieldname or link.kind}->{link.doctype} {link.vtiger_id}" for link in links][:2]
	return ", ".join(shown)


def _short(value: Any) -> str:
	text = _json_default(value) if isinstance(value, Decimal | date | datetime) else str(value)
	return text if len(text) <= 30 else text[:29] + "…"


def _json_default(value: Any) -> Any:
	if isinstance(value, Decimal):
		return str(value)
	if isinstance(value, date | datetime):
		return value.isoformat()
	raise TypeError(f"cannot serialise {type(value).__name__}")
