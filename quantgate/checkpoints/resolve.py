"""Where a catalogue's checkpoint is for the engine: a hub id, a local path, an embedded build, a
GGUF file for llama.cpp, or a hub GGUF file dequantized once into the cache for vLLM."""

from __future__ import annotations

from pathlib import Path

from quantgate.catalogue.spec import Checkpoint
from quantgate.checkpoints.embedded import dequantize_gguf, embedded_path, is_built
from quantgate.errors import EngineLoadError


def resolve_checkpoint(checkpoint: Checkpoint, cache_dir: Path) -> tuple[str, str | None]:
    """(model, revision) for vLLM; raise EngineLoadError for a local checkpoint that is not there."""
    if checkpoint.hub and checkpoint.file:
        if not checkpoint.dequantize:
            raise EngineLoadError(f"{checkpoint.hub}/{checkpoint.file} is a GGUF file: it runs in llama.cpp")
        return str(dequantized_gguf(checkpoint.hub, checkpoint.file, checkpoint.revision, cache_dir)), None
    if checkpoint.hub:
        return checkpoint.hub, checkpoint.revision
    if checkpoint.embedded:
        path = embedded_path(cache_dir, checkpoint.embedded)
        if not is_built(path):
            raise EngineLoadError(
                f"embedded checkpoint {checkpoint.embedded!r} is not built at {path}: "
                "run `nox -s build_embedded` (it quantizes with llm-compressor in its own venv)"
            )
        return str(path), None
    assert checkpoint.path is not None
    if not Path(checkpoint.path).exists():
        raise EngineLoadError(f"checkpoint path {checkpoint.path} does not exist")
    return checkpoint.path, None


def resolve_gguf(checkpoint: Checkpoint, cache_dir: Path) -> Path:
    """The GGUF file llama.cpp loads: downloaded from the hub, an embedded build, or a local path."""
    if checkpoint.hub and checkpoint.file:
        return _download(checkpoint.hub, checkpoint.file, checkpoint.revision)
    if checkpoint.embedded:
        from quantgate.checkpoints.gguf_files import embedded_gguf

        path = embedded_gguf(cache_dir, checkpoint.embedded)
        if not path.is_file():
            raise EngineLoadError(
                f"embedded GGUF file {checkpoint.embedded!r} is not built at {path}: "
                "run `nox -s build_embedded` (it makes the GGUF files with llama.cpp's quantizer)"
            )
        return path
    assert checkpoint.path is not None
    if not Path(checkpoint.path).is_file():
        raise EngineLoadError(f"GGUF file {checkpoint.path} does not exist")
    return Path(checkpoint.path)


def _download(repo: str, file: str, revision: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, file, revision=revision))
    except Exception as exc:  # the hub client raises many types; keep the cause for the test's error
        raise EngineLoadError(f"cannot download {file} from {repo}: {exc}") from exc


def dequantized_gguf(repo: str, file: str, revision: str | None, cache_dir: Path) -> Path:
    """A GGUF file from the hub, dequantized once into the cache (vLLM's releases here load no GGUF)."""
    final = cache_dir / "models" / "gguf" / f"{repo.replace('/', '--')}--{Path(file).stem}"
    if not is_built(final):
        dequantize_gguf(_download(repo, file, revision), final, {"source": f"{repo}/{file}", "revision": revision})
    return final
