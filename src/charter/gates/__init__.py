"""Promotion gates: facts, engines, requests and approvals."""
