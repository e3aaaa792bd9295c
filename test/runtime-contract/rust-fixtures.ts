import assert from 'node:assert/strict';

import type { ContractFixtures, LanguageCase } from './contract.js';

/** The `use` line every Rust fixture starts with. */
export const HEAD = 'use serde_json::{json, Map, Value};\n';

/** Compiled at opt-level 0: the cases are about what a script can use, and compile in a second, not four. */
const DEBUG = { optimization_level: 'debug' } as const;

/**
 * One script that uses every crate of the set, picked by params.crate (a serde enum, internally
 * tagged): compiled once per runtime, so the crate cases below cost one compile, not eight.
 */
const CRATE_TOUR = `use chrono::{DateTime, Duration, Utc};
use itertools::Itertools;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
#[serde(tag = "crate", rename_all = "lowercase")]
pub enum Case {
    Json { list: Vec<u32> },
    Regex { text: String },
    Chrono { at: String },
    Base64 { text: String },
    Sha2 { text: String },
    Rand,
    Itertools { list: Vec<i32> },
    Uuid,
}

pub fn handler(case: Case) -> Result<Value, String> {
    Ok(match case {
        Case::Json { list } => json!({ "sum": list.iter().sum::<u32>(), "map": serde_json::Map::new() }),
        Case::Regex { text } => {
            let re = regex::Regex::new(r"(\\d{4})-(\\d{2})").map_err(|e| e.to_string())?;
            json!(re.captures_iter(&text).map(|c| c[1].to_string() + "/" + &c[2]).collect::<Vec<_>>())
        }
        Case::Chrono { at } => {
            let at: DateTime<Utc> = at.parse().map_err(|e: chrono::ParseError| e.to_string())?;
            let later = at + Duration::days(40);
            json!({ "later": later.format("%Y-%m-%d %a").to_string(), "now_after_2020": Utc::now().timestamp() > 1_577_836_800 })
        }
        Case::Base64 { text } => {
            let back = base64::decode("aGVsbG8=").map_err(|e| e.to_string())?;
            json!([base64::encode(text), String::from_utf8(back).map_err(|e| e.to_string())?])
        }
        Case::Sha2 { text } => json!(hex::encode(Sha256::digest(text.as_bytes()))),
        Case::Rand => {
            let mut rng = rand::thread_rng();
            json!((0..16).map(|_| rng.gen_range(0..1_000_000)).collect::<Vec<u32>>())
        }
        Case::Itertools { list } => json!(list.into_iter().sorted().dedup().map(|n| n.to_string()).join(",")),
        Case::Uuid => json!([uuid::Uuid::new_v4().to_string(), uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").map_err(|e| e.to_string())?.to_string()]),
    })
}
`;

function crateCase(name: string, params: unknown, result: unknown, check?: (result: unknown) => void): LanguageCase[] {
  return [{ name, source: CRATE_TOUR, params, result, ...(check ? { check } : {}) }];
}

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
  ...crateCase('serde_json: json! and typed values', { crate: 'json', list: [1, 2, 3] }, { sum: 6, map: {} }),
  ...crateCase('regex', { crate: 'regex', text: 'from 2024-05 to 2025-11' }, ['2024/05', '2025/11']),
  ...crateCase('chrono: parse, arithmetic, format, and the clock', { crate: 'chrono', at: '2024-02-01T12:00:00Z' }, { later: '2024-03-12 Tue', now_after_2020: true }),
  ...crateCase('base64', { crate: 'base64', text: 'lambda' }, ['bGFtYmRh', 'hello']),
  ...crateCase('sha2 and hex', { crate: 'sha2', text: 'abc' }, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
  ...crateCase('rand (getrandom on WASI random_get)', { crate: 'rand' }, undefined, (result) => {
    assert.ok(Array.isArray(result) && result.length === 16);
    assert.ok(result.every((n) => Number.isInteger(n) && n >= 0 && n < 1_000_000));
    assert.ok(new Set(result).size > 8, `not random: ${JSON.stringify(result)}`);
  }),
  ...crateCase('itertools', { crate: 'itertools', list: [3, 1, 3, 2, 1] }, '1,2,3'),
  ...crateCase('uuid v4', { crate: 'uuid' }, undefined, (result) => {
    assert.ok(Array.isArray(result));
    assert.match(String(result[0]), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(result[1], '67e55044-10b1-426f-9247-bb680e5fe0c8');
  }),
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
  // opt-level 0: the contract is about what a call does, not about optimised code (release is tested in rust.test.ts); a third of the compile time.
  compileOptions: { optimization_level: 'debug' },
  timeoutMs: 10_000,
  testTimeoutMs: 120_000,
};
