"""The `charter` command line: local admin commands and groups that talk to the server."""
