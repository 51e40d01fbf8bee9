"""Overrides on a FastAPI app of this module's own, served in process (no database: its
session dependency is not overridden here; the integration tests override it on real data):
a dependency disabled, an attribute set, the current user picked by a callable, and
everything as it was after the block. Import paths name this module (``test_http_overrides``,
as pytest imports it)."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, HTTPException

from perfkit.errors import ConfigError
from perfkit.http.client import in_process_client
from perfkit.http.overrides import USER_HEADER, Users, overridden
from perfkit.httpconfig import Overrides
from perfkit.typedconfig import build


class Limits:
    enabled = True


limits = Limits()
events: list[str] = []


async def refuse_all() -> None:
    """A rate limiter that has had enough."""
    raise HTTPException(status_code=429)


async def me() -> str:
    """The real current user: nobody is signed in."""
    raise HTTPException(status_code=401)


app = FastAPI()


@app.get("/who")
async def who(
    user: Annotated[str, Depends(me)], _: Annotated[None, Depends(refuse_all)]
) -> dict[str, object]:
    return {"user": user, "limits": limits.enabled}


async def pick_user(session: object, key: str | None) -> str:
    return f"user {key or 'first'}"


def overrides(**values: object) -> Overrides:
    return build(Overrides, values, source="s", key_path="app.http.overrides")


async def test_overrides_apply_for_the_block_and_are_undone_after_it() -> None:
    chosen = overrides(
        current_user={"dependency": "test_http_overrides:me", "call": "test_http_overrides:x"},
        disable=["test_http_overrides:refuse_all"],
        set={"test_http_overrides:limits.enabled": False},
    )
    users = Users(rows={}, call=pick_user)
    with overridden(app, chosen, session_factory=None, users=users, source="s"):
        async with in_process_client(app) as client:
            first = (await client.get("/who")).json()
            named = (await client.get("/who", headers={USER_HEADER: "42"})).json()
    assert first == {"user": "user first", "limits": False}
    assert named == {"user": "user 42", "limits": False}
    assert app.dependency_overrides == {} and limits.enabled is True
    async with in_process_client(app) as client:
        assert (await client.get("/who")).status_code == 401  # the app's own again


def test_an_attribute_that_does_not_exist_is_a_config_error() -> None:
    chosen = overrides(set={"test_http_overrides:limits.enabeld": False})
    with (
        pytest.raises(ConfigError) as caught,
        overridden(app, chosen, session_factory=None, users=None, source="s"),
    ):
        pass
    assert caught.value.key_path == "app.http.overrides.set.test_http_overrides:limits.enabeld"
    assert limits.enabled is True


def test_an_app_without_dependency_overrides_is_refused() -> None:
    async def plain_asgi(scope: object, receive: object, send: object) -> None:
        return None

    chosen = overrides(disable=["test_http_overrides:refuse_all"])
    with (
        pytest.raises(ConfigError) as caught,
        overridden(plain_asgi, chosen, session_factory=None, users=None, source="s"),
    ):
        pass
    assert caught.value.key_path == "app.http.overrides"
