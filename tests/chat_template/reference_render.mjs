#!/usr/bin/env node
// Reference chat-template renderings for tests/chat_template, with @huggingface/jinja (the Jinja
// interpreter transformers.js uses for apply_chat_template; trim_blocks + lstrip_blocks as in
// transformers). Reads a tokenizer_config.json and a JSONL file of cases
//   {"messages": [...], "add_generation_prompt": bool, ...other template variables}
// and prints per case {"text": "..."} or {"error": "..."}.
// Variables passed, as transformers does: messages, add_generation_prompt, tools (null unless the
// case gives them), bos_token/eos_token/pad_token/unk_token when the config has them, plus the
// case's other keys.
// Usage: node reference_render.mjs [--npm-dir DIR] TOKENIZER_CONFIG.json CASES.jsonl
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const args = process.argv.slice(2);
let npmDir = process.env.CRUCIBLE_NPM_DIR || process.cwd();
const pos = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === "--npm-dir") npmDir = args[++i];
  else pos.push(args[i]);
}
if (pos.length !== 2) {
  console.error("usage: node reference_render.mjs [--npm-dir DIR] TOKENIZER_CONFIG.json CASES.jsonl");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(npmDir), "package.json"));
const { Template } = require("@huggingface/jinja");
const cfg = JSON.parse(fs.readFileSync(pos[0], "utf8"));
let source = cfg.chat_template;
if (Array.isArray(source)) source = source.find((t) => t.name === "default").template;
const template = new Template(source);
const tokenOf = (v) => (v == null ? undefined : typeof v === "string" ? v : v.content);
const specials = {};
for (const k of ["bos_token", "eos_token", "pad_token", "unk_token"]) {
  const v = tokenOf(cfg[k]);
  if (v !== undefined) specials[k] = v;
}
const lines = fs.readFileSync(pos[1], "utf8").split("\n").filter((l) => l.trim() !== "");
for (const line of lines) {
  const c = JSON.parse(line);
  const vars = { tools: null, ...specials, ...c };
  try {
    console.log(JSON.stringify({ text: template.render(vars) }));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e.message || e) }));
  }
}
