"""One Litestar Controller per resource."""

from services.gateway.controllers.health import HealthController
from services.gateway.controllers.pages import PageController
from services.gateway.controllers.search import SearchController
from services.gateway.controllers.telemetry import TelemetryController

__all__ = ["HealthController", "PageController", "SearchController", "TelemetryController"]
