"""syndicate: collect articles, publish RSS/Atom feeds and send e-mail digests."""

__version__ = "0.1.0"
