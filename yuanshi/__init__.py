"""Yuanshi (原石): the command line that ties the ledger, the chain and the service together."""

__version__ = "0.1.0"
