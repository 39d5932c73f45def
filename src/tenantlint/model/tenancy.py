"""Which tenancy model a project uses, and the evidence for it.

It decides what leaks. With one schema per tenant (django-tenants and its relatives), integer ids
repeat in every schema, so a cache key of a user id is shared by two tenants' users. With row-level
tenancy (a tenant foreign key on the models) or a tenant derived from the user, ids are global and
such a key leaks nothing across tenants; only keys with no id at all over per-tenant data do.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass

from tenantlint.config import TENANCY_KINDS
from tenantlint.model.evidence import Evidence
from tenantlint.model.settings import SettingsView
from tenantlint.model.settings_values import Seq, Str
from tenantlint.model.tenant_source import tenant_from_user

SCHEMA = "schema"
ROW = "row"
USER = "user"
NONE = "none"
UNKNOWN = "unknown"  # no settings govern the code and nothing is declared: judged as schema-per-tenant
KINDS = TENANCY_KINDS

SCHEMA_APPS = ("django_tenants", "tenant_schemas", "django_pgschemas")
ROW_APPS = ("django_multitenant",)
# models a row-level project commonly names its tenant; one counts when other models point at it
TENANT_MODEL_NAMES = ("Tenant", "Organization", "Organisation", "Company", "Workspace", "School", "Client")
_FOREIGN_KEY = re.compile(
    r"(?:ForeignKey|OneToOneField|TenantForeignKey)\(\s*(?:to\s*=\s*)?['\"]?(?:[\w.]+\.)?(?P<model>"
    + "|".join(TENANT_MODEL_NAMES) + r")['\"]?\s*[,)]")
_CLASS = re.compile(r"^class\s+(\w+)\s*\((?P<bases>[^)]*)\)", re.MULTILINE)
_NAME = re.compile(r"\w+")
_TENANT_WORDS = frozenset(name.lower() for name in TENANT_MODEL_NAMES)
_MIN_FOREIGN_KEYS = 2
_MAX_MODEL_FILE_BYTES = 4 << 20


@dataclass(frozen=True)
class Tenancy:
    kind: str
    evidence: tuple[Evidence, ...] = ()
    tenant_model: str | None = None
    tenant_apps: tuple[str, ...] = ()
    shared_apps: tuple[str, ...] = ()
    declared: bool = False  # from the configuration, not inferred
    # row-level: the model classes with a foreign key to the tenant model (their rows are per tenant)
    tenant_models: frozenset[str] = frozenset()
    user_model: str = "User"  # the class name of AUTH_USER_MODEL
    user_app: str = "auth"  # the app label of AUTH_USER_MODEL
    # where the project sets the active tenant from the request's user (`request.company = request.user.company`)
    tenant_from_user: Evidence | None = None

    @property
    def ids_repeat_across_tenants(self) -> bool:
        """Integer primary keys are per schema: the same id names different rows in two tenants."""
        return self.kind in (SCHEMA, UNKNOWN)

    @property
    def users_per_tenant(self) -> bool:
        """A user belongs to one tenant, so being authenticated says nothing about the tenant being served:
        with schemas (users per schema, or shared users with a tenant key) and with a user model that holds a
        foreign key to the tenant; not with global users who join tenants through memberships."""
        if self.tenant_from_user is not None:
            return False
        if self.kind in (SCHEMA, UNKNOWN):
            return True
        return self.kind == ROW and self.user_model in self.tenant_models

    @property
    def user_ids_repeat_across_tenants(self) -> bool:
        """Users have their own ids in each schema unless the user model's app lives in the public schema
        alone (in SHARED_APPS, not in TENANT_APPS): then one user table serves every tenant."""
        if not self.ids_repeat_across_tenants:
            return False
        shared, tenant = (any(app_label(entry) == self.user_app for entry in apps)
                          for apps in (self.shared_apps, self.tenant_apps))
        return tenant or not shared

    def app_kind(self, dotted: str) -> str | None:
        """"shared" for a module of an app listed only in SHARED_APPS (its tables live in public and are
        reached from any schema), "tenant" for one in TENANT_APPS, None when the lists do not say."""
        def best(apps: tuple[str, ...]) -> int:
            return max((len(app) for app in map(app_package, apps) if dotted == app or dotted.startswith(app + ".")),
                       default=0)

        shared, tenant = best(self.shared_apps), best(self.tenant_apps)
        if shared > tenant:
            return "shared"
        return "tenant" if tenant else None

    def scope_names(self) -> tuple[str, ...]:
        """Names that, in a key, stand for the tenant: the tenant model's own name (`organization`)."""
        if not self.tenant_model:
            return ()
        return (self.tenant_model.rpartition(".")[2].lower(),)  # `organization_id` holds the word too


