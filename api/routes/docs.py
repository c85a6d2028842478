"""Interactive API docs served from the api itself: no CDN, so they work offline.

The Swagger UI 5 files come from the ``fastapi-offline`` wheel (Swagger UI 4 cannot read
the OpenAPI 3.1 documents FastAPI writes).
"""

from __future__ import annotations

import importlib.resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)
STATIC_PATH = "/static/swagger-ui"
SWAGGER_UI_FILES = importlib.resources.files("fastapi_offline") / "static"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="DATAZENtr API",
        swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
    )


def install_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=str(SWAGGER_UI_FILES)), name="swagger-ui")
