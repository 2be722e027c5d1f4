"""Publishing a checked release: upload every folder with ``huggingface_hub`` and tag each repository with the
package version (:func:`publish`)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .artifacts import (IGNORED, ReleaseError, check_namespace, folder_files, hub_url, human_size, one_line,
                        read_manifest, set_namespace)
from .check import check_release


# -- publishing ------------------------------------------------------------------------------------------------------
def _hub(what: str, call, *args, **kwargs):
    """Run a huggingface_hub call; a network, authentication or hub error becomes a one-line ReleaseError."""
    from huggingface_hub.errors import HTTPError

    try:
        return call(*args, **kwargs)
    except (OSError, ValueError, HTTPError) as err:
        raise ReleaseError(f"{what}: {type(err).__name__}: {one_line(err)}") from None


def hub_token() -> str:
    import huggingface_hub

    token = huggingface_hub.get_token()
    if not token:
        raise ReleaseError("no Hugging Face token: run `hf auth login` or set HF_TOKEN (write access is needed)")
    return token


def plan(release_dir: Path, current: dict) -> list[str]:
    """What an upload sends: per repository its URL, files and sizes."""
    from huggingface_hub import constants

    lines = []
    for artifact in current["artifacts"]:
        files = folder_files(release_dir / artifact["name"])
        total = human_size(sum(size for _, size in files))
        url = hub_url(artifact["repo_id"], artifact["repo_type"], constants.ENDPOINT)
        lines.append(f"{artifact['repo_type']:<8} {artifact['repo_id']}  {url}  ({len(files)} files, {total}, "
                     f"tag {current['tag']})")
        lines += [f"    {name}  {human_size(size)}" for name, size in files]
    return lines


def upload(release_dir: Path, current: dict, token: str, log: Callable[[str], None] = print) -> list[str]:
    """Create each repository, upload its folder and tag it; returns the URLs. Stops before any upload when a
    repository already holds the release's tag."""
    import huggingface_hub

    tag = current["tag"]
    for artifact in current["artifacts"]:
        rid, kind = artifact["repo_id"], artifact["repo_type"]
        try:
            refs = huggingface_hub.list_repo_refs(rid, repo_type=kind, token=token)
        except huggingface_hub.errors.RepositoryNotFoundError:
            continue
        except (OSError, ValueError, huggingface_hub.errors.HTTPError) as err:
            raise ReleaseError(f"cannot read {rid}: {type(err).__name__}: {one_line(err)}") from None
        if tag in [t.name for t in refs.tags]:
            raise ReleaseError(f"{rid} already has tag {tag}: raise the package version and rebuild the release")
    urls = []
    for artifact in current["artifacts"]:
        rid, kind = artifact["repo_id"], artifact["repo_type"]
        options = {"space_sdk": "gradio"} if kind == "space" else {}
        url = _hub(f"cannot create {rid}", huggingface_hub.create_repo, rid, repo_type=kind, exist_ok=True,
                   token=token, **options)
        _hub(f"cannot upload to {rid}", huggingface_hub.upload_folder, repo_id=rid, repo_type=kind,
             folder_path=str(release_dir / artifact["name"]), token=token, ignore_patterns=list(IGNORED),
             commit_message=f"contextmatch {current['contextmatch_version']}")
        _hub(f"cannot tag {rid}", huggingface_hub.create_tag, rid, tag=tag, repo_type=kind, token=token,
             tag_message=f"contextmatch {current['contextmatch_version']}")
        log(f"{artifact['role']:<12} {url}")
        urls.append(str(url))
    return urls


def publish(release_dir: str | Path, namespace: str, dry_run: bool = False,
            log: Callable[[str], None] = print) -> list[str]:
    """Check a release offline and upload it to ``namespace`` (with ``dry_run``, only check and list); returns the
    URLs uploaded to. Without a token or network it raises a one-line :class:`ReleaseError` before any check."""
    release_dir = Path(release_dir)
    check_namespace(namespace)
    read_manifest(release_dir)
    token = None
    if not dry_run:
        import huggingface_hub

        token = hub_token()
        _hub("cannot reach the Hugging Face Hub", huggingface_hub.whoami, token=token)
    old = set_namespace(release_dir, namespace)
    if old:
        log(f"cross-references moved from {old}/... to {namespace}/...")
    current = read_manifest(release_dir)
    problems = check_release(release_dir, log=log)
    if problems:
        raise ReleaseError(f"{len(problems)} problem(s) in {release_dir}: " + "; ".join(problems))
    log(f"release {current['contextmatch_version']} in {release_dir}: every check passed")
    if dry_run:
        for line in plan(release_dir, current):
            log(line)
        log("dry run: nothing was uploaded")
        return []
    return upload(release_dir, current, token, log)
