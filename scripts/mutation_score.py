"""Print what `mutmut run` found: the surviving mutants, then the score.

    .venv/bin/python scripts/mutation_score.py [PATTERN ...]

Reads mutmut 3's results (mutants/**/*.py.meta, JSON with each mutant's test
exit code) and counts only the mutants whose names match a PATTERN (fnmatch,
as `mutmut run` takes them; none: every mutant). The score is killed (and
timed out: the tests stopped it) over the mutants that were checked and had
tests; "no tests" and "not checked" are listed apart, never counted as kills.

Survivors named in docs/mutation-equivalents.txt (a line each: the mutant's
name, then why it behaves as the original does) are listed as "equivalent"
and left out of the score. A listed mutant the tests now kill, or one the
checked modules no longer have (mutmut numbers a function's mutants afresh
when the function changes), is listed as stale, to review.
Exit status 0 always: survivors are for reading.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "docs" / "mutation-equivalents.txt"
# mutmut.stats.status_by_exit_code, for the codes a run leaves.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}
STATUS |= {36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}


def results(patterns: list[str]) -> dict[str, str]:
    """Mutant name -> status, for the mutants matching `patterns`."""
    found = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
        for name, code in codes.items():
            if not patterns or any(fnmatch(name, p) for p in patterns):
                found[name] = "not checked" if code is None else STATUS.get(code, "suspicious")
    return found


def equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """Mutant name -> why it is equivalent, read from `path`: the name is a
    line's first word; blank lines and lines starting with # are skipped."""
    if not path.is_file():
        return {}
    listed = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, reason = line.strip().partition(" ")
            listed[name] = reason.strip()
    return listed


def stale(found: dict[str, str], everything: dict[str, str], listed: dict[str, str]) -> list[str]:
    """Listed mutants the tests killed (among `found`), or missing from
    functions whose mutants were checked (among `everything`, the results
    whatever the patterns)."""
    checked = {n.rsplit("__mutmut_", 1)[0] for n, s in everything.items() if s != "not checked"}
    return sorted(
        name
        for name in listed
        if found.get(name) in ("killed", "timeout")
        or (name not in everything and name.rsplit("__mutmut_", 1)[0] in checked)
    )


def main(patterns: list[str]) -> int:
    found = results(patterns)
    if not found:
        print("no mutmut results under mutants/ (run `make mutate` first)")
        return 0
    listed = equivalents()
    old = stale(found, results([]) if patterns else found, listed)
    for name, status in found.items():
        if status == "survived" and name in listed:
            found[name] = "equivalent"
    for status in ("survived", "suspicious", "no tests", "not checked", "equivalent"):
        names = sorted(n for n, s in found.items() if s == status)
        if names:
            print(f"{status} ({len(names)}):")
            for name in names:
                print(f"  {name}")
    if old:
        print(f"stale in {EQUIVALENTS.relative_to(ROOT)}: killed or gone, review ({len(old)}):")
        for name in old:
            print(f"  {name}")
    counts = Counter(found.values())
    stopped = counts["killed"] + counts["timeout"]
    checked = stopped + counts["survived"] + counts["suspicious"]
    score = f"{100 * stopped / checked:.1f} %" if checked else "n/a"
    print(
        f"mutation score {score}: {stopped} killed of {checked} checked "
        f"({counts['killed']} failed, {counts['timeout']} timed out, {counts['survived']} "
        f"survived, {counts['suspicious']} suspicious); {counts['equivalent']} equivalent "
        f"(left out), {counts['no tests']} with no tests, {counts['not checked']} not checked, "
        f"{len(found)} in all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
