#!/usr/bin/python3
"""Independent numpy reference of the llama-family forward pass (Llama 2/3 incl. rope_scaling
linear/llama3/yarn, Mistral sliding window, Qwen2 q/k/v bias, Qwen3 q/k RMSNorm, tied embeddings,
MLX affine quantized weights dequantized to float64).

Reads the model directory itself (config.json, *.safetensors, model.safetensors.index.json) and
writes the logits of every position as little-endian float32 [n_tokens, vocab] to --out.
Computes in float64 so it is a reference for f32 runs.

usage: llama_ref.py MODEL_DIR --tokens 1,5,9 --out logits.f32
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np


# ---------------------------------------------------------------- safetensors

def _decode(raw, dtype, shape):
    if dtype == "F32":
        a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif dtype == "F16":
        a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    elif dtype == "BF16":
        u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        a = u.view(np.float32).astype(np.float64)
    elif dtype == "U32":
        a = np.frombuffer(raw, dtype="<u4")
    else:
        raise ValueError("unsupported dtype %s" % dtype)
    return a.reshape(shape)


def read_safetensors(path):
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            f.seek(base + begin)
            out[name] = _decode(f.read(end - begin), info["dtype"], info["shape"])
    return out


def read_model_tensors(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    files = []
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = sorted(x for x in os.listdir(model_dir) if x.endswith(".safetensors"))
    tensors = {}
    for name in files:
        tensors.update(read_safetensors(os.path.join(model_dir, name)))
    return tensors


# ---------------------------------------------------------------- weights

def unpack_mlx(packed, bits, cols):
    """U32 [rows, cols*bits/32] -> integer [rows, cols]; value j of a word at bits j*bits."""
    per_word = 32 // bits
    mask = (1 << bits) - 1
    shifts = np.arange(per_word, dtype=np.uint32) * bits
    q = (packed[..., None] >> shifts) & mask
    return q.reshape(packed.shape[0], cols).astype(np.float64)


class Weights:
    def __init__(self, tensors, config):
        self.t = tensors
        q = config.get("quantization") or config.get("quantization_config") or {}
        self.bits = q.get("bits")
        self.group = q.get("group_size")

    def has(self, name):
        return name in self.t

    def matrix(self, prefix):
        """Float64 matrix for '<prefix>.weight', dequantizing MLX affine weights."""
        w = self.t[prefix + ".weight"]
        if prefix + ".scales" not in self.t:
            return w
        scales = self.t[prefix + ".scales"]
        biases = self.t[prefix + ".biases"]
        rows = w.shape[0]
        bits = self.bits
        cols = w.shape[1] * 32 // bits
        group = cols // scales.shape[1]
        q = unpack_mlx(w, bits, cols)
        s = np.repeat(scales, group, axis=1)
        b = np.repeat(biases, group, axis=1)
        return s * q + b

    def vector(self, name):
        return self.t[name]


# ---------------------------------------------------------------- rope

def rope_inv_freq(config, head_dim):
    theta = float(config.get("rope_theta", 10000.0))
    rotary = int(head_dim * float(config.get("partial_rotary_factor", 1.0)))
    inv = 1.0 / (theta ** (np.arange(0, rotary, 2, dtype=np.float64) / rotary))
    scaling = config.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    attn_factor = 1.0
    if kind == "default":
        pass
    elif kind == "linear":
        inv = inv / float(scaling["factor"])
    elif kind == "llama3":
        factor = float(scaling["factor"])
        low = float(scaling.get("low_freq_factor", 1.0))
        high = float(scaling.get("high_freq_factor", 4.0))
        old = float(scaling["original_max_position_embeddings"])
        low_wavelen = old / low
        high_wavelen = old / high
        wavelen = 2 * math.pi / inv
        out = np.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv / factor + smooth * inv
        medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        inv = np.where(medium, smoothed, out)
    elif kind == "yarn":
        factor = float(scaling["factor"])
        old = float(scaling.get("original_max_position_embeddings",
                                config.get("max_position_embeddings")))
        beta_fast = float(scaling.get("beta_fast", 32.0))
        beta_slow = float(scaling.get("beta_slow", 1.0))

        def mscale(scale, m=1.0):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        attn_factor = scaling.get("attention_factor")
        if attn_factor is None:
            ms, msa = scaling.get("mscale"), scaling.get("mscale_all_dim")
            if ms and msa:
                attn_factor = mscale(factor, ms) / mscale(factor, msa)
            else:
                attn_factor = mscale(factor)
        attn_factor = float(attn_factor)

        def corr_dim(rot):
            return (rotary * math.log(old / (rot * 2 * math.pi))) / (2 * math.log(theta))

        lo, hi = corr_dim(beta_fast), corr_dim(beta_slow)
        if scaling.get("truncate", True):
            lo, hi = math.floor(lo), math.ceil(hi)
        lo, hi = max(lo, 0), min(hi, rotary - 1)
        if lo == hi:
            hi += 0.001
        ramp = np.clip((np.arange(rotary // 2, dtype=np.float64) - lo) / (hi - lo), 0, 1)
        extrap = 1 - ramp
        inv = (inv / factor) * (1 - extrap) + inv * extrap
    else:
        raise ValueError("unsupported rope type %s" % kind)
    return inv, attn_factor, rotary


def apply_rope(x, positions, inv, attn_factor, rotary):
    """x [T, heads, head_dim]; rotate-half over the first `rotary` dims."""
    ang = positions[:, None].astype(np.float64) * inv[None, :]  # [T, rotary/2]
    cos = (np.cos(ang) * attn_factor)[:, None, :]
    sin = (np.sin(ang) * attn_factor)[:, None, :]
    half = rotary // 2
    a = x[..., :half]
    b = x[..., half:rotary]
    out = x.copy()
    out[..., :half] = a * cos - b * sin
    out[..., half:rotary] = b * cos + a * sin
    return out


# ---------------------------------------------------------------- forward

def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def layer_window(config, i):
    """Tokens a query may look back (None = full) following transformers' layer_types."""
    types = config.get("layer_types")
    if types is not None:
        return config.get("sliding_window") if types[i] == "sliding_attention" else None
    mt = config.get("model_type")
    sw = config.get("sliding_window")
    if mt == "mistral":
        return sw
    if mt in ("qwen2", "qwen3"):
        if config.get("use_sliding_window") and sw and i >= config.get("max_window_layers", 0):
            return sw
        return None
    return None


