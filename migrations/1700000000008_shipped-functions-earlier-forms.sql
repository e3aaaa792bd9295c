-- Up Migration
-- The shipped functions answer the earlier implementation's documented calls as it did:
-- python-text_processor takes `action` as well as `operation`; rust-data_validator takes `rules` as
-- a list applied to every field of `data` as well as the per-field object. Schemas and examples
-- show both forms; the scripts are updated in place (a function has one script row).
UPDATE meta.functions SET
  schema_definition = '{
    "params": {
      "type": "object",
      "required": ["text"],
      "properties": {
        "operation": { "type": "string", "enum": ["count_words", "count_chars", "uppercase", "lowercase"], "description": "default count_words (not a schema default: an earlier client''s action must not be overridden)" },
        "action": { "type": "string", "enum": ["count_words", "count_chars", "uppercase", "lowercase"], "description": "the earlier implementation''s name of operation" },
        "text": { "type": "string" }
      }
    },
    "result": { "type": ["integer", "string"] }
  }'::jsonb,
  examples = '[
    { "params": { "operation": "count_words", "text": "hello big world" }, "result": 3 },
    { "params": { "operation": "uppercase", "text": "hello" }, "result": "HELLO" },
    { "params": { "action": "uppercase", "text": "hello" }, "result": "HELLO" }
  ]'::jsonb,
  updated_at = now()
WHERE language_title = 'python-text_processor' AND function_type = 'predefined';

UPDATE meta.scripts SET content = $py$def handle(params):
    text = params["text"]
    # `action` is the earlier implementation's name; `operation` wins when both are sent.
    operation = params.get("operation", params.get("action", "count_words"))
    if operation == "count_words":
        return len(text.split())
    if operation == "count_chars":
        return len(text)
    if operation == "uppercase":
        return text.upper()
    if operation == "lowercase":
        return text.lower()
    raise ValueError("Unknown operation: " + str(operation))
$py$, updated_at = now()
WHERE function_id = (SELECT id FROM meta.functions WHERE language_title = 'python-text_processor' AND function_type = 'predefined');

UPDATE meta.functions SET
  schema_definition = '{
    "params": {
      "type": "object",
      "required": ["data", "rules"],
      "properties": {
        "data": { "type": "object" },
        "rules": {
          "oneOf": [
            { "type": "object", "additionalProperties": { "type": "array", "items": { "type": "string", "enum": ["required", "numeric"] } }, "description": "rules per field" },
            { "type": "array", "items": { "type": "string", "enum": ["required", "numeric"] }, "description": "the earlier form: rules for every field of data" }
          ]
        }
      }
    },
    "result": {
      "type": "object",
      "properties": { "valid": { "type": "boolean" }, "errors": { "type": "array", "items": { "type": "string" } } }
    }
  }'::jsonb,
  examples = '[
    { "params": { "data": { "age": "x", "name": "" }, "rules": { "age": ["required", "numeric"], "name": ["required"] } }, "result": { "valid": false, "errors": ["age must be numeric", "name is required"] } },
    { "params": { "data": { "age": 25 }, "rules": ["required", "numeric"] }, "result": { "valid": true, "errors": [] } }
  ]'::jsonb,
  updated_at = now()
WHERE language_title = 'rust-data_validator' AND function_type = 'predefined';

UPDATE meta.scripts SET content = $rs$use serde_json::{json, Map, Value};

fn check(field: &str, value: Option<&Value>, rule: &Value, errors: &mut Vec<String>) -> Result<(), String> {
    match rule.as_str() {
        Some("required") => {
            let missing = match value {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if missing {
                errors.push(format!("{} is required", field));
            }
        }
        Some("numeric") => {
            let numeric = match value {
                None | Some(Value::Null) => true,
                Some(Value::Number(_)) => true,
                Some(Value::String(s)) => s.is_empty() || s.parse::<f64>().is_ok(),
                _ => false,
            };
            if !numeric {
                errors.push(format!("{} must be numeric", field));
            }
        }
        _ => return Err(format!("Unknown rule for {}: {}", field, rule)),
    }
    Ok(())
}

pub fn handler(event: Map<String, Value>) -> Result<Value, String> {
    let params = event.get("params").and_then(|p| p.as_object()).ok_or("Missing params")?;
    let data = params.get("data").and_then(|d| d.as_object()).ok_or("Missing data")?;
    let mut errors: Vec<String> = Vec::new();
    match params.get("rules") {
        // Rules per field.
        Some(Value::Object(rules)) => {
            for (field, field_rules) in rules {
                for rule in field_rules.as_array().ok_or("Rules must be arrays")? {
                    check(field, data.get(field), rule, &mut errors)?;
                }
            }
        }
        // The earlier form: a list of rules for every field of data.
        Some(Value::Array(rules)) => {
            for (field, value) in data {
                for rule in rules {
                    check(field, Some(value), rule, &mut errors)?;
                }
            }
        }
        _ => return Err("Missing rules (an object of rules per field, or a list of rules for every field)".to_string()),
    }
    Ok(json!({ "valid": errors.is_empty(), "errors": errors }))
}
$rs$, updated_at = now()
WHERE function_id = (SELECT id FROM meta.functions WHERE language_title = 'rust-data_validator' AND function_type = 'predefined');

-- Down Migration
-- The earlier forms stay accepted: the scripts and schemas above are a superset of the ones before.
SELECT 1;
