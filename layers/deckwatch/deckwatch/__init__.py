"""Deckwatch: an event-driven control plane for AWS deployment infrastructure.

Capabilities live in their own subpackages (cutover, remediation, drills, cost); shared building blocks are
`policy`, `ledger`, `locks`, `aws`, `notify`; `local` is the embedded AWS runtime and the CLI. Nothing here
creates AWS clients or reads the environment at import time.
"""

__version__ = "0.1.0"
