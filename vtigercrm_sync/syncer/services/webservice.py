"""A small client for VTiger's own web service (``webservice.php``): the only way the app writes to VTiger.

The app reads VTiger over SQL, but every write goes through VTiger itself, so VTiger keeps its counters,
record numbers, labels, ModTracker history and extension rows right. Plain Python, standard library only.

What VTiger 8.2 does, and this client relies on:
- Values come back as strings, whatever the field type (``"0"``, ``"0.00000000"``, ``""`` for empty). They
  are returned untouched: converting is the caller's business, with the field metadata from :meth:`describe`.
- Text is stored as sent (no HTML encoding in the module tables); only the ``label`` of a record comes back
  HTML-encoded (``Ł&oacute;dź``). The tables are utf8mb3: text outside the BMP (emoji) would be stored as
  ``?``, so :meth:`create` and :meth:`revise` refuse it before sending.
- Sessions are PHP session files. VTiger's own idle and lifetime limits never fire (HTTP_Session2 is given
  them before the session starts, so they are not kept); a session ends when PHP's session garbage collector
  deletes the file (``session.gc_maxlifetime``, 24 minutes by default). VTiger then answers INVALID_SESSIONID
  (see :data:`SESSION_CODES`). It checks the session before it runs the operation, so the client logs in
  again and repeats the call once; nothing runs twice.
- ``ACCESS_DENIED`` is also VTiger's answer for an id without a live record (deleted or never was), an unknown
  module and a query naming an unknown field: a :class:`WebServicePermissionError` may mean "no such record".
- An inventory record (a sales order, invoice, quote, purchase order) is saved by
  ``VtigerInventoryOperation``, which reads its currency and taxes from the request, not from the stored record:
  a ``revise`` that leaves out ``conversion_rate`` sets it to 1, and one that sends ``LineItems`` without the
  whole header also drops the tax type, the overall discount, S&H and its taxes, and the adjustment, and
  recomputes the totals. :meth:`revise` therefore sends an inventory record's :data:`INVENTORY_KEPT` fields as
  they stand, and refuses ``LineItems``: the app never writes order lines.

One client holds one session; use one client per job or thread.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
LOGIN_ATTEMPTS = 6
RACED_LOGIN_CODES = frozenset({"INVALID_USER_CREDENTIALS", "INVALID_TOKEN"})
"""What VTiger answers a login whose challenge token another login of the same user replaced."""
QUERY_ROW_LIMIT = 100
"""VTiger answers at most this many rows per ``query``; page with ``LIMIT offset, 100``."""

SESSION_CODES = frozenset(
	{"INVALID_SESSIONID", "SESSION_EXPIRED", "SESSION_LEFT_IDLE", "AUTHENTICATION_REQUIRED"}
)
"""include/Webservices/SessionManager.php and webservice.php: the session is gone, log in again."""
AUTH_CODES = frozenset(
	{"INVALID_USER_CREDENTIALS", "INVALID_AUTH_TOKEN", "ACCESSKEY_UNDEFINED", "AUTHENTICATION_FAILURE"}
)
PERMISSION_CODES = frozenset({"ACCESS_DENIED"})
DUPLICATE_CODE = 0
"""VTiger's DuplicateException ("Duplicate(s) detected!") carries the integer code 0."""
VALIDATION_CODES = frozenset(
	{
		"MANDATORY_FIELDS_MISSING",
		"REFERENCE_INVALID",
		"INVALID_ID_ATTRIBUTE",
		"RECORD_NOT_FOUND",
		"QUERY_SYNTAX_ERROR",
		"CURRENCY_INACTIVE",
		"FAILED_TO_CREATE",
		"FAILED_TO_UPDATE",
		DUPLICATE_CODE,
	}
)


INVENTORY_MODULES = frozenset({"SalesOrder", "Invoice", "Quotes", "PurchaseOrder"})
INVENTORY_KEPT = ("currency_id", "conversion_rate", "hdnTaxType")
"""What ``VtigerInventoryOperation::sanitizeInventoryForInsert`` reads from the request on every save (a rate
left out becomes 1): a revise of an inventory record repeats the record's own values."""


