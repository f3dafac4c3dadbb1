"""Finding the labelled images of a hard set, and refusing a set that cannot be evaluated as given.

A hard set is either a folder whose subfolders name the classes (matched to the model's vocab
case-insensitively, at any depth, so ``test/real`` and ``test/fake`` work), or a CSV manifest with ``path`` and
``label`` columns (paths relative to the manifest's folder, and inside it). Every problem that would make the
evaluation meaningless is raised as one :class:`HardSetError` before any model work is done.

Large public sets load as they are laid out. Kaggle's "140k Real and Fake Faces" has
``real_vs_fake/real-vs-fake/{train,valid,test}/{real,fake}/`` and CSV manifests with the columns
``,original_path,id,label,label_str,path``, where ``label`` is 1 for real and 0 for fake, ``label_str`` names the
class and ``path`` (``train/real/x.jpg``) is relative to ``real_vs_fake/real-vs-fake``. So:

* class folders under more than one split folder (``train``, ``valid``/``val``, ``test``) are refused unless a
  ``split`` is named, rather than silently mixed;
* a manifest's label comes from ``label_column`` if given, else ``label_str`` when present, else ``label``;
  numeric labels are mapped with ``label_map`` (``{"0": "fake", "1": "real"}``);
* a manifest's paths are resolved against its folder, or, when they are not found there, against
  ``real_vs_fake/real-vs-fake`` beside it (the Kaggle layout); they must lie inside that base.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import HardSetError

# .svg is listed so that a vector file in a set is reported as unreadable rather than silently skipped.
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".svg"}


@dataclass(frozen=True)
class Item:
    """One labelled entry; ``path`` may turn out unreadable (that is an error row, not a set error).

    ``meta`` holds the manifest's other columns (``style``, ``generator``, ``source`` ...), the set's slice
    columns; ``style`` is also kept on its own, as the dashboard and the demo use it.
    """

    path: str
    label: str
    style: str = ""
    meta: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class HardSet:
    """The resolved items of a set, in a stable order, with where they came from."""

    source: str
    items: tuple[Item, ...]
    skipped: tuple[str, ...] = field(default=())

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for it in self.items:
            out[it.label] += 1
        return dict(out)


def _match(name: str, vocab: Sequence[str]) -> str | None:
    low = {v.lower(): v for v in vocab}
    return low.get(name.lower())


SPLITS = ("train", "valid", "val", "validation", "test")


def _splits_of(root: Path, folders: dict[str, list[Path]]) -> set[str]:
    """The split names (``train``, ``valid``, ``test`` ...) that the class folders lie under."""
    out = set()
    for paths in folders.values():
        for p in paths:
            out |= {part.lower() for part in p.relative_to(root).parts[:-1] if part.lower() in SPLITS}
    return out


def _from_folder(root: Path, vocab: Sequence[str]) -> HardSet:
    items: list[Item] = []
    found: dict[str, list[Path]] = defaultdict(list)
    other_dirs: list[str] = []
    seen_real: set[str] = set()
    # followlinks=False: a symlink loop inside a set cannot send the walk round in circles.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        real = os.path.realpath(here)
        if real in seen_real:
            dirnames[:] = []
            continue
        seen_real.add(real)
        label = _match(here.name, vocab) if here != root else None
        if label is None:
            if here != root and here.parent == root:
                other_dirs.append(here.name)
            continue
        found[label].append(here)
        dirnames[:] = []  # a class folder's own subfolders belong to it
        for entry in sorted(os.scandir(here), key=lambda e: e.name):
            if Path(entry.name).suffix.lower() in IMAGE_EXTS:
                items.append(Item(str(here / entry.name), label))
            elif entry.is_dir(follow_symlinks=False):
                for sub, _, files in os.walk(entry.path, followlinks=False):
                    items += [Item(str(Path(sub) / f), label) for f in sorted(files)
                              if Path(f).suffix.lower() in IMAGE_EXTS]
    if not found:
        have = ", ".join(sorted(other_dirs)[:6]) or "none"
        raise HardSetError(f"{root}: no class folders named {' / '.join(vocab)} (subfolders found: {have}); "
                           "put the images in one folder per class")
    splits = _splits_of(root, found)
    if len(splits) > 1:
        raise HardSetError(f"{root}: holds the splits {', '.join(sorted(splits))}; choose one with --split "
                           f"(e.g. --split test) rather than mixing them")
    missing = [v for v in vocab if v not in found]
    if missing:
        raise HardSetError(f"{root}: no folder for class {', '.join(missing)}; the model's classes are "
                           f"{', '.join(vocab)}")
    return HardSet(str(root), tuple(items))


def _manifest_base(path: Path, rels: Sequence[str]) -> Path:
    """The folder a manifest's paths are relative to: its own, or the Kaggle layout's image root beside it."""
    here = path.parent.resolve()
    sample = [r for r in rels[:20] if r and not os.path.isabs(r)]
    for base in (here, here / "real_vs_fake" / "real-vs-fake", here / "real-vs-fake"):
        if sample and sum((base / r).exists() for r in sample) * 2 > len(sample):
            return base
    return here


def _realpaths():
    """``os.path.realpath`` (what ``Path.resolve`` does) with each folder resolved and listed once: a 100,000-line
    manifest over a few folders costs one ``scandir`` per folder (which says which entries are links) instead of one
    ``lstat`` per path component."""
    folders: dict[str, tuple[str, set[str]]] = {}

    def listed(head: str) -> tuple[str, set[str]]:
        try:
            with os.scandir(head) as entries:
                links = {e.name for e in entries if e.is_symlink()}
        except OSError:
            links = set()
        return os.path.realpath(head), links

    def real(path: str) -> str:
        head, _, tail = path.rpartition(os.sep)  # os.path.split's answer for a path without repeated separators
        if tail in ("", ".", "..") or not head or head.endswith(os.sep) or os.altsep:
            return os.path.realpath(path)
        if head not in folders:
            folders[head] = listed(head)
        folder, links = folders[head]
        return os.path.realpath(path) if tail in links else folder.rstrip(os.sep) + os.sep + tail

    return real


def _from_manifest(path: Path, vocab: Sequence[str], label_column: str | None = None,
                   label_map: dict[str, str] | None = None) -> HardSet:
    """The items of a CSV manifest, read column by column (a 100,000-line manifest in a fraction of a second)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            rows = [r for r in reader if r]  # as csv.DictReader: empty lines skipped
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise HardSetError(f"{path.name}: cannot read the manifest ({err})") from None
    at = {c.strip().lower(): i for i, c in enumerate(header)}  # as DictReader's dict: a repeated name, the last
    label_col = (label_column or ("label_str" if "label_str" in at else "label")).strip().lower()
    lacking = [c for c in ("path", label_col) if c not in at]
    if lacking:
        raise HardSetError(f"{path.name}: manifest lacks column {', '.join(lacking)} "
                           f"(has: {', '.join(c for c in at if c) or 'none'}); it needs path,label")

    def column(i: int) -> list[str]:  # a short row has "" there, as DictReader's None
        return [(r[i] if i < len(r) else "").strip() for r in rows]

    rels, labs = column(at["path"]), column(at[label_col])
    base = _manifest_base(path, rels)
    classes = {lab: _match((label_map or {}).get(lab, lab), vocab) for lab in set(labs)}
    real, inside, prefix = _realpaths(), str(base).rstrip(os.sep) + os.sep, str(base) + os.sep
    plain = [_plain(rel) for rel in rels]
    joined = [prefix + rel if ok else str(base / rel) for rel, ok in zip(rels, plain)]  # what str(base / rel) gives
    for n, (rel, full, lab, ok) in enumerate(zip(rels, joined, labs, plain), start=2):
        if classes[lab] is None:
            hint = " (numeric labels need --labels, e.g. 0=fake,1=real)" if lab.isdigit() and not label_map else ""
            raise HardSetError(f"{path.name} line {n}: label {lab!r} is not one of {', '.join(vocab)}{hint}")
        if not real(full if ok or not os.path.isabs(rel) else rel).startswith(inside):
            raise HardSetError(f"{path.name} line {n}: path {rel!r} is outside the manifest's folder")
    names = [k for k in at if k and k not in ("path", "label", label_col)]
    metas = [dict(zip(names, values)) for values in zip(*(column(at[k]) for k in names))] if names \
        else [{} for _ in rows]
    return HardSet(str(path), tuple([Item(full, classes[lab], m.get("style", ""), m)
                                     for full, lab, m in zip(joined, labs, metas)]))


