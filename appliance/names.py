"""The name rules (slugs, domains, addresses) as the services import them.

They live in :mod:`storage.names`, the bottom layer, because storage checks
what it stores with them too; this module re-exports them.
"""

from storage.names import (  # noqa: F401 - re-exported
    LABEL_RE, LOCAL_RE, MAX_ADDRESS, MAX_LOCAL, MAX_NAME, SLUG_RE, address, alias_address, display_name, domain, slug,
)
