"""Mail rules in Sieve (RFC 5228) with the extensions users ask for:
fileinto, envelope, variables (RFC 5229), vacation (RFC 5230), imap4flags
(RFC 5232), mailbox (RFC 5490), copy (RFC 3894), reject/ereject (RFC 5429).

* :mod:`.parser` - the grammar (our own recursive-descent parser);
* :mod:`.validate` - which commands, tests and tags exist; ``require``;
* :mod:`.evaluate` - what a script says to do with one message;
* :mod:`.actions` - doing it at delivery, inside the business's transaction.

Scripts are stored and managed through :mod:`appliance.services.sieve`.
"""

from .evaluate import SieveRuntimeError
from .parser import SieveError
from .validate import EXTENSIONS, compile_script

__all__ = ["EXTENSIONS", "SieveError", "SieveRuntimeError", "compile_script"]
