"""How late a VTiger save reaches ERPNext on the *Every minute (changes only)* schedule. Prints figures; asserts
nothing.

It starts the kit's real VTiger 8.2 (``tests/vtiger_server.py``; the kit reloads its database on start), makes
``--saves`` accounts through VTiger's web service and syncs them once (a connection as ``real_vtiger.py`` makes it), then puts the connection on the schedule
and starts, from the bench's ``sites`` directory, one real ``bench worker`` (all queues) and one real ``bench
schedule`` process (the scheduler's tick, 60 s unless ``scheduler_tick_interval`` says otherwise). It then saves
one account every ``--spread`` / ``--saves`` seconds through the web service (a new website) and polls ERPNext
every 0.5 s for the Customer carrying it: the delay of each save is the time from the web service's answer to the
poll that sees the value. It prints p50, p95 and the worst delay, the Sync Logs the schedule wrote, the cost of
one check that finds nothing, and the load average.

Use a site of its own (``frappe-bench site`` makes one) and no other test run on the same bench meanwhile (they
would share its queues):

    export FRAPPE_TEST_SITE=nrt.localhost
    ../shared/frappe-bench/frappe-bench site /path/to/checkout
    cd $FRAPPE_BENCH_DIR/bench/sites
    ../env/bin/python /path/to/checkout/benchmarks/near_real_time.py --site nrt.localhost

VTiger runs on VTIGER_PORT, database VTIGER_DB, state dir VTIGER_SERVER_DIR (``real_vtiger.py``'s defaults); it is
stopped at the end unless ``--keep-server``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CHECKOUT / "tests"))

import frappe
from frappe.installer import update_site_config
from frappe.utils import now_datetime
from real_vtiger import make_connection
from vtiger_server import start_server, stop_server

from vtigercrm_sync.constants import LOG_DOCTYPE, SCHEDULE_CHANGES, SETTING_DOCTYPE
from vtigercrm_sync.syncer.run.feed import changes_waiting
from vtigercrm_sync.syncer.run.job import run_sync
from vtigercrm_sync.syncer.services.webservice import VTigerWebService, WebServiceSettings


def processes() -> list[subprocess.Popen]:
	"""One real worker on every queue and one real scheduler, as a bench's Procfile runs them."""
	env = {key: value for key, value in os.environ.items() if key != "CI"}
	command = [sys.executable, "-m", "frappe.utils.bench_helper", "frappe"]
	return [
		subprocess.Popen(
			[*command, *args],
			env=env,
			start_new_session=True,
			stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL,
		)
		for args in (["worker"], ["schedule"])
	]


def percentile(values: list[float], share: float) -> float:
	ordered = sorted(values)
	return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", required=True)
	parser.add_argument("--saves", type=int, default=100)
	parser.add_argument("--spread", type=float, default=600, help="seconds over which the saves are spread")
	parser.add_argument("--keep-server", action="store_true")
	args = parser.parse_args()

	frappe.init(site=args.site, sites_path=".")
	frappe.connect()
	server = start_server()
	procs: list[subprocess.Popen] = []
	try:
		client = VTigerWebService(WebServiceSettings(server.url, server.username, server.access_key))
		client.login()
		accounts = [
			client.create(
				"Accounts",
				{
					"accountname": f"Latency {n} {frappe.generate_hash(length=4)}",
					"website": "start.example.org",
					"assigned_user_id": client.user_id,
				},
			)["id"]
			for n in range(args.saves)
		]
		name = make_connection(server)
		time.sleep(1.1)
		run_sync(name, trigger="CLI", user="Administrator")
		prefix = frappe.db.get_value(SETTING_DOCTYPE, name, "id_prefix")
		doc = frappe.get_doc(SETTING_DOCTYPE, name)
		started = time.perf_counter()
		checks = 20
		for _ in range(checks):
			assert not changes_waiting(doc), "the first sync left changes behind"
		check_ms = (time.perf_counter() - started) / checks * 1000

		for other in frappe.get_all(SETTING_DOCTYPE, filters={"name": ("!=", name)}, pluck="name"):
			frappe.db.set_value(SETTING_DOCTYPE, other, "schedule", "Off")  # an earlier run's: not measured
		frappe.db.set_value(SETTING_DOCTYPE, name, "schedule", SCHEDULE_CHANGES)
		frappe.db.set_single_value("System Settings", "enable_scheduler", 1)
		frappe.db.commit()
		update_site_config("pause_scheduler", 0)
		began = now_datetime()
		procs = processes()

		interval = args.spread / args.saves
		saved: dict[str, tuple[str, float]] = {}
		delays: dict[str, float] = {}
		t0 = time.monotonic()
		deadline = t0 + args.spread + 240
		n = 0
		while time.monotonic() < deadline and (n < args.saves or len(delays) < n):
			if n < args.saves and time.monotonic() >= t0 + n * interval:
				ws_id = accounts[n]
				site = f"s{n}-{frappe.generate_hash(length=6)}.example.org"
				client.revise({"id": ws_id, "website": site})
				saved[f"{prefix}{ws_id.split('x')[1]}"] = (site, time.monotonic())
				n += 1
				continue
			waiting = {vid: s for vid, s in saved.items() if vid not in delays}
			if waiting:
				frappe.db.rollback()  # see what the worker committed
				for row in frappe.get_all(
					"Customer", filters={"vtiger_id": ("in", list(waiting))}, fields=["vtiger_id", "website"]
				):
					site, at = waiting[row.vtiger_id]
					if (row.website or "").endswith(site):
						delays[row.vtiger_id] = time.monotonic() - at
			time.sleep(0.5)

		frappe.db.rollback()
		logs = frappe.get_all(
			LOG_DOCTYPE,
			filters={"connection": name, "started_at": (">=", began), "trigger": "Schedule"},
			fields=["status", "trigger", "records_read", "updated"],
		)
		values = list(delays.values())
		print(f"saves: {n} over {args.spread:.0f} s through VTiger's web service; landed: {len(values)}")
		if values:
			print(
				f"delay save -> ERPNext: p50 {percentile(values, 0.5):.1f} s, p95 {percentile(values, 0.95):.1f} s, "
				f"max {max(values):.1f} s, mean {statistics.mean(values):.1f} s"
			)
		print(
			f"runs the schedule started: {len(logs)}, "
			f"statuses {sorted({log.status for log in logs})}, records read {sum(log.records_read or 0 for log in logs)}, "
			f"updated {sum(log.updated or 0 for log in logs)}"
		)
		ticks = frappe.db.count(
			"Scheduled Job Log",
			{"scheduled_job_type": "tasks.start_changed_syncs", "creation": (">=", began)},
		)
		print(f"every-minute checks the scheduler ran: {ticks}; those that found nothing wrote no Sync Log")
		print(f"a check that finds nothing: {check_ms:.1f} ms (mean of {checks})")
		print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
	finally:
		for proc in procs:
			os.killpg(proc.pid, 15)
			proc.wait()
		update_site_config("pause_scheduler", 1)
		frappe.destroy()
		if not args.keep_server:
			stop_server()


if __name__ == "__main__":
	main()
