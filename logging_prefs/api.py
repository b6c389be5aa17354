"""The gateway API (/internal/v1/), built with django-ninja. See DESIGN.md, "Contracts"."""

from ninja import NinjaAPI

api = NinjaAPI(
    title="Portal gateway API",
    version="1",
    urls_namespace="gateway",
    docs_url=None,
    openapi_url="/openapi.json",
)
