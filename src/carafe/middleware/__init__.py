"""Middleware that ships with Carafe. Each is a plain ASGI app wrapping another.

    from carafe.middleware import CORSMiddleware, GZipMiddleware

    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(CORSMiddleware, allow_origins=["https://shop.example"])

``add_middleware`` chains them once, at startup; the last added is the outermost, so it
sees the request first and the response last.
"""

from carafe.middleware.bodytimeout import BodyTimeoutMiddleware
from carafe.middleware.cors import CORSMiddleware
from carafe.middleware.etag import ETagMiddleware
from carafe.middleware.gzip import GZipMiddleware
from carafe.middleware.metrics import MetricsMiddleware
from carafe.middleware.proxy import ProxyHeadersMiddleware
from carafe.middleware.requestlog import RequestLogMiddleware
from carafe.middleware.security_headers import SecurityHeadersMiddleware
from carafe.middleware.tracing import TracingMiddleware
from carafe.middleware.trustedhost import TrustedHostMiddleware

__all__ = [
    "BodyTimeoutMiddleware",
    "CORSMiddleware",
    "ETagMiddleware",
    "GZipMiddleware",
    "MetricsMiddleware",
    "ProxyHeadersMiddleware",
    "RequestLogMiddleware",
    "SecurityHeadersMiddleware",
    "TracingMiddleware",
    "TrustedHostMiddleware",
]
