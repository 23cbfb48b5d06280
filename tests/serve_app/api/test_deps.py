"""One dependency-injection style: an API route declares each service or resource it uses as an
Annotated dependency, and never takes the whole AppState to reach through it."""

import inspect

from fastapi.routing import APIRoute

from serve_app.api.deps import get_state
from serve_app.api.main import create_app


def test_no_api_route_takes_the_app_state_itself(state):
    app = create_app(state)
    routes = [route for route in app.state.api_routes if isinstance(route, APIRoute)]
    reaching = [
        f"{sorted(route.methods)} {route.path}"
        for route in routes
        if any(dependency.call is get_state for dependency in route.dependant.dependencies)
    ]
    assert routes and reaching == []


def test_no_api_route_has_a_dependency_that_fastapi_would_run_in_its_thread_pool(state):
    app = create_app(state)

    def plain(dependant) -> list[str]:
        found = []
        for dependency in dependant.dependencies:
            call = dependency.call
            # A security scheme (APIKeyHeader) is an instance with an async __call__.
            function = call if inspect.isroutine(call) else type(call).__call__
            if not inspect.iscoroutinefunction(function):
                found.append(getattr(call, "__name__", repr(call)))
            found += plain(dependency)
        return found

    routes = [route for route in app.state.api_routes if isinstance(route, APIRoute)]
    assert routes and sorted({name for route in routes for name in plain(route.dependant)}) == []
