"""Declarative base shared by every VTiger model.

VTiger owns its schema: the models describe the tables the sync reads and are never used to create them in a
customer's database. ``create_all`` is only used for the bundled demo database (see ``vtigercrm_sync.demo``).
"""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
	pass
