"""The audit log: every state change and access decision, appended in its transaction."""
