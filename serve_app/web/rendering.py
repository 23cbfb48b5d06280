"""Templates, and the route class that renders every console error as a page or a fragment.

Jinja2 autoescapes every `.html` template: prompts, names and page titles are shown as text.
"""

from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from serve_app.api.errors import describe_validation_error
from serve_app.errors import ApiError

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


templates.env.filters["when"] = _when

# Only what the application itself serves: no CDN, no inline script, no framing by other sites.
# Images may come from the object store's public or presigned URLs, wherever those live.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https: http:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"}


class LoginRequired(ApiError):
    status_code = 401
    code = "login_required"


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(request: Request, template: str, /, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("console", getattr(request.state, "console", None))
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


def render_fragment(template: str, /, **context: Any) -> str:
    """A partial template as HTML text, for fragments sent inside a stream rather than as a response."""
    return templates.get_template(template).render(**context)


def _error_page(request: Request, *, status_code: int, message: str, field: str | None = None) -> Response:
    if not is_htmx(request):
        return render(request, "error.html", status_code=status_code, message=message, field=field, status=status_code)
    response = render(request, "partials/error.html", status_code=status_code, message=message, field=field)
    # Whatever the form targeted, its error shows in the page's message area.
    response.headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
    return response


class ConsoleRoute(APIRoute):
    """Console errors as HTML: a 401 sends the browser to the log-in page (htmx via HX-Redirect),
    other errors render the error page, or an error fragment for an htmx request."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = "/login?next=" + quote(request.url.path, safe="/")
                if is_htmx(request):
                    return Response(status_code=200, headers={"HX-Redirect": target})
                return RedirectResponse(target, status_code=303)
            except ApiError as exc:
                field = getattr(exc, "field", None)
                response = _error_page(request, status_code=exc.status_code, message=exc.message, field=field)
                response.headers.update({k: v for k, v in exc.headers.items() if k == "Retry-After"})
                return response
            except RequestValidationError as exc:
                field, message = describe_validation_error(request, exc)
                return _error_page(request, status_code=400, message=message, field=field)

        return console_handler
