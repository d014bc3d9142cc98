"""Policy as code: Cedar policy bundles, the engine that decides with them, and their tests."""
