#!/usr/bin/env python3
"""Checks Crucible's LibTorch Qwen2/Llama forward pass and greedy decoding against Hugging Face
transformers, on a random tiny model saved with save_pretrained (safetensors).

Needs: python3 with torch and transformers (pip), and a Crucible build whose test_torch binary
links the same machine's LibTorch (on a GPU machine: pip torch 2.x; configure with
  cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
  ninja -C build test_torch
). It cannot run on the CPU-only dev VM (no pip torch/transformers there).

    python3 scripts/reference/qwen2_transformers_check.py --build build [--arch qwen2|llama] [--device cpu|cuda]

What it does:
  1. builds a random tiny Qwen2ForCausalLM (or LlamaForCausalLM with Llama-3.1 rope scaling and a
     head_dim that is not hidden/heads), with non-zero q/k/v biases, fp32, eager attention;
  2. save_pretrained(DIR) and writes DIR/reference.json (prompts, max_new_tokens);
  3. runs `test_torch --gtest_filter=TransformersReference.*` with CRUCIBLE_REFERENCE_DIR=DIR, which
     loads DIR with crucible::lm::load_causal_lm and writes DIR/crucible.json (fp32 logits of every
     prompt position, greedy continuations by crucible::lm::generate, batched with left padding);
  4. compares: relative error max|ours - hf| / max|hf| < 1e-4 per prompt, greedy tokens equal to
     transformers' generate(do_sample=False) run one prompt at a time.
Prints one line: "qwen2_transformers_check: PASS ..." or "... FAIL ..." (exit status 0 / 1).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import transformers


def build_model(arch, seed):
    torch.manual_seed(seed)
    common = dict(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=None, eos_token_id=None,
                  pad_token_id=None, initializer_range=0.1)
    if arch == "qwen2":
        config = transformers.Qwen2Config(rope_theta=10000.0, **common)
        model_cls = transformers.Qwen2ForCausalLM
    else:
        config = transformers.LlamaConfig(
            rope_theta=500000.0, head_dim=24, attention_bias=True,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
            **common)
        model_cls = transformers.LlamaForCausalLM
    config._attn_implementation = "eager"
    model = model_cls(config).to(torch.float32).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.1)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="Crucible build directory holding test_torch")
    ap.add_argument("--arch", choices=["qwen2", "llama"], default="qwen2")
    ap.add_argument("--device", default="cpu", help="device for Crucible's side: cpu | cuda | cuda:N")
    ap.add_argument("--new-tokens", type=int, default=24)
    ap.add_argument("--keep", action="store_true", help="keep the model directory")
    args = ap.parse_args()

    test_torch = os.path.join(args.build, "test_torch")
    if not os.access(test_torch, os.X_OK):
        print(f"qwen2_transformers_check: FAIL ({test_torch} not found; build it with ninja -C {args.build} test_torch)")
        return 1
    model = build_model(args.arch, seed=1234)
    gen = torch.Generator().manual_seed(99)
    prompts = [torch.randint(0, 512, (n,), generator=gen).tolist() for n in (5, 11, 17)]

    d = tempfile.mkdtemp(prefix="crucible-ref-")
    model.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump({"prompts": prompts, "max_new_tokens": args.new_tokens}, f)
    env = dict(os.environ, CRUCIBLE_REFERENCE_DIR=d, CRUCIBLE_REFERENCE_DEVICE=args.device)
    run = subprocess.run([test_torch, "--gtest_filter=TransformersReference.*"], env=env,
                         capture_output=True, text=True)
    if run.returncode != 0 or not os.path.exists(os.path.join(d, "crucible.json")):
        sys.stderr.write(run.stdout + run.stderr)
        print(f"qwen2_transformers_check: FAIL (test_torch exited {run.returncode}; model kept in {d})")
        return 1
    with open(os.path.join(d, "crucible.json")) as f:
        ours = json.load(f)

    worst, greedy_ok, notes = 0.0, 0, []
    with torch.no_grad():
        for i, p in enumerate(prompts):
            ids = torch.tensor([p])
            hf = model(ids).logits[0].double()
            mine = torch.tensor(ours["logits"][i], dtype=torch.float64)
            rel = ((mine - hf).abs().max() / hf.abs().max()).item()
            worst = max(worst, rel)
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=args.new_tokens, pad_token_id=0)
            hf_greedy = out[0, len(p):].tolist()
            if hf_greedy == ours["greedy"][i]:
                greedy_ok += 1
            else:
                first = next(k for k, (a, b) in enumerate(zip(hf_greedy, ours["greedy"][i])) if a != b)
                notes.append(f"prompt {i} greedy differs from token {first}")
    ok = worst < 1e-4 and greedy_ok == len(prompts)
    verdict = "PASS" if ok else "FAIL"
    print(f"qwen2_transformers_check: {verdict} ({args.arch}, device {args.device}: max relative logit error "
          f"{worst:.2e} (limit 1e-4), greedy {greedy_ok}/{len(prompts)} equal{'; ' + '; '.join(notes) if notes else ''}; "
          f"transformers {transformers.__version__}, torch {torch.__version__})")
    if args.keep or not ok:
        print(f"model directory: {d}")
    else:
        import shutil
        shutil.rmtree(d, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
