"""The kit's real VTiger CRM 8.2 server (``../shared/vtiger-server``): start it, stop it, drive its web UI.

Plain Python (no pytest), so the pytest suite and later the Frappe suite can share it. The kit drops and
reloads the server's database on ``start``, so every session begins from a fresh install.

Settings (environment):
- VTIGER_SERVER_KIT: the kit folder, default <checkout>/../shared/vtiger-server
- read by the kit itself: VTIGER_PORT (8089), VTIGER_DB (vtiger_server), VTIGER_SERVER_DIR, and
  VTIGER_DB_HOST, VTIGER_DB_PORT, VTIGER_DB_USER, VTIGER_DB_PASSWORD (where it loads the database)
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shlex
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

DEFAULT_KIT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "vtiger-server"
START_TIMEOUT = 900  # the first start installs PHP from apt


class VTigerServerError(RuntimeError):
	"""The server could not be started or driven; the message says what failed and what to set."""


@dataclass(frozen=True)
class VTigerServer:
	"""The running server, as the kit's ``start`` printed it."""

	url: str
	username: str
	access_key: str = field(repr=False)
	password: str = field(repr=False)
	database: str

	def database_url(self) -> URL:
		"""SQLAlchemy URL of the server's own database, on the MariaDB server the kit loaded it into."""
		return URL.create(
			"mysql+pymysql",
			username=os.environ.get("VTIGER_DB_USER") or "root",
			password=os.environ.get("VTIGER_DB_PASSWORD") or None,
			host=os.environ.get("VTIGER_DB_HOST") or "127.0.0.1",
			port=int(os.environ.get("VTIGER_DB_PORT") or 3306),
			database=self.database,
			query={"charset": "utf8mb4"},
		)


def kit_script() -> Path:
	kit_dir = Path(os.environ.get("VTIGER_SERVER_KIT") or DEFAULT_KIT_DIR).expanduser()
	script = kit_dir / "vtiger-server"
	if not script.is_file():
		raise VTigerServerError(
			f"VTiger server kit not found: {script}. Set VTIGER_SERVER_KIT to the vtiger-server kit folder "
			"(shared/vtiger-server beside the checkout)."
		)
	return script


def start_server() -> VTigerServer:
	"""``vtiger-server start``; returns the server described by its KEY=VALUE lines."""
	script = kit_script()
	try:
		done = subprocess.run(
			[str(script), "start"], capture_output=True, text=True, timeout=START_TIMEOUT, check=False
		)
	except subprocess.TimeoutExpired:
		raise VTigerServerError(f"{script} start did not finish within {START_TIMEOUT} s") from None
	if done.returncode != 0:
		raise VTigerServerError(
			f"{script} start failed (exit {done.returncode}): {done.stderr.strip()[-2000:] or 'no message'}"
		)
	values = parse_env(done.stdout)
	missing = {"VTIGER_URL", "VTIGER_USER", "VTIGER_ACCESS_KEY", "VTIGER_DB"} - values.keys()
	if missing:
		raise VTigerServerError(f"{script} start printed no {', '.join(sorted(missing))}")
	return VTigerServer(
		url=values["VTIGER_URL"],
		username=values["VTIGER_USER"],
		access_key=values["VTIGER_ACCESS_KEY"],
		password=values.get("VTIGER_PASSWORD", ""),
		database=values["VTIGER_DB"],
	)


def stop_server() -> None:
	subprocess.run([str(kit_script()), "stop"], capture_output=True, text=True, timeout=60, check=False)


def state_dir() -> Path:
	"""Where the kit keeps the unpacked tree and ``run/`` (pid, logs, PHP sessions)."""
	return Path(
		os.environ.get("VTIGER_SERVER_DIR") or Path.home() / ".cache" / "vtiger82-server"
	).expanduser()


def end_web_service_sessions() -> int:
	"""Delete the PHP session files of logged-in web service sessions, as PHP's session garbage collector does
	after ``session.gc_maxlifetime``. Returns how many ended.
	"""
	ended = 0
	for path in (state_dir() / "run" / "sessions").glob("sess_*"):
		if "authenticatedUserId|s:" in path.read_text(errors="replace"):
			path.unlink()
			ended += 1
	return ended


def parse_env(stdout: str) -> dict[str, str]:
	"""The kit's ``KEY=VALUE`` lines (shell syntax: ``VTIGER_PASSWORD='...'`` is quoted)."""
	values = {}
	for line in stdout.splitlines():
		key, sep, value = line.partition("=")
		if sep and re.fullmatch(r"[A-Z_]+", key):
			values[key] = " ".join(shlex.split(value))
	return values


def _admin_ui(server: VTigerServer):
	"""An admin logged in to VTiger's web UI: ``post(data, query) -> (landed url, page)`` and the CSRF token."""
	opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
	index = server.url.rstrip("/") + "/index.php"

	def post(data: dict[str, str], query: str = "") -> tuple[str, str]:
		with opener.open(index + query, urllib.parse.urlencode(data).encode(), timeout=60) as response:
			return response.geturl(), response.read().decode("utf-8", "replace")

	_, page = post({"username": server.username, "password": server.password}, "?module=Users&action=Login")
	token = re.search(r'csrfMagicToken\s*=\s*"([^"]+)"', page)
	if not token:
		raise VTigerServerError(f"admin login to {index} failed: no CSRF token on the page after login")
	return post, token.group(1)


