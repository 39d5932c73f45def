"""Exact findings of TL402 unchecked-audit-user: position, actor and dereference messages, severity, options."""

from __future__ import annotations

import sys

import pytest

from lintutil import CASES, SAMPLE, lint, with_options
from tenantlint.config import Config
from tenantlint.engine import Engine
from tenantlint.fixing import fix_source
from tenantlint.sourcefile import decode_source
from tenantlint.diagnostics import Severity

TL402 = CASES / "TL402"
ACTOR = ("'instance.{}' used as the audit actor in receiver '{}' without checking it: "
         "a record saved by a system task or another tenant's request logs a missing or stale user")
DEREFERENCE = ("'instance.{}' dereferenced in receiver '{}' without checking it: a record saved without a user "
               "(by a system task, a script or a data migration) raises AttributeError on None")

# an early return there would skip other work of the receiver
SKIPS = ("; no fix offered: a guard returning early would also skip line {}, which does not use instance.{}: "
         "check it where it is used")


def found(path, **kwargs):
    diagnostics, errors = lint(path, select=["TL402"], **kwargs)
    assert errors == []
    return [(d.path.rsplit("/", 1)[-1], d.line, d.col, d.message) for d in diagnostics]


def test_plan_original_is_reported_at_the_field():
    diagnostics, errors = lint(TL402 / "plan_original.py", select=["TL402"])
    assert errors == []
    assert [(d.code, d.line, d.col, d.end_col, d.message, d.severity) for d in diagnostics] == [
        ("TL402", 26, 21, 40, ACTOR.format("updated_by", "handle_record_save"), Severity.WARNING)]


def test_sample_project_has_exactly_the_plan_issue():
    diagnostics, errors = lint(SAMPLE, select=["TL402"], root=SAMPLE)
    assert errors == []
    assert [(d.path.rsplit("sample/", 1)[-1], d.line, d.col) for d in diagnostics] == [
        ("backend/pipelines/signals.py", 37, 21)]


def test_actor_and_dereference_messages():
    assert found(TL402 / "use_spellings.py") == [
        ("use_spellings.py", 11, 33, ACTOR.format("updated_by", "uses")),
        ("use_spellings.py", 12, 20, ACTOR.format("updated_by", "uses")),
        ("use_spellings.py", 13, 24, ACTOR.format("created_by", "uses") + SKIPS.format(14, "created_by")),
        ("use_spellings.py", 14, 24, ACTOR.format("updated_by", "uses") + SKIPS.format(15, "updated_by")),
        ("use_spellings.py", 16, 17, ACTOR.format("updated_by", "uses") + SKIPS.format(17, "updated_by")),
        ("use_spellings.py", 17, 39, DEREFERENCE.format("owner", "uses")),
        ("use_spellings.py", 18, 27, DEREFERENCE.format("updated_by", "uses")),
        ("use_spellings.py", 25, 33, ACTOR.format("updated_by", "through_locals")),
        ("use_spellings.py", 27, 11, DEREFERENCE.format("owner", "through_locals")),
        ("use_spellings.py", 28, 33, ACTOR.format("created_by", "through_locals")),
        ("use_spellings.py", 37, 33, ACTOR.format("created_by", "through_expressions")),
        ("use_spellings.py", 38, 60, ACTOR.format("created_by", "through_expressions")),
        ("use_spellings.py", 40, 33, DEREFERENCE.format("owner", "through_expressions")),
    ]


def test_non_nullable_field_is_trusted_unless_each_save_rewrites_it():
    case = TL402 / "nullability"
    assert found(case, root=case) == [
        ("signals.py", 11, 42, DEREFERENCE.format("updated_by", "deal_saved")),
        ("signals.py", 13, 30, ACTOR.format("modified_by", "deal_saved")),
        ("signals.py", 23, 11, DEREFERENCE.format("deleted_by", "deal_deleted")),
        ("signals.py", 28, 11, DEREFERENCE.format("owner", "contact_saved")),
        ("signals.py", 32, 11, DEREFERENCE.format("created_by", "any_sender")),
        ("signals.py", 40, 11, DEREFERENCE.format("owner", "one_sender_unknown")),
        ("signals.py", 55, 44, ACTOR.format("created_by", "payment_saved")),
        ("signals.py", 63, 36, ACTOR.format("created_by", "payment_saved_importing_late")),
    ]


