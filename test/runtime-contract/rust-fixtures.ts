import type { ContractFixtures } from './contract.js';

/** The `use` line every Rust fixture starts with. */
export const HEAD = 'use serde_json::{json, Map, Value};\n';

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
  compileOptions: { optimization_level: 'release' },
  timeoutMs: 10_000,
  testTimeoutMs: 120_000,
};
