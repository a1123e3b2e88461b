"""grantledger: a self-hostable credits and entitlements ledger."""

__version__ = "0.1.0"
