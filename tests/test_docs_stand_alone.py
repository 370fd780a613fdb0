"""The repository stands alone: no file cites a document outside it, and the kernel description exists."""

import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]
# a citation of something outside the repository: a parent directory, the machine's work area, or the
# names of notes that are not part of the repository
OUTSIDE = re.compile(r"\.\./|/work/|shared/|design\.md|kernel-semantics|known-bugs")


def tracked_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in out.split()]


def test_no_file_cites_a_document_outside_the_repository():
    offenders = []
    for path in tracked_files():
        if path.suffix not in {".py", ".md", ".toml", ".pml", ".txt", ".cfg", ".json"} or not path.is_file():
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    offenders = [o for o in offenders if not o.startswith("tests/test_docs_stand_alone.py")]
    assert not offenders, "citations outside the repository:\n" + "\n".join(offenders)


def test_the_kernel_description_covers_every_path_the_model_has():
    doc = (ROOT / "docs" / "kernel-419.md").read_text()
    for heading in ("Watermarks and lowmem reserve", "The fast path", "fallbacks and stealing", "Highatomic reserves",
                    "Per-cpu lists", "Freeing and merging", "Isolation", "CMA", "The slow path",
                    "Memory policy: choosing the node"):
        assert re.search(rf"^## .*{re.escape(heading)}", doc, re.M), f"docs/kernel-419.md lacks a section on {heading}"
