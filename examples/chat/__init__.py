"""A chat app: websockets, Server-Sent Events and pub/sub across workers (see app.py)."""
