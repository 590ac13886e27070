"""One exception root for everything the ledger refuses or fails at.

Callers catch :class:`YuanshiError`; each subclass names one broken rule, so an API layer can map it to a
status and a clear reason without parsing messages.
"""

from __future__ import annotations


class YuanshiError(Exception):
    """Root of every error the ledger raises on purpose."""


class ValidationError(YuanshiError, ValueError):
    """Input that breaks a stated rule (shape, range, uniqueness)."""


class ChainError(YuanshiError):
    """The chain could not be reached, or answered something unexpected."""


class ContractRevert(ChainError):
    """A contract call reverted; ``name`` and ``args`` are the decoded custom error, when the ABI knows it."""

    def __init__(self, name: str, args: tuple[object, ...], data: str) -> None:
        self.name = name
        self.args_ = args
        self.data = data
        super().__init__(f"{name}{args!r}" if name else f"reverted: {data}")


class NotFoundError(YuanshiError, LookupError):
    """The named vehicle, account, task, epoch or order does not exist."""


class ConflictError(YuanshiError):
    """The request contradicts stored state (a duplicate, a cap reached, a state that moved on)."""


class SignatureError(YuanshiError):
    """A signature does not verify for the claimed signer, or it has expired."""