class WebServiceError(Exception):
	"""A web service call failed; ``operation``, ``record``, VTiger's ``code`` and message say why.

	Messages never carry the access key or the session id.
	"""

	reason = "VTiger error"

	def __init__(self, operation: str, detail: str, *, record: str | None = None, code: Any = None) -> None:
		self.operation = operation
		self.record = record
		self.code = code
		self.detail = detail
		subject = f"{operation} {record}" if record else operation
		coded = f" ({code})" if code is not None else ""
		super().__init__(f"{subject}: {self.reason}{coded}: {detail}")


class WebServiceUnavailable(WebServiceError):
	"""No usable answer: network error, refused connection, timeout, HTTP error, a body that is not JSON."""

	reason = "VTiger web service unavailable"


class WebServiceAuthError(WebServiceError):
	"""VTiger refused the login: unknown user or wrong access key."""

	reason = "login refused"


class WebServicePermissionError(WebServiceError):
	"""VTiger's ACCESS_DENIED: the user may not do this, or the record does not exist (VTiger won't tell)."""

	reason = "permission denied"


class WebServiceValidationError(WebServiceError):
	"""VTiger refused the values (a mandatory field missing, a bad reference, a duplicate...)."""

	reason = "invalid values"


@dataclass(frozen=True)
class WebServiceSettings:
	"""Where VTiger is and who we are. ``url`` is VTiger's base URL; the access key stays out of ``repr``."""

	url: str
	username: str
	access_key: str = field(repr=False)
	timeout: float = DEFAULT_TIMEOUT

	@property
	def endpoint(self) -> str:
		return self.url.rstrip("/") + "/webservice.php"


def is_http_url(url: str | None) -> bool:
	"""An http(s) URL with a host: the only kind the app opens, links to or lets a browser open (a
	``javascript:`` or ``file:`` URL typed as VTiger's would run script in Desk or read local files)."""
	parsed = urllib.parse.urlsplit((url or "").strip())
	return parsed.scheme.lower() in ("http", "https") and bool(parsed.hostname)