def forward(model_dir, tokens):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    w = Weights(read_model_tensors(model_dir), config)
    H = config["hidden_size"]
    n_heads = config["num_attention_heads"]
    n_kv = config.get("num_key_value_heads", n_heads)
    hd = config.get("head_dim") or H // n_heads
    eps = float(config.get("rms_norm_eps", 1e-6))
    inv, attn_factor, rotary = rope_inv_freq(config, hd)
    T = len(tokens)
    pos = np.arange(T)
    emb = w.matrix("model.embed_tokens")
    x = emb[np.array(tokens)]
    for i in range(config["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = rms_norm(x, w.vector(p + "input_layernorm.weight"), eps)
        q = h @ w.matrix(p + "self_attn.q_proj").T
        k = h @ w.matrix(p + "self_attn.k_proj").T
        v = h @ w.matrix(p + "self_attn.v_proj").T
        for name, m in (("q", q), ("k", k), ("v", v)):
            if w.has(p + "self_attn.%s_proj.bias" % name):
                m += w.vector(p + "self_attn.%s_proj.bias" % name)
        q = q.reshape(T, n_heads, hd)
        k = k.reshape(T, n_kv, hd)
        v = v.reshape(T, n_kv, hd)
        if w.has(p + "self_attn.q_norm.weight"):
            q = rms_norm(q, w.vector(p + "self_attn.q_norm.weight"), eps)
            k = rms_norm(k, w.vector(p + "self_attn.k_norm.weight"), eps)
        q = apply_rope(q, pos, inv, attn_factor, rotary)
        k = apply_rope(k, pos, inv, attn_factor, rotary)
        window = layer_window(config, i)
        mask = pos[None, :] <= pos[:, None]
        if window:
            mask &= (pos[:, None] - pos[None, :]) < window
        group = n_heads // n_kv
        out = np.zeros((T, n_heads, hd))
        for head in range(n_heads):
            kh = k[:, head // group, :]
            vh = v[:, head // group, :]
            s = (q[:, head, :] @ kh.T) / math.sqrt(hd)
            s = np.where(mask, s, -np.inf)
            s = s - s.max(axis=1, keepdims=True)
            e = np.exp(s)
            pr = e / e.sum(axis=1, keepdims=True)
            out[:, head, :] = pr @ vh
        x = x + out.reshape(T, n_heads * hd) @ w.matrix(p + "self_attn.o_proj").T
        h = rms_norm(x, w.vector(p + "post_attention_layernorm.weight"), eps)
        g = h @ w.matrix(p + "mlp.gate_proj").T
        u = h @ w.matrix(p + "mlp.up_proj").T
        a = g / (1 + np.exp(-g)) * u
        x = x + a @ w.matrix(p + "mlp.down_proj").T
    x = rms_norm(x, w.vector("model.norm.weight"), eps)
    head = w.matrix("lm_head") if w.has("lm_head.weight") else emb
    return x @ head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tokens = [int(t) for t in args.tokens.split(",") if t]
    logits = forward(args.model_dir, tokens)
    logits.astype("<f4").tofile(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
