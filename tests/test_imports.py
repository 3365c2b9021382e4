"""The import graph of glassnet has no circles, counting imports inside functions.

Every ``import`` statement of every module (at the top or inside a function) is an arrow from the
module to the glassnet module it names: ``from .x import y`` points to ``x`` (or to ``x.y`` when
``y`` is a module), ``from .. import y`` to the package ``..`` itself unless ``y`` is one of its
modules. The implicit import of parent packages is not counted (every module would then import
``glassnet/__init__.py``). A circle means two modules each need the other, so neither can be read,
tested or moved alone; ``docs/architecture.md`` shows the direction the arrows take.
"""
import ast
import pathlib

import glassnet

PACKAGE = pathlib.Path(glassnet.__file__).parent


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def is_package(name):
    return MODULES[name].name == "__init__.py"


def imported_modules(name):
    """The glassnet modules that module ``name`` imports, anywhere in its code."""
    package = name if is_package(name) else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in MODULES else source)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: imported_modules(name) for name in MODULES}


def find_circle(graph):
    """One circle of the graph as a list of modules (first == last), or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                circle = visit(target, path + [target])
                if circle:
                    return circle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            circle = visit(start, [start])
            if circle:
                return circle
    return None


def test_the_graph_sees_imports_inside_functions():
    assert "glassnet.onnx" in GRAPH["glassnet.network"]  # Network.to_onnx imports it when called
    assert "glassnet.io.model_file" in GRAPH["glassnet.callbacks.checkpoint"]


def test_finding_a_circle():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_module_of_glassnet_imports_itself_back():
    circle = find_circle(GRAPH)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_file_format_is_a_leaf():
    """io/model_file knows nothing of models, training or callbacks."""
    allowed = {"glassnet.errors", "glassnet.version", "glassnet.io.atomic"}
    assert GRAPH["glassnet.io.model_file"] <= allowed
