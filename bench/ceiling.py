"""The ceiling for throughput: a bare aiohttp app that returns one constant user object.

Nothing a mock does (auth, validation, state, journal) happens here, so no aiohttp-based mock can beat it.
Usage: python bench/ceiling.py PORT [uvloop|asyncio]   (the event loop: the one mockserver runs on, for a fair ratio)
"""
import json
import sys

from aiohttp import web

USER = json.dumps({
    "id": "1", "object": "user",
    "attributes": {"email": "maxie@example.com", "name": "Maxie Kris", "signed_up_at": "2022-09-29T12:34:56.000+00:00"},
    "created_at": "2022-10-17T12:34:56.000+00:00", "groups": None, "memberships": None,
}).encode()


async def get_user(request: web.Request) -> web.Response:
    return web.Response(body=USER, content_type="application/json")


app = web.Application()
app.router.add_get("/users/{user_id}", get_user)
loop = None
if sys.argv[2:] == ["uvloop"]:
    import uvloop
    loop = uvloop.new_event_loop()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None, loop=loop)
