"""Settings for the tests, in the environment before app.py is imported."""

import os

os.environ.setdefault("CARAFE_SECRET_KEY", "only for the tests")
