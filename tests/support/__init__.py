"""Shared helpers for the test suite (throwaway PostgreSQL server, etc.)."""