def app_label(entry: str) -> str:
    """`django.contrib.auth` -> `auth`: the label Django gives an INSTALLED_APPS entry by default."""
    return app_package(entry).rpartition(".")[2]


def app_package(entry: str) -> str:
    """`app.apps.AppConfig` -> `app`: the package an INSTALLED_APPS entry names."""
    head, marker, _ = entry.partition(".apps.")
    return head if marker else entry


def infer_tenancy(views: list[SettingsView], python_files: tuple[str, ...], declared_kind: str = "",
                  declared_model: str = "", tree_of=lambda path: None,
                  model_files: ModelFileFacts | None = None) -> Tenancy:
    """The tenancy of the project the settings `views` govern; a declared kind or model wins.
    `tree_of(path)` gives a project file's parsed tree (the project's own, so no file is parsed twice);
    `model_files`, the model modules already read (the project's own, so none is read twice)."""
    schema = _schema_evidence(views)
    user_app, user_model = _user_model_setting(views)
    from_user = tenant_from_user(views, python_files, _TENANT_WORDS, tree_of)
    if declared_kind:
        model = declared_model or (_tenant_model_setting(views) if declared_kind == SCHEMA else None)
        return Tenancy(declared_kind, (Evidence(f"declared: tenancy = \"{declared_kind}\"", "", 0),),
                       model, *(_app_lists(views) if declared_kind == SCHEMA else ((), ())), declared=True,
                       user_model=user_model, user_app=user_app, tenant_from_user=from_user)
    if schema:
        return Tenancy(SCHEMA, tuple(schema), declared_model or _tenant_model_setting(views), *_app_lists(views),
                       user_model=user_model, user_app=user_app, tenant_from_user=from_user)
    row = _row_app_evidence(views)
    model = declared_model or None
    scan = _ForeignKeyScan(python_files, model_files or ModelFileFacts())
    if not row and not model:
        found = scan.tenant_model()
        if found is not None:
            model, evidence = found
            row = [evidence]
    if row or model:
        return Tenancy(ROW, tuple(row) or (Evidence(f"declared: tenant-model = \"{model}\"", "", 0),), model,
                       tenant_models=scan.models_pointing_at(model.rpartition(".")[2]) if model else frozenset(),
                       user_model=user_model, user_app=user_app, tenant_from_user=from_user)
    return Tenancy(NONE if views else UNKNOWN, user_model=user_model, user_app=user_app, tenant_from_user=from_user)


def _schema_evidence(views: list[SettingsView]) -> list[Evidence]:
    found = []
    for view in views:
        for setting in ("SHARED_APPS", "TENANT_APPS", "INSTALLED_APPS"):
            value = view.get(setting)
            if isinstance(value, Seq):
                for item in value.strings():
                    if item.value.split(".")[0] in SCHEMA_APPS:
                        found.append(Evidence(f"{item.value} in {setting}", item.loc.path, item.loc.line))
                        break
        model = view.get("TENANT_MODEL")
        if isinstance(model, Str):
            found.append(Evidence(f"TENANT_MODEL = {model.value!r}", model.loc.path, model.loc.line))
    return _unique(found)


def _row_app_evidence(views: list[SettingsView]) -> list[Evidence]:
    found = []
    for view in views:
        value = view.get("INSTALLED_APPS")
        if isinstance(value, Seq):
            found += [Evidence(f"{item.value} in INSTALLED_APPS", item.loc.path, item.loc.line)
                      for item in value.strings() if item.value.split(".")[0] in ROW_APPS]
    return _unique(found)


def _tenant_model_setting(views: list[SettingsView]) -> str | None:
    for view in views:
        model = view.get("TENANT_MODEL")
        if isinstance(model, Str):
            return model.value
    return None


