"""Password sign-in through the platform's broker against NativeAuthenticator, same run.

Two platforms run side by side on loopback: one with the platform's own sign-in (the hub's
login → the api's OpenID Connect provider → its sign-in page → back to the hub), one with
``DATAZENTR_AUTHENTICATOR=native`` (JupyterHub's NativeAuthenticator form). A login is what
a new browser does, from opening ``/hub/login`` to the hub home answering 200:

- broker: /hub/login → /hub/oauth_login → authorize → sign-in page; POST the form →
  authorize → /hub/oauth_callback → /hub/home;
- native: /hub/login (the form); POST it → /hub/home.

Measured interleaved (one native login, one broker login, …) so drift on a shared machine
hits both alike: p50/p95 of ``--sequential`` logins one after another, then of
``--concurrent`` logins started at once; the ratios broker / native are printed.
Goal: the broker costs at most 1.3 times the old login.

    .venv/bin/python bench/login.py                    # 200 sequential, 50 concurrent
    .venv/bin/python bench/login.py --sequential 20 --concurrent 10   # CI
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from api.accounts.sessions import SIGN_IN_PATH  # noqa: E402
from tests.support.accounts import csrf_token  # noqa: E402
from tests.support.hub import NEXT_FIELD, HubUser  # noqa: E402
from tests.support.platform import Platform, start_platform, stop_platform  # noqa: E402

GOAL = 1.3
PEOPLE = 10  # logins cycle through this many accounts on each platform
XSRF_FIELD = re.compile(r'name="_xsrf" value="([^"]+)"')

Login = Callable[[str, str], Awaitable[None]]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def follow(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    while response.is_redirect:
        response = await client.get(response.headers["location"])
    return response


class LoginFailed(RuntimeError):
    """A login that did not reach the hub home (counted, not timed)."""


def at_hub_home(response: httpx.Response) -> None:
    if response.status_code != 200 or response.url.path != "/hub/home":
        raise LoginFailed(f"{response.status_code} at {response.url.path}")


def broker_login(url: str) -> Login:
    async def login(name: str, password: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            page = await follow(client, await client.get("/hub/login"))
            if page.url.path != SIGN_IN_PATH:
                raise LoginFailed(f"the hub's login led to {page.url}, not the sign-in page")
            next_field = NEXT_FIELD.search(page.text)
            assert next_field
            sent = await client.post(
                SIGN_IN_PATH,
                data={
                    "email": name,
                    "password": password,
                    "next": next_field.group(1).replace("&amp;", "&"),
                    "action": "password",
                    "csrf_token": csrf_token(page.text),
                },
            )
            at_hub_home(await follow(client, sent))

    return login


def native_login(url: str) -> Login:
    async def login(name: str, password: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            page = await client.get("/hub/login")
            xsrf = XSRF_FIELD.search(page.text)
            if page.status_code != 200 or xsrf is None:
                raise LoginFailed(f"no login form at {page.url}: {page.status_code}")
            sent = await client.post(
                "/hub/login",
                data={"username": name, "password": password, "_xsrf": xsrf.group(1)},
            )
            at_hub_home(await follow(client, sent))

    return login


def native_people(platform: Platform, password: str) -> list[str]:
    """Accounts made on NativeAuthenticator's sign-up form."""
    names = []
    with httpx.Client(base_url=platform.url, timeout=60) as client:
        for _ in range(PEOPLE):
            name = f"n{uuid.uuid4().hex[:10]}"
            form = client.get("/hub/signup")
            xsrf = XSRF_FIELD.search(form.text)
            assert xsrf, "no sign-up form"
            done = client.post(
                "/hub/signup",
                data={
                    "username": name,
                    "signup_password": password,
                    "signup_password_confirmation": password,
                    "_xsrf": xsrf.group(1),
                },
            )
            assert "successful" in done.text, done.text[-500:]
            names.append(name)
    return names


