"""The operator behind an API request. OperatorAuth (bot.web.middleware) checked the bearer token
before the body was read; this dependency hands on its finding and documents the scheme."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.web.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="an operator token (`python -m bot.ops.cli token create NAME`)")


def operator(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    name = getattr(request.state, "operator", None)
    if not isinstance(name, str):
        raise Unauthorized
    return name


Operator = Annotated[str, Depends(operator)]
