"""Run code in a Jupyter kernel the way JupyterLab does: REST to start, WebSocket to talk."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from websockets.sync.client import connect


def _message(msg_type: str, content: dict[str, Any], session: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "session": session,
            "username": "test",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "shell",
    }


def start_kernel(server_url: str, token: str, kernel_name: str, timeout: float = 60) -> str:
    response = httpx.post(
        f"{server_url}/api/kernels",
        json={"name": kernel_name},
        headers={"Authorization": f"token {token}"},
        timeout=timeout,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def run_in_kernel(
    server_url: str, token: str, kernel_name: str, code: str, timeout: float = 60
) -> str:
    """Start a kernel, run ``code``, return everything it printed; the kernel is deleted."""
    kernel_id = start_kernel(server_url, token, kernel_name, timeout)
    try:
        return execute(server_url, token, kernel_id, code, timeout)
    finally:
        httpx.delete(
            f"{server_url}/api/kernels/{kernel_id}",
            headers={"Authorization": f"token {token}"},
            timeout=timeout,
        )


def execute(server_url: str, token: str, kernel_id: str, code: str, timeout: float = 60) -> str:
    """Run ``code`` in a running kernel over its WebSocket; return what it printed."""
    ws_url = server_url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"
    session = uuid.uuid4().hex
    request = _message(
        "execute_request",
        {
            "code": code,
            "silent": False,
            "store_history": False,
            "allow_stdin": False,
            "stop_on_error": True,
        },
        session,
    )
    output: list[str] = []
    with connect(
        ws_url, additional_headers={"Authorization": f"token {token}"}, open_timeout=timeout
    ) as ws:
        ws.send(json.dumps(request))
        while True:
            reply = json.loads(ws.recv(timeout=timeout))
            if reply.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
                continue
            kind = reply["msg_type"]
            if kind == "stream":
                output.append(reply["content"]["text"])
            elif kind in ("execute_result", "display_data"):
                output.append(reply["content"]["data"].get("text/plain", ""))
            elif kind == "error":
                raise RuntimeError(
                    f"kernel error: {reply['content']['ename']}: {reply['content']['evalue']}"
                )
            elif kind == "status" and reply["content"]["execution_state"] == "idle":
                return "".join(output)
