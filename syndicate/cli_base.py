"""What every command of the command line shares: the per-invocation context and errors.

Exit codes: 0 success; 1 error (bad config, store unreachable, bad file);
2 usage error; 3 the command ran but some sources or deliveries failed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import click

from syndicate.errors import ConfigError, SyndicateError

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.store import Store

EXIT_ERROR = 1
EXIT_PARTIAL = 3


class Context:
    """Per-invocation state: the config path and, once loaded, the config and store."""

    def __init__(self, config_path: str) -> None:
        self.config_path = config_path
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        """The validated config, loaded on first use."""
        if self._config is None:
            from syndicate.config import load_config

            self._config = load_config(self.config_path)
        return self._config

    def store(self) -> Store:
        """The store, opened on first use and checked to be at the current schema."""
        if self._store is None:
            from syndicate.pipeline import open_store

            self._store = open_store(self.config)
        return self._store

    def close(self) -> None:
        """Close the store if it was opened."""
        if self._store is not None:
            self._store.close()


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print the error to stderr, ``error:`` before each line, and exit with ``code``."""
    for line in message.splitlines() or [""]:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


@contextmanager
def errors_to_exit(ctx: Context) -> Iterator[None]:
    """Turn expected errors into one line on stderr and exit code 1."""
    try:
        yield
    except ConfigError as exc:
        for line in exc.lines():
            click.echo(line, err=True)
        sys.exit(EXIT_ERROR)
    except SyndicateError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    finally:
        ctx.close()


pass_ctx = click.make_pass_decorator(Context)
"""Hand a command the :class:`Context` of this invocation."""
