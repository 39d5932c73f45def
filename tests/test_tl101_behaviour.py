"""TL101's fix, run: two concurrent requests through one middleware instance, before and after the fix.

A checkpoint in the helper that reads the stored request lets both requests store theirs before
either reads (a `threading.Barrier` for threads, an asyncio barrier for tasks), so the race
happens every time. Before the fix one request reads the other's user; after it, each its own.
"""

from __future__ import annotations

import asyncio
import threading
import types

from tenantlint.config import Config
from tenantlint.diagnostics import Applicability
from tenantlint.engine import Engine
from tenantlint.fixing import fix_source
from tenantlint.sourcefile import decode_source

THREADED = '''\
"""A middleware that keeps the request on its one instance for a helper."""


def checkpoint():
    """Where another request may run; the test puts a barrier here."""


class CurrentUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.request = request
        request.seen_user = self.get_user_name()
        return self.get_response(request)

    def get_user_name(self):
        checkpoint()
        return self.request.user
'''

ASYNC = '''\
"""An async middleware that keeps the request on its one instance for a helper."""


async def checkpoint():
    """Where another task may run; the test puts a barrier here."""


class CurrentUserMiddleware:
    async_capable = True
    sync_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    async def __call__(self, request):
        self._request = request
        request.seen_user = await self._user_name()
        return await self.get_response(request)

    async def _user_name(self):
        await checkpoint()
        return self._request.user
'''

USERS = ("alice", "bob")


def fixed(tmp_path, text: str, unsafe: bool):
    path = tmp_path / "middleware.py"
    path.write_text(text, encoding="utf-8")
    engine = Engine(Config(root=str(tmp_path), select=["TL101"]), files=[str(path)])
    return fix_source(engine, str(path), decode_source(path.read_bytes()), unsafe=unsafe)


def load(text: str) -> types.ModuleType:
    module = types.ModuleType("middleware")
    exec(compile(text, "middleware.py", "exec"), module.__dict__)
    return module


def serve_on_threads(module) -> dict[str, str]:
    """Each user's request on its own thread; what user each request's helper saw."""
    barrier = threading.Barrier(len(USERS), timeout=10)
    module.checkpoint = barrier.wait
    middleware = module.CurrentUserMiddleware(lambda request: request.seen_user)
    seen: dict[str, str] = {}

    def serve(user):
        seen[user] = middleware(types.SimpleNamespace(user=user))

    threads = [threading.Thread(target=serve, args=(user,)) for user in USERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return seen


class EventBarrier:
    """`asyncio.Barrier` for Python 3.10, which lacks it: every party waits until all have arrived."""

    def __init__(self, parties: int):
        self.parties = parties
        self.arrived = 0
        self.all_in = asyncio.Event()

    async def wait(self):
        self.arrived += 1
        if self.arrived == self.parties:
            self.all_in.set()
        await self.all_in.wait()


def serve_as_tasks(module) -> dict[str, str]:
    """Each user's request in its own task on one event loop; what user each request's helper saw."""

    async def view(request):
        return request.seen_user

    async def main():
        barrier = getattr(asyncio, "Barrier", EventBarrier)(len(USERS))
        module.checkpoint = barrier.wait
        middleware = module.CurrentUserMiddleware(view)
        requests = [types.SimpleNamespace(user=user) for user in USERS]
        seen = await asyncio.wait_for(asyncio.gather(*(middleware(r) for r in requests)), timeout=10)
        return dict(zip(USERS, seen))

    return asyncio.run(main())


def test_threads_see_each_others_user_before_the_fix_and_their_own_after(tmp_path):
    before = serve_on_threads(load(THREADED))
    assert sorted(before) == list(USERS)
    # both requests stored theirs before either read: the one that stored first reads the other's user
    assert len(set(before.values())) == 1 and before != {user: user for user in USERS}

    # `request` is a public name: code outside the class may read it, so the fix is unsafe
    assert fixed(tmp_path, THREADED, unsafe=False).text == THREADED
    outcome = fixed(tmp_path, THREADED, unsafe=True)
    assert [d.fix.applicability for d in outcome.fixed] == [Applicability.UNSAFE]
    assert "self.request" not in outcome.text

    after = serve_on_threads(load(outcome.text))
    assert after == {user: user for user in USERS}


def test_tasks_see_each_others_user_before_the_fix_and_their_own_after(tmp_path):
    before = serve_as_tasks(load(ASYNC))
    assert len(set(before.values())) == 1 and before != {user: user for user in USERS}

    # a private attribute every access of which is rewritten: a safe fix, applied by plain --fix
    outcome = fixed(tmp_path, ASYNC, unsafe=False)
    assert [d.fix.applicability for d in outcome.fixed] == [Applicability.SAFE]
    assert "self._request" not in outcome.text

    after = serve_as_tasks(load(outcome.text))
    assert after == {user: user for user in USERS}


def test_the_fixed_middleware_leaves_nothing_behind_between_requests(tmp_path):
    """The store opens a `try` whose `finally` resets the variable: a thread's next request starts clean."""
    module = load(fixed(tmp_path, THREADED, unsafe=True).text)
    module.checkpoint = lambda: None
    middleware = module.CurrentUserMiddleware(lambda request: request.seen_user)
    assert middleware(types.SimpleNamespace(user="alice")) == "alice"
    assert module._CurrentUserMiddleware_request.get() is None
