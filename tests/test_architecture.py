"""The shape of the package: imports point down the data's path with no circles, and the code documents
itself from the repository (docs/methods.md), never from a document outside it."""

import ast
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "raysym"

#: The layers, lowest first. A module may import its own layer or a lower one, never a higher one.
LAYERS = {
    # base: physics on tensors, batches, metrics, the result store and its tables, settings keys, output
    # folders, the Ray session and fan-out
    "errors": 0, "batch": 0, "kinematics": 0, "numpy_kinematics": 0, "lorentz": 0, "features": 0,
    "smearing": 0, "metrics": 0, "store": 0, "tables": 0, "query": 0, "ray_session": 0, "fanout": 0,
    "settings_key": 0, "paths": 0, "artifacts": 0, "output_lock": 0,
    "launcher_config": 0,
    "data": 1, "generate": 2,
    "models": 3, "penalties": 3,
    "training": 4, "hessian": 4, "analyses": 4,
    "stages": 5, "report": 5, "tracking": 5,
    "study": 6, "results": 6,
    "cli": 7,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the raysym modules it imports anywhere in its file (function-level imports included)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
        graph[name]  # every module is a node, importing or not
    return graph


def layer(module: str) -> int:
    top = module.split(".")[1]
    assert top in LAYERS, f"{module}: a new top-level module needs a layer in this test"
    return LAYERS[top]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between top-level modules and packages (raysym.data, raysym.stages, ...)."""
    top = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
    packages = defaultdict(set)
    for module, targets in graph.items():
        packages[top(module)] |= {top(t) for t in targets if top(t) != top(module)}
    return packages


def test_no_module_imports_a_higher_layer():
    graph = import_graph()
    upward = [f"{m} -> {t}" for m, targets in graph.items() for t in targets if layer(t) > layer(m)]
    assert upward == []


def test_there_are_no_import_circles_between_modules_or_packages():
    graph = import_graph()
    assert cycles(graph) == []
    assert cycles(package_graph(graph)) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


SECTION = re.compile(r"^#{2,3} §(\d+(?:\.\d+)?) ", re.MULTILINE)
CITATION = re.compile(r"docs/methods\.md §(\d+(?:\.\d+)?)(?:[–-](\d+(?:\.\d+)?))?")


def documented_sections() -> set[str]:
    return set(SECTION.findall((REPO / "docs" / "methods.md").read_text()))


def citing_files() -> list[Path]:
    return [*PACKAGE.rglob("*.py"), *(REPO / "tests").glob("*.py"), *(REPO / "bench").glob("*.py"),
            *(REPO / "studies").glob("*.py"), REPO / "README.md"]


def test_every_citation_of_the_methods_names_a_section_that_exists():
    sections = documented_sections()
    assert {"1.1", "2", "3.1", "3.2", "4", "5", "6.2"} <= sections
    missing = []
    for path in citing_files():
        for first, last in CITATION.findall(path.read_text()):  # "§1.2" or a range "§1.2–1.3"
            missing += [f"{path.relative_to(REPO)}: §{s}" for s in (first, last) if s and s not in sections]
    assert missing == []


def test_the_code_cites_nothing_outside_the_repository():
    this_test = Path(__file__).resolve()
    outside = [str(p.relative_to(REPO)) for p in citing_files()
               if p.resolve() != this_test and re.search(r"\bSPEC\b", p.read_text())]
    assert outside == []


def test_every_file_the_methods_and_readme_name_exists():
    named = set()
    for doc in (REPO / "docs" / "methods.md", REPO / "README.md"):
        named |= set(re.findall(r"\b((?:raysym|tests|bench|studies)/[\w/]+\.(?:py|md))", doc.read_text()))
    assert named and sorted(p for p in named if not (REPO / p).exists()) == []
