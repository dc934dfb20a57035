"""The WSGI application gunicorn serves (`config.wsgi:application`).

Requests under `GATEWAY_CALLBACKS` (the SMS gateway's delivery reports and inbound
SMS) go to `GatewayCallbackHandler`, a Django handler with a short middleware list of
its own; every other request goes to Django's usual handler and settings.MIDDLEWARE.
Both handlers run in the same process with the same settings, URLconf, signals and
per-thread database connections, so a callback is an ordinary Django request in every
other respect.

Why: Kannel calls back once per message, up to 500 times a second at the gateway's
cap, on a 2-core server that also runs PostgreSQL, Kannel and the dispatch workers.
The page middleware (static files, sessions, locale, CSRF, users, flash messages,
frame options) took about a fifth of a callback's CPU in the web process
(`python -m bench.gateway_callbacks --full-stack`) and had nothing to do: a callback
carries no cookie, form or user (its credential is the token the view checks) and
answers a machine with a word of plain text. Routing on the path in front of Django
states the exception once; making each middleware step aside for one prefix would
spread it over seven classes, and each would still run per request to decide.
"""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.utils import translation
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

# messaging/urls.py under config/urls.py: Kannel's dlr/ and mo/ (and any later gateway).
GATEWAY_CALLBACKS = "/messaging/gateway/"


class GatewayCallbackHandler(WSGIHandler):
    """Django's WSGI handler with `middleware` in place of settings.MIDDLEWARE.

    SecurityMiddleware stays so that production's HTTPS redirect applies to callbacks
    as it does to pages; CommonMiddleware stays for ALLOWED_HOSTS, refused user agents
    and APPEND_SLASH. Exceptions, logging of 4xx/5xx answers and the request_started /
    request_finished signals (which recycle database connections) are the base
    handler's, unchanged.
    """

    middleware = (
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    )

    def load_middleware(self, is_async=False):
        # BaseHandler.load_middleware reads settings.MIDDLEWARE and has no other
        # source; this chains `middleware` the same way, for the request/response
        # kind only (no view, exception or template-response hooks to collect).
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(self.middleware):
            middleware = import_string(path)(handler)
            for hook in (
                "process_view",
                "process_exception",
                "process_template_response",
            ):
                if hasattr(middleware, hook):
                    raise ImproperlyConfigured(
                        f"{path} has {hook}, which GatewayCallbackHandler does not run."
                    )
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler

    def get_response(self, request):
        # LocaleMiddleware chose LANGUAGE_CODE for the gateway, which sends neither
        # cookie nor Accept-Language. Without it a thread would keep the language of
        # the last page it served, and texts the services store (a reply's error)
        # would depend on that.
        with translation.override(settings.LANGUAGE_CODE):
            return super().get_response(request)


class PathPrefixDispatcher:
    """A WSGI application: paths under `prefix` to `callbacks`, the rest to `portal`.

    PATH_INFO is what Django resolves, so a request reaches the callbacks' handler
    exactly when its URL is under the prefix in the URLconf.
    """

    def __init__(self, *, portal, callbacks, prefix: str):
        self.portal = portal
        self.callbacks = callbacks
        self.prefix = prefix

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(self.prefix):
            return self.callbacks(environ, start_response)
        return self.portal(environ, start_response)


application = PathPrefixDispatcher(
    portal=get_wsgi_application(),
    callbacks=GatewayCallbackHandler(),
    prefix=GATEWAY_CALLBACKS,
)