def test_audit_fields_option_replaces_the_defaults():
    assert found(TL402 / "plan_original.py", options=with_options(audit_fields=("edited_by",))) == []
    only_owner = found(TL402 / "use_spellings.py", options=with_options(audit_fields=("owner",)))
    assert [(line, message) for _, line, _, message in only_owner] == [
        (17, DEREFERENCE.format("owner", "uses")), (27, DEREFERENCE.format("owner", "through_locals")),
        (40, DEREFERENCE.format("owner", "through_expressions"))]


# -- the fix ------------------------------------------------------------------------------

def fixes(path):
    diagnostics, errors = lint(path, select=["TL402"])
    assert errors == []
    return [(d.line, d.fix and (d.fix.applicability.value, d.fix.message)) for d in diagnostics]


def test_each_finding_offers_the_unsafe_guard_fix():
    assert fixes(TL402 / "plan_original.py") == [
        (26, ("unsafe", "Return early with a warning unless instance.updated_by is set and authenticated"))]


def test_no_fix_where_the_guard_has_no_place(tmp_path):
    path = tmp_path / "signals.py"
    path.write_text(
        "import logging\n"
        "\n"
        "from django.db.models.signals import post_save\n"
        "from django.dispatch import receiver\n"
        "\n"
        "from .models import AuditLog, Record\n"
        "\n"
        "logger = logging.getLogger(__name__)\n"
        "\n\n"
        "@receiver(post_save, sender=Record)\n"
        "def one_line(sender, instance, **kwargs): AuditLog.objects.create(user=instance.updated_by)\n"
        "\n\n"
        "@receiver(post_save, sender=Record)\n"
        "def shares_a_line(sender, instance, **kwargs):\n"
        "    entry = AuditLog(); entry.user = instance.updated_by\n"
        "\n\n"
        "def instance_set_in_a_branch(**kwargs):\n"
        "    if 'instance' in kwargs:\n"
        "        instance = kwargs['instance']\n"
        "        AuditLog.objects.create(user=instance.created_by)\n"
        "\n\n"
        "@receiver(post_save, sender=Record)\n"
        "def instance_rebound(sender, instance, **kwargs):\n"
        "    AuditLog.objects.create(user=instance.owner)\n"
        "    instance = instance.parent\n"
        "\n\n"
        "post_save.connect(instance_set_in_a_branch, sender=Record)\n"
        "post_save.connect(lambda sender, instance, **kwargs: AuditLog.objects.create(user=instance.updated_by))\n",
        encoding="utf-8",
    )
    assert fixes(path) == [(12, None), (17, None), (23, None), (28, None)]  # the lambda receiver is not reported at all


def test_no_fix_without_a_logger_to_warn_with(tmp_path):
    path = tmp_path / "signals.py"
    path.write_text(
        "from django.db.models.signals import post_save\n"
        "from django.dispatch import receiver\n"
        "\n"
        "from .models import AuditLog, Record\n"
        "from .utils import logger\n"
        "\n\n"
        "@receiver(post_save, sender=Record)\n"
        "def record_saved(sender, instance, **kwargs):\n"
        "    AuditLog.objects.create(user=instance.updated_by)\n",
        encoding="utf-8",
    )
    assert fixes(path) == [(10, None)]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="except* needs Python 3.11")
def test_guard_for_a_use_in_an_except_star_block_goes_before_the_try(tmp_path):
    """`return` is a syntax error inside `except*`, so the guard precedes the whole `try`."""
    path = tmp_path / "signals.py"
    receiver = (
        "@receiver(post_save, sender=Record)\n"
        "def record_saved(sender, instance, **kwargs):\n"
        "{guard}"
        "    try:\n"
        "        instance.publish()\n"
        "    except* ValueError:\n"
        "        AuditLog.objects.create(user=instance.updated_by)\n"
    )
    head = ("import logging\n\nfrom django.db.models.signals import post_save\nfrom django.dispatch import receiver\n\n"
            "from .models import AuditLog, Record\n\nlogger = logging.getLogger(__name__)\n\n\n")
    path.write_text(head + receiver.format(guard=""), encoding="utf-8")
    engine = Engine(Config(root=str(tmp_path), select=["TL402"]), files=[str(path)])
    outcome = fix_source(engine, str(path), decode_source(path.read_bytes()), unsafe=True)
    assert outcome.dropped == []
    assert outcome.text == head + receiver.format(guard=(
        "    if not instance.updated_by:\n"
        "        logger.warning(f\"No updated_by user for {instance.__class__.__name__} {instance.pk}\")\n"
        "        return\n"
        "    if not instance.updated_by.is_authenticated:\n"
        "        logger.warning(f\"Invalid updated_by user for {instance.__class__.__name__} {instance.pk}: "
        "{instance.updated_by}\")\n"
        "        return\n"))
