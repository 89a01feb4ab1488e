"""syndicate: collect articles, publish RSS/Atom feeds and send e-mail digests."""

__version__ = "0.1.0"

# Here rather than in syndicate.config so that `syndicate --help` need not load the config model.
DEFAULT_CONFIG = "schedules.yaml"
CONFIG_ENV = "SYNDICATE_CONFIG"
