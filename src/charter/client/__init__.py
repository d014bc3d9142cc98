"""The Python SDK: a typed HTTP client for Charter's API, and log_model for scikit-learn."""
