-- Up Migration
-- The three functions every fresh install ships with (contract section 1, "Functions catalog").
INSERT INTO meta.functions (language, title, language_title, description, schema_definition, examples, function_type, tags, created_by)
VALUES
('nodejs', 'calculator', 'nodejs-calculator',
 'Arithmetic on two numbers: add, subtract, multiply or divide a by b.',
 '{
    "params": {
      "type": "object",
      "required": ["a", "b"],
      "properties": {
        "operation": { "type": "string", "enum": ["add", "subtract", "multiply", "divide"], "default": "add" },
        "a": { "type": "number" },
        "b": { "type": "number" }
      }
    },
    "result": { "type": "number" }
  }'::jsonb,
 '[
    { "params": { "operation": "add", "a": 10, "b": 5 }, "result": 15 },
    { "params": { "operation": "divide", "a": 10, "b": 4 }, "result": 2.5 }
  ]'::jsonb,
 'predefined', '{math,example}', NULL),
('python', 'text_processor', 'python-text_processor',
 'Text utilities: count_words, count_chars, uppercase or lowercase of text.',
 '{
    "params": {
      "type": "object",
      "required": ["text"],
      "properties": {
        "operation": { "type": "string", "enum": ["count_words", "count_chars", "uppercase", "lowercase"], "default": "count_words" },
        "text": { "type": "string" }
      }
    },
    "result": { "type": ["integer", "string"] }
  }'::jsonb,
 '[
    { "params": { "operation": "count_words", "text": "hello big world" }, "result": 3 },
    { "params": { "operation": "uppercase", "text": "hello" }, "result": "HELLO" }
  ]'::jsonb,
 'predefined', '{text,example}', NULL),
('rust', 'data_validator', 'rust-data_validator',
 'Validates the fields of data against rules: required (present and not null/empty) and numeric.',
 '{
    "params": {
      "type": "object",
      "required": ["data", "rules"],
      "properties": {
        "data": { "type": "object" },
        "rules": {
          "type": "object",
          "additionalProperties": { "type": "array", "items": { "type": "string", "enum": ["required", "numeric"] } }
        }
      }
    },
    "result": {
      "type": "object",
      "properties": { "valid": { "type": "boolean" }, "errors": { "type": "array", "items": { "type": "string" } } }
    }
  }'::jsonb,
 '[
    { "params": { "data": { "age": "42", "name": "" }, "rules": { "age": ["required", "numeric"], "name": ["required"] } },
      "result": { "valid": false, "errors": ["name is required"] } }
  ]'::jsonb,
 'predefined', '{validation,example}', NULL);

INSERT INTO meta.scripts (function_id, content)
SELECT id, $js$module.exports = async (event) => {
  const { operation = 'add', a, b } = event.params;
  switch (operation) {
    case 'add': return a + b;
    case 'subtract': return a - b;
    case 'multiply': return a * b;
    case 'divide':
      if (b === 0) throw new Error('Division by zero');
      return a / b;
    default:
      throw new Error(`Unknown operation: ${operation}`);
  }
};
$js$ FROM meta.functions WHERE language_title = 'nodejs-calculator';

INSERT INTO meta.scripts (function_id, content)
SELECT id, $py$def handle(params):
    text = params["text"]
    operation = params.get("operation", "count_words")
    if operation == "count_words":
        return len(text.split())
    if operation == "count_chars":
        return len(text)
    if operation == "uppercase":
        return text.upper()
    if operation == "lowercase":
        return text.lower()
    raise ValueError("Unknown operation: " + str(operation))
$py$ FROM meta.functions WHERE language_title = 'python-text_processor';

INSERT INTO meta.scripts (function_id, content)
SELECT id, $rs$use serde_json::{json, Map, Value};

pub fn handler(event: Map<String, Value>) -> Result<Value, String> {
    let params = event.get("params").and_then(|p| p.as_object()).ok_or("Missing params")?;
    let data = params.get("data").and_then(|d| d.as_object()).ok_or("Missing data")?;
    let rules = params.get("rules").and_then(|r| r.as_object()).ok_or("Missing rules")?;
    let mut errors: Vec<String> = Vec::new();
    for (field, field_rules) in rules {
        let value = data.get(field);
        for rule in field_rules.as_array().ok_or("Rules must be arrays")? {
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
        }
    }
    Ok(json!({ "valid": errors.is_empty(), "errors": errors }))
}
$rs$ FROM meta.functions WHERE language_title = 'rust-data_validator';

-- Down Migration
DELETE FROM meta.functions WHERE function_type = 'predefined'
  AND language_title IN ('nodejs-calculator', 'python-text_processor', 'rust-data_validator');
