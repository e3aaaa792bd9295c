import assert from 'node:assert/strict';

import type { ContractFixtures, LanguageCase } from './contract.js';

/** The `use` line every Rust fixture starts with. */
export const HEAD = 'use serde_json::{json, Map, Value};\n';

/** Compiled at opt-level 0: the cases are about what a script can use, and compile in a second, not four. */
const DEBUG = { optimization_level: 'debug' } as const;

/** One case per crate of the set (src/runtimes/rust/crates.json) and per handler form. */
const CRATES: LanguageCase[] = (
  [
  {
    name: 'serde derive: a handler of serde types (params in, a struct out)',
    source:
      'use serde::{Deserialize, Serialize};\n' +
      '#[derive(Deserialize)]\npub struct Params { name: String, #[serde(default = "one")] times: usize }\nfn one() -> usize { 1 }\n' +
      '#[derive(Serialize)]\n#[serde(rename_all = "camelCase")]\npub struct Reply { greeting_text: String, length: usize }\n' +
      'pub fn handler(params: Params) -> Result<Reply, String> {\n' +
      '    let text = format!("hi {}", params.name).repeat(params.times);\n' +
      '    Ok(Reply { length: text.len(), greeting_text: text })\n' +
      '}\n',
    params: { name: 'ada', times: 2 },
    result: { greetingText: 'hi adahi ada', length: 12 },
  },
  {
    name: 'serde: a handler of params and context',
    source:
      'use serde::Deserialize;\nuse std::collections::BTreeMap;\n' +
      '#[derive(Deserialize)]\npub struct Params { a: i64, b: i64 }\n' +
      'pub fn handler(params: Params, context: BTreeMap<String, serde_json::Value>) -> Result<(i64, usize), String> {\n' +
      '    Ok((params.a * params.b, context.len()))\n' +
      '}\n',
    params: { a: 6, b: 7 },
    check: (result: unknown) => {
      assert.ok(Array.isArray(result));
      assert.equal(result[0], 42);
      assert.equal(typeof result[1], 'number');
    },
  },
  {
    name: 'serde_json: json! and typed values',
    source: HEAD + 'pub fn handler(params: Value) -> Result<Value, String> {\n    let list: Vec<u32> = serde_json::from_value(params["list"].clone()).map_err(|e| e.to_string())?;\n    Ok(json!({ "sum": list.iter().sum::<u32>(), "map": Map::new() }))\n}\n',
    params: { list: [1, 2, 3] },
    result: { sum: 6, map: {} },
  },
  {
    name: 'regex',
    source: 'pub fn handler(params: serde_json::Value) -> Result<Vec<String>, String> {\n    let re = regex::Regex::new(r"(\\d{4})-(\\d{2})").map_err(|e| e.to_string())?;\n    Ok(re.captures_iter(params["text"].as_str().unwrap_or("")).map(|c| c[1].to_string() + "/" + &c[2]).collect())\n}\n',
    params: { text: 'from 2024-05 to 2025-11' },
    result: ['2024/05', '2025/11'],
  },
  {
    name: 'chrono: parse, arithmetic, format, and the clock',
    source:
      'use chrono::{DateTime, Duration, Utc};\n' +
      'pub fn handler(params: serde_json::Value) -> Result<serde_json::Value, String> {\n' +
      '    let at: DateTime<Utc> = params["at"].as_str().unwrap_or("").parse().map_err(|e: chrono::ParseError| e.to_string())?;\n' +
      '    let later = at + Duration::days(40);\n' +
      '    Ok(serde_json::json!({ "later": later.format("%Y-%m-%d %a").to_string(), "now_after_2020": Utc::now().timestamp() > 1_577_836_800 }))\n' +
      '}\n',
    params: { at: '2024-02-01T12:00:00Z' },
    result: { later: '2024-03-12 Tue', now_after_2020: true },
  },
  {
    name: 'base64',
    source: 'pub fn handler(params: serde_json::Value) -> Result<(String, String), String> {\n    let text = params["text"].as_str().unwrap_or("");\n    let back = base64::decode("aGVsbG8=").map_err(|e| e.to_string())?;\n    Ok((base64::encode(text), String::from_utf8(back).map_err(|e| e.to_string())?))\n}\n',
    params: { text: 'lambda' },
    result: ['bGFtYmRh', 'hello'],
  },
  {
    name: 'sha2 and hex',
    source: 'use sha2::{Digest, Sha256};\npub fn handler(params: serde_json::Value) -> Result<String, String> {\n    Ok(hex::encode(Sha256::digest(params["text"].as_str().unwrap_or("").as_bytes())))\n}\n',
    params: { text: 'abc' },
    result: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  },
  {
    name: 'rand (getrandom on WASI random_get)',
    source:
      'use rand::Rng;\n' +
      'pub fn handler(_params: serde_json::Value) -> Result<Vec<u32>, String> {\n' +
      '    let mut rng = rand::thread_rng();\n' +
      '    Ok((0..16).map(|_| rng.gen_range(0..1_000_000)).collect())\n' +
      '}\n',
    check: (result: unknown) => {
      assert.ok(Array.isArray(result) && result.length === 16);
      assert.ok(result.every((n) => Number.isInteger(n) && n >= 0 && n < 1_000_000));
      assert.ok(new Set(result).size > 8, `not random: ${JSON.stringify(result)}`);
    },
  },
  {
    name: 'itertools',
    source: 'use itertools::Itertools;\npub fn handler(params: Vec<i32>) -> Result<String, String> {\n    Ok(params.into_iter().sorted().dedup().map(|n| n.to_string()).join(","))\n}\n',
    params: [3, 1, 3, 2, 1],
    result: '1,2,3',
  },
  {
    name: 'uuid v4',
    source: 'pub fn handler(_params: serde_json::Value) -> Result<(String, String), String> {\n    let id = uuid::Uuid::new_v4();\n    Ok((id.to_string(), uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").map_err(|e| e.to_string())?.to_string()))\n}\n',
    check: (result: unknown) => {
      assert.ok(Array.isArray(result));
      assert.match(String(result[0]), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(result[1], '67e55044-10b1-426f-9247-bb680e5fe0c8');
    },
  },
  {
    name: 'a whole program: fn main() reads the event on stdin, prints the result on stdout',
    source:
      'use std::io::Read;\n' +
      'fn main() {\n' +
      '    let mut input = String::new();\n' +
      '    std::io::stdin().read_to_string(&mut input).unwrap();\n' +
      '    let event: serde_json::Value = serde_json::from_str(&input).unwrap();\n' +
      '    eprintln!("a log line");\n' +
      '    println!("{}", serde_json::json!({ "doubled": event["params"]["n"].as_i64().unwrap_or(0) * 2 }));\n' +
      '}\n',
    params: { n: 21 },
    result: { doubled: 42 },
  },
  ] satisfies LanguageCase[]
).map((c) => ({ ...c, compileOptions: DEBUG }));

/**
 * The Rust scripts of the shared runtime contract, for the in-process and the gRPC runs. Every
 * invocation runs in a fresh WebAssembly instance, hence freshStatePerCall.
 */
export const rustFixtures: ContractFixtures = {
  sum:
    HEAD +
    'pub fn handler(event: Map<String, Value>) -> Result<Value, String> {\n' +
    '    let p = event.get("params").and_then(|p| p.as_object()).ok_or("Missing params")?;\n' +
    '    match (p.get("a").and_then(|v| v.as_i64()), p.get("b").and_then(|v| v.as_i64())) {\n' +
    '        (Some(a), Some(b)) => Ok(json!(a + b)),\n' +
    '        _ => Ok(json!(p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0))),\n' +
    '    }\n' +
    '}\n',
  echo: HEAD + 'pub fn handler(event: Map<String, Value>) -> Result<Value, String> {\n    Ok(event.get("params").cloned().unwrap_or(Value::Null))\n}\n',
  throws: {
    source: HEAD + 'pub fn handler(_event: Map<String, Value>) -> Result<Value, String> {\n    panic!("boom");\n}\n',
    name: 'Panic',
    line: 3,
  },
  logsTwoLines: {
    source: HEAD + 'pub fn handler(_event: Map<String, Value>) -> Result<Value, String> {\n    println!("first line");\n    eprintln!("second line");\n    Ok(json!(true))\n}\n',
    lines: ['first line', 'second line'],
  },
  infiniteLoop: HEAD + 'pub fn handler(_event: Map<String, Value>) -> Result<Value, String> {\n    loop {}\n}\n',
  memoryBomb:
    HEAD +
    'pub fn handler(_event: Map<String, Value>) -> Result<Value, String> {\n' +
    '    let mut hoard: Vec<Vec<u8>> = Vec::new();\n' +
    '    loop {\n' +
    '        hoard.push(vec![hoard.len() as u8 | 1; 1 << 20]);\n' +
    '        if hoard.len() == usize::MAX { break; }\n' +
    '    }\n' +
    '    Ok(json!(hoard.iter().map(|b| b[7] as u64).sum::<u64>()))\n' +
    '}\n',
  syntaxError: { source: HEAD + 'pub fn handler(_event: Map<String, Value>) -> Result<Value, String> {\n    let a = ;\n    Ok(json!(a))\n}\n', line: 3 },
  counter:
    'use std::sync::atomic::{AtomicU64, Ordering};\n' +
    HEAD +
    'static CALLS: AtomicU64 = AtomicU64::new(0);\n' +
    'pub fn handler(_event: Map<String, Value>) -> Result<Value, String> {\n' +
    '    Ok(json!(CALLS.fetch_add(1, Ordering::SeqCst) + 1))\n' +
    '}\n',
  freshStatePerCall: true,
  cases: CRATES,
  compileOptions: { optimization_level: 'release' },
  timeoutMs: 10_000,
  testTimeoutMs: 120_000,
};
