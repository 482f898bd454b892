"""``qserial convert``: any installed format to any other, one file or many."""

from __future__ import annotations

import os
from typing import Any

import click

from ._common import (
    CommandError,
    FileProgress,
    debug_enabled,
    describe,
    fail_line,
    interactive,
)
from ._files import GLOB_CHARS, expand, header_of, read_format, stem, suffix_owner, suffixes

__all__ = ["convert"]

#: Above this many bytes in all, ``convert`` shows a progress bar even for one file.
_PROGRESS_BYTES = 64 * 1024 * 1024


def _format_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from ..formats import get_format, list_formats

    if value.lower() not in list_formats():
        raise click.BadParameter(
            f"{value!r} is not installed; installed formats: {', '.join(list_formats())}")
    return get_format(value)


def _key_values(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
                ) -> dict[str, str]:
    # The values stay text: the format's declared option types read them (Option.parse).
    out: dict[str, str] = {}
    for item in value:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        out[key] = raw
    return out


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@click.argument("dest", metavar="DST")
@click.option("-f", "--format", "fmt", callback=_format_option, metavar="NAME",
              help="Format to write. Default: from DST's suffix; needed for a folder.")
@click.option("-o", "--option", "options", multiple=True, callback=_key_values,
              metavar="KEY=VALUE",
              help="Write option of the format (repeatable), e.g. compression=zstd; the "
                   "value is read as the option's type says (3, true, none). An unknown "
                   "option or a bad value lists the format's options.")
@click.option("-r", "--recursive", is_flag=True,
              help="Convert a SRC folder's subfolders too, keeping their layout.")
@click.option("--drop-manifest", is_flag=True,
              help="Convert files holding a manifest (a job's provenance) to formats that "
                   "cannot store it, without it.")
@click.option("--overwrite", is_flag=True,
              help="Replace targets that exist (never the source itself).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: on a terminal, for several or large "
                   "files).")
def convert(sources: tuple[str, ...], dest: str, fmt: Any, options: dict[str, Any],
            recursive: bool, drop_manifest: bool, overwrite: bool,
            progress: bool | None) -> None:
    """Convert files from any installed format to any other.

    One SRC file and a DST file name: DST's suffix (or --format) picks the format.
    Several SRC, a folder or a quoted glob, or an existing folder as DST: each file
    goes to DST/<name>.<suffix of --format>. Files are converted through the stored
    tree, so tags this qserial does not know are kept, and so is the manifest (a
    job's provenance). Each output is written atomically. A target that exists is
    refused unless --overwrite, and a target that is its source always. A file that
    fails or is refused gets a line on stderr and the others are still converted;
    the exit status is then 1.

    \b
    Examples:
      qserial convert run.json run.h5
      qserial convert run.json run.data --format msgpack
      qserial convert results/ results-h5/ --format hdf5
      qserial convert 'runs/**/*.json' parquet/ -f parquet -o compression=zstd
    """
    from ..formats import format_for_suffix

    to_folder = (len(sources) > 1 or os.path.isdir(dest) or dest.endswith(("/", os.sep))
                 or any(os.path.isdir(s) or (GLOB_CHARS & set(s) and not os.path.exists(s))
                        for s in sources))
    items = expand(sources, recursive)
    if to_folder:
        if fmt is None:
            raise click.UsageError("converting into a folder needs --format NAME")
        known = suffixes()
        jobs = [(src, os.path.join(dest, os.path.dirname(rel),
                                   stem(os.path.basename(rel), known) + fmt.suffixes[0]),
                  missing) for src, rel, missing in items]
    else:
        if fmt is None:
            from ..errors import FormatNotInstalledError, UnknownFormatError

            try:
                fmt = format_for_suffix(os.path.basename(dest))
            except FormatNotInstalledError:
                raise
            except UnknownFormatError:
                raise click.UsageError(f"cannot tell the format of {dest} from its suffix; "
                                       "pass --format NAME") from None
        else:
            owner = suffix_owner(os.path.basename(dest))
            if owner is not None and owner != fmt.name:
                click.echo(f"Warning: {dest} has a suffix of format {owner}, but --format "
                           f"{fmt.name} is written to it", err=True)
        jobs = [(src, dest, missing) for src, _, missing in items]
    options = _check_options(fmt, options)
    done = _convert_all(jobs, fmt, options, drop_manifest, overwrite, progress)
    if done < len(jobs):
        raise CommandError(f"{len(jobs) - done} of {len(jobs)} files failed; {done} converted")


def _check_options(fmt: Any, options: dict[str, str]) -> dict[str, Any]:
    """The write options given as text, typed and checked by ``fmt`` before any file is
    read: a mistake is a usage error (exit status 2) listing the format's options."""
    from ..errors import QSerialError

    if not options:
        return {}
    try:
        typed = fmt.parse_options(options, "write")  # the declared types read the text
    except QSerialError as exc:
        raise click.UsageError(describe(exc)) from None
    return typed


def _target_problem(src: str, dst: str, overwrite: bool) -> str | None:
    """Why ``dst`` must not be written from ``src``, or None."""
    if not os.path.lexists(dst):
        return None
    if os.path.exists(dst) and os.path.samefile(src, dst):  # links and hard links too
        return f"the target {dst} is this file itself; converting a file onto itself would lose it"
    if os.path.isdir(dst):
        return f"{dst} is a folder"
    if not overwrite:
        return f"{dst} exists; pass --overwrite to replace it"
    return None


def _convert_all(jobs: list[tuple[str, str, str | None]], fmt: Any, options: dict[str, Any],
                 drop_manifest: bool, overwrite: bool, progress: bool | None) -> int:
    """Convert each ``(source, target, reason it is missing)``; return how many worked."""
    from ..errors import WriteError

    if progress is None:
        total = sum(os.path.getsize(src) for src, _, missing in jobs if missing is None)
        progress = interactive() and (len(jobs) > 1 or total > _PROGRESS_BYTES)
    seen: dict[str, str] = {}
    done = 0
    with FileProgress("converting", len(jobs), progress) as bar:
        for src, dst, missing in jobs:
            key = os.path.realpath(dst)
            try:
                if missing is not None:
                    raise WriteError(missing)
                if key in seen:
                    raise WriteError(f"{dst} would also be written from {seen[key]}: "
                                     "rename one of them")
                problem = _target_problem(src, dst, overwrite)
                if problem is not None:
                    raise WriteError(problem)
                seen[key] = src
                _convert_one(src, dst, fmt, options, drop_manifest)
            except Exception as exc:
                if debug_enabled():
                    raise
                bar.say(fail_line(src, exc), err=True)
            else:
                done += 1
                bar.say(f"{src} -> {dst}")
            bar.advance()
    return done


def _convert_one(src: str, dst: str, fmt: Any, options: dict[str, Any],
                 drop_manifest: bool) -> None:
    from ..api import dump_tree
    from ..errors import UnsupportedFeatureError

    source_format = read_format(src)
    tree = source_format.load_path(src)  # first: its errors say most precisely what is wrong
    manifest = None
    if not drop_manifest:
        manifest = (header_of(source_format, src) or {}).get("manifest")
        if manifest is not None and not fmt.supports_manifest:
            raise UnsupportedFeatureError(
                f"it holds a manifest (e.g. a job's provenance) that format {fmt.name!r} "
                "cannot store; pass --drop-manifest to convert it without")
    folder = os.path.dirname(dst)
    if folder:
        os.makedirs(folder, exist_ok=True)
    dump_tree(tree, dst, format=fmt, manifest=manifest, **options)
