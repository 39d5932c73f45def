"""How a class uses the attributes of `self` it stores request data on: every access, the class's own
default, what its bases do with the name and whether code outside the class reaches it (TL101's plan
asks before it rewrites an attribute)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property

from tenantlint.model.known import ADMIN_SITES, AUTHENTICATORS, CHANNELS_MIDDLEWARE, MODEL_ADMINS, is_django_middleware
from tenantlint.trees import child_nodes, parameter_names, per_tree, walk

CONTEXT_VAR, CONNECTION, UNREAD = "context variable", "connection", "unread"

# rewrites of one access
GET = "get"                  # `self.x` → `VAR.get()`; in the connection form → `connection`
GETATTR = "getattr"          # `getattr(self, "x", d)` → `VAR.get(d)`
HASATTR = "hasattr"          # `hasattr(self, "x")` → `VAR.get(UNSET) is not UNSET` (`not hasattr`: `is`)
SET = "set"                  # `self.x = v` / `setattr(self, "x", v)` → `VAR.set(v)`
SET_TOKEN = "set token"      # `self.x = v` → `x_token = VAR.set(v)`
RESET = "reset"              # `del self.x` → `VAR.reset(x_token)`
SET_DEFAULT = "set default"  # `del self.x` → `VAR.set(default)`
DROP = "drop"                # the statement goes

ACCESSORS = frozenset({"getattr", "hasattr", "setattr", "delattr"})
LOW_LEVEL_ACCESSORS = frozenset({"__setattr__", "__getattribute__", "__getattr__", "__delattr__"})

# Attributes the framework base classes define or read themselves (Django's ModelAdmin,
# AdminSite and middleware, DRF's and simplejwt's authenticators, Channels' middleware):
# moving one of them off the instance would hide it from the base class.
FRAMEWORK_ATTRIBUTES = frozenset({
    # django.contrib.admin.ModelAdmin
    "actions", "actions_on_bottom", "actions_on_top", "actions_selection_counter", "add_form_template",
    "admin_site", "autocomplete_fields", "change_form_template", "change_list_template", "date_hierarchy",
    "delete_confirmation_template", "delete_selected_confirmation_template", "exclude", "fields", "fieldsets",
    "filter_horizontal", "filter_vertical", "form", "formfield_overrides", "inlines", "list_display",
    "list_display_links", "list_editable", "list_filter", "list_max_show_all", "list_per_page",
    "list_select_related", "media", "model", "object_history_template", "opts", "ordering", "paginator",
    "popup_response_template", "prepopulated_fields", "preserve_filters", "radio_fields", "raw_id_fields",
    "readonly_fields", "save_as", "save_as_continue", "save_on_top", "search_fields", "search_help_text",
    "show_facets", "show_full_result_count", "sortable_by", "urls", "view_on_site", "add_form",
    "change_password_form", "change_user_password_template",
    # django.contrib.admin.AdminSite
    "_actions", "_global_actions", "_registry", "app_index_template", "empty_value_display",
    "enable_nav_sidebar", "final_catch_all_view", "index_template", "index_title", "login_form",
    "login_template", "logout_template", "name", "password_change_done_template", "password_change_template",
    "site_header", "site_title", "site_url",
    # Django middleware
    "async_capable", "sync_capable", "async_mode", "get_response", "is_async", "header",
    "force_logout_if_no_header", "response_redirect_class",
    # DRF and simplejwt authenticators
    "keyword", "www_authenticate_realm", "media_type", "user_model",
    # Channels middleware
    "inner",
})


class AttributeUses:
    """Every use of one class's attributes, read once per class."""

    def __init__(self, node: ast.ClassDef, lineage, ancestors: frozenset[str], construction: frozenset[str], ctx):
        self.node = node
        self.lineage = lineage
        self.ancestors = ancestors
        self.construction = construction
        self.ctx = ctx
        self.methods = {item.name: item for item in node.body
                        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.parents = {child: parent for parent in walk(node) for child in child_nodes(parent)}
        self._uses: ClassUses | None = None

    def uses(self) -> ClassUses:
        if self._uses is None:
            self._uses = self._read_uses()
        return self._uses

    def _read_uses(self) -> ClassUses:
        found = ClassUses()
        for method in self.methods.values():
            self_name = _self_name(method)
            if self_name is None:
                continue
            for node, nested in _walk_method(method, self_name):
                if not (isinstance(node, ast.Name) and node.id == self_name):
                    continue
                if not isinstance(node.ctx, ast.Load):
                    found.rebinds_self.add(method.name)
                    continue
                self._read_use(node, method, nested, found)
        return found

    def _read_use(self, node: ast.Name, method, nested: bool, found: ClassUses) -> None:
        parent = self.parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            if parent.attr == "__dict__":
                found.dynamic = True
            else:
                found.by_attribute.setdefault(parent.attr, []).append(Use("attribute", parent, method, nested))
            return
        if not (isinstance(parent, ast.Call) and parent.args[:1] == [node]):
            return
        func = parent.func
        name = string_literal(parent.args[1]) if len(parent.args) > 1 else None
        if isinstance(func, ast.Name) and func.id in ACCESSORS:
            if name is None:
                found.dynamic = True
            else:
                found.by_attribute.setdefault(name, []).append(Use(func.id, parent, method, nested))
        elif isinstance(func, ast.Name) and func.id == "vars":
            found.dynamic = True
        elif isinstance(func, ast.Attribute) and func.attr in LOW_LEVEL_ACCESSORS:
            if name is None:
                found.dynamic = True
            else:
                found.by_attribute.setdefault(name, []).append(Use("unsupported", parent, method, nested))

    def _access(self, use: Use) -> Access | None:
        """What one use does, or None when it cannot be rewritten."""
        node, parent = use.node, self.parents.get(use.node)
        if use.form == "attribute":
            if isinstance(node.ctx, ast.Load):
                return Access(GET, node, use.method, use.nested)
            if isinstance(node.ctx, ast.Store):
                if isinstance(parent, ast.Assign) and parent.targets == [node]:
                    return Access(SET, parent, use.method, use.nested, parent.value)
                if isinstance(parent, ast.AnnAssign) and parent.target is node and parent.value is not None:
                    return Access(SET, parent, use.method, use.nested, parent.value)
                return None  # tuple targets, `+=`, loop targets
            if isinstance(parent, ast.Delete) and parent.targets == [node]:
                return Access("delete", parent, use.method, use.nested)
            return None
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            return None
        statement = parent if isinstance(parent, ast.Expr) else None
        arguments = len(node.args)
        if use.form == "getattr" and arguments in (2, 3):
            return Access(GETATTR, node, use.method, use.nested, node.args[2] if arguments == 3 else None)
        if use.form == "hasattr" and arguments == 2:
            return Access(HASATTR, node, use.method, use.nested)
        if use.form == "setattr" and arguments == 3 and statement is not None:
            return Access(SET, statement, use.method, use.nested, node.args[2])
        if use.form == "delattr" and arguments == 2 and statement is not None:
            return Access("delete", statement, use.method, use.nested)
        return None

    def _initial_values(self, accesses) -> Access | None | bool:
        """`self.x = None` at the top of `__init__`: the variable's default. False: another store there."""
        initial = [a for a in accesses if a.method.name in self.construction and a.kind in (SET, "delete")]
        if not initial:
            return None
        if len(initial) > 1:
            return False
        access = initial[0]
        if (access.method.name != "__init__" or access.node not in access.method.body
                or not isinstance(access.node, (ast.Assign, ast.AnnAssign)) or not literal(access.value)):
            return False
        return access

    @cached_property
    def _class_body_by_name(self) -> dict[str, list[ast.stmt]]:
        """The class body's statements that define or assign each name, in order (read once: every
        attribute of the class asks)."""
        found: dict[str, list[ast.stmt]] = {}
        for item in self.node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.setdefault(item.name, []).append(item)
                continue
            targets = (item.targets if isinstance(item, ast.Assign)
                       else [item.target] if isinstance(item, ast.AnnAssign) else [])
            for name in dict.fromkeys(n.id for t in targets for n in walk(t) if isinstance(n, ast.Name)):
                found.setdefault(name, []).append(item)
        return found

    def _class_default(self, attribute: str) -> ast.expr | None | bool:
        """A literal the class body assigns to the attribute; None without one; False when it is something
        the fix cannot take over (a method, a property, a computed value)."""
        default = None
        for item in self._class_body_by_name.get(attribute, ()):
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                return False
            targets = (item.targets if isinstance(item, ast.Assign)
                       else [item.target] if isinstance(item, ast.AnnAssign) else [])
            for target in targets:
                named = {n.id for n in walk(target) if isinstance(n, ast.Name)}
                if attribute not in named:
                    continue
                if not (isinstance(target, ast.Name) and len(targets) == 1):
                    return False
                if item.value is None:
                    continue  # a bare annotation
                if not literal(item.value):
                    return False
                default = item.value
        return default

    def _bases_leave_it_alone(self, attribute: str) -> bool:
        """No project base class touches the attribute, and no framework base may define or read it."""
        for info in self.lineage[1:]:
            for node in walk(info.node):
                if (isinstance(node, ast.Attribute) and node.attr == attribute) or string_literal(node) == attribute:
                    return False
        project = self.ctx.project
        known = {info.qualname for info in self.lineage}
        external = {a for a in self.ancestors - known - {"object", "builtins.object"}
                    if project.resolve_class(a, self.ctx.path) is None}
        # a base written as a call or an unimported name: nothing is known about it
        unreadable = any(len(info.bases) < sum(not _is_object(base) for base in info.node.bases)
                         for info in self.lineage)
        if not external and not unreadable:
            return True
        if attribute in FRAMEWORK_ATTRIBUTES:
            return False
        # a base class the fix knows nothing about may use any public attribute
        return attribute.startswith("_") or (not unreadable and all(_framework_base(a) for a in external))

    def _used_outside(self, attribute: str, accesses) -> bool:
        """Whether anything outside the class's own methods may reach the attribute: `obj.x` anywhere in the
        module (a subclass's `self.x` included), or its name as a string outside the accessor calls."""
        own = {id(a.node) for a in accesses}
        own |= {id(u.node) for u in self.uses().by_attribute.get(attribute, [])}
        own_strings = {id(u.node.args[1]) for u in self.uses().by_attribute.get(attribute, []) if u.form != "attribute"}
        index = _module_index(self.ctx.tree)
        for node, owner, self_name in index.attributes.get(attribute, ()):
            if id(node) not in own:
                if owner is not None and owner is not self.node and isinstance(node.value, ast.Name) \
                        and node.value.id == self_name and not self._subclass(owner):
                    continue  # another class's own attribute of the same name
                return True
        return any(id(node) not in own_strings for node in index.strings.get(attribute, ()))

    def _names_used_outside_class(self) -> set[str]:
        start = min([(self.node.lineno, self.node.col_offset)]
                    + [(d.lineno, d.col_offset) for d in self.node.decorator_list])
        end = (self.node.end_lineno, self.node.end_col_offset)
        return {name for name, (first, last) in _module_index(self.ctx.tree).attribute_span.items()
                if first < start or last >= end}

    def _subclass(self, owner: ast.ClassDef) -> bool:
        project = self.ctx.project
        mine = project.class_in_module(self.ctx.module, self.node).qualname
        return mine in project.class_ancestors(project.class_in_module(self.ctx.module, owner))

    def _text(self, node: ast.AST) -> str:
        return self.ctx.segment(node) or ast.unparse(node)


@dataclass
class Use:
    """One access of an attribute of `self` inside a method of the class."""

    form: str          # "attribute", one of ACCESSORS, or "unsupported"
    node: ast.AST      # the `self.x` Attribute, or the accessor call
    method: ast.FunctionDef | ast.AsyncFunctionDef
    nested: bool       # inside a function or lambda nested in the method


@dataclass
class Access:
    kind: str          # GET, GETATTR, HASATTR, SET, "delete"
    node: ast.AST      # GET: the `self.x` Attribute; GETATTR/HASATTR: the call; SET/delete: the statement
    method: ast.FunctionDef | ast.AsyncFunctionDef
    nested: bool
    value: ast.expr | None = None  # SET: what is stored; GETATTR: getattr's default


@dataclass
class ClassUses:
    """Every use of `self` in a class's methods, read once per class."""

    by_attribute: dict[str, list[Use]] = field(default_factory=dict)
    dynamic: bool = False  # `vars(self)`, `self.__dict__`, `getattr(self, name)`: any attribute may be reached
    rebinds_self: set[str] = field(default_factory=set)  # methods that assign to their `self`


def _framework_base(dotted: str) -> bool:
    return dotted in MODEL_ADMINS | ADMIN_SITES | AUTHENTICATORS | CHANNELS_MIDDLEWARE or is_django_middleware(dotted)


def _walk_method(method, self_name: str):
    """(node, nested) for the method's body; skips functions and lambdas that rebind `self_name`."""
    pending = [(child, False) for child in method.body]
    while pending:
        node, nested = pending.pop()
        yield node, nested
        inner = nested
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            if not isinstance(node, ast.ClassDef) and self_name in parameter_names(node):
                continue
            inner = True
        pending.extend((child, inner) for child in child_nodes(node))


@dataclass
class _ModuleIndex:
    """Where the module names each attribute (`obj.x`, with the enclosing class and its method's `self`)
    and each string, read in one walk: every finding asks."""

    attributes: dict[str, list[tuple[ast.Attribute, ast.ClassDef | None, str | None]]]
    strings: dict[str, list[ast.Constant]]
    attribute_span: dict[str, tuple[tuple[int, int], tuple[int, int]]]  # first and last `.x` position


@per_tree
def _module_index(tree: ast.Module) -> _ModuleIndex:
    index = _ModuleIndex({}, {}, {})
    for node, owner, self_name in _walk_module(tree):
        if isinstance(node, ast.Attribute):
            index.attributes.setdefault(node.attr, []).append((node, owner, self_name))
            at = (node.lineno, node.col_offset)
            first, last = index.attribute_span.get(node.attr, (at, at))
            index.attribute_span[node.attr] = (min(first, at), max(last, at))
        elif (text := string_literal(node)) is not None:
            index.strings.setdefault(text, []).append(node)
    return index


def _walk_module(tree: ast.Module):
    """(node, enclosing class, that class's method's `self` name) for every node of the module."""
    pending = [(child, None, None) for child in tree.body]
    while pending:
        node, owner, self_name = pending.pop()
        yield node, owner, self_name
        if isinstance(node, ast.ClassDef):
            for child in child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    method_self = _self_name(child)
                    pending.extend((grandchild, node, method_self) for grandchild in child_nodes(child))
                else:
                    pending.append((child, node, None))
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and self_name in parameter_names(node):
            self_name = None
        pending.extend((child, owner, self_name) for child in child_nodes(node))


def literal(node: ast.AST | None) -> bool:
    """An immutable constant (None, a bool, a number, a string), which can serve as the variable's default."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant)


def string_literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _self_name(func) -> str | None:
    if any(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod") for d in func.decorator_list):
        return None
    positional = [*func.args.posonlyargs, *func.args.args]
    return positional[0].arg if positional else None


def _is_object(base: ast.expr) -> bool:
    return isinstance(base, ast.Name) and base.id == "object"
