"""The generated package's imports, read with `ast`: dvc.yaml's code deps and the layout's rules.

- dvc.yaml's deps cannot go stale: each stage depends on exactly the package modules its command imports.
- The wings (pipeline/, gate/, monitor/, serving/) import the core, never each other (the contract and the
  production model's reads are the core's); serving never reaches training nor Great Expectations.
- columns.KINDS is the one table of column kinds: no other module maps kinds (a dict, tuple, list or set of
  two or more kind names).

Imports are every import statement (module level or inside a function), followed transitively within
the package, plus the package `__init__.py` files that Python runs on the way.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from support.bake import bake_into

PACKAGE = "my_ml_project"


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for path in package_dir.rglob("*.py"):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def all_imports(name: str, path: Path) -> set[str]:
    """Every module (and `module.name`) that `name` imports anywhere in its file, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)  # `from . import io`
    return found


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its file."""
    return {module for module in all_imports(name, path) if module in modules}


def with_parents(module: str) -> set[str]:
    """A module and the packages above it (their __init__.py run first)."""
    parts = module.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts) + 1)}


def closure(start: set[str], modules: dict[str, Path]) -> set[str]:
    """Every package module that importing `start` runs."""
    seen: set[str] = set()
    todo = [parent for module in start for parent in with_parents(module)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imported in imported_modules(module, modules[module], modules):
            todo.extend(with_parents(imported))
    return seen


def commands_table(cli: Path) -> dict[str, tuple[str, str, str]]:
    for node in ast.parse(cli.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "COMMANDS":
            return ast.literal_eval(node.value)
    raise AssertionError("cli.py has no COMMANDS table")


def stage_code_deps(project: Path, package: str = PACKAGE) -> dict[str, tuple[set[str], set[str]]]:
    """Per stage: (the package files its command imports, the package files dvc.yaml lists)."""
    package_dir = project / "src" / package
    modules = module_files(package_dir)
    commands = commands_table(package_dir / "cli.py")
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    result = {}
    for name, stage in stages.items():
        match = re.fullmatch(rf"python -m {package} ([a-z-]+)", stage["cmd"])
        assert match, f"stage {name}: cmd is not `python -m {package} <command>`: {stage['cmd']}"
        module = f"{package}.{commands[match[1]][0]}"
        needed = closure({f"{package}.__main__", f"{package}.cli", module}, modules)
        files = {modules[m].relative_to(project).as_posix() for m in needed}
        listed = {dep for dep in stage.get("deps", []) if dep.startswith(f"src/{package}/")}
        result[name] = (files, listed)
    return result


@pytest.fixture(scope="module", params=["classification", "regression"])
def project(request, tmp_path_factory) -> Path:
    return bake_into(tmp_path_factory.mktemp("deps"), task=request.param)


def test_every_stage_lists_exactly_the_modules_its_command_imports(project):
    wrong = {}
    for stage, (needed, listed) in stage_code_deps(project).items():
        if needed != listed:
            wrong[stage] = {"missing": sorted(needed - listed), "not imported": sorted(listed - needed)}
    assert wrong == {}


def test_the_check_sees_a_missing_dependency(project):
    """Control: a stage that drops one module it imports is reported."""
    dvc_yaml = project / "dvc.yaml"
    original = dvc_yaml.read_text()
    try:
        dvc_yaml.write_text(original.replace(f"      - src/{PACKAGE}/io.py\n", "", 1))
        assert any(needed != listed for needed, listed in stage_code_deps(project).values())
    finally:
        dvc_yaml.write_text(original)


def test_imports_inside_functions_and_parent_packages_count(tmp_path):
    """Control: a lazy import and a package's __init__.py are followed."""
    package = tmp_path / "src" / "pkg"
    (package / "wing").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "wing" / "__init__.py").write_text("")
    (package / "wing" / "a.py").write_text("def f():\n    from ..b import g\n")
    (package / "b.py").write_text("from . import c\n")
    (package / "c.py").write_text("")
    (package / "unused.py").write_text("")
    modules = module_files(package)
    assert closure({"pkg.wing.a"}, modules) == {"pkg", "pkg.wing", "pkg.wing.a", "pkg.b", "pkg.c"}


WINGS = ("pipeline", "gate", "monitor", "serving", "batch")


def test_wings_import_the_core_never_each_other(project):
    """The contract (contract.py), the registry's reads (registry.py), a scored record's rules (records.py) and
    every other shared word are the core's. Every subpackage is a wing, named here."""
    package = project / "src" / PACKAGE
    assert {path.parent.name for path in package.glob("*/__init__.py")} == set(WINGS)
    modules = module_files(package)
    crossings = []
    for name, path in modules.items():
        wing = name.split(".")[1] if name.count(".") >= 2 else None
        for imported in imported_modules(name, path, modules):
            other = imported.split(".")[1] if imported.count(".") >= 2 else None
            if wing and other in WINGS and other != wing:
                crossings.append(f"{name} -> {imported}")
    assert crossings == []


KIND_NAMES = {"integer", "float", "boolean", "string"}


def kind_tables(path: Path) -> list[str]:
    """Where a module maps the contract's kinds itself: a dict keyed, or a tuple, list or set made, by two or more
    kind names (`{"integer": ..., "float": ...}`, `kind in ("integer", "float")`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
        if isinstance(node, ast.Dict | ast.Tuple | ast.List | ast.Set) and items:
            names = {item.value for item in items if isinstance(item, ast.Constant) and item.value in KIND_NAMES}
            if len(names) >= 2:
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_only_the_table_of_kinds_maps_a_kind(project):
    """columns.KINDS is THE table of column kinds: no other module of the package maps kinds to types or traits."""
    package = project / "src" / PACKAGE
    modules = [path for path in sorted(package.rglob("*.py")) if path.name != "columns.py"]
    found = [where for path in modules for where in kind_tables(path)]
    assert found == []
    assert kind_tables(package / "columns.py")  # control: the table itself is found


def test_serving_reaches_neither_training_nor_great_expectations(project):
    modules = module_files(project / "src" / PACKAGE)
    reached = closure({f"{PACKAGE}.serving.service", f"{PACKAGE}.serving.packaging"}, modules)
    assert not {m for m in reached if m.startswith(f"{PACKAGE}.pipeline.")}
    third_party = {module for name in reached for module in all_imports(name, modules[name])}
    assert not {m for m in third_party if m.split(".")[0] == "great_expectations"}


def test_the_code_map_has_a_row_for_every_module(project):
    """docs/code-map.md says what each module of the package is for: a new module gets its row."""
    package = project / "src" / PACKAGE
    text = (project / "docs/code-map.md").read_text()
    modules = [path.relative_to(package).as_posix() for path in sorted(package.rglob("*.py"))]
    assert [name for name in modules if not name.endswith("__init__.py") and f"`{name}`" not in text] == []
