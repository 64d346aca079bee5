"""The engine log gets what vLLM logs while it loads: its handlers hold the stream ``sys.stdout`` was
at import (under pytest, pytest's capture file), and on CUDA vLLM forks its engine process, which
inherits them. Reproduced here with a real fork and a handler made under pytest's capture."""

import logging
import os
import sys

from quantgate.engines.vllm_engine import engine_log


def test_a_forked_process_logging_through_vllms_handler_writes_to_the_engine_log(tmp_path):
    logger = logging.getLogger("vllm.fake_engine_core")
    handler = logging.StreamHandler(sys.stdout)  # what vLLM's logging config does at import
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    log = tmp_path / "engine.log"
    try:
        with engine_log(log):
            logger.info("Using MarlinLinearKernel for CompressedTensorsWNA16")
            child = os.fork()
            if child == 0:
                logger.info("EngineCore: ValueError: the root cause")
                os._exit(0)
            os.waitpid(child, 0)
            os.write(2, b"a C++ warning on fd 2\n")
        assert handler.stream is sys.stdout  # given back after the load
        text = log.read_text()
        assert "Using MarlinLinearKernel" in text and "ValueError: the root cause" in text
        assert "a C++ warning on fd 2" in text
    finally:
        logger.removeHandler(handler)