def broker_people(platform: Platform) -> tuple[list[str], str]:
    """Accounts made on the platform's sign-up pages (address confirmed from the outbox)."""
    names = []
    password = ""
    for _ in range(PEOPLE):
        person = HubUser(platform)
        assert person.signup().status_code == 200
        names.append(person.name)
        password = person.password
        person.close()
    return names, password


async def timed(login: Login, name: str, password: str) -> float | str:
    """Seconds to the hub home, or what went wrong instead."""
    started = time.perf_counter()
    try:
        await login(name, password)
    except (LoginFailed, httpx.HTTPError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return time.perf_counter() - started


Results = dict[str, dict[str, list[float | str]]]


async def measure(
    logins: dict[str, Login], people: dict[str, list[str]], password: str, args: argparse.Namespace
) -> Results:
    results: Results = {label: {"sequential": [], "concurrent": []} for label in logins}
    for label, login in logins.items():  # warm both up (first requests load code, caches)
        await login(people[label][0], password)
    # Failures are counted, not raised: a hub answering 503 under load is a result too.
    for i in range(args.sequential):
        for label, login in logins.items():
            names = people[label]
            results[label]["sequential"].append(await timed(login, names[i % len(names)], password))
    for label, login in logins.items():
        names = people[label]
        results[label]["concurrent"] = list(
            await asyncio.gather(
                *(timed(login, names[i % len(names)], password) for i in range(args.concurrent))
            )
        )
    return results


def times(outcomes: list[float | str]) -> list[float]:
    return [outcome for outcome in outcomes if isinstance(outcome, float)]


def report(results: Results, args: argparse.Namespace) -> None:
    print(
        f"\npassword login, /hub/login -> hub home 200 "
        f"({args.sequential} sequential, {args.concurrent} concurrent)"
    )
    print(f"{'variant':22} {'seq p50':>9} {'seq p95':>9} {'conc p50':>9} {'conc p95':>9}")
    for label, timings in results.items():
        cells = [
            f"{percentile(times(timings[kind]), fraction) * 1000:7.1f}ms"
            if times(timings[kind])
            else "      -  "
            for kind in ("sequential", "concurrent")
            for fraction in (0.5, 0.95)
        ]
        failed = [o for kind in timings.values() for o in kind if isinstance(o, str)]
        print(f"{label:22} {' '.join(cells)}  failed {len(failed)}")
        for reason in sorted(set(failed)):
            print(f"    {failed.count(reason)} x {reason}")
    broker, native = results["broker"], results["nativeauthenticator"]
    for kind in ("sequential", "concurrent"):
        for name, fraction in (("p50", 0.5), ("p95", 0.95)):
            if not times(broker[kind]) or not times(native[kind]):
                continue
            ratio = percentile(times(broker[kind]), fraction) / percentile(
                times(native[kind]), fraction
            )
            verdict = "meets" if ratio <= GOAL else "misses"
            print(f"broker / native, {kind} {name}: {ratio:.2f}x ({verdict} the {GOAL}x goal)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-login-") as tmp:
        Path(tmp).chmod(0o755)
        platforms: dict[str, Platform] = {}
        try:
            for label, authenticator in (("broker", "platform"), ("nativeauthenticator", "native")):
                data_dir = Path(tmp) / label
                data_dir.mkdir()
                platforms[label] = start_platform(
                    data_dir,
                    Path(tmp) / f"{label}.log",
                    DATAZENTR_AUTHENTICATOR=authenticator,
                    DATAZENTR_QUOTA_CHECK_SECONDS="60",
                )
            broker_names, password = broker_people(platforms["broker"])
            people = {
                "broker": broker_names,
                "nativeauthenticator": native_people(platforms["nativeauthenticator"], password),
            }
            logins = {
                "broker": broker_login(platforms["broker"].url),
                "nativeauthenticator": native_login(platforms["nativeauthenticator"].url),
            }
            results = asyncio.run(measure(logins, people, password, args))
        except Exception:
            for label, platform in platforms.items():
                print(f"--- {label}\n{platform.log_tail(30)}", file=sys.stderr)
            raise
        finally:
            for platform in platforms.values():
                stop_platform(platform)
    report(results, args)


if __name__ == "__main__":
    main()
