"""The hub layouts written from compressed-tensors checkpoints hold the same weights: each layout is
read back here as its published loaders read it (GPTQ v1's zero - 1, AWQ's packing order as vLLM's
AWQ kernels undo it) and dequantized; fine-grained FP8 keeps every 128 x 128 block within e4m3's
rounding. That vLLM runs them on a GPU is recorded in docs/gpu.md."""

import json

import pytest
import torch
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
from safetensors.torch import load_file, save_file

from quantgate.checkpoints.hub_layouts import dequantize, fp8_block_quantize, write_layout

OUT, IN, GROUP = 128, 192, 64
VLLM_AWQ_REVERSE_ORDER = (0, 4, 1, 5, 2, 6, 3, 7)  # vllm/model_executor/layers/quantization/awq_triton.py


def compressed_checkpoint(tmp_path, symmetric):
    """A one-layer compressed-tensors pack-quantized checkpoint with known integers."""
    gen = torch.Generator().manual_seed(0)
    values = torch.randint(0, 16, (OUT, IN), generator=gen, dtype=torch.int32)
    zeros = torch.full((OUT, IN // GROUP), 8) if symmetric else torch.randint(0, 16, (OUT, IN // GROUP), generator=gen)
    scales = (torch.rand(OUT, IN // GROUP, generator=gen) / 10 + 0.01).to(torch.bfloat16)
    prefix = "model.layers.0.mlp.up_proj"
    tensors = {
        f"{prefix}.weight_packed": pack_to_int32((values - 8).to(torch.int8), 4),
        f"{prefix}.weight_scale": scales,
        f"{prefix}.weight_shape": torch.tensor([OUT, IN]),
        "model.norm.weight": torch.ones(IN, dtype=torch.bfloat16),
    }
    if not symmetric:
        tensors[f"{prefix}.weight_zero_point"] = pack_to_int32((zeros - 8).to(torch.int8), 4, packed_dim=0).contiguous()
    source = tmp_path / "source"
    source.mkdir()
    save_file(tensors, str(source / "model.safetensors"))
    weights = {"num_bits": 4, "group_size": GROUP, "symmetric": symmetric, "strategy": "group", "type": "int"}
    quantization = {"format": "pack-quantized", "config_groups": {"group_0": {"weights": weights}}}
    config = {"architectures": ["LlamaForCausalLM"], "quantization_config": quantization}
    (source / "config.json").write_text(json.dumps(config))
    (source / "tokenizer.json").write_text("{}")
    return source, prefix, dequantize(values, zeros, scales.float(), GROUP)


def nibbles(packed, position):
    return (packed >> (4 * position)) & 0xF


def test_gptq_layout_reads_back_as_the_same_weights(tmp_path):
    source, prefix, expected = compressed_checkpoint(tmp_path, symmetric=True)
    write_layout("gptq", source, tmp_path / "gptq")
    got = load_file(str(tmp_path / "gptq" / "model.safetensors"))
    qweight, qzeros, scales = got[f"{prefix}.qweight"], got[f"{prefix}.qzeros"], got[f"{prefix}.scales"]
    assert qweight.shape == (IN // 8, OUT) and qzeros.shape == (IN // GROUP, OUT // 8) and scales.dtype == torch.float16
    values = torch.stack([nibbles(qweight, i) for i in range(8)], dim=1).reshape(IN, OUT).t()
    zeros = torch.stack([nibbles(qzeros, i) for i in range(8)], dim=2).reshape(IN // GROUP, OUT).t() + 1
    assert torch.equal(got[f"{prefix}.g_idx"], torch.arange(IN, dtype=torch.int32) // GROUP)
    torch.testing.assert_close(dequantize(values, zeros, scales.t().float(), GROUP), expected, rtol=2e-3, atol=1e-4)
    assert got["model.norm.weight"].dtype == torch.bfloat16 and f"{prefix}.weight_packed" not in got
    config = json.loads((tmp_path / "gptq" / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "gptq" and config["group_size"] == GROUP and config["desc_act"] is False
    assert (tmp_path / "gptq" / "tokenizer.json").is_file()


def test_awq_layout_reads_back_as_the_same_weights_in_vllms_unpacking_order(tmp_path):
    source, prefix, expected = compressed_checkpoint(tmp_path, symmetric=False)
    write_layout("awq", source, tmp_path / "awq")
    got = load_file(str(tmp_path / "awq" / "model.safetensors"))
    qweight, qzeros, scales = got[f"{prefix}.qweight"], got[f"{prefix}.qzeros"], got[f"{prefix}.scales"]
    assert qweight.shape == (IN, OUT // 8) and qzeros.shape == (IN // GROUP, OUT // 8)

    def unpack(packed):  # column j of each 8 sits at bits 4 * VLLM_AWQ_REVERSE_ORDER[j]
        return torch.stack([nibbles(packed, VLLM_AWQ_REVERSE_ORDER[j]) for j in range(8)], dim=2).flatten(1)

    values, zeros = unpack(qweight).t(), unpack(qzeros).t()
    torch.testing.assert_close(dequantize(values, zeros, scales.t().float(), GROUP), expected, rtol=2e-3, atol=1e-4)
    config = json.loads((tmp_path / "awq" / "config.json").read_text())["quantization_config"]
    assert config == {**config, "quant_method": "awq", "zero_point": True, "version": "gemm", "group_size": GROUP}


def test_a_symmetric_gptq_layout_is_not_written_from_a_checkpoint_with_zero_points(tmp_path):
    source, _, _ = compressed_checkpoint(tmp_path, symmetric=False)
    with pytest.raises(ValueError, match="symmetric; this checkpoint has zero points"):
        write_layout("gptq", source, tmp_path / "gptq")


def test_fine_grained_fp8_keeps_each_block_within_e4m3_rounding():
    weight = torch.randn(300, 200, generator=torch.Generator().manual_seed(1))
    weight[:128, :128] *= 50  # one block with a much larger range than the others
    quantized, scale = fp8_block_quantize(weight)
    assert quantized.dtype == torch.float8_e4m3fn and quantized.shape == weight.shape and scale.shape == (3, 2)
    back = quantized.float() * scale.repeat_interleave(128, 0)[:300].repeat_interleave(128, 1)[:, :200]
    blockwise_error = (back - weight).abs() / weight.abs().clamp(min=1e-3)
    assert torch.quantile(blockwise_error.flatten(), 0.99) < 0.07  # e4m3 keeps 3 mantissa bits: <= 6.25%
    assert (back[128:, 128:] - weight[128:, 128:]).abs().max() < 0.3  # small blocks keep their own scale
