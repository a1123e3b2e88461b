"""Rows of the entitlements side, one module per kind of row: event schemas, features, plans,
schedules, purchases, entries (and their change log), values, the real-time gate's statements
and the audit reads of `verify`. Each returns typed frozen records, never dict rows."""
