"""Use cases: each runs in one transaction and applies domain rules to rows the store locked."""