def _user_model_setting(views: list[SettingsView]) -> tuple[str, str]:
    """The app label and the class name of AUTH_USER_MODEL (Django's `auth.User` by default)."""
    for view in views:
        model = view.get("AUTH_USER_MODEL")
        if isinstance(model, Str) and "." in model.value:
            app, _, name = model.value.rpartition(".")
            return app, name
    return "auth", "User"


def _app_lists(views: list[SettingsView]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    def strings(name: str) -> tuple[str, ...]:
        values: dict[str, None] = {}
        for view in views:
            value = view.get(name)
            if isinstance(value, Seq):
                values.update(dict.fromkeys(item.value for item in value.strings()))
        return tuple(values)

    return strings("TENANT_APPS"), strings("SHARED_APPS")


class ModelFileFacts:
    """The classes and foreign keys to tenant-like models of each model module, read once as text: a project
    asks again for each set of settings governing its code."""

    def __init__(self):
        self._by_path: dict[str, tuple[tuple[tuple[str, frozenset[str]], ...], tuple[tuple[str, str, int], ...]]] = {}

    def of(self, path: str) -> tuple[tuple[tuple[str, frozenset[str]], ...], tuple[tuple[str, str, int], ...]]:
        """The file's classes with the last names of their bases, and its foreign keys to tenant-like
        models as (target model, class holding the key, line)."""
        found = self._by_path.get(path)
        if found is None:
            found = self._by_path[path] = _read_model_file(path)
        return found


def _read_model_file(path: str):
    try:
        with open(path, "rb") as handle:
            text = handle.read(_MAX_MODEL_FILE_BYTES).decode("utf-8", "replace")
    except OSError:
        return (), ()
    classes = [(match.start(), match.group(1), frozenset(
        name.rpartition(".")[2] for name in _NAME.findall(match.group("bases")))) for match in _CLASS.finditer(text)]
    keys = []
    if "ForeignKey" in text or "OneToOneField" in text:  # the scan below is a regex tried at every position
        starts = [start for start, _, _ in classes]
        for match in _FOREIGN_KEY.finditer(text):
            index = bisect.bisect_right(starts, match.start()) - 1
            holder = classes[index][1] if index >= 0 else ""
            keys.append((match.group("model"), holder, text.count("\n", 0, match.start()) + 1))
    return tuple((name, bases) for _, name, bases in classes), tuple(keys)


class _ForeignKeyScan:
    """The foreign keys to tenant-like models in the project's model modules (`models.py`, `models/*.py`):
    which model is the tenant, and which models hold rows per tenant."""

    def __init__(self, python_files: tuple[str, ...], facts: ModelFileFacts):
        self._keys: list[tuple[str, str, str, int]] = []  # (target model, model holding the key, path, line)
        self._bases: dict[str, set[str]] = {}  # model class -> the last names of its bases
        for path in python_files:
            if os.path.basename(path) == "models.py" or os.path.basename(os.path.dirname(path)) == "models":
                classes, keys = facts.of(path)
                for name, bases in classes:
                    self._bases.setdefault(name, set()).update(bases)
                self._keys.extend((target, holder, path, line) for target, holder, line in keys)

    def tenant_model(self) -> tuple[str, Evidence] | None:
        """A model named like a tenant that at least two foreign keys point at."""
        counts: dict[str, list[tuple[str, int]]] = {}
        for target, _, path, line in self._keys:
            counts.setdefault(target, []).append((path, line))
        if not counts:
            return None
        model, places = max(counts.items(), key=lambda item: (len(item[1]), -TENANT_MODEL_NAMES.index(item[0])))
        if len(places) < _MIN_FOREIGN_KEYS:
            return None
        path, line = places[0]
        return model, Evidence(f"{len(places)} foreign keys to a model named {model}", path, line)

    def models_pointing_at(self, model: str) -> frozenset[str]:
        """Models with a foreign key to `model`, their own or inherited (`class Subject(TenantMixin, ...)`)."""
        found = {holder for target, holder, _, _ in self._keys if target == model and holder}
        grown = True
        while grown:
            more = {name for name, bases in self._bases.items() if name not in found and bases & found}
            found |= more
            grown = bool(more)
        return frozenset(found)


def _unique(evidence: list[Evidence]) -> list[Evidence]:
    return list(dict.fromkeys(evidence))
