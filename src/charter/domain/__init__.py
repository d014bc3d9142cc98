"""Plain domain types and the error hierarchy; imports nothing else from charter."""
