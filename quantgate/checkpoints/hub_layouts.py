"""The hub layouts published quantized releases ship, written from checkpoints made here, so that a
checkpoint of this family takes the loader path a hub release takes:

* ``gptq``: AutoGPTQ / GPTQModel v1 (``quant_method: gptq``, Qwen's GPTQ-Int4/Int8): ``qweight``
  int32 [in/8, out] packed along the input, ``qzeros`` int32 [groups, out/8] holding zero - 1,
  fp16 ``scales`` [groups, out], ``g_idx``; symmetric, ``desc_act: false``.
* ``awq``: AutoAWQ GEMM (``quant_method: awq``, Qwen's AWQ): ``qweight`` int32 [in, out/8] and
  ``qzeros`` int32 [groups, out/8] packed along the output in AutoAWQ's order (0 2 4 6 1 3 5 7),
  fp16 ``scales`` [groups, out]; zero points kept.
* ``fp8-block``: Hugging Face fine-grained FP8 (``quant_method: fp8``, Qwen3-*-FP8, DeepSeek-V3):
  e4m3 weights with float32 ``weight_scale_inv`` per 128 x 128 block, dynamic activations.

The 4-bit layouts are rewritten from llm-compressor's GPTQ and AWQ results (compressed-tensors
``pack-quantized``): the integers and scales are the same, only their arrangement changes, so the
dequantized weights are equal (tests/unit/test_hub_layouts.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)
FP8_BLOCK = 128
FP8_MAX = 448.0


def write_layout(layout: str, source: Path, out: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    config = json.loads((source / "config.json").read_text())
    tensors = load_file(str(source / "model.safetensors"))
    if layout == "fp8-block":
        written, quantization = fp8_block_tensors(tensors), fp8_block_config()
    else:
        group, symmetric = _int4_settings(config, source)
        written = {}
        for name, tensor in tensors.items():
            if name.endswith(".weight_packed"):
                prefix = name.removesuffix(".weight_packed")
                values, zeros = unpacked(tensors, prefix)
                scales = tensors[f"{prefix}.weight_scale"].to(torch.float16)
                pack = gptq_tensors if layout == "gptq" else awq_tensors
                written.update({f"{prefix}.{k}": v for k, v in pack(values, zeros, scales, group).items()})
            elif not name.rsplit(".", 1)[-1].startswith("weight_"):  # scales, zero points, shapes
                written[name] = tensor
        quantization = gptq_config(group) if layout == "gptq" else awq_config(group)
        if layout == "gptq" and not symmetric:
            raise ValueError(f"{source}: the gptq layout here is symmetric; this checkpoint has zero points")
    out.mkdir(parents=True)
    contiguous = {k: v.contiguous() for k, v in written.items()}
    save_file(contiguous, str(out / "model.safetensors"), metadata={"format": "pt"})
    config["quantization_config"] = quantization
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for extra in source.iterdir():
        if extra.name not in ("config.json", "model.safetensors", "recipe.yaml", "quantgate-build.json"):
            shutil.copy2(extra, out / extra.name)


def _int4_settings(config: dict[str, Any], source: Path) -> tuple[int, bool]:
    quantization = config.get("quantization_config") or {}
    groups = list((quantization.get("config_groups") or {}).values())
    weights = groups[0].get("weights") if len(groups) == 1 else None
    if quantization.get("format") != "pack-quantized" or not weights or weights.get("num_bits") != 4:
        raise ValueError(f"{source}: a 4-bit hub layout is written from a 4-bit pack-quantized checkpoint")
    return int(weights["group_size"]), bool(weights["symmetric"])


def unpacked(tensors: dict[str, Any], prefix: str) -> tuple[Any, Any]:
    """(integers in 0..15 [out, in], zero points in 0..15 [out, groups]) of a compressed-tensors
    4-bit layer; 8 for every zero point of a symmetric one."""
    import torch
    from compressed_tensors.compressors.pack_quantized.helpers import unpack_from_int32

    shape = torch.Size(tensors[f"{prefix}.weight_shape"].tolist())
    values = unpack_from_int32(tensors[f"{prefix}.weight_packed"], 4, shape).to(torch.int32) + 8
    scale = tensors[f"{prefix}.weight_scale"]
    zero_name = f"{prefix}.weight_zero_point"
    if zero_name in tensors:
        zero_shape = torch.Size(scale.shape)
        zeros = unpack_from_int32(tensors[zero_name], 4, zero_shape, packed_dim=0).to(torch.int32) + 8
    else:
        zeros = torch.full(scale.shape, 8, dtype=torch.int32)
    return values, zeros


def dequantize(values: Any, zeros: Any, scales: Any, group: int) -> Any:
    """[out, in] weights from 4-bit integers, zero points and scales ([out, groups])."""
    import torch

    expand = torch.arange(values.shape[1]) // group
    return (values - zeros[:, expand]).float() * scales[:, expand].float()


def _pack_rows(values: Any, order: tuple[int, ...] = tuple(range(8))) -> Any:
    """Pack 4-bit values [rows, cols] into int32 [rows, cols/8] along the columns, ``order[i]`` of
    each 8 going to bits 4i..4i+3."""
    import torch

    rows, cols = values.shape
    grouped = values.reshape(rows, cols // 8, 8).to(torch.int64)
    packed = torch.zeros(rows, cols // 8, dtype=torch.int64)
    for i, column in enumerate(order):
        packed |= (grouped[:, :, column] & 0xF) << (4 * i)
    return torch.where(packed >= 2**31, packed - 2**32, packed).to(torch.int32)


def gptq_tensors(values: Any, zeros: Any, scales: Any, group: int) -> dict[str, Any]:
    import torch

    return {
        "qweight": _pack_rows(values).t().contiguous(),  # [in/8, out]: the input dimension packed
        "qzeros": _pack_rows((zeros - 1).t().contiguous()),  # GPTQ v1 stores zero - 1
        "scales": scales.t().contiguous(),
        "g_idx": torch.arange(values.shape[1], dtype=torch.int32) // group,
    }


def awq_tensors(values: Any, zeros: Any, scales: Any, group: int) -> dict[str, Any]:
    return {
        "qweight": _pack_rows(values.t().contiguous(), AWQ_ORDER),
        "qzeros": _pack_rows(zeros.t().contiguous(), AWQ_ORDER),
        "scales": scales.t().contiguous(),
    }


def gptq_config(group: int) -> dict[str, Any]:
    return {"quant_method": "gptq", "bits": 4, "group_size": group, "desc_act": False, "sym": True,
            "damp_percent": 0.01, "true_sequential": True, "static_groups": False,
            "checkpoint_format": "gptq", "model_file_base_name": "model"}  # fmt: skip


def awq_config(group: int) -> dict[str, Any]:
    return {"quant_method": "awq", "bits": 4, "group_size": group, "zero_point": True, "version": "gemm",
            "modules_to_not_convert": None}  # fmt: skip


def fp8_block_config() -> dict[str, Any]:
    return {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3",
            "weight_block_size": [FP8_BLOCK, FP8_BLOCK], "modules_to_not_convert": ["lm_head"]}  # fmt: skip


def fp8_block_tensors(tensors: dict[str, Any]) -> dict[str, Any]:
    """Every linear projection's weight in e4m3 with one float32 scale (``weight_scale_inv``, the
    factor that dequantizes) per 128 x 128 block; other tensors as they are."""
    import torch

    written = {}
    for name, tensor in tensors.items():
        if name.endswith("proj.weight") and tensor.ndim == 2:
            quantized, scale = fp8_block_quantize(tensor.float())
            written[name] = quantized
            written[name.removesuffix("weight") + "weight_scale_inv"] = scale
        else:
            written[name] = tensor
    assert all(t.dtype != torch.float64 for t in written.values())
    return written


def fp8_block_quantize(weight: Any) -> tuple[Any, Any]:
    import torch

    rows, cols = weight.shape
    blocks_r, blocks_c = -(-rows // FP8_BLOCK), -(-cols // FP8_BLOCK)
    padded = torch.zeros(blocks_r * FP8_BLOCK, blocks_c * FP8_BLOCK)
    padded[:rows, :cols] = weight
    tiles = padded.reshape(blocks_r, FP8_BLOCK, blocks_c, FP8_BLOCK)
    amax = tiles.abs().amax(dim=(1, 3)).clamp(min=1e-12)
    scale = amax / FP8_MAX
    quantized = (tiles / scale[:, None, :, None]).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return quantized.reshape(padded.shape)[:rows, :cols].contiguous(), scale.float()
