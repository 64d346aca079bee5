"""One engine at a time: the default vLLM loader, and the manager that loads a variant once and never
retries one that failed."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from quantgate.catalogue.model import Variant
from quantgate.checkpoints.resolve import resolve_checkpoint, resolve_gguf
from quantgate.engines import Engine, EngineInfo, Release, load_vllm, load_vllm_data_parallel
from quantgate.engines.device import cuda_device_count, device_name, visible_gpus
from quantgate.engines.gpus import check_fits, replica_groups
from quantgate.engines.vllm_engine import effective_engine_args, installed_version
from quantgate.errors import EngineLoadError
from quantgate.run.settings import Settings


def vllm_loader(settings: Settings) -> Callable[[Variant], Engine]:
    def load(variant: Variant) -> Engine:
        if variant.llama_cpp is not None:
            from quantgate.engines.llamacpp_engine import load_llama_cpp

            tokenizer = variant.llama_cpp.tokenizer or resolve_checkpoint(variant.reference_checkpoint,
                                                                          settings.cache_dir)[0]  # fmt: skip
            gguf = resolve_gguf(variant.checkpoint, settings.cache_dir)
            return load_llama_cpp(gguf, tokenizer=tokenizer, spec=variant.llama_cpp, engine_args=variant.engine_args)
        check_fits(variant.key, variant.engine_args, cuda_device_count())
        model, revision = resolve_checkpoint(variant.checkpoint, settings.cache_dir)
        log = settings.report_dir / "engine-logs" / f"{variant.key}.log"
        if variant.server is not None:
            from quantgate.engines.server import load_server

            args = effective_engine_args(variant.engine_args)
            return load_server(variant.server, model=model, name=variant.key, revision=revision, engine_args=args,
                               log_path=log)  # fmt: skip
        replicas = settings.data_parallel if settings.data_parallel is not None else variant.data_parallel_size
        if replicas not in (None, 1):
            gpus = visible_gpus()
            groups = replica_groups(variant.key, variant.engine_args, replicas, gpus, sorted(os.sched_getaffinity(0)))
            if len(groups) > 1:
                return load_vllm_data_parallel(model, revision=revision, engine_args=variant.engine_args, groups=groups,
                                               on_gpus=bool(gpus), label=variant.key, log_path=log)  # fmt: skip
        return load_vllm(
            model, revision=revision, engine_args=variant.engine_args, progress=settings.progress, log_path=log
        )

    return load


@dataclass
class EngineManager:
    """Holds at most one loaded engine; a variant loads once, and a variant that failed to load is not retried."""

    loader: Callable[[Variant], Engine]
    loads: Counter[str] = field(default_factory=Counter)
    _current: tuple[str, Engine] | None = None
    _failed: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> str | None:
        return self._current[0] if self._current else None

    def acquire(self, variant: Variant) -> tuple[Engine, bool]:
        """The variant's engine, and whether this call loaded it."""
        if variant.key in self._failed:
            raise EngineLoadError(f"{variant.key} failed to load earlier in this session: {self._failed[variant.key]}")
        if self._current and self._current[0] == variant.key:
            return self._current[1], False
        self.release()
        self.loads[variant.key] += 1
        try:
            engine = self.loader(variant)
        except EngineLoadError as exc:
            self._failed[variant.key] = str(exc)
            raise
        except Exception as exc:  # the loader's own failure: keep the cause, do not retry
            self._failed[variant.key] = f"{type(exc).__name__}: {exc}"
            raise EngineLoadError(f"{variant.key}: {type(exc).__name__}: {exc}") from exc
        self._current = (variant.key, engine)
        return engine, True

    def release(self) -> Release | None:
        """Close the current engine and confirm its memory is back."""
        if self._current is None:
            return None
        _, engine = self._current
        self._current = None
        return engine.close()


def expected_engine_info(variant: Variant) -> EngineInfo:
    """The engine facts a cached run records when no engine was loaded for it."""
    device = "cuda" if cuda_device_count() else "cpu"
    if variant.llama_cpp is not None:
        from quantgate.engines.llamacpp_engine import expected_settings, llama_cpp_device, llama_cpp_version

        spec = variant.llama_cpp
        return EngineInfo("llama.cpp", llama_cpp_version(), llama_cpp_device(spec), device_name(),
                          expected_settings(spec, variant.engine_args))  # fmt: skip
    args = effective_engine_args(variant.engine_args)
    server = variant.server
    if server is None:
        return EngineInfo("vllm", installed_version(), device, device_name(), args)
    settings = {**args, "served_model": server.model or variant.key, "max_concurrency": server.max_concurrency}
    if server.base_url is not None:
        return EngineInfo("server", "unknown", "remote", server.base_url.rstrip("/").removesuffix("/v1"), settings)
    if server.start == "vllm":
        return EngineInfo("vllm-server", installed_version(), device, device_name(), settings)
    return EngineInfo("server", "unknown", device, device_name(), settings)