def create_user(server: VTigerServer, user_name: str, role_id: str, password: str) -> int:
	"""Create a non-admin user the way an admin does, in VTiger's web UI (the web service cannot: it rejects
	every ``roleid``). VTiger writes the user, its role link, access key and privilege files. Returns its id.
	"""
	post, token = _admin_ui(server)
	landed, _ = post(
		{
			"__vtrftk": token,
			"module": "Users",
			"action": "Save",
			"record": "",
			"user_name": user_name,
			"last_name": user_name.title(),
			"email1": f"{user_name}@example.org",
			"roleid": role_id,
			"is_admin": "",  # the form's unticked box: VTiger stores 'off'
			"user_password": password,
			"confirm_password": password,
			"status": "Active",
			"currency_id": "1",
			"time_zone": "UTC",
			"date_format": "yyyy-mm-dd",
			"language": "en_us",
		}
	)
	record = re.search(r"[?&]record=(\d+)", landed)
	if not record:
		raise VTigerServerError(
			f"creating user {user_name!r} through {index_of(server)} failed (landed on {landed})"
		)
	return int(record.group(1))


def index_of(server: VTigerServer) -> str:
	return server.url.rstrip("/") + "/index.php"


def add_custom_field(server: VTigerServer, module: str, label: str, block_id: int, length: int = 100) -> str:
	"""Add a text field to ``module`` the way a user does in VTiger's Layout Editor (Settings > Module Layouts >
	Add Custom Field), in the block ``block_id``. VTiger adds the ``cf_NNN`` column and the ``vtiger_field`` row;
	returns the column name."""
	return layout_editor(server)(module, label, block_id, length=length)


def layout_editor(server: VTigerServer) -> Callable[..., str]:
	"""``add(module, label, block_id, field_type="Text", length=100) -> column``: the Layout Editor's *Add Custom
	Field* under one admin login, for adding many fields (a login costs three times an added field).

	``field_type`` is the form's type (``Text``, ``Date``, ``Checkbox`` ...); VTiger ignores the length of the types
	that have none. VTiger names the column ``cf_<n>`` with ``n`` the next number of ``vtiger_field_seq`` and takes
	the number after it as the fieldid, so each field uses two numbers of that sequence."""
	post, token = _admin_ui(server)

	def add(module: str, label: str, block_id: int, field_type: str = "Text", length: int = 100) -> str:
		_, answer = post(
			{
				"__vtrftk": token,
				"module": "LayoutEditor",
				"parent": "Settings",
				"action": "Field",
				"mode": "add",
				"sourceModule": module,
				"blockid": str(block_id),
				"fieldType": field_type,
				"fieldLabel": label,
				"fieldLength": str(length),
				"mandatory": "O",  # the form's defaults: optional, mass-editable, not a summary or header field
				"masseditable": "1",
				"summaryfield": "0",
				"headerfield": "0",
				"quickcreate": "1",
				"fieldDefaultValue": "",
			}
		)
		try:
			result = json.loads(answer)
		except ValueError:
			raise VTigerServerError(
				f"the Layout Editor did not answer JSON adding {label!r}: {answer[:300]}"
			) from None
		if not result.get("success"):
			raise VTigerServerError(f"the Layout Editor refused {label!r}: {result.get('error')}")
		return result["result"]["name"]

	return add


class VTigerUI:
	"""An admin's clicks in VTiger's web UI (session cookie and CSRF token): delete a record, restore or purge
	it from the Recycle Bin, empty the Recycle Bin, unlink records in a related list. VTiger's own code writes
	every row, as it does for a user."""

	def __init__(self, server: VTigerServer):
		self._post, self._token = _admin_ui(server)

	def _ajax(self, data: dict[str, str]) -> Any:
		_, answer = self._post({"__vtrftk": self._token, **data})
		try:
			result = json.loads(answer)
		except ValueError:
			raise VTigerServerError(f"VTiger did not answer JSON to {data}: {answer[:300]}") from None
		if not result.get("success"):
			raise VTigerServerError(f"VTiger refused {data}: {result.get('error')}")
		return result.get("result")

	def duplicate_prevention(self, module: str, on: bool, field_ids: list[int]) -> None:
		"""Turn ``module``'s duplicate prevention on or off (Layout Editor, *Duplicate Prevention* tab), checking
		the fields ``field_ids`` (VTiger takes at most 3; none clears them)."""
		self._ajax(
			{
				"module": "LayoutEditor",
				"parent": "Settings",
				"action": "Field",
				"mode": "updateDuplicateHandling",
				"sourceModule": module,
				"rule": "0" if on else "1",  # vtiger_tab.allowduplicates
				"syncActionId": "1",
				**{f"fieldIdsList[{n}]": str(field_id) for n, field_id in enumerate(field_ids)},
			}
		)

	def delete(self, module: str, crmid: int) -> None:
		"""The record's Delete action (to the Recycle Bin)."""
		self._ajax({"module": module, "action": "Delete", "record": str(crmid), "ajaxDelete": "true"})

	def restore(self, module: str, *crmids: int) -> None:
		"""Recycle Bin > Restore."""
		self._ajax(
			{
				"module": "RecycleBin",
				"action": "RecycleBinAjax",
				"mode": "restoreRecords",
				"sourceModule": module,
				"selected_ids": json.dumps([str(i) for i in crmids]),
			}
		)

	def purge(self, module: str, *crmids: int) -> None:
		"""Recycle Bin > Delete (permanently)."""
		self._ajax(
			{
				"module": "RecycleBin",
				"action": "RecycleBinAjax",
				"mode": "deleteRecords",
				"sourceModule": module,
				"selected_ids": json.dumps([str(i) for i in crmids]),
			}
		)

	def unlink(self, module: str, crmid: int, related_module: str, *related: int) -> None:
		"""Unlink records in the record's related list (an account's Contacts)."""
		self._ajax(
			{
				"module": module,
				"action": "RelationAjax",
				"mode": "deleteRelation",
				"src_record": str(crmid),
				"related_module": related_module,
				"related_record_list": json.dumps([str(i) for i in related]),
			}
		)
