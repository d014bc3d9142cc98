"""Evidence attached to model versions."""
