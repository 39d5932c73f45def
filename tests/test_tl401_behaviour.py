"""TL401's fix, run: with real Django and DRF, an anonymous request stops being recorded as the editor."""

from __future__ import annotations

import subprocess
import sys

from tenantlint.config import Config
from tenantlint.engine import Engine
from tenantlint.fixing import fix_source
from tenantlint.sourcefile import decode_source

SERIALIZER = '''\
from rest_framework import serializers


class RecordSerializer(serializers.Serializer):
    title = serializers.CharField()

    def update(self, instance, validated_data):
        validated_data["updated_by"] = self.context["request"].user
        instance.update(validated_data)
        return instance
'''

# Saves a record through the serializer for an anonymous request, an authenticated one and
# no request at all, printing who was recorded as the editor or what was raised.
RUN = '''\
import importlib.util
import sys

import django
from django.conf import settings

settings.configure(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"])
django.setup()

from django.contrib.auth.models import AnonymousUser, User
from django.test import RequestFactory

spec = importlib.util.spec_from_file_location("record_serializers", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)


def save(context):
    serializer = module.RecordSerializer(instance={}, data={"title": "Q3 plan"}, context=context)
    serializer.is_valid(raise_exception=True)
    try:
        record = serializer.save()
    except Exception as error:
        return f"{type(error).__module__}.{type(error).__name__}: {error}"
    editor = record["updated_by"]
    return f"updated_by={type(editor).__name__} {editor}"


def request_of(user):
    request = RequestFactory().patch("/records/1/")
    request.user = user  # what AuthenticationMiddleware sets
    return request


print(save({"request": request_of(AnonymousUser())}))
print(save({"request": request_of(User(username="ann"))}))
print(save({}))
'''


def saved(path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", RUN, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_anonymous_request_is_recorded_before_the_fix_and_rejected_after(tmp_path):
    path = tmp_path / "serializers.py"
    path.write_text(SERIALIZER, encoding="utf-8")
    before = saved(path)
    assert before == ["updated_by=AnonymousUser AnonymousUser", "updated_by=User ann", "builtins.KeyError: 'request'"]

    engine = Engine(Config(root=str(tmp_path), select=["TL401"]), files=[str(path)])
    outcome = fix_source(engine, str(path), decode_source(path.read_bytes()), unsafe=True)
    assert [d.code for d in outcome.fixed] == ["TL401"]
    path.write_text(outcome.text, encoding="utf-8")

    rejected = "rest_framework.exceptions.ValidationError: [ErrorDetail(string='Invalid user context', code='invalid')]"
    assert saved(path) == [rejected, "updated_by=User ann", rejected]
