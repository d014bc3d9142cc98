"""The HTTP API: routers that parse, call one service function, and render."""
