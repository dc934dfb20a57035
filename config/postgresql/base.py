"""Django's PostgreSQL backend, whose per-request health check asks the socket first.

With CONN_HEALTH_CHECKS, Django runs `SELECT 1` before the first query of every
request on a kept connection, so that a connection the server ended while it sat idle
(a restart, pg_terminate_backend, idle_session_timeout) is replaced instead of failing
the request. That is a round trip per request: for a gateway callback whose work is
one statement, it cost about a sixth of the request's CPU in the web process.

A server that ends a connection sends its error and closes the socket, so an idle
connection that is still good has nothing to read. Here the check first asks the
socket, without waiting: quiet, the connection is used as is; anything to read (or a
connection psycopg already knows is closed or broken), and Django's `SELECT 1` decides
as before. What neither can see is a peer that vanished without a word (a cut
network): `SELECT 1` would wait on it as long as the query would.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and self._idle_and_quiet()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _idle_and_quiet(self) -> bool:
        """Whether the connection looks good to psycopg and its socket has nothing to read."""
        if self.connection.closed or self.connection.broken:
            return False
        poller = select.poll()
        poller.register(self.connection.fileno(), select.POLLIN)
        return not poller.poll(0)
