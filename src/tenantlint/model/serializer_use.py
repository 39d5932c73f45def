"""Which views use a serializer, and whether every one of them requires an authenticated user.

A DRF view always hands its serializer the request (`get_serializer` puts it in the context), and a
view whose permissions require authentication never runs for an anonymous user. A serializer used only
by such views cannot write a missing or anonymous request user into an audit field, whatever its own
code checks; one used anywhere else (a task, a nested serializer, a view open to anyone) can.
"""

from __future__ import annotations

import ast

from tenantlint.model.project_text import ProjectText
from tenantlint.model.settings_values import Seq

AUTHENTICATED_PERMISSIONS = frozenset({
    "rest_framework.permissions.IsAuthenticated",
    "rest_framework.permissions.IsAdminUser",
    "rest_framework.permissions.IsAuthenticatedOrReadOnly",  # writes still need a user
    "rest_framework.permissions.DjangoModelPermissions",
})
_VIEW_SUFFIXES = ("View", "ViewSet", "APIView", "Viewset")
_MAX_BASE_DEPTH = 4


class SerializerUse:
    """Answers per serializer class name, reading the project's files that name it (once each)."""

    def __init__(self, project, text: ProjectText, settings_views):
        self.project = project
        self.text = text
        self.settings_views = settings_views
        self._answers: dict[str, bool] = {}
        self._module_names: dict[str, _ModuleNames] = {}

    def _names_of(self, module) -> _ModuleNames:
        if module.path not in self._module_names:
            self._module_names[module.path] = _ModuleNames(module.tree)
        return self._module_names[module.path]

    def only_authenticated_views(self, name: str) -> bool:
        """Every use of the class `name` in the project is as a view's serializer, and each such view
        requires an authenticated user. False when unused, or used anywhere else."""
        if name not in self._answers:
            self._answers[name] = False  # a serializer nested in itself, through others: not proven
            self._answers[name] = self._judge(name)
        return self._answers[name]

    def _judge(self, name: str) -> bool:
        used = False
        for path in self.text.files_naming(name):
            module = self.project.module_at(path)
            if module is None:
                return False
            names = self._names_of(module)
            for owner, node in names.references(name):
                parents = names.parents
                if owner is not None and _nested_field(owner, node, parents):
                    # a field of another serializer runs with that serializer's context: as its views go
                    if not self.only_authenticated_views(owner.name):
                        return False
                elif _display_only(node, parents):
                    continue  # `Serializer()`, `Serializer(instance)`: no data, so nothing is ever saved
                elif owner is None or not self._is_view(owner, module) or not self._authenticated(owner, module, 0):
                    return False
                used = True
        return used

    def _is_view(self, node: ast.ClassDef, module) -> bool:
        if node.name.endswith(_VIEW_SUFFIXES):
            return True
        qualname = self.project.class_in_module(module, node)
        return any(a.startswith("rest_framework.") and a.rpartition(".")[2].endswith(_VIEW_SUFFIXES)
                   for a in self.project.class_ancestors(qualname))

    def _authenticated(self, node: ast.ClassDef, module, depth: int) -> bool:
        """The view's `permission_classes`, `get_permissions`, a project base class's, or the default."""
        for statement in node.body:
            if isinstance(statement, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "permission_classes" for t in statement.targets):
                return self._requires_user(statement.value, module)
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) and statement.name == "get_permissions":
                return any(isinstance(n, (ast.Name, ast.Attribute)) and self._permission(n, module)
                           for n in ast.walk(statement))
        if depth < _MAX_BASE_DEPTH:
            for base in node.bases:
                dotted = module.imports.qualify(base)
                info = self.project.resolve_class(dotted, near=module.path) if dotted else None
                if info is not None and any(
                        isinstance(s, (ast.Assign, ast.FunctionDef)) and _sets_permissions(s) for s in info.node.body):
                    return self._authenticated(info.node, info.module, depth + 1)
        return self._default_requires_user()

    def _requires_user(self, value: ast.expr, module) -> bool:
        elements = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
        return any(self._permission(element, module) for element in elements)

    def _permission(self, node: ast.expr, module) -> bool:
        dotted = module.imports.qualify(node)
        if dotted is None:
            return False
        return bool(self.project.ancestors(dotted, module.path) & AUTHENTICATED_PERMISSIONS)

    def _default_requires_user(self) -> bool:
        for view in self.settings_views:
            value = view.lookup("REST_FRAMEWORK", "DEFAULT_PERMISSION_CLASSES")
            if not (isinstance(value, Seq) and value.complete
                    and any(item.value in AUTHENTICATED_PERMISSIONS for item in value.strings())):
                return False
        return bool(self.settings_views)


def _sets_permissions(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.FunctionDef):
        return statement.name == "get_permissions"
    return any(isinstance(t, ast.Name) and t.id == "permission_classes" for t in statement.targets)


class _ModuleNames:
    """Every load of a name in one module, walked once: a module of thousands of serializers is asked
    about each of them."""

    def __init__(self, tree: ast.Module):
        self._tree = tree
        self._parents: dict | None = None
        self._uses: dict[str, list[tuple[ast.ClassDef | None, ast.AST]]] = {}
        for statement in tree.body:
            if isinstance(statement, ast.ClassDef):
                bases = {id(b) for b in statement.bases}
                for node in ast.walk(statement):
                    if isinstance(node, ast.Name) and id(node) not in bases:
                        self._uses.setdefault(node.id, []).append((statement, node))
                    elif isinstance(node, ast.Attribute):
                        self._uses.setdefault(node.attr, []).append((statement, node))
            elif not isinstance(statement, (ast.Import, ast.ImportFrom)):
                for node in ast.walk(statement):
                    if isinstance(node, ast.Name):
                        self._uses.setdefault(node.id, []).append((None, node))
                    elif isinstance(node, ast.Attribute):
                        self._uses.setdefault(node.attr, []).append((None, node))

    def references(self, name: str):
        """(the top-level class it is named in, or None, node) for each load of `name`; its own
        definition and classes deriving from it (other serializers) are not uses."""
        return [(owner, node) for owner, node in self._uses.get(name, ()) if owner is None or owner.name != name]

    @property
    def parents(self) -> dict:
        if self._parents is None:
            self._parents = {child: parent for parent in ast.walk(self._tree) for child in ast.iter_child_nodes(parent)}
        return self._parents


def _display_only(node: ast.AST, parents: dict) -> bool:
    """Called without data (no `data=`, at most the instance positionally): `save` would refuse to run."""
    call = parents.get(node)
    return (isinstance(call, ast.Call) and call.func is node and len(call.args) <= 1
            and not any(isinstance(a, ast.Starred) for a in call.args)
            and all(k.arg not in ("data", None) for k in call.keywords))


def _nested_field(owner: ast.ClassDef, node: ast.AST, parents: dict) -> bool:
    """`lessons = LessonSerializer(many=True)` in the body of another serializer class."""
    call = parents.get(node)
    statement = parents.get(call) if isinstance(call, ast.Call) and call.func is node else None
    return (isinstance(statement, (ast.Assign, ast.AnnAssign)) and parents.get(statement) is owner
            and owner.name.endswith("Serializer"))
