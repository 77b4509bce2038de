"""The Conduit benchmark's peers: FastAPI + SQLAlchemy and Flask + Flask-SQLAlchemy.

Each serves ``GET /api/articles`` (``limit``, ``offset``, ``tag``, ``author``,
``favorited``) and ``GET /api/articles/{slug}`` with the JSON the RealWorld spec gives,
running the very statements the Carafe example runs (``examples.conduit.services``
builds them; SQLAlchemy statements are framework-free), so the difference measured is
the framework and its integration: routing, parameters, the session's life, encoding.
Each is written the way its users write it: FastAPI with a hand-written session
dependency and pydantic response models, Flask with Flask-SQLAlchemy's ``db.session``
and dicts. The database is ``CONDUIT_DATABASE_URL`` (``postgresql://...``).
"""
