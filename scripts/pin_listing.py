"""Pin the Inspect Evals listing to a commit of this repository.

Usage:
    python scripts/pin_listing.py [COMMIT] [--repository-url URL] [--check [--fresh]]

Sets ``source.repository_commit`` of plugins/inspect_evals/eval.yaml to COMMIT (default: HEAD),
after checking that it is a commit of this repository, and ``source.repository_url`` if given.
The register clones the repository at that commit, so pin a commit that has been pushed. A
listing cannot name the commit that contains it: commit the change this script makes after the
commit it pins. ``--check`` changes nothing and fails if the pinned commit is not a full 40-hex
commit of this repository (tests/plugins/test_ecosystem.py runs the same check), and says when the
pin is stale: when what the register would run (the package, its metadata and lock) changed after
the pinned commit. ``--fresh`` makes a stale pin an error (before a submission).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LISTING = REPO / "plugins" / "inspect_evals" / "eval.yaml"
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
# What the register installs and runs from the pinned commit.
RUN_PATHS = ("empathy_task", "pyproject.toml", "uv.lock", "registry.yaml", "human_baseline")
URL_RE = re.compile(r"^https://github\.com/[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")


def resolve_commit(ref: str, repo: Path = REPO) -> str:
    """The full sha of ``ref`` in ``repo``; ``ValueError`` if it names no commit there."""
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise ValueError(f"{ref!r} is not a commit of the repository at {repo}")
    return done.stdout.strip()


def changed_since(commit: str, repo: Path = REPO) -> list[str]:
    """Files the register runs that differ between ``commit`` and HEAD (empty: the pin is fresh)."""
    done = subprocess.run(
        ["git", "-C", str(repo), "diff", "--name-only", commit, "HEAD", "--", *RUN_PATHS],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def pinned(listing: Path = LISTING) -> tuple[str, str]:
    """``(repository_url, repository_commit)`` as the listing states them."""
    import yaml

    source = yaml.safe_load(listing.read_text(encoding="utf-8"))["source"]
    return str(source["repository_url"]), str(source["repository_commit"])


def set_field(text: str, key: str, value: str) -> str:
    """Replace ``  key: ...`` under ``source:`` in the YAML text, keeping every comment."""
    pattern = re.compile(rf"^(  {key}:)[^\n]*$", re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"the listing must have exactly one 'source.{key}' line")
    return pattern.sub(lambda m: f"{m.group(1)} {value}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit", nargs="?", default="HEAD", help="commit to pin (default HEAD)")
    parser.add_argument("--repository-url", help="the repository's https://github.com/... URL")
    parser.add_argument("--check", action="store_true", help="only check the pinned commit")
    parser.add_argument(
        "--fresh", action="store_true", help="with --check: fail if the pin is stale"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            url, commit = pinned()
            if not COMMIT_RE.match(commit):
                raise ValueError(f"source.repository_commit {commit!r} is not 40 hex digits")
            if resolve_commit(commit) != commit:
                raise ValueError(f"source.repository_commit {commit} is not a commit here")
            if not URL_RE.match(url):
                raise ValueError(f"source.repository_url {url!r} is not a GitHub repository URL")
            print(f"{LISTING.relative_to(REPO)} pins {url} at {commit}")
            stale = changed_since(commit)
            if stale:
                shown = ", ".join(stale[:5]) + (
                    f" and {len(stale) - 5} more" if len(stale) > 5 else ""
                )
                message = (
                    f"the pin is stale: {len(stale)} file(s) the register runs changed since "
                    f"{commit[:12]} ({shown}); push, then run scripts/pin_listing.py and commit"
                )
                if args.fresh:
                    raise ValueError(message)
                print(f"pin_listing: warning: {message}", file=sys.stderr)
            return 0
        commit = resolve_commit(args.commit)
        text = set_field(LISTING.read_text(encoding="utf-8"), "repository_commit", commit)
        if args.repository_url:
            if not URL_RE.match(args.repository_url):
                raise ValueError(f"{args.repository_url!r} is not a GitHub repository URL")
            text = set_field(text, "repository_url", args.repository_url)
    except ValueError as e:
        print(f"pin_listing: error: {e}", file=sys.stderr)
        return 2
    LISTING.write_text(text, encoding="utf-8")
    print(f"{LISTING.relative_to(REPO)}: source.repository_commit {commit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