def _plain(rel: str) -> bool:
    """A relative path that pathlib would join as it is: no empty, ``.`` or trailing component."""
    return bool(rel) and not rel.startswith(os.sep) and "//" not in rel and not rel.endswith(os.sep) \
        and "/./" not in f"/{rel}/" and (os.altsep is None or os.altsep not in rel)


def discover(source: str | os.PathLike, vocab: Sequence[str], *, split: str | None = None,
             label_column: str | None = None, label_map: dict[str, str] | None = None) -> HardSet:
    """Resolve a hard-set source into labelled items and check its layout.

    Args:
        source: a folder of class subfolders, or a ``.csv`` manifest.
        vocab: the model's classes.
        split: for a folder with ``train``/``valid``/``test`` subfolders, the one to evaluate.
        label_column: the manifest column holding the class (default ``label_str`` if present, else ``label``).
        label_map: manifest label -> class, for numeric labels (``{"0": "fake", "1": "real"}``).

    Raises:
        HardSetError: no class folders, classes that do not match the vocab, an empty class, several splits and
            none chosen, a manifest with missing columns or paths outside its folder.
    """
    p = Path(source).expanduser()
    if not p.exists():
        raise HardSetError(f"{source}: no such folder or file")
    if p.is_dir() and split is not None:
        p = _split_folder(p, split)
    hs = _from_manifest(p, vocab, label_column, label_map) if p.is_file() and p.suffix.lower() == ".csv" else (
        _from_folder(p, vocab) if p.is_dir() else None)
    if hs is None:
        raise HardSetError(f"{source}: give a folder of class subfolders or a .csv manifest")
    if folder_meta := _meta_from_folder_manifest(p):
        hs = HardSet(hs.source, tuple(Item(i.path, i.label, m.get("style", ""), m) for i in hs.items
                                      for m in [folder_meta.get(os.path.realpath(i.path), {})]), hs.skipped)
    empty = [v for v in vocab if hs.counts.get(v, 0) == 0]
    if empty:
        raise HardSetError(f"{source}: class {', '.join(empty)} has no images")
    return hs


