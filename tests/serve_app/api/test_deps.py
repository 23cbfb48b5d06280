"""One dependency-injection style: an API route declares each service or resource it uses as an
Annotated dependency, and never takes the whole AppState to reach through it."""

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
