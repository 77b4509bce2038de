"""Routing: path templates, the route table (dict + segment trie) and ``Router``."""

from carafe.routing.paths import PathTemplate, join_paths
from carafe.routing.router import Mount, Route, RouteOptions, Router
from carafe.routing.trie import MethodTable, RouteTable

__all__ = [
    "MethodTable",
    "Mount",
    "PathTemplate",
    "Route",
    "RouteOptions",
    "RouteTable",
    "Router",
    "join_paths",
]
