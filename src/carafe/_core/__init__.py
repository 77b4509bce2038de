"""The request path, startup to wire. Private: the public names live in ``carafe``.

At startup, for each route::

    build.py        the handler's signature -> a Plan (extractors, dependency calls)
    extractors.py   one closure per parameter: path, query, header, cookie, JSON body
    endpoint.py     the Plan, the hooks and the renderer closed over into one function
    render.py       one rule from a handler's return value to the response on the wire
    codecs.py       msgspec (and plugged-in model libraries) behind one interface

Per request, in order: ``carafe.routing.dispatch`` finds the endpoint; the endpoint
runs ``Plan.resolve`` (plan.py), calls the handler, renders what it returned, and
``unwind.py`` finishes the ``yield`` dependencies. Nothing here imports a feature.
"""
