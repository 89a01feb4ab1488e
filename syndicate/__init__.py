"""syndicate: collect articles, publish RSS/Atom feeds and send e-mail digests."""

from datetime import date

__version__ = "0.1.0"

# Here rather than in syndicate.config so that `syndicate --help` need not load the config model.
DEFAULT_CONFIG = "schedules.yaml"
CONFIG_ENV = "SYNDICATE_CONFIG"
"""Environment variable naming the config file (default :data:`DEFAULT_CONFIG`)."""
STORE_ENV = "SYNDICATE_STORE_URL"
"""Environment variable overriding the config's ``store`` URL (also read by Alembic's env.py)."""
WEB_SCHEMES = frozenset({"http", "https"})
"""URL schemes of the web: what may be fetched, linked to or published."""

DEFAULT_ID_DATE = date(2026, 1, 1)
"""The date in public ids (``tag:host,DATE:...``) when the config sets no ``id_date``.

Never change it: every article stored without an ``id_date`` carries it."""
