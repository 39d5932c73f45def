"""Generated files that once made tenantlint slow: many findings in one module, huge one-line literals,
a 10 MB module. Each is timed against `ast.parse` of the same file (target: at most 3x), both as whole
commands and inside one process after start-up (the part that grows with the file)."""

from __future__ import annotations

from pathlib import Path

_CACHE_CALLS = "from django.core.cache import cache\n\n\ndef remember(user_id, value):\n"
_VIEW = '''

def view_{n}(request, pk):
    key = f"report:{{request.user.id}}:{{pk}}"
    data = cache.get(key)
    if data is None:
        data = {{"pk": pk, "owner": request.user.username, "items": [1, 2, 3]}}
        cache.set(key, data, timeout=60)
    return data


class Handler{n}:
    def handle(self, request):
        self.user = request.user
        return self.user
'''


def cache_calls(count: int) -> str:
    """A function with `count` cache calls, each a TL201 finding."""
    return _CACHE_CALLS + "".join(f"    cache.set(f'profile:{i}:{{user_id}}', value)\n" for i in range(count))


def one_line_literal(items: int) -> str:
    """A module whose second line is one list literal of `items` numbers (a trigger word above it)."""
    return "from django.core.cache import cache\nDATA = [" + ",".join(map(str, range(items))) + "]\n"


def repeated(template: str, count: int, header: str) -> str:
    """`count` copies of a finding's template (`{i}` numbered) under a header of imports."""
    return header + "".join(template.format(i=i) for i in range(count))


_SERIALIZER = """
class Serializer{i}(serializers.ModelSerializer):
    def create(self, validated_data):
        validated_data["created_by"] = self.context["request"].user
        return super().create(validated_data)
"""
_RECEIVER = """
@receiver(post_save, sender=Model{i})
def saved_{i}(sender, instance, **kwargs):
    logger.info("saved by %s", instance.updated_by.username)
"""
_AUTHENTICATION = """
class Authentication{i}(JWTAuthentication):
    def get_user(self, validated_token):
        return User.objects.get(id=validated_token["user_id"])
"""
_SWITCH = """

@shared_task
def task_{i}(schema):
    connection.set_schema(schema)
    refresh_{i}(schema)
"""
_STATE = """    def process_request_{i}(self, request):
        self.user_{i} = request.user
"""


def big_module(megabytes: int) -> str:
    """Views, cache calls and request state repeated to `megabytes` MB: findings of three rules."""
    per_view = len(_VIEW.format(n=10_000))
    return views(megabytes * 1_000_000 // per_view + 1)


def views(count: int) -> str:
    """`count` views with cache calls and request state: findings of three rules."""
    return "from django.core.cache import cache\n" + "".join(_VIEW.format(n=n) for n in range(count))


_HEADERS = {
    "state": "from django.utils.deprecation import MiddlewareMixin\n\n\nclass Middleware(MiddlewareMixin):\n",
    "serializers": "from rest_framework import serializers\n",
    "receivers": ("import logging\n\nfrom django.db.models.signals import post_save\nfrom django.dispatch import receiver\n\n"
                  "logger = logging.getLogger(__name__)\n"),
    "authentications": "from rest_framework_simplejwt.authentication import JWTAuthentication\n",
    "switches": "from celery import shared_task\nfrom django.db import connection\n",
}
# each kind of generated module by the number of its findings (or items): the benchmark times them large,
# tests/test_linear_growth.py counts the work they take small, at two sizes
GROWING = {
    "cache calls": cache_calls,
    "one-line literal": one_line_literal,
    "views": views,
    "request-state attributes in one class": lambda n: repeated(_STATE, n, _HEADERS["state"]),
    "serializers": lambda n: repeated(_SERIALIZER, n, _HEADERS["serializers"]),
    "signal receivers": lambda n: repeated(_RECEIVER, n, _HEADERS["receivers"]),
    "token authentications": lambda n: repeated(_AUTHENTICATION, n, _HEADERS["authentications"]),
    "schema switches in tasks": lambda n: repeated(_SWITCH, n, _HEADERS["switches"]),
}

FILES = {
    "1k cache calls": lambda: cache_calls(1_000),
    "5k cache calls": lambda: cache_calls(5_000),
    "20k cache calls": lambda: cache_calls(20_000),
    "200k-item one-line literal": lambda: one_line_literal(200_000),
    "2M-item one-line literal": lambda: one_line_literal(2_000_000),
    "10 MB module": lambda: big_module(10),
    # thousands of findings of each other rule in one module (each of these was quadratic once)
    "2k request-state attributes in one class": lambda: GROWING["request-state attributes in one class"](2_000),
    "2k serializers": lambda: GROWING["serializers"](2_000),
    "2k signal receivers": lambda: GROWING["signal receivers"](2_000),
    "2k token authentications": lambda: GROWING["token authentications"](2_000),
}


# the floor as a whole command
PARSE = "import ast, sys\nwith open(sys.argv[1], 'rb') as handle:\n    ast.parse(handle.read())\n"


def folder_name(label: str) -> str:
    return label.replace(" ", "_").replace("-", "_")


def write_files(folder: Path) -> dict[str, Path]:
    """Each generated file in its own folder (so the check sees no other file), written once."""
    written = {}
    for label, make in FILES.items():
        name = folder_name(label)
        path = folder / name / f"{name}.py"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(make(), encoding="utf-8")
        written[label] = path
    return written


def time_parse(path: Path) -> float:
    """Seconds `ast.parse` takes on the file, as a plain Python runs it (default garbage collector)."""
    import ast
    import time

    data = path.read_bytes()
    start = time.perf_counter()
    ast.parse(data)
    return time.perf_counter() - start


def time_check(path: Path) -> tuple[float, int]:
    """Seconds tenantlint's engine takes on the file as `tenantlint check` runs it, after start-up
    (imports, configuration), and its number of findings."""
    import time

    from tenantlint.config import load_config
    from tenantlint.engine import Engine
    from tenantlint.runner import tune_gc

    tune_gc()
    data = path.read_bytes()
    engine = Engine(load_config(None), files=[str(path)])
    start = time.perf_counter()
    result = engine.check_bytes(str(path), data)
    return time.perf_counter() - start, len(result.diagnostics)


if __name__ == "__main__":  # a child process of the benchmark, so that its own memory stays small
    import sys

    command, target = sys.argv[1], Path(sys.argv[2])
    if command == "write":
        write_files(target)
    elif command == "parse":
        print(time_parse(target))
    else:
        print(*time_check(target))

