"""Download the backbone named by a Hub model id ONCE, before the workers start (issue 14).

    python -m qc_engine.hub_model --resolved OUT/resolved_config.json
    python -m qc_engine.hub_model --repo NS/NAME [--revision REV]

snapshot_download into the standard cache (HF_HOME / HF_HUB_CACHE), honouring HF_ENDPOINT, HF_TOKEN
and HF_HUB_OFFLINE; an interrupted download resumes (huggingface_hub keeps the .incomplete blobs).
The launcher (lib/hub/model_source.ts) then rewrites the resolved config: model.pretrained_name
becomes the snapshot folder, and "model_source" {repo_id, revision, commit, path} keeps where it came from.

stdout: JSON lines start / progress {downloaded, total} / done {repo_id, revision, commit, path} / error.
Exit codes: 0 done; 2 bad input (no such repo or revision, gated without a token, offline and not cached); 1 else.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                    RevisionNotFoundError)
from tqdm.auto import tqdm

from .config import load_resolved
from .errors import EXIT_OK, BadInput, report_failure
from .protocol import emit


class JsonProgress(tqdm):
    """A tqdm that reports the byte bars as JSON lines (at most twice a second) instead of drawing them."""

    last = 0.0

    def __init__(self, *args, **kwargs):
        kwargs["disable"] = False
        kwargs["file"] = open("/dev/null", "w")  # noqa: SIM115 - the bar itself is not drawn
        super().__init__(*args, **kwargs)

    def update(self, n=1):
        out = super().update(n)
        if self.unit == "B" and (time.time() - JsonProgress.last >= 0.5 or (self.total and self.n >= self.total)):
            JsonProgress.last = time.time()
            emit("progress", what=str(self.desc or ""), downloaded=int(self.n), total=int(self.total or 0))
        return out


def download(repo: str, revision: str) -> dict:
    emit("start", repo_id=repo, revision=revision)
    try:
        path = Path(snapshot_download(repo, revision=revision, tqdm_class=JsonProgress))
    except GatedRepoError:
        raise BadInput(f"model.pretrained_name {repo}: the repository is gated or private and HF_TOKEN "
                       "is unset or cannot read it; set HF_TOKEN to a token with access") from None
    except RepositoryNotFoundError:
        raise BadInput(f"model.pretrained_name {repo}: no such model repository on the Hub "
                       "(or it is private and HF_TOKEN cannot read it)") from None
    except RevisionNotFoundError:
        raise BadInput(f"model.revision {revision}: {repo} has no such branch, tag or commit") from None
    except LocalEntryNotFoundError as exc:
        raise BadInput(f"model.pretrained_name {repo}@{revision}: not in the local cache and the Hub cannot be "
                       f"reached (HF_HUB_OFFLINE or no network): {exc}") from None
    if not (path / "config.json").is_file():
        raise BadInput(f"model.pretrained_name {repo}@{revision}: the snapshot has no config.json; is it a model repository?")
    return {"repo_id": repo, "revision": revision, "commit": path.name, "path": str(path)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qc_engine.hub_model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolved", help="resolved_config.json: model.pretrained_name + model.revision")
    parser.add_argument("--repo")
    parser.add_argument("--revision", default=None, help="overrides model.revision; with --repo: main when not given")
    args = parser.parse_args(argv)
    try:
        if args.resolved:
            model = load_resolved(args.resolved)[0].model  # ConfigError (BadInput) names a bad key
            repo, revision = model.pretrained_name, args.revision or model.revision
        elif args.repo:
            repo, revision = args.repo, args.revision or "main"  # the Hub's own default branch
        else:
            raise BadInput("give --resolved R or --repo NS/NAME")
        emit("done", **download(repo, revision))
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - bad input exit 2, anything else exit 1, both as an error event
        return report_failure(exc, emit)


if __name__ == "__main__":
    sys.exit(main())
