"""Jinja2 templates, rendered asynchronously, with the web-app helpers built in.

::

    templates = Templates(Path(__file__).parent / "templates")

    @app.get("/")
    async def index(request: Request) -> HTMLResponse:
        return await templates.render(request, "index.html", items=items)

    @app.get("/about")
    def about(request: Request) -> HTMLResponse:  # a sync handler
        return templates.render_sync(request, "about.html")

Autoescaping is on for ``.html``, ``.htm`` and ``.xml`` templates (and strings). Every
template sees ``request`` and these globals:

``url_for(name, **params)``
    The path of a route (``url_for("static", path="app.css")`` for a static file).
``static_url(path)``
    Short for ``url_for("static", path=path)``.
``csrf_token()``
    The CSRF token for a form's hidden ``csrf_token`` field (see ``carafe.web.csrf``).
``get_flashed_messages(with_categories=False, category_filter=())``
    The flashed messages, shown once (see ``carafe.web.flash``).

Add your own with ``@templates.template_global()`` and ``@templates.template_filter()``
(or ``templates.globals[...]`` / ``templates.filters[...]``). In debug mode
(``Carafe(debug=True)``, ``carafe run --debug``) changed template files are reloaded.
Jinja2 is imported on first use.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from carafe._concurrency import run_from_thread
from carafe.requests import Request
from carafe.responses import HTMLResponse

if TYPE_CHECKING:
    from jinja2 import BaseLoader, Environment, Template

__all__ = ["Templates"]

F = TypeVar("F", bound=Callable[..., Any])
PathLike = str | os.PathLike[str]


class Templates:
    """A folder of Jinja2 templates and the environment that renders them.

    Args:
        directory: The folder (or folders, searched in order) holding the templates.
        loader: A Jinja2 loader to use instead of ``directory`` (e.g. a ``DictLoader``).
        auto_reload: Re-read a template when its file changes. None (the default)
            follows the app's ``debug`` flag; it costs a ``stat`` per render.
        **options: More ``jinja2.Environment`` options (``trim_blocks``,
            ``extensions``...).
    """

    def __init__(
        self,
        directory: PathLike | Sequence[PathLike] | None = None,
        *,
        loader: BaseLoader | None = None,
        auto_reload: bool | None = None,
        **options: Any,
    ) -> None:
        if (directory is None) == (loader is None):
            from carafe.exceptions import ConfigurationError

            raise ConfigurationError("Templates needs a directory or a loader (one of them)")
        self.directory = directory
        self.auto_reload = auto_reload
        self.globals: dict[str, Any] = {}
        self.filters: dict[str, Callable[..., Any]] = {}
        self._loader = loader
        self._options = options
        self._env: Environment | None = None
        self._cache: dict[str, Template] = {}
        self._compiled: dict[str, tuple[Template, bool]] = {}
        self._sync_env: Environment | None = None
        self._bare: Environment | None = None
        self._debug_checked = auto_reload is not None
        self._bound = False

    # --- Registration ---------------------------------------------------------------

    def template_global(self, name: str | None = None) -> Callable[[F], F]:
        """Make the decorated function callable from every template.

        Register globals before the first render: whether a template renders in async
        mode is decided then. (This decorator starts that decision over; assigning to
        ``templates.globals`` afterwards does not.)
        """

        def decorate(fn: F) -> F:
            self.globals[name or fn.__name__] = fn
            self._compiled.clear()
            return fn

        return decorate

    def template_filter(self, name: str | None = None) -> Callable[[F], F]:
        """Make the decorated function a filter: ``{{ value | name }}``."""

        def decorate(fn: F) -> F:
            self.filters[name or fn.__name__] = fn
            return fn

        return decorate

    # --- The environment ------------------------------------------------------------

    @property
    def env(self) -> Environment:
        """The ``jinja2.Environment``, built (and Jinja2 imported) on first use."""
        env = self._env
        if env is None:
            env = self._env = self._build()
        return env

    def _build(self) -> Environment:
        import jinja2

        loader = self._loader
        if loader is None:
            assert self.directory is not None
            folders = (
                [self.directory]
                if isinstance(self.directory, (str, os.PathLike))
                else list(self.directory)
            )
            loader = jinja2.FileSystemLoader(folders)
        options: dict[str, Any] = {
            "autoescape": jinja2.select_autoescape(("html", "htm", "xml"), default_for_string=True),
            "auto_reload": bool(self.auto_reload),
            **self._options,
        }
        env = jinja2.Environment(loader=loader, enable_async=True, **options)
        env.globals.update(_helpers(jinja2))
        env.globals.update(self.globals)
        env.filters.update(self.filters)
        # From now on the dicts users change are the environment's own.
        self.globals = env.globals
        self.filters = env.filters
        # A twin without async mode, sharing globals and filters, for the templates that
        # call nothing async (see _compile).
        sync_env = jinja2.Environment(loader=loader, enable_async=False, **options)
        sync_env.globals = env.globals
        sync_env.filters = env.filters
        self._sync_env = sync_env
        return env

    def get_template(self, name: str) -> Template:
        """The compiled template ``name`` (kept, unless auto-reload is on)."""
        env = self.env
        if env.auto_reload:
            return env.get_template(name)
        # PERF: a plain dict probe instead of Jinja's locked LRU cache per render.
        template = self._cache.get(name)
        if template is None:
            template = self._cache[name] = env.get_template(name)
        return template

    def _compile(self, name: str) -> tuple[Template, bool]:
        """The template to render ``name`` with, and whether it must render async.

        # PERF: Jinja's async mode costs about as much again as the page itself on a
        # loop-heavy page (bench/inprocess.py, fortunes), so a template whose source,
        # and every template it extends, includes or imports, calls no async global
        # (``csrf_token()``, ``get_flashed_messages()``, your ``async def`` globals) is
        # compiled without async mode and rendered synchronously.
        """
        if self.env.auto_reload:
            return self.get_template(name), True
        found = self._compiled.get(name)
        if found is None:
            if self._calls_async(name, set()):
                found = (self.get_template(name), True)
            else:
                assert self._sync_env is not None
                found = (self._sync_env.get_template(name), False)
            self._compiled[name] = found
        return found

    def _bare_env(self) -> Environment:
        import jinja2

        bare = self._bare
        if bare is None:
            bare = self._bare = jinja2.Environment(**self._options)
            bare.filters = self.env.filters  # compiling checks that filters exist
            bare.tests = self.env.tests
        return bare

    def _calls_async(self, name: str, seen: set[str]) -> bool:
        from jinja2 import meta

        env = self.env
        if name in seen:
            return False
        seen.add(name)
        assert env.loader is not None
        source, _, _ = env.loader.get_source(env, name)
        # NOTE: parsed by a bare environment: Jinja's meta does not report names that
        # are the environment's own globals, and those are the ones asked about.
        tree = self._bare_env().parse(source)
        async_names = {
            key for key, value in env.globals.items() if inspect.iscoroutinefunction(value)
        }
        if meta.find_undeclared_variables(tree) & async_names:
            return True
        for other in meta.find_referenced_templates(tree):
            if other is None or self._calls_async(other, seen):  # None: a computed name
                return True
        return False

    def _bind(self, request: Request) -> None:
        """On the first render: follow the app's debug flag and take the globals and
        filters registered on the app (``@app.template_global()``, as in Flask)."""
        self._bound = True
        app = request.app
        env = self.env
        if not self._debug_checked:
            self._debug_checked = True
            if app.debug:
                env.auto_reload = True
                self._cache.clear()
        env.globals.update(getattr(app, "template_globals", {}))
        env.filters.update(getattr(app, "template_filters", {}))
        self._compiled.clear()  # an async global decides how templates render

    # --- Rendering ------------------------------------------------------------------

    async def render_string(self, request: Request | None, name: str, /, **context: Any) -> str:
        """Render template ``name`` to a string (for e-mails, fragments...)."""
        if request is not None and not self._bound:
            self._bind(request)
        context["request"] = request
        return await self._render(name, context)

    async def render(
        self,
        request: Request,
        name: str,
        /,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """Render template ``name`` with ``context`` into an ``HTMLResponse``.

        Args:
            request: The current request; templates see it as ``request``.
            name: The template's path under the directory, e.g. ``"users/list.html"``.
            status_code: The response status (say 422 when re-showing a form with errors).
            headers: Extra response headers.
            **context: The template's variables.
        """
        if not self._bound:
            self._bind(request)
        context["request"] = request
        body = await self._render(name, context)
        return HTMLResponse(body, status_code, headers)

    def render_sync(
        self,
        request: Request,
        name: str,
        /,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """``render()`` for sync handlers, which run in Carafe's thread pool.

        The page is rendered on the event loop while the handler's thread waits, so
        async globals (``csrf_token()``, ``get_flashed_messages()``) work as in async
        handlers. Called from async code it raises ``RuntimeError``: await ``render()``.
        """
        return run_from_thread(
            self.render, request, name, status_code=status_code, headers=headers, **context
        )

    async def _render(self, name: str, context: dict[str, Any]) -> str:
        template, is_async = self._compile(name)
        if not is_async:
            for value in context.values():
                if type(value) not in _PLAIN and _is_async_value(value):
                    # an async callable or iterable came in the context
                    template, is_async = self.get_template(name), True
                    break
        env = template.environment
        # PERF: Jinja's render() builds the context by iterating the template's globals,
        # a ChainMap over the environment's, twice per render (dict(), then set());
        # that is a third of a small page's cost (bench/inprocess.py, fortunes). Our
        # templates' globals are the environment's own dict, so this merges plain
        # dicts instead (a template loaded with globals of its own pays for a copy).
        shared = env.globals
        maps = getattr(template.globals, "maps", None)
        if maps is None or len(maps) != 2 or maps[0] or maps[1] is not shared:
            shared = dict(template.globals)
        ctx = env.context_class(
            env, {**shared, **context}, template.name, template.blocks, globals=shared
        )
        try:
            if is_async:
                parts = [part async for part in template.root_render_func(ctx)]  # type: ignore[attr-defined]
                return env.concat(parts)
            return env.concat(template.root_render_func(ctx))
        except Exception:
            env.handle_exception()

    def __repr__(self) -> str:
        return f"Templates({self.directory!r})"


#: Context values that are never async callables or async iterables (the common ones).
_PLAIN = frozenset({str, int, float, bool, type(None), list, tuple, dict, set, Request})


def _is_async_value(value: Any) -> bool:
    return inspect.iscoroutinefunction(value) or hasattr(value, "__aiter__")


def _helpers(jinja2: Any) -> dict[str, Any]:
    """The globals every template gets; each reads the request from the context."""
    pass_context = jinja2.pass_context

    def url_for(context: Any, name: str, /, **params: Any) -> str:
        if name == "static" and "filename" in params:  # Flask's spelling
            params["path"] = params.pop("filename")
        request: Request = context["request"]
        return request.url_for(name, **params)

    def static_url(context: Any, path: str) -> str:
        request: Request = context["request"]
        return request.url_for("static", path=path)

    async def csrf_token(context: Any) -> str:
        from carafe.web.csrf import get_csrf_token

        return await get_csrf_token(context["request"])

    async def get_flashed_messages(
        context: Any, with_categories: bool = False, category_filter: Sequence[str] = ()
    ) -> list[Any]:
        # NOTE: not ``from carafe import flash``: the package exports the function of
        # that name, which hides the module.
        from carafe.web.flash import get_flashed_messages as read_flashes
        from carafe.web.sessions import get_session

        session = await get_session(context["request"])
        return read_flashes(session, with_categories, category_filter)

    helpers = (url_for, static_url, csrf_token, get_flashed_messages)
    return {fn.__name__: pass_context(fn) for fn in helpers}
