"""Exact findings of TL401 unchecked-request-user: position, message per missing check, severity, options."""

from __future__ import annotations

from lintutil import CASES, SAMPLE, lint, with_options
from tenantlint.diagnostics import Severity

TL401 = CASES / "TL401"
BOTH = ("request user written to '{}' without checking that the request exists and the user is authenticated: "
        "an anonymous or wrong-context request records the wrong actor")
NO_AUTH = ("request user written to '{}' without checking that the user is authenticated: "
           "an anonymous request records the wrong actor")
NO_REQUEST = ("request user written to '{}' without checking that the request exists: take it with "
              "`self.context.get('request')` and test it, so a serializer run without a request is rejected")


def found(path, **kwargs):
    diagnostics, errors = lint(path, select=["TL401"], **kwargs)
    assert errors == []
    return [(d.line, d.col, d.message) for d in diagnostics]


def test_plan_original_is_reported_at_the_written_value():
    diagnostics, errors = lint(TL401 / "plan_original.py", select=["TL401"])
    assert errors == []
    assert [(d.code, d.line, d.col, d.end_col, d.message, d.severity) for d in diagnostics] == [
        ("TL401", 13, 39, 67, NO_AUTH.format("updated_by"), Severity.WARNING)]


def test_sample_project_has_exactly_the_plan_issue():
    diagnostics, errors = lint(SAMPLE, select=["TL401"], root=SAMPLE)
    assert errors == []
    assert [(d.path.rsplit("sample/", 1)[-1], d.line, d.col) for d in diagnostics] == [
        ("backend/api/serializers.py", 50, 39)]


def test_message_names_what_is_missing():
    assert found(TL401 / "weak_guards.py") == [
        (9, 43, NO_AUTH.format("updated_by")),      # `if request and request.user:`
        (18, 39, NO_AUTH.format("updated_by")),     # request tested, user not
        (36, 39, NO_REQUEST.format("updated_by")),  # `.get` but never tested
        (48, 39, BOTH.format("updated_by")),        # guard on one branch only
        (57, 39, BOTH.format("updated_by")),        # guard that does not leave
        (64, 39, BOTH.format("updated_by")),        # guard after the write
        (77, 39, NO_AUTH.format("updated_by")),     # `is_authenticated or flag`
        (87, 43, BOTH.format("updated_by")),        # in the else of the check
        (103, 39, NO_AUTH.format("created_by")),    # `validate` returns early without the check
    ]


def test_each_write_spelling_names_its_field():
    assert [(line, message.split("'")[1]) for line, _, message in found(TL401 / "write_spellings.py")] == [
        (11, "created_by"), (18, "owner"), (24, "modified_by"), (30, "last_modified_by"), (37, "owner"),
        (42, "updated_by"), (48, "created_by"), (54, "deleted_by"), (60, "user"), (66, "owner"),
        (72, "updated_by"), (78, "created_by"), (79, "owner"), (86, "created_by"), (92, "created_by"),
    ]


def test_audit_fields_option_replaces_the_defaults():
    options = with_options(audit_fields=("last_edited_by",))
    assert found(TL401 / "plan_original.py", options=options) == []
    custom = found(TL401 / "write_spellings.py", options=with_options(audit_fields=("owner",)))
    assert [line for line, _, _ in custom] == [18, 37, 66, 79]


def test_custom_field_is_reported(tmp_path):
    path = tmp_path / "serializers.py"
    path.write_text(
        "from rest_framework import serializers\n\n\n"
        "class S(serializers.Serializer):\n"
        "    def create(self, validated_data):\n"
        "        validated_data['last_edited_by'] = self.context['request'].user\n"
        "        return validated_data\n",
        encoding="utf-8",
    )
    assert found(path, options=with_options(audit_fields=("last_edited_by",))) == [
        (6, 43, NO_AUTH.format("last_edited_by"))]


# -- the fix ------------------------------------------------------------------------------

GUARD_FIX = "Raise ValidationError unless the request exists and its user is authenticated"


def fixes(path):
    diagnostics, errors = lint(path, select=["TL401"])
    assert errors == []
    return [(d.line, d.fix and (d.fix.applicability.value, d.fix.message)) for d in diagnostics]


def test_each_finding_offers_the_unsafe_guard_fix():
    assert fixes(TL401 / "plan_original.py") == [(13, ("unsafe", GUARD_FIX))]


def test_no_fix_where_the_guard_has_no_place(tmp_path):
    path = tmp_path / "serializers.py"
    path.write_text(
        "from django.core import serializers\n"
        "from rest_framework.serializers import ModelSerializer\n"
        "\n\n"
        "class SerializersIsDjangos(ModelSerializer):\n"
        "    def update(self, instance, validated_data):\n"
        "        validated_data['updated_by'] = self.context['request'].user\n"
        "        return serializers.serialize('json', [instance])\n",
        encoding="utf-8",
    )
    assert fixes(path) == [(7, None)]
    path.write_text(
        "from rest_framework import serializers\n"
        "\n"
        "from .middleware import request\n"
        "\n\n"
        "class OneLine(serializers.ModelSerializer):\n"
        "    def create(self, data): return super().create({**data, 'created_by': self.context['request'].user})\n"
        "\n\n"
        "class RequestParameter(serializers.ModelSerializer):\n"
        "    def save(self, request=None, **kwargs):\n"
        "        kwargs['owner'] = self.context['request'].user\n"
        "        return super().save(**kwargs)\n"
        "\n\n"
        "class RequestIsSomethingElse(serializers.ModelSerializer):\n"
        "    def create(self, validated_data):\n"
        "        request = self.initial_data\n"
        "        validated_data['created_by'] = self.context['request'].user\n"
        "        return super().create(validated_data)\n"
        "\n\n"
        "class RequestIsTheModules(serializers.ModelSerializer):\n"
        "    def create(self, validated_data):\n"
        "        validated_data['created_by'] = self.context['request'].user\n"
        "        return super().create(validated_data, source=request)\n",
        encoding="utf-8",
    )
    assert fixes(path) == [(7, None), (12, None), (19, None), (25, None)]
