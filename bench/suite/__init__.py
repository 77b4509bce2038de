"""The full suite's apps: the same TechEmpower-style app in every framework.

One module per framework, each written as that framework's users write it. What they
share is data, not code: the SQL, the database address, the pool size and the fortunes
template (``common.py``, ``templates/fortunes.html``), so that every app does the same
work against the same database.
"""
