"""Conduit, the RealWorld example app's JSON API, on Carafe and SQLAlchemy.

- ``models``: the schema (users, follows, articles, tags, favourites, comments)
- ``auth``: scrypt password hashes and JWTs
- ``services``: the queries and rules, free of HTTP (shared with server-rendered pages)
- ``api``: the ``/api`` router
- ``app``: ``create_app(config)`` and ``app``; migrations in ``migrations/``
"""
