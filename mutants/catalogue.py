"""The catalogue: one TOML file per mutant under mutants/catalogue/, each a list of exact source rewrites.

A rewrite replaces a substring of one file of the reference implementation (Python or SQL) that must occur exactly
once: when the code changes under a mutant, the mutant is refused instead of silently testing something else.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
# Mutants change the system under test only: the suite is what they measure.
MUTABLE_ROOT = "reference_impl"
MUTABLE_SUFFIXES = (".py", ".sql")
_KEYS = {"description", "expect", "equivalent", "gap", "rewrite"}
_REWRITE_KEYS = {"file", "old", "new"}


class CatalogueError(Exception):
    """A mutant file that cannot be used as written; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Rewrite:
    file: str  # relative to the project root, with forward slashes
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    name: str  # the file's stem
    description: str
    expect: tuple[str, ...]  # case ids (row IDs or EXTRA- ids) a QA engineer expects to catch it
    equivalent: bool  # a harmless rewrite: it must fail nothing
    rewrites: tuple[Rewrite, ...]
    # A known gap of the suite: why the cases in `expect` do not catch it yet. Its survival is reported, not
    # failed; once it is killed as expected the matrix fails until the entry is removed (the gap is closed).
    gap: str | None = None


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: `{key}` must be a non-empty string")
    return value


def _rewrite(entry: object, where: str) -> Rewrite:
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: each [[rewrite]] must be a table with file, old and new")
    unknown = set(entry) - _REWRITE_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    file = _text(entry, "file", where)
    old = _text(entry, "old", where)
    new = entry.get("new")
    if not isinstance(new, str):
        raise CatalogueError(f"{where}: `new` must be a string (empty to delete)")
    if new == old:
        raise CatalogueError(f"{where}: `new` is the same as `old`")
    path = PurePosixPath(file)
    if path.is_absolute() or ".." in path.parts or path.parts[0] != MUTABLE_ROOT:
        raise CatalogueError(f"{where}: {file} is not a file of {MUTABLE_ROOT}/")
    if path.suffix not in MUTABLE_SUFFIXES:
        raise CatalogueError(f"{where}: {file} is not a Python or SQL file")
    return Rewrite(file, old, new)


def parse_mutant(path: Path) -> Mutant:
    where = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{where}: not valid TOML: {exc}") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    expect = data.get("expect", [])
    if not isinstance(expect, list) or not all(isinstance(item, str) and item for item in expect):
        raise CatalogueError(f"{where}: `expect` must be a list of case ids")
    if len(set(expect)) != len(expect):
        raise CatalogueError(f"{where}: `expect` names a case id twice")
    equivalent = data.get("equivalent", False)
    if not isinstance(equivalent, bool):
        raise CatalogueError(f"{where}: `equivalent` must be true or false")
    if equivalent and expect:
        raise CatalogueError(f"{where}: an equivalent mutant expects no case to catch it")
    if not equivalent and not expect:
        raise CatalogueError(f"{where}: name the case ids expected to catch it in `expect`")
    rewrites = data.get("rewrite")
    if not isinstance(rewrites, list) or not rewrites:
        raise CatalogueError(f"{where}: at least one [[rewrite]] is needed")
    gap = _text(data, "gap", where) if "gap" in data else None
    if gap and equivalent:
        raise CatalogueError(f"{where}: an equivalent mutant is no gap")
    return Mutant(
        name=path.stem,
        description=" ".join(_text(data, "description", where).split()),
        expect=tuple(expect),
        equivalent=equivalent,
        rewrites=tuple(_rewrite(entry, f"{where}, rewrite {n}") for n, entry in enumerate(rewrites, 1)),
        gap=" ".join(gap.split()) if gap else None,
    )


def load_catalogue(directory: Path = CATALOGUE_DIR) -> tuple[Mutant, ...]:
    """Every mutant, by name; CatalogueError for the first file that cannot be used."""
    return tuple(parse_mutant(path) for path in sorted(directory.glob("*.toml")))


def rewritten_files(tree: Path, mutant: Mutant) -> dict[str, str]:
    """The new text of every file `mutant` changes in the project at `tree`; CatalogueError if a rewrite does not
    match exactly once. Rewrites apply in order, so a later one may match text an earlier one wrote."""
    texts: dict[str, str] = {}
    for number, rewrite in enumerate(mutant.rewrites, 1):
        if rewrite.file not in texts:
            try:
                texts[rewrite.file] = (tree / rewrite.file).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise CatalogueError(
                    f"{mutant.name}, rewrite {number}: {rewrite.file} does not exist"
                ) from None
        found = texts[rewrite.file].count(rewrite.old)
        if found != 1:
            raise CatalogueError(
                f"{mutant.name}, rewrite {number}: its `old` text is found "
                f"{'nowhere' if found == 0 else f'{found} times'} in {rewrite.file}; it must match exactly once "
                "(the code changed: update the mutant)"
            )
        texts[rewrite.file] = texts[rewrite.file].replace(rewrite.old, rewrite.new)
    return texts


def apply_rewrites(tree: Path, mutant: Mutant) -> None:
    """Apply `mutant` to the copy of the project at `tree`; nothing is written unless every rewrite matches."""
    for file, text in rewritten_files(tree, mutant).items():
        (tree / file).write_text(text, encoding="utf-8")


def rewrite_problems(mutants: tuple[Mutant, ...], tree: Path = PROJECT_ROOT) -> list[str]:
    """Why each mutant that no longer applies to `tree` does not (checked in memory)."""
    problems = []
    for mutant in mutants:
        try:
            rewritten_files(tree, mutant)
        except CatalogueError as exc:
            problems.append(str(exc))
    return problems


def coverage_problems(mutants: tuple[Mutant, ...], rows: list[str], extras: list[str]) -> list[str]:
    """What the catalogue fails to cover or names wrongly: an `expect` id that is no case of the suite, and a
    checklist row or @extra case that is the expected killer of no mutant (so nothing proves it can fail)."""
    known = set(rows) | set(extras)
    problems = [
        f"{mutant.name}: expects {case_id}, which is no checklist row or @extra case"
        for mutant in mutants
        for case_id in mutant.expect
        if case_id not in known
    ]
    # A known gap proves nothing can fail: it covers no case.
    expected = {case_id for mutant in mutants if not mutant.gap for case_id in mutant.expect}
    problems += [
        f"checklist row {row} is the expected killer of no mutant" for row in rows if row not in expected
    ]
    problems += [
        f"@extra case {extra} is the expected killer of no mutant"
        for extra in extras
        if extra not in expected
    ]
    return problems
