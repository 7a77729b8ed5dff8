import contextlib
import functools
import logging
import time

import psycopg2
from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED

from odoo import fields, models
from odoo.sql_db import Cursor
from odoo.tools import SQL

from ..crmcom import SharedTokenStore

_logger = logging.getLogger(__name__)


class CrmcomSessionToken(models.Model):
    """The CRM.COM token of one set of credentials, shared by every Odoo process and
    server of the database: one login per token lifetime for the whole deployment.

    No access rule gives it to any user (the ACL line grants nothing): only the
    addon's server code reads it, through :class:`DatabaseTokenStore`, in
    transactions of its own. ``key`` is a hash of the server address and the
    credentials, never the credentials."""

    _name = "crmcom.session.token"
    _description = "CRM.COM Session Token"
    _log_access = False

    key = fields.Char(required=True, readonly=True)
    token = fields.Char(readonly=True)
    renew_at = fields.Float(readonly=True, help="Seconds since the epoch.")

    _sql_constraints = [("key_uniq", "unique(key)", "One token per set of credentials.")]


def _degrades(fallback):
    """The store saves logins; it must never stop a sale: a database error (the pool
    exhausted, a conflict) is logged and the call goes on without the store."""

    def decorate(method):
        @functools.wraps(method)
        def run(self, key, *args, **kwargs):
            try:
                return method(self, key, *args, **kwargs)
            except psycopg2.Error as error:
                _logger.warning("CRM.COM shared token unavailable (%s): going on without it", error)
                return fallback(*args, **kwargs)

        return run

    return decorate


class DatabaseTokenStore(SharedTokenStore):
    """crmcom.session.token as the client's shared store. Each operation runs in a
    transaction of its own (never the request's), so a token is seen by the other
    processes as soon as it is issued; logins are serialised by a PostgreSQL
    advisory lock, released whatever happens (also when the process dies)."""

    def __init__(self, registry):
        self.registry = registry

    @contextlib.contextmanager
    def _transaction(self):
        """READ COMMITTED: each statement sees what the other processes committed, and
        two processes updating the token row wait for each other instead of one of them
        failing with a serialization error (Odoo's cursors are REPEATABLE READ)."""
        with self.registry.cursor() as cr:
            if isinstance(cr, Cursor):  # not a test cursor inside the test's transaction
                cr.connection.set_isolation_level(ISOLATION_LEVEL_READ_COMMITTED)
            yield cr

    @_degrades(lambda: None)
    def load(self, key):
        with self._transaction() as cr:
            return _kept(cr, key)

    def login_once(self, key, login, *, refused=None):
        issued = []

        def login_and_keep():
            issued.append(login())
            return issued[-1]

        try:
            return self._login_once(key, login_and_keep, refused)
        except psycopg2.Error as error:
            _logger.warning("CRM.COM shared token unavailable (%s): going on without it", error)
            return issued[-1] if issued else login()

    def _login_once(self, key, login, refused):
        lock = f"crmcom.session.token:{key}"
        with self._transaction() as cr:
            cr.execute(SQL("SELECT pg_advisory_lock(hashtext(%s))", lock))
            try:
                kept = _kept(cr, key)
                if kept and kept[0] != refused and time.time() < kept[1]:
                    return kept
                token, renew_at = login()
                _upsert(cr, key, token, renew_at)
                cr.commit()  # pylint: disable=invalid-commit
                return token, renew_at
            finally:
                cr.rollback()
                cr.execute(SQL("SELECT pg_advisory_unlock(hashtext(%s))", lock))
                cr.commit()  # pylint: disable=invalid-commit

    @_degrades(lambda token, renew_at: None)
    def save(self, key, token, renew_at):
        with self._transaction() as cr:
            _upsert(cr, key, token, renew_at)

    @_degrades(lambda token: None)
    def discard(self, key, token):
        with self._transaction() as cr:
            cr.execute(
                SQL(
                    "UPDATE crmcom_session_token SET token = NULL, renew_at = 0"
                    " WHERE key = %s AND token = %s",
                    key,
                    token,
                ),
                log_exceptions=False,  # the query holds the token: never in the log
            )


def _kept(cr, key):
    cr.execute(SQL("SELECT token, renew_at FROM crmcom_session_token WHERE key = %s", key))
    row = cr.fetchone()
    return (row[0], row[1]) if row and row[0] else None


def _upsert(cr, key, token, renew_at):
    cr.execute(
        SQL(
            """INSERT INTO crmcom_session_token (key, token, renew_at) VALUES (%s, %s, %s)
               ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token,
                                                renew_at = EXCLUDED.renew_at""",
            key,
            token,
            renew_at,
        ),
        log_exceptions=False,  # the query holds the token: never in the log
    )
