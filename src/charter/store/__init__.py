"""Persistence: engine, tables, migrations and small query helpers."""
