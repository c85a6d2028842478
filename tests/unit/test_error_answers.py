"""What the api answers when PostgreSQL stops one of two colliding transactions."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, OperationalError

from api.errors import install_error_handlers


def _app(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/change")
    async def change() -> None:
        raise error

    return app


async def _answer(error: Exception) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.post("/change")


@pytest.mark.parametrize(
    "orig", [psycopg.errors.DeadlockDetected(), psycopg.errors.SerializationFailure()]
)
async def test_a_lost_race_asks_to_try_again(orig: Exception) -> None:
    answer = await _answer(DBAPIError("UPDATE …", {}, orig))
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "busy"
    assert "Try again" in answer.json()["error"]["message"]


async def test_another_database_error_is_an_internal_error() -> None:
    answer = await _answer(OperationalError("SELECT 1", {}, psycopg.errors.DiskFull()))
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