def _split_folder(root: Path, split: str) -> Path:
    """The folder named ``split`` at or under ``root`` (the Kaggle layout nests it two levels down)."""
    for dirpath, dirnames, _ in os.walk(root):
        for d in sorted(dirnames):
            if d.lower() == split.lower():
                return Path(dirpath) / d
        if Path(dirpath).relative_to(root).parts.__len__() >= 3:
            dirnames[:] = []
    raise HardSetError(f"{root}: no split folder named {split!r}")


def _meta(row: dict, cols: dict[str, str]) -> dict[str, str]:
    """A manifest row's columns other than ``path`` and ``label``, keyed by lower-cased column name."""
    return {low: (row.get(col) or "").strip() for low, col in cols.items() if low and low not in ("path", "label")}


def _meta_from_folder_manifest(folder: Path) -> dict[str, dict[str, str]]:
    """A folder set may carry a ``manifest.csv`` with more columns (the demo's has ``style``); read them if so."""
    m = folder / "manifest.csv"
    if not folder.is_dir() or not m.is_file():
        return {}
    try:
        with open(m, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
            if "path" not in cols:
                return {}
            return {os.path.realpath(folder / r[cols["path"]]): _meta(r, cols) for r in reader if r.get(cols["path"])}
    except (OSError, KeyError, csv.Error, UnicodeDecodeError):
        return {}


def check_duplicates(hashes: dict[str, str], items: Sequence[Item]) -> None:
    """Refuse a set where the same image content carries two labels.

    Args:
        hashes: path -> sha256 of the file's bytes (unreadable files absent).
    """
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    for it in items:
        h = hashes.get(it.path)
        if h is not None:
            labels[h].setdefault(it.label, it.path)
    clashes = [v for v in labels.values() if len(v) > 1]
    if clashes:
        first = " vs ".join(f"{Path(p).name} ({lab})" for lab, p in clashes[0].items())
        raise HardSetError(f"{len(clashes)} image(s) appear under two labels, e.g. {first}; remove the duplicates")
