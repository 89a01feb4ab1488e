"""The ``database:`` section of ``schedules.yaml``: how long to wait for the store.

Every key is in seconds; errors carry key paths such as ``database.connect_timeout``.
"""

from typing import TYPE_CHECKING

from syndicate.config_fields import Seconds
from syndicate.config_model import ConfigModel, model

if TYPE_CHECKING:
    from syndicate.outage import StoreLimits


@model
class DatabaseConfig(ConfigModel):
    """Timeouts of the store and how long a job retries a database that does not answer.

    ``connect_timeout``: one connection attempt (PostgreSQL); ``statement_timeout``:
    one statement (PostgreSQL; with no answer at all for ``silence`` seconds more
    the connection is cut, as after a network partition); ``busy_timeout``: how
    long SQLite waits for another writer; ``outage``: how long a job retries
    (with backoff) before it ends with one line and leaves the work to its next run.
    """

    connect_timeout: Seconds = 10.0
    statement_timeout: Seconds = 60.0
    silence: Seconds = 5.0
    busy_timeout: Seconds = 15.0
    outage: Seconds = 30.0

    def limits(self, *, patient: bool = True) -> "StoreLimits":
        """The plain limits the store takes; ``patient``: connecting waits through an outage."""
        from syndicate.outage import StoreLimits

        return StoreLimits(
            patient=patient,
            connect=self.connect_timeout,
            statement=self.statement_timeout,
            busy=self.busy_timeout,
            outage=self.outage,
            silence=self.silence,
        )
