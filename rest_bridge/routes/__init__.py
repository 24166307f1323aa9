"""The HTTP and WebSocket routes, one module a concern; app.py includes their routers."""
