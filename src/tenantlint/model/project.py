"""Project facts: where modules live, what names are bound to, and which classes derive from which.

Everything here is static: tenantlint never imports or runs the project's code.
Modules are parsed lazily, only when a rule asks about a name they define.
"""

from __future__ import annotations

import ast
import functools
import os
from dataclasses import dataclass, field
from functools import cached_property

from tenantlint.sourcefile import SourceError, decode_source, parse_source, read_file_bytes

_MAX_DEPTH = 25


def real(path: str) -> str:
    """The canonical path, computed once per absolute path (realpath costs a system call per component)."""
    return _real(os.path.abspath(path))


@functools.lru_cache(maxsize=65536)
def _real(absolute: str) -> str:
    """A file that is no link is in its folder's canonical place: one `lstat` for it, the folder's
    canonical path found once for all its files."""
    folder, name = os.path.split(absolute)
    if not name or os.path.islink(absolute):
        return os.path.realpath(absolute)
    return os.path.join(_real_folder(folder), name)


@functools.lru_cache(maxsize=16384)
def _real_folder(folder: str) -> str:
    return os.path.realpath(folder)


class ImportTable:
    """What each module-level name of one module is bound to, as a dotted name."""

    def __init__(self, tree: ast.Module, module_name: str, is_package: bool):
        self.module_name = module_name
        self.bindings: dict[str, str] = {}
        package = module_name if is_package else module_name.rpartition(".")[0]
        for node in module_level_statements(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bindings[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.bindings[top] = top
            elif isinstance(node, ast.ImportFrom):
                base = resolve_relative(package, node.module, node.level)
                if base is None:
                    continue
                for alias in node.names:
                    if alias.name != "*":
                        self.bindings[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
            elif isinstance(node, ast.ClassDef):
                self.bindings.setdefault(node.name, f"{module_name}.{node.name}" if module_name else node.name)
        self._names_for: dict[str, list[str]] | None = None
        self._package = package

    def qualify_within(self, node: ast.AST, function: ast.AST) -> str | None:
        """`qualify`, with the imports `function` makes in its own body (`from .models import X` inside
        a receiver, to dodge an import cycle) taking precedence."""
        local = self.local_bindings(ast.walk(function))
        return qualify_with(node, lambda name: local.get(name) or self.bindings.get(name))

    def local_bindings(self, nodes) -> dict[str, str]:
        """The names the `from ... import` statements among `nodes` (a function's) bind, as dotted names."""
        local: dict[str, str] = {}
        for statement in nodes:
            if isinstance(statement, ast.ImportFrom):
                base = resolve_relative(self._package, statement.module, statement.level)
                for alias in statement.names if base is not None else ():
                    local[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
        return local

    def names_for(self, dotted: str) -> list[str]:
        """The module-level names bound to `dotted`, in binding order (indexed once: asked per finding)."""
        if self._names_for is None:
            self._names_for = {}
            for local, bound in self.bindings.items():
                self._names_for.setdefault(bound, []).append(local)
        return self._names_for.get(dotted, [])

    def qualify(self, node: ast.AST) -> str | None:
        """The dotted name an expression like `auth.JWTAuthentication` refers to, if it is static."""
        return qualify_with(node, self.bindings.get)


def qualify_with(node: ast.AST, lookup) -> str | None:
    """`a.b.c` as a dotted name, its head `a` resolved by `lookup` (None: not static)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    head = lookup(node.id)
    return ".".join([head, *reversed(parts)]) if head else None


def resolve_relative(package: str, module: str | None, level: int) -> str | None:
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base_parts = parts[: len(parts) - (level - 1)]
    if module:
        base_parts.append(module)
    return ".".join(base_parts)


def module_level_statements(tree: ast.Module):
    """Top-level statements, looking into if/try blocks (`try: import x except ImportError`)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        yield node
        if isinstance(node, ast.If):
            pending[:0] = node.body + node.orelse
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            pending[:0] = node.body + [s for h in node.handlers for s in h.body] + node.orelse + node.finalbody


@dataclass
class ModuleInfo:
    path: str
    name: str
    is_package: bool
    tree: ast.Module
    text: str

    @cached_property
    def imports(self) -> ImportTable:
        return ImportTable(self.tree, self.name, self.is_package)

    @cached_property
    def classes(self) -> dict[str, ast.ClassDef]:
        return {node.name: node for node in self.tree.body if isinstance(node, ast.ClassDef)}


@dataclass
class ClassInfo:
    qualname: str
    node: ast.ClassDef
    module: ModuleInfo
    bases: list[str] = field(default_factory=list)


class Project:
    """Lazy, cached knowledge about the modules of the project being checked."""

    def __init__(self, files: list[str] | tuple[str, ...] = (), extra_roots: list[str] | tuple[str, ...] = ()):
        self.files = list(files)
        self._roots: list[str] = []
        for root in [*extra_roots, *(source_root(os.path.dirname(os.path.abspath(f))) for f in self.files)]:
            if root not in self._roots:
                self._roots.append(root)
        self._modules: dict[str, ModuleInfo | None] = {}
        self._fingerprints: dict[str, int] = {}
        self._provided: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._class_cache: dict[tuple[str, str | None], ClassInfo | None] = {}
        self._ancestor_cache: dict[tuple[str, str | None], frozenset[str]] = {}
        self.known_ancestors: dict[str, frozenset[str]] = {}  # from a host's inference (pylint's astroid)
        # files whose content the current check depended on (for the result cache)
        self.touched: set[str] = set()
        self._deps: dict[tuple, set[str]] = {}

    # -- modules ---------------------------------------------------------
    def add_root(self, root: str) -> None:
        if root not in self._roots:
            self._roots.append(root)

    def remember(self, path: str, text: str, tree: ast.Module) -> tuple[ModuleInfo, bool]:
        """Register a file the engine has already parsed, so it is never parsed twice.

        Returns the module and whether it replaced a different text (a fix in
        progress), in which case everything derived from the old text is dropped.
        """
        key = real(path)
        fingerprint = hash(text)
        previous = self._fingerprints.get(key)
        known = self._modules.get(key)
        if known is not None and previous == fingerprint:
            return known, False
        name, is_package = module_name_for(path)
        module = ModuleInfo(path, name, is_package, tree, text)
        self._modules[key] = module
        self._fingerprints[key] = fingerprint
        changed = previous is not None and previous != fingerprint
        if changed:
            self._class_cache.clear()
            self._ancestor_cache.clear()
            self._deps.clear()
        return module, changed

    def parsed(self, path: str, text: str) -> ast.Module | None:
        """The tree of `text` if a class lookup already parsed this file as it is now (no second parse)."""
        module = self._modules.get(real(path))
        return module.tree if module is not None and module.text == text else None

    def release(self, path: str) -> None:
        """Drop a checked file's tree (memory); it is parsed again only if another file's lookup needs it."""
        self._modules.pop(real(path), None)

    def forget(self, path: str) -> None:
        """Drop a text of `path` that is not on disk (a fix made in memory) and what was derived from it:
        the other files of a fix pass are judged against the project as the pass found it."""
        key = real(path)
        self._modules.pop(key, None)
        if self._fingerprints.pop(key, None) is not None:
            self._class_cache.clear()
            self._ancestor_cache.clear()
            self._deps.clear()

    def module_at(self, path: str) -> ModuleInfo | None:
        key = real(path)
        self.touched.add(key)
        if key not in self._modules:
            self._modules[key] = None
            try:
                if key in self._provided:
                    text = self._provided[key]
                else:
                    text = decode_source(read_file_bytes(path)).text
                tree = parse_source(text, path)
            except (OSError, SourceError):
                return None
            name, is_package = module_name_for(path)
            self._modules[key] = ModuleInfo(path, name, is_package, tree, text)
        return self._modules[key]

    def provide(self, path: str, text: str) -> None:
        """Text for a file that is not on disk as it is being checked (standard input, an editor buffer)."""
        key = real(path)
        self._provided[key] = text
        self._modules.pop(key, None)

    def find_module_path(self, dotted: str, near: str | None = None) -> str | None:
        """The file of a dotted module; `near` (a file) puts its own source root first."""
        relative = dotted.replace(".", os.sep)
        roots = self._roots if near is None else [source_root(os.path.dirname(os.path.abspath(near))), *self._roots]
        for root in roots:
            for candidate in (os.path.join(root, relative + ".py"), os.path.join(root, relative, "__init__.py")):
                if os.path.isfile(candidate):
                    return candidate
        return None

    def module(self, dotted: str, near: str | None = None) -> ModuleInfo | None:
        path = self.find_module_path(dotted, near)
        return self.module_at(path) if path else None

    # -- classes ---------------------------------------------------------
    def resolve_class(self, qualname: str, near: str | None = None, depth: int = 0) -> ClassInfo | None:
        """The project class a dotted name refers to, following re-exports.

        `near` is the file that names it: its own source root is searched first,
        so two projects checked together do not borrow each other's modules.
        """
        key = (qualname, self._root_key(near))
        if key in self._class_cache:
            self.touched |= self._deps.get(("class", *key), set())
            return self._class_cache[key]
        outer, self.touched = self.touched, set()
        self._class_cache[key] = None
        try:
            info = self._resolve_class(qualname, near, depth, key)
        finally:
            self._deps[("class", *key)] = self.touched
            self.touched = outer | self.touched
        return info

    def _resolve_class(self, qualname: str, near: str | None, depth: int, key: tuple) -> ClassInfo | None:
        module_name, _, class_name = qualname.rpartition(".")
        module = self.module(module_name, near) if module_name else None
        info = None
        if module is not None and depth < _MAX_DEPTH:
            node = module.classes.get(class_name)
            if node is not None:
                bases = [module.imports.qualify(base) or "" for base in node.bases]
                info = ClassInfo(qualname, node, module, [b for b in bases if b])
            else:
                target = module.imports.bindings.get(class_name)
                if target and target != qualname:
                    info = self.resolve_class(target, module.path, depth + 1)
        self._class_cache[key] = info
        return info

    def _root_key(self, near: str | None) -> str | None:
        return None if near is None else source_root(os.path.dirname(os.path.abspath(near)))

    def class_in_module(self, module: ModuleInfo, node: ast.ClassDef) -> ClassInfo:
        qualname = f"{module.name}.{node.name}" if module.name else node.name
        bases = [module.imports.qualify(base) or "" for base in node.bases]
        return ClassInfo(qualname, node, module, [b for b in bases if b])

    def ancestors(self, qualname: str, near: str | None = None) -> frozenset[str]:
        """Every dotted name a class derives from, itself included, as far as static reading goes."""
        key = (qualname, self._root_key(near))
        cached = self._ancestor_cache.get(key)
        if cached is not None:
            self.touched |= self._deps.get(("ancestors", *key), set())
            return cached
        outer, self.touched = self.touched, set()
        try:
            return self._ancestors(qualname, near, key)
        finally:
            self._deps[("ancestors", *key)] = self.touched
            self.touched = outer | self.touched

    def _ancestors(self, qualname: str, near: str | None, key: tuple) -> frozenset[str]:
        self._ancestor_cache[key] = frozenset({qualname})
        result = {qualname, *self.known_ancestors.get(qualname, ())}
        info = self.resolve_class(qualname, near)
        if info is not None:
            result.add(info.qualname)
            for base in info.bases:
                result |= self.ancestors(base, info.module.path)
        frozen = frozenset(result)
        self._ancestor_cache[key] = frozen
        return frozen

    def class_ancestors(self, info: ClassInfo) -> frozenset[str]:
        result = {info.qualname, *self.known_ancestors.get(info.qualname, ())}
        for base in info.bases:
            result |= self.ancestors(base, info.module.path)
        return frozenset(result)


_ROOT_CACHE: dict[str, str] = {}


def source_root(directory: str) -> str:
    """The first folder upward that is not a package: where `import app.module` starts."""
    directory = os.path.abspath(directory)
    cached = _ROOT_CACHE.get(directory)
    if cached is not None:
        return cached
    current = directory
    while os.path.isfile(os.path.join(current, "__init__.py")):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    _ROOT_CACHE[directory] = current
    return current


def module_name_for(path: str) -> tuple[str, bool]:
    """The dotted module name of a file, and whether it is a package's `__init__`."""
    path = os.path.abspath(path)
    directory, filename = os.path.split(path)
    stem = filename[:-3] if filename.endswith(".py") else filename
    root = source_root(directory)
    relative = os.path.relpath(directory, root)
    parts = [] if relative == "." else relative.split(os.sep)
    is_package = stem == "__init__"
    if not is_package:
        parts.append(stem)
    return ".".join(parts), is_package
