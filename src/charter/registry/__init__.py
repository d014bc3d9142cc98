"""The model registry: models, versions, datasets, runs and their lineage."""
