"""Publishing to and loading from the Hugging Face Hub.

    finrisk registry push runs/credit_text --hub my-bank/credit-text [--merged] [--public]
    finrisk predict hub:my-bank/credit-text "Applicant lost his job ..."

A push uploads a release folder (:func:`~finrisk_nlp.registry.release.stage_release` with ``hub=True``) in one
commit, to a repo that is created private unless asked otherwise: a single-task model in the Hub format that plain
transformers loads with ``trust_remote_code=True`` (:mod:`finrisk_nlp.modeling.hub_format`: LoRA merged, shipped
modeling and pipeline code) with finrisk_model.json, config.yaml, metrics.json, the model card and the manifest.
Local paths, the user and the host name are replaced first, and a release that still holds one is refused
(:mod:`finrisk_nlp.registry.publishing`). The token comes from ``HF_TOKEN`` or ``hf auth login`` and is never
logged. ``HF_ENDPOINT`` (or ``endpoint=``) points at a private Hub mirror.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from finrisk_nlp.errors import FinriskError, ModelLoadError
from finrisk_nlp.registry.model_card import DEFAULT_LICENSE
from finrisk_nlp.registry.release import MANIFEST_FILE, verify_release

logger = logging.getLogger(__name__)


class HubError(FinriskError, RuntimeError):
    """The Hub refused or failed a request (authentication, permissions, network)."""


def _api(endpoint: str | None, token: str | None):  # -> HfApi, imported lazily with huggingface_hub
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise HubError("no Hugging Face token found: set HF_TOKEN (e.g. from your secret store) or run "
                       "`hf auth login`; the token needs write access to the target organisation")
    return HfApi(endpoint=endpoint, token=token)


def push_to_hub(
    run_dir: str | Path,
    repo_id: str,
    *,
    private: bool = True,
    merged: bool = False,
    license: str = DEFAULT_LICENSE,
    endpoint: str | None = None,
    token: str | None = None,
) -> str:
    """Upload a finished run to a Hub model repo, creating the repo if needed; return the commit URL.

    Args:
        run_dir: a recipe's output directory.
        repo_id: ``ORG/NAME`` on the Hub.
        private: create the repo private (an existing repo keeps its visibility). Pushing to an existing
            public repo needs ``private=False`` (``--public``, ``registry.private=false``).
        merged: a multi-task model (finrisk_nlp's own layout) also uploads ``merged/``; a single-task model is
            always pushed merged (the Hub format).
        license: license id for the model card.
        endpoint: Hub URL (default: ``HF_ENDPOINT`` or huggingface.co).
        token: access token (default: ``HF_TOKEN`` or the saved login).

    Raises:
        HubError: if the Hub refuses the request, the repo is public and ``private`` is true, or a file would
            publish a local path, user or host name; the token never appears in the message.
    """
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    from finrisk_nlp.registry.release import stage_release

    api = _api(endpoint, token)
    with tempfile.TemporaryDirectory(prefix="finrisk-hub-") as tmp:
        folder = Path(tmp)
        stage_release(run_dir, folder, name=repo_id, merged=merged, license=license, hub=True)
        refuse_leaks(folder, repo_id)
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        operations = [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
                      for p in files]
        try:
            _check_visibility(api, repo_id, private)
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            # One commit for the whole release: readers never see a mix of two pushes.
            info = api.create_commit(repo_id, operations, repo_type="model",
                                     commit_message=f"Publish {Path(run_dir).name} with finrisk_nlp")
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "no response"
            raise HubError(f"pushing to {repo_id} on {api.endpoint} failed (HTTP {status}): {exc}. Check that the "
                           "token can write to this organisation and that the repo id is right.") from None
    logger.info(f"uploaded {len(files)} files to {repo_id} ({'private' if private else 'public'} if new)")
    return info.commit_url


def refuse_leaks(folder: Path, repo_id: str) -> None:
    """Raise HubError naming every local path, user or host name left in the staged release (nothing is pushed)."""
    from finrisk_nlp.registry.publishing import find_leaks

    leaks = find_leaks(folder)
    if leaks:
        shown = "; ".join(leaks[:10]) + (f"; and {len(leaks) - 10} more" if len(leaks) > 10 else "")
        raise HubError(f"refusing to push to {repo_id}: the release would publish details of this machine "
                       f"({shown}). Nothing was pushed. Remove them from the run's files (config.yaml, metrics.json, "
                       "run_info.json) or train with relative paths, then push again.")


def _check_visibility(api, repo_id: str, private: bool) -> None:  # api: HfApi
    """Refuse to publish into an existing public repo unless public was asked for; warn where it was."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        existing = api.model_info(repo_id)
    except RepositoryNotFoundError:
        return  # created below with the visibility asked for
    if existing.private is False and private:
        raise HubError(
            f"{repo_id} already exists on {api.endpoint} and is PUBLIC: pushing would publish this model, its "
            "metrics and model card to everyone. Nothing was pushed. If that is intended, push again with "
            "--public (registry.private=false in a recipe config); otherwise push to a private repo."
        )
    if existing.private is False:
        logger.warning(f"{repo_id} is a PUBLIC repo: everyone can download what is pushed now")
    elif not private:
        logger.warning(f"{repo_id} already exists and is private: it stays private (--public only applies to a "
                       "new repo; change the visibility in the repo's settings)")


def download_model(repo_id: str, revision: str | None = None) -> Path:
    """Download (or take from the cache) a model repo and return its folder, checksums verified if it has a manifest.

    Raises:
        ModelLoadError: if the repo id is invalid or the repo cannot be downloaded, e.g. offline and not cached.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(repo_id, revision=revision, repo_type="model"))
    except HFValidationError as exc:
        raise ModelLoadError(
            f"hub:{repo_id[:100]!r} is not a valid Hugging Face repo id ({' '.join(str(exc).split())[:200]}); write "
            "hub:ORG/NAME[@REVISION], e.g. hub:my-bank/credit-text"
        ) from None
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        raise ModelLoadError(
            f"hub:{repo_id} could not be fetched from the Hugging Face Hub ({type(exc).__name__}: {exc}). Check the "
            "repo id, your token (HF_TOKEN) and that HF_HUB_OFFLINE is not set."
        ) from None
    if (folder / MANIFEST_FILE).is_file():
        verify_release(folder)
    return folder