class VTigerWebService:
	"""VTiger's web service operations. Logs in on first use; ``user_id`` is the user's ws id (``19x1``)."""

	def __init__(self, settings: WebServiceSettings) -> None:
		self.settings = settings
		self.user_id: str | None = None
		self._session_name: str | None = None
		self._id_prefixes: dict[str, str] = {}

	# -- session ---------------------------------------------------------------------------------------------

	def login(self) -> str:
		"""getchallenge, then login with md5(token + access key); keeps the session. Returns the user's ws id.

		getchallenge replaces the user's previous token, so a client whose challenge another client logging in
		as the same user replaced (several drains starting at once) is refused with INVALID_USER_CREDENTIALS:
		it asks for a new challenge, up to :data:`LOGIN_ATTEMPTS` times, after a short random pause. A wrong
		access key is refused every time, and its error is raised.
		"""
		username = self.settings.username
		for attempt in range(1, LOGIN_ATTEMPTS + 1):
			try:
				token = self._send("GET", "getchallenge", {"username": username}, username)["token"]
				access = hashlib.md5((token + self.settings.access_key).encode()).hexdigest()
				result = self._send("POST", "login", {"username": username, "accessKey": access}, username)
				break
			except WebServiceUnavailable:
				raise
			except WebServiceError as exc:  # getchallenge answers ACCESS_DENIED for an unknown user name
				if exc.code not in RACED_LOGIN_CODES or attempt == LOGIN_ATTEMPTS:
					raise WebServiceAuthError("login", exc.detail, record=username, code=exc.code) from None
				time.sleep(random.uniform(0.05, 0.25) * attempt)
		self._session_name = result["sessionName"]
		self.user_id = result["userId"]
		return self.user_id

	def logout(self) -> None:
		"""Forget the session and ask VTiger to end it. Never raises, so it can sit in a ``finally``.

		VTiger 8.2 on PHP 8 cannot: its handler takes ``$sessionId`` but is called with the named argument
		``sessionName`` (HTTP 500, "Unknown named parameter"). The session lives on until PHP removes it.
		"""
		session_name, self._session_name = self._session_name, None
		if session_name:
			try:
				self._send("POST", "logout", {"sessionName": session_name}, self.settings.username)
			except WebServiceError as exc:
				log.info("VTiger did not end the session: %s", exc)

	# -- operations ------------------------------------------------------------------------------------------

	def retrieve(self, ws_id: str) -> dict[str, Any]:
		return self._call("GET", "retrieve", {"id": ws_id}, ws_id)

	def query(self, vtql: str) -> list[dict[str, Any]]:
		"""Run a VTiger query (``select ... from Module where ...``). At most QUERY_ROW_LIMIT rows come back,
		even with a larger LIMIT: page with ``limit <offset>, 100``. The ``;`` VTiger insists on is added.
		"""
		vtql = vtql.strip()
		if not vtql.endswith(";"):
			vtql += ";"
		return self._call("GET", "query", {"query": vtql}, vtql[:80])

	def create(self, element_type: str, element: Mapping[str, Any]) -> dict[str, Any]:
		"""Create a record; returns it as VTiger stored it, with ``id``. VTiger needs ``assigned_user_id``."""
		_refuse_unstorable("create", element_type, element)
		params = {"elementType": element_type, "element": json.dumps(dict(element))}
		return self._call("POST", "create", params, element_type)

	def revise(self, element: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
		"""Partial update of ``element["id"]``: only the fields given change, the others keep their values.

		``current`` is the record as :meth:`retrieve` just returned it, when the caller has it; an inventory
		record is retrieved first otherwise, so that its :data:`INVENTORY_KEPT` fields go with the revise.
		Records of other modules are revised without a retrieve.
		"""
		ws_id = element.get("id")
		if not ws_id:
			raise ValueError("revise needs the record's web service id in element['id']")
		if "LineItems" in element:
			raise WebServiceValidationError(
				"revise",
				"not sent: the app never writes order lines (VTiger's inventory save would recompute the "
				"order's taxes, discount, shipping and adjustment from the request)",
				record=ws_id,
			)
		_refuse_unstorable("revise", ws_id, element)
		if self._is_inventory(ws_id):
			current = current if current is not None else self.retrieve(ws_id)
			kept = {key: current[key] for key in INVENTORY_KEPT if current.get(key) not in (None, "")}
			element = {**kept, **element}
		return self._call("POST", "revise", {"element": json.dumps(dict(element))}, ws_id)

	def describe(self, element_type: str) -> dict[str, Any]:
		"""Module metadata: ``fields`` (name, type, mandatory...) and ``idPrefix``, its ws entity id."""
		description = self._call("GET", "describe", {"elementType": element_type}, element_type)
		self._id_prefixes[element_type] = description["idPrefix"]
		return description

	def listtypes(self) -> list[str]:
		"""The modules this user may use through the web service."""
		return self._call("GET", "listtypes", {}, None)["types"]

	# -- ids -------------------------------------------------------------------------------------------------

	def ws_id(self, module: str, crmid: int | str) -> str:
		"""``<ws entity id>x<crmid>``; the entity id differs per install, so it comes from ``describe``."""
		if module not in self._id_prefixes:
			self.describe(module)
		return f"{self._id_prefixes[module]}x{int(crmid)}"

	def _is_inventory(self, ws_id: str) -> bool:
		"""Whether the id is an inventory record's; the first id of an unknown module makes the client learn
		the ids of the inventory modules the user may use (``listtypes``, then one ``describe`` each)."""
		prefix = str(ws_id).partition("x")[0]
		if prefix not in self._id_prefixes.values():
			for module in sorted(INVENTORY_MODULES & set(self.listtypes()) - set(self._id_prefixes)):
				self.describe(module)
		return any(self._id_prefixes.get(module) == prefix for module in INVENTORY_MODULES)

	@staticmethod
	def crmid_of(ws_id: str) -> int:
		"""The crmid (``vtiger_crmentity.crmid``) in a ws id such as ``11x42``."""
		prefix, sep, crmid = str(ws_id).partition("x")
		if not (sep and prefix.isdigit() and crmid.isdigit()):
			raise ValueError(f"not a VTiger web service id: {ws_id!r}")
		return int(crmid)

	# -- transport -------------------------------------------------------------------------------------------

	def _call(self, method: str, operation: str, params: dict[str, str], record: str | None) -> Any:
		"""An operation that needs a session: log in first if needed, and again if VTiger lost the session."""
		if self._session_name is None:
			self.login()
		try:
			return self._send(method, operation, {**params, "sessionName": self._session_name}, record)
		except WebServiceAuthError as exc:
			if exc.code not in SESSION_CODES:
				raise
			log.info("VTiger session ended (%s) during %s; logging in again", exc.code, operation)
		self._session_name = None
		self.login()
		return self._send(method, operation, {**params, "sessionName": self._session_name}, record)

	def _send(self, method: str, operation: str, params: dict[str, str], record: str | None) -> Any:
		"""One HTTP request; returns ``result`` or raises the WebServiceError that fits VTiger's answer."""
		endpoint = self.settings.endpoint
		if not is_http_url(endpoint):
			raise WebServiceUnavailable(operation, "the VTiger URL is not an http(s) URL", record=record)
		data = urllib.parse.urlencode({"operation": operation, **params})
		if method == "GET":
			request = urllib.request.Request(f"{endpoint}?{data}")
		else:
			request = urllib.request.Request(endpoint, data=data.encode())
		try:
			with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
				body = response.read()
		except urllib.error.HTTPError as exc:
			raise WebServiceUnavailable(
				operation, f"HTTP {exc.code} from {endpoint}", record=record
			) from None
		except urllib.error.URLError as exc:
			raise WebServiceUnavailable(operation, f"{exc.reason} ({endpoint})", record=record) from None
		except (OSError, http.client.HTTPException) as exc:  # timeouts while reading, dropped connections
			raise WebServiceUnavailable(
				operation, f"{str(exc) or type(exc).__name__} ({endpoint})", record=record
			) from None
		try:
			answer = json.loads(body)
		except ValueError:
			answer = None
		if not isinstance(answer, dict) or "success" not in answer:
			raise WebServiceUnavailable(
				operation, f"{endpoint} did not answer as VTiger's web service (not its JSON)", record=record
			)
		if answer["success"]:
			return answer["result"]
		error = answer.get("error") or {}
		code, message = error.get("code"), error.get("message") or "no message"
		raise _error_class(code)(operation, message, record=record, code=code)


def _error_class(code: Any) -> type[WebServiceError]:
	if code in SESSION_CODES or code in AUTH_CODES:
		return WebServiceAuthError
	if code in PERMISSION_CODES:
		return WebServicePermissionError
	if code in VALIDATION_CODES:
		return WebServiceValidationError
	return WebServiceError


def _refuse_unstorable(operation: str, record: str, value: Any, name: str = "") -> None:
	"""Refuse text outside the BMP: VTiger's utf8mb3 tables would turn it into ``?``."""
	if isinstance(value, str):
		if any(ord(char) > 0xFFFF for char in value):
			raise WebServiceValidationError(
				operation,
				f"not sent: {name or 'a value'} has text outside the BMP (emoji?), VTiger would store '?'",
				record=record,
			)
	elif isinstance(value, Mapping):
		for key, item in value.items():
			_refuse_unstorable(operation, record, item, key)
	elif isinstance(value, list | tuple):
		for item in value:
			_refuse_unstorable(operation, record, item, name)
